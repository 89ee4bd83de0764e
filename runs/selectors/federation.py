"""The clients panel of a federated run as the page is loaded: which round, each client's state
in it and each client's last metrics (docs/websocket.md: the live ``round`` and ``clients``
messages keep it current afterwards, static/js/federated_panel.js)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from monitoring.models import EventType, RunEvent
from runs.models import Run, RunStatus

# A client's metric keys: clients/<id>/<name> (protocol: the id unpadded).
CLIENT_KEY = re.compile(
    r"^clients/(\d+)/(fit_loss|fit_samples|eval_loss|eval_accuracy|eval_samples)$"
)
# The states a row shows when no live message has said more.
WAITING, NOT_CHOSEN, TRAINING = "waiting", "not chosen", "training"
TRAINING_NOW = frozenset({RunStatus.RUNNING, RunStatus.PAUSED})


def run_is_federated(run: Run) -> bool:
    """Whether the run trains federated (its config's ``mode``; every trainer may say so)."""
    return isinstance(run.config, dict) and run.config.get("mode") == "federated"


def run_federation_state(
    *, run: Run, latest: Mapping[str, Mapping[str, float]]
) -> dict[str, Any] | None:
    """The panel's state, or None for a run that is not federated. ``latest`` is the run's
    last point per key (``monitoring.selectors.metrics_latest``, which the page reads anyway),
    so this adds one query: the run's last round event."""
    if not run_is_federated(run):
        return None
    last = (
        RunEvent.objects.filter(run_id=run.pk, type=EventType.ROUND)
        .order_by("-seq")
        .values("seq", "data")
        .first()
    )
    return federation_state(
        config=run.config,
        training=run.status in TRAINING_NOW,
        last_round=last["data"] if last else None,
        last_seq=last["seq"] if last else 0,
        latest=latest,
    )


def federation_state(
    *,
    config: Mapping[str, Any],
    training: bool,
    last_round: Mapping[str, Any] | None,
    last_seq: int,
    latest: Mapping[str, Mapping[str, float]],
) -> dict[str, Any]:
    """The panel's state from the run's config, its last round event (a start or an end, as
    docs/websocket.md shows them) and its last point per key; ``training``: the run is running
    or paused (a round started by a run that no longer trains was abandoned)."""
    last = last_round if isinstance(last_round, Mapping) else {}
    total = _count(config.get("clients"))
    rounds = _count(last.get("rounds")) or _count(config.get("epochs"))
    clients = {cid: _row(cid) for cid in range(total)}
    _add_metrics(clients, latest)
    round_no = _count(last.get("round"))
    phase = last.get("phase") if last.get("phase") in ("start", "end") else None
    if phase == "start":
        _apply_start(clients, last, running=training)
    elif phase == "end":
        _apply_end(clients, last)
    return {
        "round": round_no,
        "rounds": rounds,
        "phase": phase,
        # a started round of a run that no longer trains will never end (a stop abandons it)
        "abandoned": phase == "start" and not training,
        # a round that started is done only once its end event is stored
        "rounds_done": round_no if phase == "end" else max(round_no - 1, 0),
        "clients_total": total,
        "clients": [clients[cid] for cid in sorted(clients)],
        # round events up to this seq are in this state (the page's script skips them)
        "last_seq": last_seq,
    }


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _row(cid: int) -> dict[str, Any]:
    return {
        "id": cid,
        "state": WAITING,
        "progress": None,
        "straggled": False,
        "reason": "",
        "fit": {},
        "eval": {},
        "step": None,
    }


def _client_ids(values: Any) -> list[int]:
    """Client ids from an event (a list of ints, or a dict keyed by str(id)); others ignored."""
    ids = values.keys() if isinstance(values, dict) else values if isinstance(values, list) else []
    out = []
    for raw in ids:
        text = str(raw)
        if text.isdigit():
            out.append(int(text))
    return out


def _ensure(clients: dict[int, dict[str, Any]], cid: int) -> dict[str, Any]:
    # a client beyond the config's count still gets a row: the events are what happened
    return clients.setdefault(cid, _row(cid))


def _add_metrics(
    clients: dict[int, dict[str, Any]], latest: Mapping[str, Mapping[str, float]]
) -> None:
    for key, point in latest.items():
        match = CLIENT_KEY.match(key)
        if not match:
            continue
        row = _ensure(clients, int(match[1]))
        part, name = match[2].split("_", 1)
        row[part][name] = point["value"]
        row["step"] = max(row["step"] or 0, int(point["step"]))


def _apply_start(
    clients: dict[int, dict[str, Any]], event: Mapping[str, Any], *, running: bool
) -> None:
    chosen = set(_client_ids(event.get("clients")))
    for cid in chosen:
        _ensure(clients, cid)
    for cid, row in clients.items():
        if cid not in chosen:
            row["state"] = NOT_CHOSEN
        # How far a chosen client got is said only live; a run no longer training abandoned
        # the round (a stop reports no end event), so its clients wait.
        else:
            row["state"] = TRAINING if running else WAITING


def _apply_end(clients: dict[int, dict[str, Any]], event: Mapping[str, Any]) -> None:
    raw = event.get("clients")
    reported: Mapping[str, Any] = raw if isinstance(raw, dict) else {}
    for cid in _client_ids(reported):
        _ensure(clients, cid)
    for cid, row in clients.items():
        outcome = reported.get(str(cid))
        if not isinstance(outcome, dict):
            row["state"] = NOT_CHOSEN
            continue
        row["state"] = "dropped" if outcome.get("state") == "dropped" else "done"
        row["straggled"] = bool(outcome.get("straggled"))
        row["reason"] = str(outcome.get("reason") or "")
        row["progress"] = 1.0 if row["state"] == "done" else None
