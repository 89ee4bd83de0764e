from django.urls import path

from runs import api, views

app_name = "runs"

urlpatterns = [
    path("", views.run_list, name="list"),
    path("new/", views.run_new, name="new"),
    path("<int:run_id>/", views.run_detail, name="detail"),
    path("<int:run_id>/command/", views.run_command, name="command"),
]

api_urlpatterns = [
    path("runs/", api.RunListCreateApi.as_view(), name="api-runs"),
    path("runs/<int:run_id>/", api.RunDetailApi.as_view(), name="api-run"),
    path("runs/<int:run_id>/commands/", api.RunCommandsApi.as_view(), name="api-run-commands"),
]
