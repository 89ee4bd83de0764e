"""Who holds a piece of work on a worker: the worker's name and the thread that renews a lease.

Runs and evaluation jobs are held by a lease (a worker name and an expiry in PostgreSQL),
renewed by a ``Heartbeat`` while the work goes on; beat's reaper hands out work whose lease
ran out (its worker died). The renewal itself is a service (``run_heartbeat``,
``evaluation_heartbeat``): a compare-and-swap that says whether the lease is still ours.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
from collections.abc import Callable

from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

log = logging.getLogger(__name__)


def worker_id() -> str:
    """This process, as leases name it: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def lease_expiry() -> dt.datetime:
    return timezone.now() + dt.timedelta(seconds=settings.KEISEI_LEASE_SECONDS)


class Heartbeat:
    """Calls ``renew`` from a thread every third of a lease; sets ``lost`` when it says the
    lease is no longer ours (another worker holds the work now)."""

    def __init__(self, renew: Callable[[], bool], name: str) -> None:
        self.renew = renew
        self.name = name
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=name, daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _beat(self) -> None:
        interval = max(1.0, settings.KEISEI_LEASE_SECONDS / 3)
        try:
            while not self._stop.wait(interval):
                try:
                    if not self.renew():
                        self.lost.set()
                        return
                except Exception:  # the database is away: keep trying until the lease runs out
                    log.warning("lease renewal failed (%s)", self.name, exc_info=True)
                    close_old_connections()
        finally:
            connection.close()  # this thread's own connection
