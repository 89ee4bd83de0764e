"""The reporter's relay of a federated run's client updates: one transient ``clients`` message
at most every KEISEI_LIVE_CLIENTS_SECONDS, progress-only updates coalesced, state changes
kept, and whatever is buffered sent before the next durable event. The writers and the
publisher are replaced by one shared list (a unit test of the ordering; the real wire is
tests/integration/monitoring/test_federated_live.py)."""

from __future__ import annotations

import pytest

from monitoring import reporter as reporter_module
from monitoring.reporter import Reporter, coalesce_client_update


class Wire:
    """What left the reporter, in order: ("clients", round, updates) or ("event", message)."""

    def __init__(self) -> None:
        self.sent: list[tuple] = []

    def publish_clients(self, run_id, round_, updates):
        self.sent.append(("clients", round_, [dict(u) for u in updates]))

    def event_record(self, *, type, message, data, **_):  # noqa: A002 - the service's name
        self.sent.append(("event", message))

    def metrics_record(self, *, points, **_):
        pass

    def clients(self) -> list[tuple]:
        return [s for s in self.sent if s[0] == "clients"]


@pytest.fixture
def wire(monkeypatch, settings):
    settings.KEISEI_LIVE_CLIENTS_SECONDS = 3600  # only the first update goes out on its own
    fake = Wire()
    monkeypatch.setattr(reporter_module.live, "publish_clients", fake.publish_clients)
    monkeypatch.setattr(reporter_module, "event_record", fake.event_record)
    monkeypatch.setattr(reporter_module, "metrics_record", fake.metrics_record)
    monkeypatch.setattr(reporter_module.live, "publisher", lambda: _NoPublisher())
    return fake


class _NoPublisher:
    def flush(self, timeout: float = 5.0) -> bool:
        return True


def update(client: int, state: str, progress: float, round_: int = 3, **extra) -> dict:
    return {"round": round_, "client": client, "state": state, "progress": progress, **extra}


def test_progress_updates_of_a_client_in_one_state_coalesce_to_the_latest():
    pending: list[dict] = []
    for item in (
        update(0, "training", 0.0),
        update(5, "training", 0.0),
        update(0, "training", 0.25),
        update(0, "training", 0.5),
        update(5, "training", 0.5),
    ):
        coalesce_client_update(pending, item)
    assert [(u["client"], u["progress"]) for u in pending] == [(0, 0.5), (5, 0.5)]


def test_state_changes_are_never_dropped():
    pending: list[dict] = []
    for item in (
        update(2, "training", 0.5),
        update(2, "training", 1.0),
        update(2, "straggling", 1.0, delay_s=1.5),
        update(2, "straggling", 1.0, delay_s=1.5),
        update(2, "done", 1.0),
        update(7, "training", 0.4),
        update(7, "dropped", 0.4, reason="dropped out after 40% of its local training"),
    ):
        coalesce_client_update(pending, item)
    assert [(u["client"], u["state"]) for u in pending] == [
        (2, "training"),
        (2, "straggling"),
        (2, "done"),
        (7, "training"),
        (7, "dropped"),
    ]
    assert pending[0]["progress"] == 1.0


def test_buffered_updates_go_out_before_the_next_durable_event(wire):
    rep = Reporter(run_id=1, owner_id=None, actor="worker:test")
    rep.on_event("round", "round 3/15: clients 0, 5 chosen", {"phase": "start"})
    rep.on_live("client", update(0, "training", 0.0))  # the first goes out at once
    rep.on_live("client", update(5, "training", 0.0))
    rep.on_live("client", update(5, "training", 0.5))
    rep.on_live("client", update(0, "done", 1.0))
    rep.on_live("client", update(5, "done", 1.0))
    assert len(wire.clients()) == 1  # the rest wait for the interval or the next event
    rep.on_event("round", "round 3/15: 2 of 2 clients averaged", {"phase": "end"})
    assert [s[0] for s in wire.sent] == ["event", "clients", "clients", "event"]
    _, round_, updates = wire.sent[2]
    assert round_ == 3
    assert [(u["client"], u["state"], u["progress"]) for u in updates] == [
        (5, "training", 0.5),
        (0, "done", 1.0),
        (5, "done", 1.0),
    ]


def test_one_message_holds_one_round_and_close_sends_the_rest(wire):
    rep = Reporter(run_id=1, owner_id=None, actor="worker:test")
    rep.on_live("client", update(0, "training", 0.0, round_=3))
    rep.on_live("client", update(0, "done", 1.0, round_=3))
    rep.on_live("client", update(0, "training", 0.0, round_=4))
    rep.on_live("client", update(1, "training", 0.0, round_=4))
    rep.close()
    assert [(r, [u["round"] for u in us]) for _, r, us in wire.clients()] == [
        (3, [3]),
        (3, [3]),
        (4, [4, 4]),
    ]


def test_updates_are_published_again_once_the_interval_has_passed(wire, settings):
    settings.KEISEI_LIVE_CLIENTS_SECONDS = 0.05
    rep = Reporter(run_id=1, owner_id=None, actor="worker:test")
    rep.on_live("client", update(0, "training", 0.0))
    rep.on_live("client", update(0, "training", 0.25))
    assert len(wire.clients()) == 1
    reporter_module.time.sleep(0.06)  # the interval itself is what is tested
    rep.on_live("client", update(0, "training", 0.5))
    assert [[u["progress"] for u in us] for _, _, us in wire.clients()] == [[0.0], [0.5]]


def test_unknown_live_kinds_are_ignored(wire):
    rep = Reporter(run_id=1, owner_id=None, actor="worker:test")
    rep.on_live("weather", {"round": 1})
    rep.close()
    assert wire.sent == []
