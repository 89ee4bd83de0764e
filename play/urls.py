"""The play app's routes: pages (``page_urlpatterns``, under /play/) and API
(``api_urlpatterns``, under /api/v1/)."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from play import api, views

app_name = "play"

page_urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.play_index, name="index"),
    path("<int:game_id>/", views.play_game_page, name="game"),
]
api_urlpatterns: list[URLPattern | URLResolver] = [
    path("play/", api.PlayGamesApi.as_view(), name="games"),
    path("play/<int:game_id>/", api.PlayGameApi.as_view(), name="game"),
    path("play/<int:game_id>/move/", api.PlayMoveApi.as_view(), name="move"),
    path("play/<int:game_id>/resign/", api.PlayResignApi.as_view(), name="resign"),
]
urlpatterns = page_urlpatterns
