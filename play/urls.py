"""The play app's routes: pages (``page_urlpatterns``, under /play/) and API
(``api_urlpatterns``, under /api/v1/)."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver

app_name = "play"

page_urlpatterns: list[URLPattern | URLResolver] = []
api_urlpatterns: list[URLPattern | URLResolver] = []
urlpatterns = page_urlpatterns
