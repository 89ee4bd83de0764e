"""A hung trainer: its lease stays alive (the heartbeat thread renews it) while training goes
nowhere. The watchdog sees that nothing came from the training thread for
``KEISEI_HANG_SECONDS`` and ends the attempt.

Anything the trainer does through its ``Callbacks`` or ``Control`` marks it alive: a step, a
metric, an event, a checkpoint, a poll for commands. A paused trainer polls ten times a second,
so a pause is never taken for a hang.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from django.db import connection

log = logging.getLogger(__name__)


class Liveness:
    """When the training thread was last heard from. ``mark`` is one clock read and one
    attribute store, cheap enough to call from every callback."""

    def __init__(self) -> None:
        self.last = time.monotonic()

    def mark(self) -> None:
        self.last = time.monotonic()

    def idle_seconds(self) -> float:
        return time.monotonic() - self.last


class Watchdog:
    """Calls ``on_hang(idle_seconds)`` once, from its own thread, when ``liveness`` has not
    been marked for ``seconds``. A context manager: it watches while the trainer trains."""

    def __init__(
        self, liveness: Liveness, *, seconds: float, on_hang: Callable[[float], None], name: str
    ) -> None:
        self.liveness = liveness
        self.seconds = seconds
        self.on_hang = on_hang
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name=name, daemon=True)

    def __enter__(self) -> Watchdog:
        self.liveness.mark()  # the clock starts with the trainer, not with the claim
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _watch(self) -> None:
        # A tenth of the limit, at most a second: a hang is seen at most 10% late.
        interval = min(1.0, self.seconds / 10)
        try:
            while not self._stop.wait(interval):
                idle = self.liveness.idle_seconds()
                if idle >= self.seconds:
                    self.on_hang(idle)
                    return
        except Exception:
            log.exception("%s: the watchdog failed", self._thread.name)
        finally:
            connection.close()  # this thread's own connection, if on_hang opened one
