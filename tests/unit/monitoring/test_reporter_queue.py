"""The reporter's durable queue while PostgreSQL is away: order, once-only record steps,
points before a checkpoint. The two writers are replaced by lists (this is a unit test of
the queue, not of the database; the outage itself is tested against a real PostgreSQL in
tests/integration/monitoring/test_database_outage.py)."""

from __future__ import annotations

import pytest
from django.db import OperationalError

from monitoring import reporter as reporter_module
from monitoring.reporter import Reporter


class FlakyDatabase:
    """Stands in for ``event_record`` and ``metrics_record``; ``down`` makes both fail."""

    def __init__(self) -> None:
        self.down = False
        self.writes: list[tuple] = []

    def event_record(self, *, type, message, data, **_):  # noqa: A002 - the service's name
        if self.down:
            raise OperationalError("connection refused")
        self.writes.append(("event", message, data))

    def metrics_record(self, *, points, **_):
        if self.down:
            raise OperationalError("connection refused")
        self.writes.append(("points", [step for _, step, _, _ in points]))


@pytest.fixture
def database(monkeypatch):
    fake = FlakyDatabase()
    monkeypatch.setattr(reporter_module, "event_record", fake.event_record)
    monkeypatch.setattr(reporter_module, "metrics_record", fake.metrics_record)
    monkeypatch.setattr("django.db.connection.close", lambda: None)
    return fake


def reporter() -> Reporter:
    return Reporter(run_id=1, owner_id=None, actor="worker:test")


def test_events_wait_in_order_and_are_written_once_when_the_database_is_back(database):
    rep = reporter()
    rep.on_event("log", "first")
    database.down = True
    rep.on_event("log", "second")
    rep.on_event("log", "third")
    assert [w[1] for w in database.writes] == ["first"]
    database.down = False
    rep.flush()
    assert [w[1] for w in database.writes if w[0] == "event"] == ["first", "second", "third"]
    rep.flush()
    assert len(database.writes) == 3


def test_a_record_step_runs_once_even_if_its_event_fails_after_it(database):
    rep = reporter()
    calls = []

    def record():
        calls.append(1)
        database.down = True  # the database goes away between the row and its event
        return {"checkpoint": 41}

    pending = rep.queue_event(
        "checkpoint", "periodic checkpoint at step 2", {"step": 2}, record=record
    )
    assert not pending.written and calls == [1]
    database.down = False
    rep.flush()
    assert pending.written and calls == [1]
    assert database.writes == [
        ("event", "periodic checkpoint at step 2", {"step": 2, "checkpoint": 41})
    ]


def test_an_action_waits_behind_the_event_before_it_and_sees_its_rows(database):
    # A command asking for an evaluation is finished only once the evaluation is stored.
    rep = reporter()
    database.down = True
    pending = rep.queue_event(
        "evaluation", "vs random", {"wins": 1}, record=lambda: {"evaluation": 7}
    )
    finished = []
    rep.queue_action(lambda: finished.append(dict(pending.stored)))
    assert finished == [] and database.writes == []
    database.down = False
    rep.flush()
    assert database.writes == [("event", "vs random", {"wins": 1, "evaluation": 7})]
    assert finished == [{"evaluation": 7}]
    rep.flush()
    assert finished == [{"evaluation": 7}]  # once


def test_an_action_that_meets_an_outage_is_retried(database):
    rep = reporter()
    attempts = []

    def action():
        attempts.append(1)
        if len(attempts) == 1:
            raise OperationalError("connection refused")

    pending = rep.queue_action(action)
    assert not pending.written
    rep.flush()
    assert pending.written and len(attempts) == 2


def test_points_buffered_when_a_checkpoint_is_written_go_before_it(database):
    rep = reporter()
    database.down = True
    rep.on_metrics(1, {"loss": 1.0})
    rep.on_metrics(2, {"loss": 0.5})
    rep.queue_event(
        "checkpoint", "at step 2", {"step": 2}, record=lambda: {"checkpoint": 1}, points_first=True
    )
    rep.on_metrics(3, {"loss": 0.25})
    database.down = False
    rep.flush()
    # Every buffered point goes first: those after the checkpoint too (harmless: a resume
    # from it repeats them, and the store keeps a (key, step) once).
    assert database.writes == [
        ("points", [1, 2, 3]),
        ("event", "at step 2", {"step": 2, "checkpoint": 1}),
    ]


def test_an_unknown_kind_is_logged_with_its_kind(database):
    rep = reporter()
    rep.on_event("selfplay", "a game", {"moves": 3})
    assert database.writes == [("event", "a game", {"moves": 3, "kind": "selfplay"})]


def test_past_the_point_bound_the_run_stops_with_the_reason_and_keeps_every_point(
    database, monkeypatch
):
    monkeypatch.setattr(reporter_module, "MAX_BUFFERED_POINTS", 3)
    rep = reporter()
    database.down = True
    for step in range(3):
        rep.on_metrics(step, {"loss": 1.0})
        rep.flush()
    with pytest.raises(reporter_module.ReporterOverflow, match="4 metric points wait"):
        rep.on_metrics(3, {"loss": 1.0})
        rep.flush()
    database.down = False
    rep.flush()  # nothing was dropped: all four are written once the database is back
    assert database.writes == [("points", [0, 1, 2, 3])]


def test_past_the_event_bound_the_run_stops_with_the_reason(database, monkeypatch):
    monkeypatch.setattr(reporter_module, "MAX_BUFFERED_EVENTS", 2)
    rep = reporter()
    database.down = True
    rep.on_event("log", "one")
    rep.on_event("log", "two")
    with pytest.raises(reporter_module.ReporterOverflow, match="3 timeline events wait"):
        rep.on_event("log", "three")


def test_live_progress_is_throttled_and_the_last_one_is_sent_at_close(
    database, monkeypatch, settings
):
    settings.KEISEI_LIVE_PROGRESS_INTERVAL = 3600
    sent = []
    monkeypatch.setattr(
        reporter_module.live,
        "publish_progress",
        lambda run_id, data, owner_id=None: sent.append((run_id, data["step"], owner_id)),
    )
    rep = Reporter(run_id=1, owner_id=5, actor="worker:test")
    for step in (1, 2, 3):
        rep.on_progress(step, 10)
    assert sent == [(1, 1, 5)]  # the rest wait for the interval
    rep.close()
    assert sent == [(1, 1, 5), (1, 3, 5)]  # the latest, not every one held back
