"""``GET /api/v1/runs/<id>/events/``: the durable timeline paged by ``seq``, each event exactly
as the WebSocket replays it to a client that reconnects with ``after_seq`` (real Daphne)."""

from __future__ import annotations

import asyncio

import pytest

from monitoring.services import event_record
from runs.models import Run
from tests.support.refusals import fields
from tests.support.sockets import connect, receive, token_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def run_with_events(owner):
    run = Run.objects.create(owner=owner, trainer="digits", config={}, name="timeline")
    for i in range(7):
        event_record(
            run_id=run.pk,
            type="log" if i % 2 else "status",
            message=f"event {i}",
            data={"status": "queued", "i": i} if i % 2 == 0 else {"i": i},
            actor="user:olivia",
        )
    return run


def pages(client, run: Run, *, after_seq: int, limit: int) -> list[dict]:
    """Every page from ``after_seq`` on, following ``has_more``."""
    found: list[dict] = []
    while True:
        page = client.get(
            f"/api/v1/runs/{run.pk}/events/", {"after_seq": after_seq, "limit": limit}
        ).json()
        found.append(page)
        if not page["has_more"]:
            return found
        after_seq = page["results"][-1]["seq"]


def test_pages_by_seq_cover_the_timeline_once_in_order(api_client, owner, run_with_events):
    read = pages(api_client(owner), run_with_events, after_seq=0, limit=3)
    assert [len(p["results"]) for p in read] == [3, 3, 1]
    seqs = [e["seq"] for p in read for e in p["results"]]
    assert seqs == list(range(1, 8))
    assert {p["last_seq"] for p in read} == {7}
    later = pages(api_client(owner), run_with_events, after_seq=5, limit=200)
    assert [e["seq"] for e in later[0]["results"]] == [6, 7] and not later[0]["has_more"]
    none_yet = pages(api_client(owner), run_with_events, after_seq=7, limit=200)
    assert none_yet == [{"results": [], "last_seq": 7, "has_more": False}]


def test_rest_and_websocket_replay_give_the_same_events(
    daphne_server, api_client, owner, run_with_events
):
    async def replayed(after_seq: int, count: int) -> list[dict]:
        path = f"/ws/runs/{run_with_events.pk}/?after_seq={after_seq}"
        async with connect(daphne_server, path, token) as ws:
            assert (await receive(ws))["type"] == "connected"
            return [await receive(ws) for _ in range(count)]

    token = token_for(owner)
    over_socket = asyncio.run(replayed(2, 5))
    over_rest = (
        api_client(owner)
        .get(f"/api/v1/runs/{run_with_events.pk}/events/", {"after_seq": 2})
        .json()["results"]
    )
    assert over_rest == over_socket
    assert set(over_rest[0]) == {"type", "run", "seq", "ts", "data"}
    assert over_rest[0]["data"]["message"] == "event 2"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"after_seq": "-1"}, "after_seq"),
        ({"after_seq": "x"}, "after_seq"),
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
    ],
)
def test_bad_paging_is_refused_by_name(api_client, owner, run_with_events, params, field):
    response = api_client(owner).get(f"/api/v1/runs/{run_with_events.pk}/events/", params)
    assert response.status_code == 400 and field in fields(response)


def test_every_caller(api_client, owner, outsider, staff, run_with_events):
    url = f"/api/v1/runs/{run_with_events.pk}/events/"
    assert api_client(owner).get(url).status_code == 200
    assert len(api_client(staff).get(url).json()["results"]) == 7
    assert api_client(outsider).get(url).status_code == 404
    assert api_client().get(url).status_code in (401, 403)
    assert api_client(owner).get("/api/v1/runs/999999/events/").status_code == 404
