from django.urls import path

from monitoring import consumers

websocket_urlpatterns = [
    path("ws/runs/", consumers.DashboardConsumer.as_asgi()),
    path("ws/runs/<int:run_id>/", consumers.RunConsumer.as_asgi()),
    path("ws/system/", consumers.SystemConsumer.as_asgi()),
    path("ws/arena/", consumers.ArenaConsumer.as_asgi()),
]
