"""The live message shape and the reporter's throttle."""

from __future__ import annotations

from monitoring import live
from monitoring.reporter import Throttle, progress_payload


def test_message_has_the_documented_shape():
    msg = live.message("metrics", 7, {"step": 3})
    assert set(msg) == {"type", "run", "seq", "ts", "data"}
    assert (msg["type"], msg["run"], msg["seq"], msg["data"]) == ("metrics", 7, None, {"step": 3})


def test_group_names():
    assert live.run_group(12) == "run.12"
    assert live.user_runs_group(3) == "runs.user.3"


def test_throttle_lets_one_through_per_interval():
    throttle = Throttle(3600)
    assert [throttle.ready() for _ in range(3)] == [True, False, False]
    assert all(Throttle(0).ready() for _ in range(3))


def test_progress_payload_is_bounded():
    assert progress_payload(5, 10) == {"step": 5, "total": 10, "progress": 0.5}
    assert progress_payload(12, 10)["progress"] == 1.0
    assert progress_payload(3, 0)["progress"] == 0.0
