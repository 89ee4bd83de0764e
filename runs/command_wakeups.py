"""Commands reach a training worker the moment they are asked, without polling the table.

``command_request`` NOTIFYs the run's channel inside its transaction, so PostgreSQL delivers
the notification at commit, never for a command that was rolled back. On the worker, a
``CommandListener`` thread LISTENs on that channel and fetches the run's pending commands into
a queue that the training thread drains between steps at the cost of a queue read. The thread
also fetches every ``FALLBACK_SECONDS`` on its own: a notification sent while its connection
was down (PostgreSQL restarting) is never lost for longer than that. Should the thread itself
go quiet (blocked on its connection), the training thread fetches for it (``fetch_if_stale``):
a stop is never lost with the thread. It does not while the thread is quiet because PostgreSQL
is away (the thread is failing and retrying): a fetch would fail the same way, after blocking
the training for the connection pool's timeout.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from types import TracebackType

from django.db import DatabaseError, connection

from runs import selectors
from runs.models import Command

log = logging.getLogger(__name__)

FALLBACK_SECONDS = 1.0
RETRY_SECONDS = 1.0  # after the database went away
WAIT_SECONDS = 0.25  # the longest the thread waits before it looks at its stop flag
STALE_SECONDS = 10.0  # no fetch by the thread for this long: the training thread fetches
# The thread failed to reach PostgreSQL this recently: it is retrying, not hung. Above the pool's
# connection timeout (10 s) plus RETRY_SECONDS, the longest between two of its failures.
RETRYING_SECONDS = 30.0
STAND_IN_BACKOFF_MAX = 60.0  # the longest wait between two failed tries of the training thread


def command_channel(run_id: int) -> str:
    """The NOTIFY channel of one run's commands (an identifier of our own making)."""
    return f"keisei_run_{int(run_id)}_commands"


def command_notify(*, run_id: int) -> None:
    """Wake the worker of ``run_id`` when the current transaction commits."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_notify(%s, '')", [command_channel(run_id)])


class CommandListener:
    """A thread that hands each pending command of one run to ``commands`` exactly once."""

    def __init__(self, run_id: int) -> None:
        self.run_id = run_id
        self.commands: queue.SimpleQueue[Command] = queue.SimpleQueue()
        self._handed: set[int] = set()
        self._handing = threading.Lock()  # the thread and ``fetch_if_stale`` both hand out
        self.fetched_at = time.monotonic()  # the last fetch that finished, by either thread
        self.failed_at = float("-inf")  # the thread's last failure to reach the database
        self._stand_in_after = 0.0  # the training thread's next fetch, at the earliest
        self._stand_in_failures = 0  # its failed tries in a row
        # Set once the thread listens (and has fetched what was asked before).
        self.listening = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._listen, name=f"commands-run-{run_id}", daemon=True
        )

    def __enter__(self) -> CommandListener:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=WAIT_SECONDS + 10)

    def _listen(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    self._listen_until_stopped()
                except Exception:  # the database is away: listen again once it is back
                    log.warning("command listener of run %s lost its connection", self.run_id)
                    self.failed_at = time.monotonic()
                    connection.close()
                    self._stop.wait(RETRY_SECONDS)
        finally:
            connection.close()  # this thread's own connection

    def _listen_until_stopped(self) -> None:
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute(f'LISTEN "{command_channel(self.run_id)}"')
        pg = connection.connection  # psycopg's own connection: Django has no LISTEN API
        assert pg is not None
        self._fetch()  # whatever was asked before we listened
        self.listening.set()
        fetched = time.monotonic()
        while not self._stop.is_set():
            # Returns at the first notification, or after a short wait without one.
            notified = any(True for _ in pg.notifies(timeout=WAIT_SECONDS, stop_after=1))
            if notified or time.monotonic() - fetched >= FALLBACK_SECONDS:
                self._fetch()
                fetched = time.monotonic()

    def _fetch(self) -> None:
        pending = selectors.commands_pending(run_id=self.run_id)
        with self._handing:
            for command in pending:
                # A command stays pending until the training thread acknowledges it: hand it
                # once.
                if command.pk not in self._handed:
                    self._handed.add(command.pk)
                    self.commands.put(command)
            self.fetched_at = time.monotonic()

    def fetch_if_stale(self) -> bool:
        """From the training thread: fetch here when the listener thread has fetched nothing
        for ``STALE_SECONDS`` (it should every ``FALLBACK_SECONDS``) and is not retrying a
        database that is away, at most once per ``RETRY_SECONDS`` after the last try ended
        (twice as long after each failure in a row, up to ``STAND_IN_BACKOFF_MAX``). A failure
        is logged and never ends the training. Returns whether it fetched."""
        now = time.monotonic()
        quiet = now - self.fetched_at
        if quiet < STALE_SECONDS or now < self._stand_in_after:
            return False
        if now - self.failed_at < RETRYING_SECONDS:
            return False
        log.warning(
            "command listener of run %s silent for %.0f s (alive: %s); fetching from the "
            "training thread",
            self.run_id,
            quiet,
            self._thread.is_alive(),
        )
        try:
            self._fetch()
        except Exception as exc:
            log.warning("run %s: commands not fetched either: %s", self.run_id, exc)
            if isinstance(exc, DatabaseError):
                connection.close()  # this thread's, reopened at its next use
            self._stand_in_failures += 1
            return False
        else:
            self._stand_in_failures = 0
            return True
        finally:
            # Counted from the end: a failed try can block for the pool's whole timeout.
            wait = min(RETRY_SECONDS * 2**self._stand_in_failures, STAND_IN_BACKOFF_MAX)
            self._stand_in_after = time.monotonic() + wait
