"""The clients panel's state on page load (runs.selectors.federation.federation_state), from
round events and metric points shaped as the engine reports them (docs/websocket.md). The
query around it is exercised with a real run in
tests/integration/monitoring/test_federated_live.py."""

from __future__ import annotations

from runs.selectors.federation import federation_state

CONFIG = {"mode": "federated", "clients": 4, "epochs": 5}


def start(round_no: int, chosen: list[int]) -> dict:
    return {"phase": "start", "round": round_no, "rounds": 5, "clients": chosen, "clients_total": 4}


def end(round_no: int) -> dict:
    return {
        "phase": "end",
        "round": round_no,
        "rounds": 5,
        "clients": {
            "0": {"state": "done", "straggled": False, "fit": {"loss": 0.5, "samples": 90}},
            "2": {"state": "done", "straggled": True, "fit": {"loss": 0.4, "samples": 80}},
            "3": {"state": "dropped", "reason": "dropped out after 40% of its local training"},
        },
        "included": [0, 2],
        "dropped": [3],
        "stragglers": [2],
        "aggregate": {"val_loss": 0.3, "val_accuracy": 0.9, "samples": 300},
    }


def latest_of(client: int, step: int, fit_loss: float) -> dict:
    base = f"clients/{client}/"
    return {
        base + "fit_loss": {"step": step, "value": fit_loss},
        base + "fit_samples": {"step": step, "value": 90.0},
        base + "eval_loss": {"step": step, "value": 0.25},
        base + "eval_accuracy": {"step": step, "value": 0.875},
        base + "eval_samples": {"step": step, "value": 24.0},
    }


def states(state: dict) -> dict[int, str]:
    return {c["id"]: c["state"] for c in state["clients"]}


def test_before_any_round_every_configured_client_waits():
    state = federation_state(config=CONFIG, training=True, last_round=None, last_seq=0, latest={})
    assert (state["round"], state["rounds"], state["phase"], state["rounds_done"]) == (
        0,
        5,
        None,
        0,
    )
    assert states(state) == {0: "waiting", 1: "waiting", 2: "waiting", 3: "waiting"}


def test_a_started_round_has_its_chosen_clients_training_and_the_others_not_chosen():
    state = federation_state(
        config=CONFIG, training=True, last_round=start(3, [1, 3]), last_seq=9, latest={}
    )
    assert (state["round"], state["phase"], state["rounds_done"], state["last_seq"]) == (
        3,
        "start",
        2,
        9,
    )
    assert states(state) == {0: "not chosen", 1: "training", 2: "not chosen", 3: "training"}


def test_a_round_started_by_a_run_that_no_longer_trains_leaves_its_clients_waiting():
    state = federation_state(
        config=CONFIG, training=False, last_round=start(3, [1, 3]), last_seq=9, latest={}
    )
    assert states(state)[1] == "waiting" and states(state)[3] == "waiting"
    assert state["abandoned"] and state["rounds_done"] == 2
    running = federation_state(
        config=CONFIG, training=True, last_round=start(3, [1, 3]), last_seq=9, latest={}
    )
    assert not running["abandoned"]


def test_an_ended_round_says_who_finished_who_dropped_and_who_straggled():
    latest = {**latest_of(0, 4, 0.5), **latest_of(2, 4, 0.4), **latest_of(1, 2, 0.9)}
    latest["losses/val_loss"] = {"step": 4, "value": 0.3}
    state = federation_state(
        config=CONFIG, training=True, last_round=end(4), last_seq=12, latest=latest
    )
    assert (state["round"], state["phase"], state["rounds_done"]) == (4, "end", 4)
    assert states(state) == {0: "done", 1: "not chosen", 2: "done", 3: "dropped"}
    rows = {c["id"]: c for c in state["clients"]}
    assert rows[2]["straggled"] and not rows[0]["straggled"]
    assert rows[3]["reason"] == "dropped out after 40% of its local training"
    assert rows[3]["fit"] == {} and rows[3]["progress"] is None
    assert rows[0]["progress"] == 1.0
    # each client's last metrics, whichever round they came from
    assert rows[1]["fit"] == {"loss": 0.9, "samples": 90.0} and rows[1]["step"] == 2
    assert rows[2]["eval"] == {"loss": 0.25, "accuracy": 0.875, "samples": 24.0}


def test_a_client_the_events_name_beyond_the_configured_count_still_gets_a_row():
    state = federation_state(
        config={**CONFIG, "clients": 2},
        training=True,
        last_round=start(1, [0, 3]),
        last_seq=1,
        latest=latest_of(5, 1, 0.2),
    )
    assert [c["id"] for c in state["clients"]] == [0, 1, 3, 5]


def test_malformed_event_data_is_ignored_rather_than_raising():
    state = federation_state(
        config={"mode": "federated", "clients": "many", "epochs": True},
        training=True,
        last_round={"phase": "middle", "round": "three", "clients": {"x": 1}},
        last_seq=3,
        latest={"clients/x/fit_loss": {"step": 1, "value": 1.0}},
    )
    assert (state["round"], state["rounds"], state["phase"], state["clients"]) == (0, 0, None, [])
