"""The reporter hands its observers every point in order, on their own thread: in batches
while points stream in, at once when one comes after a quiet spell. The database writers are
replaced by no-ops (the rules on real runs are tested in tests/integration/alerts)."""

from __future__ import annotations

import math
import threading
import time

import pytest

from monitoring import reporter as reporter_module
from monitoring.metric_batches import MetricQueue
from monitoring.reporter import MAX_OBSERVED_BACKLOG, OBSERVER_FULL_BATCH, Reporter
from tests.support.waiting import wait_for


class Recorder:
    """An observer that keeps the batches it was handed."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.seen = threading.Event()

    def observe_many(self, batches):
        self.batches.append([step for batch in batches for step, _ in batch.rows()])
        self.seen.set()
        return []

    def tick(self):
        return []

    def close(self):
        pass


@pytest.fixture
def recorder(monkeypatch):
    made = Recorder()
    monkeypatch.setattr(reporter_module, "event_record", lambda **_: None)
    monkeypatch.setattr(reporter_module, "metrics_record", lambda **_: None)
    monkeypatch.setattr(reporter_module, "_observer_factories", [lambda run, owner: made])
    monkeypatch.setattr("django.db.connection.close", lambda: None)
    return made


def test_a_stream_reaches_the_observers_whole_and_in_order_in_batches(recorder, monkeypatch):
    # A batch interval far longer than the test may take: only a full batch can end the wait.
    # The producer comes in bursts of more than a full batch (faster than any trainer: no
    # database writes) and waits, with a deadline, until the observers are less than a full
    # batch behind; it never runs ahead by the backlog's bound, however the threads are
    # scheduled (a single burst of 20,000 dropped points on a loaded CI machine).
    monkeypatch.setattr(reporter_module, "OBSERVER_BATCH_SECONDS", 60.0)
    burst = OBSERVER_FULL_BATCH + 1_000
    assert burst < MAX_OBSERVED_BACKLOG
    rep = Reporter(run_id=1, owner_id=None, actor="worker:test")
    try:
        step = 0
        for _ in range(4):
            for _ in range(burst):
                step += 1
                rep.on_metrics(step, {"losses/value_loss": 0.5, "losses/entropy": 3.0})
            behind = step - OBSERVER_FULL_BATCH
            wait_for(
                lambda behind=behind: sum(map(len, recorder.batches)) > behind,
                timeout=30,
                what="a full batch to end the observers' wait",
                interval=0.05,
            )
    finally:
        rep.close()
    flat = [s for batch in recorder.batches for s in batch]
    assert flat == list(range(1, step + 1)) and rep.observed_dropped == 0
    assert max(len(batch) for batch in recorder.batches) >= OBSERVER_FULL_BATCH


def test_a_point_after_a_quiet_spell_is_observed_at_once_on_its_own(recorder):
    rep = Reporter(run_id=1, owner_id=None, actor="worker:test")
    try:
        rep.on_metrics(1, {"losses/value_loss": 0.5})
        assert recorder.seen.wait(5)
        recorder.seen.clear()
        time.sleep(0.1)  # the quiet spell this test is about
        started = time.monotonic()
        rep.on_metrics(2, {"losses/value_loss": 0.5})
        assert recorder.seen.wait(5)
        assert recorder.batches == [[1], [2]]
        # Seen without waiting out a batch interval (well inside the once-a-second tick).
        assert time.monotonic() - started < 0.5
    finally:
        rep.close()


def test_the_queue_keeps_runs_of_keys_apart_and_drops_the_oldest_past_its_bound():
    waiting = MetricQueue(bound=4)
    waiting.put(1, {"a": 1.0, "b": 2})
    waiting.put(2, {"a": 3.0, "b": 4.0})
    waiting.put(3, {"b": 5.0, "a": 6.0})  # the same keys in another order: a run of its own
    waiting.put(4, {"a": "7.5", "b": math.nan})  # what float() reads, array("d") does not
    assert waiting.put(5, {"a": 9.0, "b": 10.0}) == 4 and waiting.dropped == 1
    taken = waiting.take()
    assert [b.keys for b in taken] == [("a", "b"), ("b", "a"), ("a", "b")]
    rows = [row for batch in taken for row in batch.rows()]
    assert [step for step, _ in rows] == [2, 3, 4, 5]
    assert rows[0][1] == {"a": 3.0, "b": 4.0} and rows[1][1] == {"b": 5.0, "a": 6.0}
    assert rows[2][1]["a"] == 7.5 and math.isnan(rows[2][1]["b"])
    assert len(waiting) == 0 and waiting.take() == []
    with pytest.raises(ValueError):
        waiting.put(6, {"a": 1.0, "b": "not a number"})
    waiting.put(7, {"a": 1.0, "b": 2.0})
    assert [row for batch in waiting.take() for row in batch.rows()] == [(7, {"a": 1.0, "b": 2.0})]
