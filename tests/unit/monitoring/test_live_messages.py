"""The live message shape and the reporter's throttle."""

from __future__ import annotations

import json
import re
from pathlib import Path

from monitoring import live
from monitoring.models import EventType
from monitoring.reporter import Throttle, progress_payload


def test_message_has_the_documented_shape():
    msg = live.message("metrics", 7, {"step": 3})
    assert set(msg) == {"type", "run", "seq", "ts", "data"}
    assert (msg["type"], msg["run"], msg["seq"], msg["data"]) == ("metrics", 7, None, {"step": 3})


def test_a_layer_event_carries_the_message_as_the_client_receives_it():
    msg = live.message("status", 7, {"status": "running"}, seq=4)
    event = live.layer_event(msg)
    assert event["type"] == live.LAYER_EVENT
    assert live.relayed(event) == ("status", 4, json.dumps(msg))
    # What a publisher older than ``layer_event`` sends (a worker not yet upgraded).
    assert live.relayed({"type": live.LAYER_EVENT, "message": msg}) == live.relayed(event)


def test_group_names():
    assert live.run_group(12) == "run.12"
    assert live.RUNS_GROUP == "runs.all"


def test_throttle_lets_one_through_per_interval():
    throttle = Throttle(3600)
    assert [throttle.ready() for _ in range(3)] == [True, False, False]
    assert all(Throttle(0).ready() for _ in range(3))


def test_progress_payload_is_bounded():
    assert progress_payload(5, 10) == {"step": 5, "total": 10, "progress": 0.5}
    assert progress_payload(12, 10)["progress"] == 1.0
    assert progress_payload(3, 0)["progress"] == 0.0


def documented_message_types() -> dict[str, bool]:
    """docs/websocket.md's table of server messages: type -> durable."""
    text = (Path(__file__).resolve().parents[3] / "docs" / "websocket.md").read_text()
    types = {}
    for names, durable in re.findall(r"^\| (`[\w`, ]+`) \| (yes|no) \|", text, re.MULTILINE):
        for name in re.findall(r"`(\w+)`", names):
            types[name] = durable == "yes"
    return types


def test_the_durable_types_are_the_stored_event_types_and_documented_so():
    assert live.DURABLE_TYPES == set(EventType.values)
    assert not live.DURABLE_TYPES & live.TRANSIENT_TYPES
    documented = documented_message_types()
    assert {name for name, durable in documented.items() if durable} == live.DURABLE_TYPES
    assert {name for name, durable in documented.items() if not durable} == live.TRANSIENT_TYPES
