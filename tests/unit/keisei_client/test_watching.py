"""What ``keisei watch`` makes of messages, and the pure pieces of other commands."""

from __future__ import annotations

from keisei_client.commands.files import latest_rows, usi_position
from keisei_client.watching import Watcher


class Recorded:
    """A view that keeps what it was shown."""

    def __init__(self) -> None:
        self.shown: list[dict] = []

    def message(self, message: dict) -> None:
        self.shown.append(message)


def event(seq: int, kind: str = "log", **data) -> dict:
    return {"type": kind, "run": 7, "seq": seq, "ts": 0.0, "data": data}


def watcher() -> tuple[Watcher, Recorded]:
    view = Recorded()
    return Watcher(portal=None, run_id=7, view=view), view  # type: ignore[arg-type]


def test_a_durable_event_is_shown_once_whichever_way_it_came():
    watching, view = watcher()
    watching.handle(
        {
            "type": "connected",
            "run": 7,
            "seq": None,
            "data": {"run": {"status": "running"}, "last_seq": 4},
        }
    )
    for message in (event(5), event(6), event(5), event(6), event(7, "status", status="completed")):
        watching.handle(message)
    assert [m["seq"] for m in view.shown if m["seq"] is not None] == [5, 6, 7]
    assert (watching.last_seq, watching.status) == (7, "completed")


def test_a_snapshot_after_a_reconnect_keeps_the_mark_so_the_replay_is_shown():
    watching, view = watcher()
    watching.last_seq = 3  # seen before the drop
    watching.handle(
        {
            "type": "connected",
            "run": 7,
            "seq": None,
            "data": {"run": {"status": "running"}, "last_seq": 9},
        }
    )
    watching.handle(event(4))
    assert watching.last_seq == 4 and view.shown[-1]["seq"] == 4


def test_transient_messages_do_not_move_the_mark():
    watching, view = watcher()
    watching.last_seq = 3
    watching.handle(
        {"type": "metrics", "run": 7, "seq": None, "data": {"step": 2, "values": {"a": 1.0}}}
    )
    assert watching.last_seq == 3 and len(view.shown) == 1


def test_a_game_as_a_usi_position_command():
    assert (
        usi_position({"start_sfen": "", "moves": ["7g7f", "3c3d"]})
        == "position startpos moves 7g7f 3c3d"
    )
    sfen = "4k4/9/9/9/9/9/9/9/4K4 b - 1"
    assert usi_position({"start_sfen": sfen, "moves": []}) == f"position sfen {sfen}"


def test_compare_rows_hold_each_runs_last_point_and_range():
    answer = {
        "runs": [7, 9],
        "series": {
            "7": {
                "points": 3,
                "last_step": [0, 5],
                "last": [0.5, 0.25],
                "min": [0.4, 0.2],
                "max": [0.9, 0.3],
            },
            "9": {
                "points": 0,
                "step": [],
                "value": [],
                "last_step": [],
                "last": [],
                "min": [],
                "max": [],
            },
        },
    }
    assert latest_rows(answer) == [
        {"run": 7, "points": 3, "last_step": 5, "last": 0.25, "min": 0.2, "max": 0.9},
        {"run": 9, "points": 0, "last_step": None, "last": None, "min": None, "max": None},
    ]


class Socket:
    """A connection that delivers the given messages, then nothing."""

    def __init__(self, *messages: dict) -> None:
        self.messages = list(messages)

    def recv(self, timeout: float) -> str:
        import json

        return json.dumps(self.messages.pop(0))


class Events:
    """The events endpoint of a portal that stored events 4 and 5 (the final status)."""

    def __init__(self) -> None:
        self.asked: list[dict] = []

    def get(self, path: str, **params) -> dict:
        self.asked.append({"path": path, **params})
        stored = [event(4), event(5, "status", status="completed")]
        return {
            "results": [e for e in stored if e["seq"] > params["after_seq"]],
            "last_seq": 5,
            "has_more": False,
        }


def test_a_snapshot_of_a_finished_run_still_shows_the_events_missed_before_it():
    watching, view = watcher()
    watching.portal = Events()  # type: ignore[assignment]
    watching.last_seq = 3  # seen before the drop; the run finished meanwhile
    snapshot = {
        "type": "connected",
        "run": 7,
        "seq": None,
        "data": {"run": {"status": "completed"}, "last_seq": 5},
    }
    watching._receive(Socket(snapshot))  # type: ignore[arg-type]
    assert [m["seq"] for m in view.shown if m["seq"] is not None] == [4, 5]
    assert watching.status == "completed"
    assert watching.portal.asked == [{"path": "runs/7/events/", "after_seq": 3, "limit": 1000}]
