"""Celery signal wiring: every process that runs tasks starts its statistics reporter, and
every worker's main process registers itself (``worker_registry``).

Connected by ``keisei_site/celery.py`` when the Celery app is built; see ``worker_stats``.
"""

from __future__ import annotations

import gc
import logging
import socket
import threading
from typing import Any

from monitoring.queues import TRAINING_GPU_QUEUE, TRAINING_QUEUE
from monitoring.worker_stats import start_reporting

log = logging.getLogger(__name__)

_heartbeat: Any = None


def connect_worker_signals() -> None:
    """Report from every process that runs tasks: each prefork child, or the worker itself
    when its pool runs tasks in-process (solo, threads)."""
    from celery import signals

    def on_process_init(sender: Any = None, **_: Any) -> None:
        start_reporting(str(sender or socket.gethostname()))
        warm_engine()

    def on_worker_ready(sender: Any = None, **_: Any) -> None:
        register_worker(sender)
        pool = getattr(sender, "pool", None)
        if pool is not None and type(pool).__module__.endswith(".prefork"):
            return  # the children report; this parent runs no task
        start_reporting(str(getattr(sender, "hostname", None) or socket.gethostname()))

    def on_worker_shutdown(sender: Any = None, **_: Any) -> None:
        unregister_worker(str(getattr(sender, "hostname", "")))

    signals.worker_process_init.connect(on_process_init, weak=False)
    signals.worker_ready.connect(on_worker_ready, weak=False)
    signals.worker_shutdown.connect(on_worker_shutdown, weak=False)


def warm_engine() -> threading.Thread:
    """Import torch and every registered trainer in the background, as the process starts.

    A short-jobs process otherwise pays the import (seconds, and about 200 MB) in its first
    evaluation or league match, minutes after it started: the first job waits, and its memory
    steps up mid-life. Not in the process init itself: Celery gives a pool child 4 s to say it
    is up, and importing torch on a busy machine can take longer."""
    thread = threading.Thread(target=_import_engine, name="engine-warm-up", daemon=True)
    thread.start()
    return thread


def _import_engine() -> None:
    from keisei.registry import available_trainers, get_trainer

    try:
        import torch  # noqa: F401 - the import is the point

        for name in available_trainers():
            get_trainer(name)
    except Exception:  # a broken trainer fails its own runs with its own error
        log.warning("warming up the training engine failed", exc_info=True)
    # What is loaded now (Django, torch, the trainers) lives as long as the process. Frozen,
    # the cyclic collector no longer scans it, so a full collection (every thread of a running
    # trainer stands still through it) scans only what came after, as in the web process.
    gc.freeze()


def register_worker(consumer: Any) -> None:
    """Record this worker in the registry and keep it fresh; never stop the worker for it."""
    global _heartbeat
    from django.conf import settings
    from django.db import connection

    from monitoring import worker_registry

    name = str(consumer.hostname)
    queues = sorted(consumer.app.amqp.queues.consume_from)
    concurrency = int(getattr(consumer.controller, "concurrency", 1) or 1)
    gpus = int(settings.KEISEI_WORKER_GPUS)
    warn_misplaced(name, queues, gpus)

    def register() -> None:
        worker_registry.node_register(name=name, queues=queues, concurrency=concurrency, gpus=gpus)

    try:
        register()
    except Exception:  # PostgreSQL away: the heartbeat registers once it is back
        log.warning("worker %s: not registered yet", name, exc_info=True)
    finally:
        connection.close()  # the main process forks pool processes: keep no connection
    if _heartbeat is None:
        _heartbeat = worker_registry.NodeHeartbeat(register, name).start()


def warn_misplaced(name: str, queues: list[str], gpus: int) -> None:
    """A GPU queue without a GPU (or the CPU queue with one) takes wake-ups its pool can
    never act on: those runs then wait for beat's stranded-run wake-up. Said at start."""
    if TRAINING_GPU_QUEUE in queues and gpus == 0:
        log.error(
            "worker %s consumes %s but declares no GPU (KEISEI_WORKER_GPUS=0): it will claim "
            "no cuda run",
            name,
            TRAINING_GPU_QUEUE,
        )
    if TRAINING_QUEUE in queues and gpus > 0:
        log.error(
            "worker %s consumes %s but declares %d GPU(s): it will claim no cpu run; give "
            "GPU workers %s alone",
            name,
            TRAINING_QUEUE,
            gpus,
            TRAINING_GPU_QUEUE,
        )


def unregister_worker(name: str) -> None:
    from django.db import connection

    from monitoring import worker_registry

    if _heartbeat is not None:
        _heartbeat.stop()
    try:
        worker_registry.node_stopped(name=name)
    except Exception:
        log.warning("worker %s: its stop was not recorded", name, exc_info=True)
    finally:
        connection.close()
