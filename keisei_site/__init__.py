"""Keisei Site configuration: settings, urls, ASGI routing, the Celery app, the launcher."""

from keisei_site.celery import app as celery_app

__all__ = ["celery_app"]
