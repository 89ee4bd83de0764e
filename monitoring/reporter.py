"""The reporter: engine callbacks in, PostgreSQL rows and live messages out.

It runs on the training thread, so it does little there: metric points are buffered and
written with COPY at most about once a second; live metrics, progress and the board are
throttled and handed to the background publisher.

When PostgreSQL is away, durable rows (points and events) wait in a bounded buffer and are
retried with exponential backoff; training goes on. An event may carry a ``record`` step (a
checkpoint or a game stored as a row of its own): it runs when the event's turn comes, once,
so those wait with the timeline instead of failing the run. Past the bound the reporter raises
``ReporterOverflow``, so the run fails with that reason instead of dropping a point.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import queue
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

from django.conf import settings

from keisei.interfaces import CheckpointInfo
from monitoring import live
from monitoring.metric_batches import MetricBatch, MetricQueue
from monitoring.models import EventType
from monitoring.services import MetricRow, event_record, metrics_record

log = logging.getLogger(__name__)

FLUSH_SECONDS = 1.0
FLUSH_POINTS = 20_000
# Durable rows held while PostgreSQL is unreachable (about 50 MB of points at most).
MAX_BUFFERED_POINTS = 500_000
MAX_BUFFERED_EVENTS = 10_000
RETRY_FIRST_SECONDS = 0.5
RETRY_MAX_SECONDS = 15.0


# The reporters alive in this process, for ``backlog`` (worker statistics, /metrics).
_reporters: weakref.WeakSet[Reporter] = weakref.WeakSet()


@dataclass(frozen=True)
class ObservedAlert:
    """An alert an observer raised: stored as an ``alert`` event in the timeline's order.

    ``record`` writes the rows it is about in the event's turn (its result joins the event's
    data); ``after`` runs once the event is written (a pause, asked the way a person asks)."""

    message: str
    data: Mapping[str, Any]
    record: Callable[[], Mapping[str, Any]] | None = None
    after: Callable[[], None] | None = None


class MetricObserver(Protocol):
    """Watches one run's metric stream as it is ingested (the alerts app's rules).

    Both run on the reporter's observers' thread, never the training thread: ``observe_many``
    with the ``on_metrics`` calls handed over since it last looked, in order, as column
    batches (``monitoring.metric_batches``: one point when the trainer is slow; hundreds when
    it streams, at most every ``OBSERVER_BATCH_SECONDS``); ``tick`` about once a second, so an
    observer can notice time passing when the trainer sends nothing."""

    def observe_many(self, batches: Sequence[MetricBatch]) -> Sequence[ObservedAlert]: ...

    def tick(self) -> Sequence[ObservedAlert]: ...

    def close(self) -> None: ...


# (run_id, owner_id) -> an observer of that run, or None. Registered by an app above
# monitoring (alerts, in its AppConfig.ready): monitoring never imports it.
ObserverFactory = Callable[[int, int | None], MetricObserver | None]
_observer_factories: list[ObserverFactory] = []
OBSERVER_TICK_SECONDS = 1.0
# While points stream in (a batch of at least OBSERVER_STREAMING_POINTS), the observers look
# at most every OBSERVER_BATCH_SECONDS, so they take them in large batches (their cost is per
# batch more than per point); otherwise a point is seen as soon as it is handed over.
OBSERVER_BATCH_SECONDS = 0.1
OBSERVER_STREAMING_POINTS = 32
OBSERVER_FULL_BATCH = 4_000  # the wait for a batch ends early here: the backlog stays bounded
MAX_OBSERVED_BACKLOG = 10_000  # points waiting for the observers (a batch takes milliseconds)
OBSERVER_RETRY_SECONDS = 5.0


def observer_register(factory: ObserverFactory) -> None:
    """Every reporter created after this asks ``factory`` for an observer of its run."""
    if factory not in _observer_factories:
        _observer_factories.append(factory)


def _observe_many(
    observer: MetricObserver, *, batches: Sequence[MetricBatch]
) -> Sequence[ObservedAlert]:
    return observer.observe_many(batches)


def _tick_one(observer: MetricObserver) -> Sequence[ObservedAlert]:
    return observer.tick()


class ReporterOverflow(Exception):
    """PostgreSQL stayed away so long that the bounded buffer is full."""


class RecordFailed(Exception):
    """A ``record`` step that cannot be done, for a reason retrying will not fix (the artifact
    store is full): its event is written as a ``log`` event saying so, and training goes on."""

    def __init__(self, message: str, data: Mapping[str, Any]) -> None:
        super().__init__(message)
        self.message = message
        self.data = dict(data)


def database_unavailable(exc: BaseException) -> bool:
    from django.db import InterfaceError, OperationalError

    return isinstance(exc, OperationalError | InterfaceError)


@dataclass
class PendingEvent:
    """A timeline event waiting for its turn to be written.

    ``record`` (if any) writes the rows the event is about and returns what the event's data
    gains from them (their ids); it runs once, when the event's turn comes, after every
    buffered point when ``points_first`` is set.
    """

    type: str
    message: str
    data: dict[str, Any]
    record: Callable[[], Mapping[str, Any]] | None = None
    points_first: bool = False
    action_only: bool = False  # ``record`` alone, with no event of its own
    written: bool = False
    stored: dict[str, Any] = field(default_factory=dict)  # what ``record`` returned


class Throttle:
    """True at most once per ``interval`` seconds."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._last = float("-inf")

    def ready(self) -> bool:
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            return True
        return False


def backlog() -> int:
    """Durable rows (points and events) this process's reporters hold for PostgreSQL now."""
    return sum(len(r._points) + len(r._events) for r in list(_reporters))


class Reporter:
    """Implements ``keisei.Callbacks`` for one run on a worker."""

    def __init__(self, *, run_id: int, owner_id: int | None, actor: str) -> None:
        self.run_id = run_id
        self.owner_id = owner_id
        self.actor = actor
        self._points: list[MetricRow] = []
        self._last_flush = time.monotonic()
        self._metrics_throttle = Throttle(settings.KEISEI_LIVE_METRICS_INTERVAL)
        self._board_throttle = Throttle(settings.KEISEI_LIVE_BOARD_INTERVAL)
        self._live_progress_throttle = Throttle(settings.KEISEI_LIVE_PROGRESS_INTERVAL)
        self._pending_progress: dict[str, Any] | None = None
        self._pending_live: dict[str, float] = {}
        self._pending_step = 0
        self._clients_throttle = Throttle(settings.KEISEI_LIVE_CLIENTS_SECONDS)
        self._pending_clients: list[dict[str, Any]] = []  # one round's client updates
        self._events: list[PendingEvent] = []  # waiting for the database, oldest first
        self._retry_at = 0.0
        self._retry_delay = RETRY_FIRST_SECONDS
        self.outage_started: float | None = None
        self._observers: list[MetricObserver] | None = None  # made at the first report
        self._observers_retry = Throttle(OBSERVER_RETRY_SECONDS)
        self._clock: threading.Thread | None = None
        self._clock_stop = threading.Event()
        # Points waiting for the observers' thread (put here, taken there).
        self._observed = MetricQueue(MAX_OBSERVED_BACKLOG)
        self._observed_wake = threading.Event()
        self._observed_full = threading.Event()
        # Alerts the clock thread could not write (PostgreSQL away): the training thread
        # queues them with the timeline at its next report.
        self._clock_alerts: queue.SimpleQueue[ObservedAlert] = queue.SimpleQueue()
        _reporters.add(self)

    # ----- keisei.Callbacks ----------------------------------------------------------------

    def on_status(self, status: str, message: str = "") -> None:
        self.on_event(EventType.LOG, message or f"trainer is {status}")

    def on_progress(self, step: int, total: int) -> None:
        self._start_observers()
        self._pending_progress = progress_payload(step, total)
        if self._live_progress_throttle.ready():
            self._publish_progress()

    def on_metrics(self, step: int, metrics: Mapping[str, float]) -> None:
        wall = dt.datetime.now(dt.UTC)
        self._points.extend((key, step, float(value), wall) for key, value in metrics.items())
        # NaN and infinity are stored (history reads them as gaps) and seen by the rules, but
        # not sent live: they are not JSON a browser can parse.
        self._pending_live.update((k, v) for k, v in metrics.items() if math.isfinite(v))
        self._observe(step, metrics)
        self._pending_step = step
        if self._metrics_throttle.ready():
            self._publish_metrics()
        if (
            len(self._points) >= FLUSH_POINTS
            or time.monotonic() - self._last_flush >= FLUSH_SECONDS
        ):
            self._last_flush = time.monotonic()
            self._write_durable(respect_backoff=True)

    def on_event(self, kind: str, message: str, data: Mapping[str, Any] | None = None) -> None:
        self.queue_event(kind, message, data)

    def queue_event(
        self,
        kind: str,
        message: str,
        data: Mapping[str, Any] | None = None,
        *,
        record: Callable[[], Mapping[str, Any]] | None = None,
        points_first: bool = False,
    ) -> PendingEvent:
        """Queue an event (and its ``record`` step) behind those still waiting, so the timeline
        keeps its order, and write what it can now. The result tells whether it was written.

        Client updates still buffered go out first, so a watcher sees a client's ``done``
        before the end of its round."""
        self._publish_clients()
        type_ = kind if kind in EventType.values else EventType.LOG
        payload = dict(data or {})
        if type_ != kind:
            payload["kind"] = kind
        pending = PendingEvent(type_, message, payload, record=record, points_first=points_first)
        self._events.append(pending)
        if len(self._events) > MAX_BUFFERED_EVENTS:
            raise ReporterOverflow(
                f"{len(self._events)} timeline events wait for PostgreSQL "
                f"(unreachable for {self._outage_seconds():.0f}s); the run stops rather than "
                "lose them"
            )
        self._write_durable(respect_backoff=True, points=False)
        return pending

    def queue_action(self, action: Callable[[], None]) -> PendingEvent:
        """Run ``action`` (a database write) after every event queued before it is written:
        now when PostgreSQL answers, else when it is back. It is retried whole, so it must
        be one transaction."""

        def record() -> dict[str, Any]:
            action()
            return {}

        pending = PendingEvent("", "", {}, record=record, action_only=True)
        self._events.append(pending)
        self._write_durable(respect_backoff=True, points=False)
        return pending

    def on_checkpoint(self, info: CheckpointInfo) -> None:
        self.on_event(
            EventType.CHECKPOINT,
            f"{info.kind} checkpoint at step {info.step}",
            {"step": info.step, "kind": info.kind, "metrics": dict(info.metrics)},
        )

    def on_board(self, snapshot: Mapping[str, Any]) -> None:
        if self._board_throttle.ready():
            live.publish_board(self.run_id, snapshot)

    def on_live(self, kind: str, data: Mapping[str, Any]) -> None:
        if kind != "client":
            log.debug("run %s: live message of unknown kind %r ignored", self.run_id, kind)
            return
        update = dict(data)
        if self._pending_clients and self._pending_clients[-1].get("round") != update.get("round"):
            self._publish_clients()  # one message holds one round
        coalesce_client_update(self._pending_clients, update)
        if self._clients_throttle.ready():
            self._publish_clients()

    # ----- observers (the alerts app's rules) ----------------------------------------------

    def _start_observers(self) -> None:
        """Ask the registered factories for this run's observers, once (again after a failure,
        at most every ``OBSERVER_RETRY_SECONDS``: PostgreSQL may be away), and start the clock
        that ticks them."""
        if self._observers is not None or not _observer_factories:
            return
        if not self._observers_retry.ready():
            return
        try:
            made = [factory(self.run_id, self.owner_id) for factory in _observer_factories]
        except Exception:
            log.exception("run %s: no metric observers yet; trying again", self.run_id)
            return
        self._observers = [o for o in made if o is not None]
        if self._observers:
            self._clock = threading.Thread(
                target=self._clock_main, name=f"observers-run-{self.run_id}", daemon=True
            )
            self._clock.start()

    @property
    def observed_dropped(self) -> int:
        """Points the observers never saw: they fell ``MAX_OBSERVED_BACKLOG`` behind."""
        return self._observed.dropped

    def _observe(self, step: int, metrics: Mapping[str, float]) -> None:
        """Hand the point to the observers' thread: the training thread pays its values' copy
        into a buffer and a wake-up, never the rules themselves (nor their alerts' database
        writes)."""
        self._start_observers()
        while not self._clock_alerts.empty():
            self._queue_alert(self._clock_alerts.get_nowait())
        if self._observers:
            waiting = self._observed.put(step, metrics)
            if not self._observed_wake.is_set():  # a set Event's set() still takes its lock
                self._observed_wake.set()
            if waiting >= OBSERVER_FULL_BATCH and not self._observed_full.is_set():
                self._observed_full.set()

    def _queue_alert(self, alert: ObservedAlert) -> None:
        self.queue_event(EventType.ALERT, alert.message, alert.data, record=alert.record)
        if alert.after is not None:
            self.queue_action(alert.after)

    def _clock_main(self) -> None:
        """The observers' thread: each point as soon as it is handed over, and a tick about
        once a second (so an observer notices time passing when the trainer is silent).
        It writes what they raise itself."""
        from django.db import connection

        next_tick = time.monotonic() + OBSERVER_TICK_SECONDS
        next_batch = 0.0
        try:
            while True:
                self._observed_wake.wait(max(0.0, next_tick - time.monotonic()))
                pause = next_batch - time.monotonic()
                if pause > 0 and not self._clock_stop.is_set():
                    # Let the batch fill (the rules cost per batch), until it is full.
                    self._observed_full.wait(pause)
                self._observed_wake.clear()
                self._observed_full.clear()
                streaming = len(self._observed) >= OBSERVER_STREAMING_POINTS
                next_batch = time.monotonic() + OBSERVER_BATCH_SECONDS if streaming else 0.0
                while taken := self._observed.take():
                    self._run_observers(partial(_observe_many, batches=taken))
                if time.monotonic() >= next_tick:
                    next_tick = time.monotonic() + OBSERVER_TICK_SECONDS
                    self._run_observers(_tick_one)
                if self._clock_stop.is_set() and not self._observed:
                    return
        finally:
            connection.close()  # this thread's own connection

    def _run_observers(self, call: Callable[[MetricObserver], Sequence[ObservedAlert]]) -> None:
        for observer in list(self._observers or ()):
            try:
                alerts = call(observer)
            except Exception:  # a rule's bug must not end the training it watches
                log.exception("run %s: a metric observer failed", self.run_id)
                continue
            for alert in alerts:
                self._clock_write(alert)

    def _clock_write(self, alert: ObservedAlert) -> None:
        stored: Mapping[str, Any] = {}
        try:
            if alert.record is not None:
                stored = alert.record()
            event_record(
                run_id=self.run_id,
                type=EventType.ALERT,
                message=alert.message,
                data={**alert.data, **stored},
                actor=self.actor,
                owner_id=self.owner_id,
            )
        except Exception as exc:
            if not database_unavailable(exc):
                log.exception("run %s: an alert could not be written", self.run_id)
                return
            from django.db import connection

            connection.close()
            # The training thread writes it with the timeline, waiting out the outage.
            self._clock_alerts.put(
                ObservedAlert(alert.message, {**alert.data, **stored}, None, alert.after)
                if stored
                else alert
            )
            return
        if alert.after is not None:
            try:
                alert.after()
            except Exception:
                log.exception("run %s: an alert's follow-up failed", self.run_id)

    def _stop_observers(self) -> None:
        self._clock_stop.set()
        self._observed_wake.set()
        self._observed_full.set()
        if self._clock is not None and self._clock is not threading.current_thread():
            self._clock.join(timeout=10)
        for observer in self._observers or ():
            try:
                observer.close()
            except Exception:
                log.exception("run %s: a metric observer did not close", self.run_id)
        while not self._clock_alerts.empty():
            self._queue_alert(self._clock_alerts.get_nowait())

    # ----- lifecycle -----------------------------------------------------------------------

    def _publish_progress(self) -> None:
        if self._pending_progress is not None:
            live.publish_progress(self.run_id, self._pending_progress, owner_id=self.owner_id)
            self._pending_progress = None

    def _publish_clients(self) -> None:
        if self._pending_clients:
            updates, self._pending_clients = self._pending_clients, []
            live.publish_clients(self.run_id, updates[0].get("round", 0), updates)

    def _publish_metrics(self) -> None:
        if self._pending_live:
            live.publish_metrics(self.run_id, self._pending_step, self._pending_live)
            self._pending_live = {}

    def flush(self) -> None:
        """Write buffered points now (one COPY), after any events still waiting."""
        self._last_flush = time.monotonic()
        self._write_durable(respect_backoff=False)

    def _write_durable(self, *, respect_backoff: bool, points: bool = True) -> None:
        """Events first, then (with ``points``) the buffered points; on a database outage
        keep both and retry later. An event does not take the points with it: they go at
        the flush interval (``FLUSH_SECONDS``), so a trainer with events every step (a
        federated round's start and end) does not store its points, and fold their rollups,
        twice a step; an event that needs them stored first says so (``points_first``)."""
        if respect_backoff and time.monotonic() < self._retry_at:
            return
        try:
            while self._events:
                pending = self._events[0]
                if pending.record is not None:
                    if pending.points_first and self._points:
                        metrics_record(run_id=self.run_id, points=self._points)
                        self._points = []
                    try:
                        pending.stored = dict(pending.record())
                    except RecordFailed as failed:
                        pending.type, pending.message = EventType.LOG, failed.message
                        pending.stored = failed.data
                    pending.record = None  # done: a retry of the event must not repeat it
                if not pending.action_only:
                    event_record(
                        run_id=self.run_id,
                        type=pending.type,
                        message=pending.message,
                        data={**pending.data, **pending.stored},
                        actor=self.actor,
                        owner_id=self.owner_id,
                    )
                pending.written = True
                self._events.pop(0)
            if points and self._points:
                metrics_record(run_id=self.run_id, points=self._points)
                self._points = []
        except Exception as exc:
            if not database_unavailable(exc):
                raise
            self._database_away(exc)
            return
        if self.outage_started is not None:
            log.warning(
                "run %s: PostgreSQL is back after %.1fs; buffered rows written",
                self.run_id,
                self._outage_seconds(),
            )
        self.outage_started = None
        self._retry_delay = RETRY_FIRST_SECONDS

    def _database_away(self, exc: BaseException) -> None:
        from django.db import connection

        connection.close()  # the next attempt opens a fresh connection
        if self.outage_started is None:
            self.outage_started = time.monotonic()
            log.warning("run %s: PostgreSQL unreachable (%s); buffering", self.run_id, exc)
        self._retry_at = time.monotonic() + self._retry_delay
        self._retry_delay = min(self._retry_delay * 2, RETRY_MAX_SECONDS)
        if len(self._points) > MAX_BUFFERED_POINTS:
            raise ReporterOverflow(
                f"{len(self._points)} metric points wait for PostgreSQL (unreachable for "
                f"{self._outage_seconds():.0f}s); the run stops rather than drop them"
            ) from exc

    def _outage_seconds(self) -> float:
        return 0.0 if self.outage_started is None else time.monotonic() - self.outage_started

    def close(self, *, wait_seconds: float = 60.0) -> None:
        """Write what is buffered (waiting out a short outage) and send the last messages."""
        deadline = time.monotonic() + wait_seconds
        self._stop_observers()
        self.flush()
        while (self._events or self._points) and time.monotonic() < deadline:
            time.sleep(min(self._retry_delay, max(0.0, deadline - time.monotonic())))
            self.flush()
        if self._events or self._points:
            raise ReporterOverflow(
                f"PostgreSQL stayed unreachable: {len(self._points)} points and "
                f"{len(self._events)} events could not be written"
            )
        self._publish_clients()
        self._publish_metrics()
        self._publish_progress()
        live.publisher().flush(timeout=5.0)


# Client states a progress update can repeat; done and dropped end a client's round.
PROGRESS_STATES = frozenset({"training", "straggling"})


def coalesce_client_update(pending: list[dict[str, Any]], update: dict[str, Any]) -> None:
    """Append ``update`` to ``pending`` (oldest first), dropping that client's buffered update
    if it only said the same state with older progress: a state change is never dropped."""
    for index in range(len(pending) - 1, -1, -1):
        earlier = pending[index]
        if earlier.get("client") != update.get("client"):
            continue
        if earlier.get("state") == update.get("state") and update.get("state") in PROGRESS_STATES:
            del pending[index]
        break  # only the client's latest buffered update can be superseded
    pending.append(update)


def progress_fraction(step: int, total: int) -> float:
    """How far a run is, 0 to 1: the one definition the live message and the stored run use."""
    return min(1.0, step / total) if total > 0 else 0.0


def progress_payload(step: int, total: int) -> dict[str, Any]:
    return {"step": step, "total": total, "progress": progress_fraction(step, total)}
