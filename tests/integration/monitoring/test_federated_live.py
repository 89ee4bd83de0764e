"""A federated ``digits`` run as its watchers see it, every part real: a Celery worker trains 8
simulated clients with dropouts and stragglers, a WebSocket client on Daphne watches each
round start, its clients' updates and its end, in order; afterwards the stored per-client
series are whole, the history API returns them, and the run page's panel state agrees."""

from __future__ import annotations

import asyncio
import json
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import pytest

from monitoring.models import EventType, MetricPoint
from monitoring.selectors import metrics_latest
from runs import services
from runs.models import Run, RunStatus
from runs.selectors.federation import run_federation_state
from tests.support.sockets import connect, token_for

pytestmark = pytest.mark.django_db(transaction=True)

ROUNDS = 6
CLIENTS = 8
# The seed is chosen so that this run has at least one drop and one straggler (asserted below,
# so a change in the engine's random draws shows here rather than as a weaker test).
CONFIG = {
    "mode": "federated",
    "epochs": ROUNDS,
    "clients": CLIENTS,
    "local_epochs": 1,
    "batch_size": 32,
    "seed": 3,
    "client_fraction": 0.5,
    "dropout_probability": 0.25,
    "straggler_probability": 0.25,
    "straggler_delay_s": 0.2,
}
CLIENT_NAMES = ("fit_loss", "fit_samples", "eval_loss", "eval_accuracy", "eval_samples")
FINISHED = {"completed", "failed", "stopped", "cancelled"}


@dataclass
class Watched:
    """What the socket received, in order."""

    snapshot_seq: int = 0  # durable events up to here were stored before the socket joined
    messages: list[dict[str, Any]] = field(default_factory=list)
    final: str = ""


async def watch(base: str, run_id: int, token: str) -> Watched:
    watched = Watched()
    async with connect(base, f"/ws/runs/{run_id}/?after_seq=0", token) as ws:
        async with asyncio.timeout(600):
            async for raw in ws:
                msg = json.loads(raw)
                if msg["type"] == "connected":
                    watched.snapshot_seq = msg["data"]["last_seq"]
                    continue
                watched.messages.append(msg)
                if msg["type"] == "status" and msg["data"].get("status") in FINISHED:
                    watched.final = msg["data"]["status"]
                    return watched
    return watched


def http_json(base: str, path: str, token: str) -> dict:
    request = urllib.request.Request(base + path, headers={"Authorization": f"Token {token}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def check_round_order(watched: Watched) -> dict[int, dict]:
    """Every round's start, then its clients' terminal updates, then its end; the ends by
    round. Rounds that started before the socket joined its group may have lost their
    transient updates (transient messages are never replayed), so only later ones are held to
    the updates."""
    ends: dict[int, dict] = {}
    current: int | None = None
    live_round = False
    terminal: dict[int, str] = {}
    straggled: set[int] = set()
    chosen: list[int] = []
    for msg in watched.messages:
        data = msg["data"]
        if msg["type"] == "round" and data["phase"] == "start":
            assert current is None, f"round {data['round']} started before round {current} ended"
            assert data["round"] == len(ends) + 1, (data["round"], sorted(ends))
            assert data["rounds"] == ROUNDS and data["clients_total"] == CLIENTS
            current, chosen = data["round"], data["clients"]
            live_round = msg["seq"] > watched.snapshot_seq
            terminal, straggled = {}, set()
        elif msg["type"] == "clients":
            assert current is not None and data["round"] == current, (current, data)
            for update in data["updates"]:
                assert update["round"] == current and update["client"] in chosen, update
                assert update["client"] not in terminal, f"an update after the end: {update}"
                if update["state"] == "straggling":
                    straggled.add(update["client"])
                if update["state"] in ("done", "dropped"):
                    terminal[update["client"]] = update["state"]
                    if update["state"] == "done":
                        assert set(update["fit"]) >= {"loss", "samples"}, update
                        assert set(update["eval"]) >= {"loss", "accuracy", "samples"}, update
        elif msg["type"] == "round" and data["phase"] == "end":
            assert data["round"] == current, (current, data)
            outcome = {int(cid): o["state"] for cid, o in data["clients"].items()}
            assert sorted(outcome) == sorted(chosen)
            assert sorted(data["included"]) == sorted(c for c, s in outcome.items() if s == "done")
            assert sorted(data["dropped"]) == sorted(
                c for c, s in outcome.items() if s == "dropped"
            )
            if live_round:
                assert terminal == outcome, f"round {current}: live {terminal}, end {outcome}"
                assert straggled == set(data["stragglers"]), (current, straggled, data)
            ends[current] = data
            current = None
    return ends


def test_a_federated_run_is_watched_round_by_round_and_its_client_series_are_whole(
    daphne_server, celery_worker, owner
):
    token = token_for(owner)
    # Daphne answers a request that reads the database before the run is queued: after an
    # earlier test restarted PostgreSQL, the first such answer can take seconds (the
    # connection pool reconnecting), longer than this small run trains.
    assert http_json(daphne_server, "/api/v1/me/", token)["username"] == owner.username
    run = services.run_queue(owner=owner, trainer="digits", config=CONFIG, name="federated")
    watched = asyncio.run(watch(daphne_server, run.pk, token))

    assert watched.final == "completed", [m["type"] for m in watched.messages][-20:]
    ends = check_round_order(watched)
    assert sorted(ends) == list(range(1, ROUNDS + 1))
    live_rounds = [
        m["data"]["round"]
        for m in watched.messages
        if m["type"] == "round"
        and m["data"]["phase"] == "start"
        and m["seq"] > watched.snapshot_seq
    ]
    assert len(live_rounds) >= ROUNDS - 1, f"the socket joined late: rounds {live_rounds} live"
    dropped = [c for e in ends.values() for c in e["dropped"]]
    stragglers = [c for e in ends.values() for c in e["stragglers"]]
    assert dropped and stragglers, f"the seed gave no drop or no straggler: {ends}"
    assert any(m["type"] == "clients" for m in watched.messages)

    # Stored: every client that finished a round has its five points at step = round; a
    # dropped one has none that round.
    stored = set(
        MetricPoint.objects.filter(run=run, key__startswith="clients/").values_list("key", "step")
    )
    expected = {
        (f"clients/{cid}/{name}", round_no)
        for round_no, end in ends.items()
        for cid in end["included"]
        for name in CLIENT_NAMES
    }
    assert stored == expected, (sorted(stored - expected)[:5], sorted(expected - stored)[:5])

    # The history API returns them, as any other key.
    keys = [f"clients/{cid}/eval_accuracy" for cid in range(CLIENTS)]
    query = urllib.parse.urlencode({"keys": ",".join(keys), "max_points": 1000})
    series = http_json(daphne_server, f"/api/v1/runs/{run.pk}/metrics/?{query}", token)["series"]
    for cid in range(CLIENTS):
        rounds = [r for r, end in sorted(ends.items()) if cid in end["included"]]
        got = series.get(f"clients/{cid}/eval_accuracy", {"step": []})["step"]
        assert got == rounds, (cid, got, rounds)
    assert all(0 <= v <= 1 for s in series.values() for v in s["value"])

    # The run page's panel state, read from the database, says what the last round's end said.
    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED
    state = run_federation_state(run=run, latest=metrics_latest(run_id=run.pk))
    last = ends[ROUNDS]
    assert (state["round"], state["phase"], state["rounds_done"]) == (ROUNDS, "end", ROUNDS)
    shown = {c["id"]: c["state"] for c in state["clients"]}
    for cid in range(CLIENTS):
        outcome = last["clients"].get(str(cid))
        assert shown[cid] == (outcome["state"] if outcome else "not chosen"), (cid, shown)
    stored_rounds = Run.objects.get(pk=run.pk).events.filter(type=EventType.ROUND).count()
    assert stored_rounds == 2 * ROUNDS
