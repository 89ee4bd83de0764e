"""Celery signal wiring: every process that runs tasks starts its statistics reporter.

Connected by ``keisei_site/celery.py`` when the Celery app is built; see ``worker_stats``.
"""

from __future__ import annotations

import socket
from typing import Any

from monitoring.worker_stats import start_reporting


def connect_worker_signals() -> None:
    """Report from every process that runs tasks: each prefork child, or the worker itself
    when its pool runs tasks in-process (solo, threads)."""
    from celery import signals

    def on_process_init(sender: Any = None, **_: Any) -> None:
        start_reporting(str(sender or socket.gethostname()))

    def on_worker_ready(sender: Any = None, **_: Any) -> None:
        pool = getattr(sender, "pool", None)
        if pool is not None and type(pool).__module__.endswith(".prefork"):
            return  # the children report; this parent runs no task
        start_reporting(str(getattr(sender, "hostname", None) or socket.gethostname()))

    signals.worker_process_init.connect(on_process_init, weak=False)
    signals.worker_ready.connect(on_worker_ready, weak=False)
