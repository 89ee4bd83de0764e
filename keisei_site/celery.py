"""The Celery app. Routing and reliability settings live in ``settings.py`` (``CELERY_*``)."""

import os

from celery import Celery

from monitoring.system import connect_worker_signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "keisei_site.settings")

app = Celery("keisei_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
connect_worker_signals()  # each worker process reports its statistics (monitoring/system.py)
