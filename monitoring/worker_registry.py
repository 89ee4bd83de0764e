"""The worker registry: each Celery worker's name, host, capabilities and queues, in PostgreSQL.

A worker's main process registers itself when it is ready (``worker_signals``), renews
``last_seen_at`` from a heartbeat thread every ``KEISEI_WORKER_HEARTBEAT_SECONDS``, and marks
itself stopped at a clean shutdown. A worker silent for ``SILENT_AFTER_BEATS`` heartbeats is
not online (it was killed, or its host vanished). Kept in the database, not asked of the
broker: the system page and run placement read it with one query, whatever the broker is.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

from monitoring.models import WorkerNode
from monitoring.queues import TRAINING_GPU_QUEUE

log = logging.getLogger(__name__)

SILENT_AFTER_BEATS = 3
# Stopped or silent workers stay listed this long (the page says when they were last seen).
LISTED_FOR = dt.timedelta(hours=1)


def heartbeat_seconds() -> float:
    return float(settings.KEISEI_WORKER_HEARTBEAT_SECONDS)


def host_of(name: str) -> str:
    """The host part of a Celery node name (``worker1@hostA`` -> ``hostA``)."""
    return name.split("@", 1)[1] if "@" in name else socket.gethostname()


def node_register(
    *, name: str, queues: Iterable[str], concurrency: int, gpus: int, pid: int | None = None
) -> WorkerNode:
    """Record (or refresh) the worker ``name`` as started now; forget long-gone workers."""
    now = timezone.now()
    WorkerNode.objects.filter(last_seen_at__lt=now - LISTED_FOR).exclude(name=name).delete()
    node, _ = WorkerNode.objects.update_or_create(
        name=name,
        defaults={
            "host": host_of(name),
            "pid": os.getpid() if pid is None else pid,
            "gpus": gpus,
            "concurrency": concurrency,
            "queues": sorted(set(queues)),
            "started_at": now,
            "last_seen_at": now,
            "stopped_at": None,
        },
    )
    return node


def node_beat(*, name: str) -> bool:
    """The worker is alive; False when it has no row to renew (it must register again)."""
    return bool(
        WorkerNode.objects.filter(name=name, stopped_at=None).update(last_seen_at=timezone.now())
    )


def node_stopped(*, name: str) -> None:
    WorkerNode.objects.filter(name=name).update(stopped_at=timezone.now())


def _online_since(now: dt.datetime | None = None) -> dt.datetime:
    return (now or timezone.now()) - dt.timedelta(seconds=SILENT_AFTER_BEATS * heartbeat_seconds())


def nodes_online() -> Any:
    """The registered workers that are running and have beaten recently (a queryset)."""
    return WorkerNode.objects.filter(stopped_at=None, last_seen_at__gte=_online_since())


def gpu_nodes_online() -> bool:
    """Whether a worker that declares a GPU and consumes ``training-gpu`` is online."""
    return nodes_online().filter(gpus__gt=0, queues__contains=[TRAINING_GPU_QUEUE]).exists()


def nodes_list(now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Every worker seen in the last hour, by name, with its state: ``online``, ``stopped``
    (a clean shutdown) or ``silent`` (no heartbeat for three intervals: killed or cut off)."""
    now = now or timezone.now()
    online_since = _online_since(now)
    nodes = []
    for node in WorkerNode.objects.filter(last_seen_at__gte=now - LISTED_FOR).order_by("name"):
        if node.stopped_at is not None:
            state = "stopped"
        elif node.last_seen_at >= online_since:
            state = "online"
        else:
            state = "silent"
        nodes.append(
            {
                "name": node.name,
                "host": node.host,
                "pid": node.pid,
                "gpus": node.gpus,
                "device": "cuda" if node.gpus else "cpu",
                "concurrency": node.concurrency,
                "queues": list(node.queues),
                "state": state,
                "started_at": node.started_at.isoformat(),
                "last_seen_at": node.last_seen_at.isoformat(),
                "seen_ago": round(max((now - node.last_seen_at).total_seconds(), 0.0), 1),
            }
        )
    return nodes


class NodeHeartbeat:
    """The thread that keeps a worker's row fresh, in the worker's main process.

    It opens a database connection for each beat and closes it after: the main process forks
    pool processes, and a forked child must not inherit a connection in use.
    """

    def __init__(self, register: Any, name: str) -> None:
        self.register = register  # re-registers when the row is gone (a test flush, an admin)
        self.name = name
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, name="worker-registry", daemon=True)

    def start(self) -> NodeHeartbeat:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _main(self) -> None:
        failing = False
        while not self._stop.wait(heartbeat_seconds()):
            try:
                close_old_connections()
                if not node_beat(name=self.name):
                    self.register()
                failing = False
            except Exception:  # PostgreSQL away: say so once, keep beating
                if not failing:
                    log.warning("worker %s: heartbeat not recorded", self.name, exc_info=True)
                failing = True
            finally:
                connection.close()
