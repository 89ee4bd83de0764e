"""The Celery app. Routing and reliability settings live in ``settings.py`` (``CELERY_*``)."""

import os

from celery import Celery, signals

from monitoring.broker import warn_if_consumer_timeout_ignored
from monitoring.worker_signals import connect_worker_signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "keisei_site.settings")
# OpenMP threads that spin while waiting steal the cores a busy host needs; it must be set
# before torch is first imported (2-thread inference under load: ~1,000 -> ~5,000 pos/s).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

app = Celery("keisei_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
connect_worker_signals()  # each worker process reports its statistics (monitoring/worker_stats.py)
# A RabbitMQ too old for the training consumers' ack timeout is named in the log (broker.py).
signals.worker_ready.connect(warn_if_consumer_timeout_ignored, weak=False)
