"""Monitoring's API routes, mounted under ``/api/v1/`` by ``keisei_site.urls``."""

urlpatterns: list = []
