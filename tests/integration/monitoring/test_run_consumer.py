"""``/ws/runs/<id>/`` as a client sees it: a real socket to the real Daphne the fixtures start,
on the real Redis channel layer and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import json

import pytest
import websockets
from django.db import connection

from keisei_site.launcher import WEBSOCKET_MAX_MESSAGE_BYTES
from monitoring.consumers import MAX_CLIENT_MESSAGE_BYTES
from monitoring.services import event_record
from runs.models import Run
from tests.support.sockets import close_of, connect, receive, token_for

pytestmark = pytest.mark.django_db(transaction=True)


def record(run_id: int, type_: str, message: str) -> None:
    """An event stored and published from a thread of the client's event loop; the thread's
    connection is closed after use, so none is left open on the test database."""
    try:
        event_record(run_id=run_id, type=type_, message=message)
    finally:
        connection.close()


@pytest.fixture
def run(owner):
    return Run.objects.create(owner=owner, trainer="digits", config={}, name="watched")


def test_owner_gets_a_connected_snapshot_then_live_events(daphne_server, owner, run):
    async def scenario() -> tuple[dict, dict]:
        async with connect(daphne_server, f"/ws/runs/{run.pk}/", token) as ws:
            hello = await receive(ws)
            await asyncio.to_thread(record, run.pk, "log", "hello watchers")
            return hello, await receive(ws)

    token = token_for(owner)
    hello, live = asyncio.run(scenario())
    assert hello["type"] == "connected" and hello["run"] == run.pk and hello["seq"] is None
    assert hello["data"]["run"]["status"] == "queued"
    assert hello["data"]["last_seq"] == 0
    assert (live["type"], live["seq"], live["data"]["message"]) == ("log", 1, "hello watchers")


def test_outsider_anonymous_and_unknown_run_are_refused_with_403_at_the_handshake(
    daphne_server, owner, outsider, run
):
    async def handshake(path: str, token: str | None) -> int:
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with connect(daphne_server, path, token):
                pass
        return refused.value.response.status_code

    cases = [
        (f"/ws/runs/{run.pk}/", token_for(outsider)),
        (f"/ws/runs/{run.pk}/", None),
        ("/ws/runs/999999/", token_for(owner)),
        ("/ws/runs/", None),  # and anonymous at the dashboard and the system endpoints
        ("/ws/system/", None),
    ]
    assert [asyncio.run(handshake(path, token)) for path, token in cases] == [403] * len(cases)


def test_malformed_messages_get_an_error_and_the_socket_stays(daphne_server, owner, run):
    async def scenario() -> list[str]:
        answers = []
        async with connect(daphne_server, f"/ws/runs/{run.pk}/", token) as ws:
            await receive(ws)
            for sent in (
                "not json{",
                json.dumps({"action": "dance"}),
                json.dumps({"action": "subscribe", "types": ["nonsense"]}),
                json.dumps({"action": "ping"}),
            ):
                await ws.send(sent)
                msg = await receive(ws)
                answers.append(msg["data"].get("code", msg["type"]))
        return answers

    token = token_for(owner)
    assert asyncio.run(scenario()) == ["malformed", "unknown_action", "invalid", "pong"]


@pytest.mark.parametrize("size", [MAX_CLIENT_MESSAGE_BYTES + 1, 1024 * 1024 + 64])
def test_a_message_over_64_kib_is_answered_with_an_error_and_closed_with_4009(
    daphne_server, owner, run, size
):
    """Just over the consumer's limit, and a 1 MiB payload in its JSON envelope: over Daphne's
    default limit (1 MiB), which
    would drop the connection with no close frame (1006) unless Daphne lets it through."""

    async def scenario() -> tuple[dict, tuple]:
        async with connect(daphne_server, f"/ws/runs/{run.pk}/", token) as ws:
            await receive(ws)
            padding = "x" * (size - len(json.dumps({"action": "ping", "pad": ""})))
            message = json.dumps({"action": "ping", "pad": padding})
            assert len(message.encode()) == size
            await ws.send(message)
            return await receive(ws), await close_of(ws)

    token = token_for(owner)
    error, (code, _) = asyncio.run(scenario())
    assert code == 4009
    assert (error["type"], error["data"]["code"]) == ("error", "too_big")
    assert f"at most {MAX_CLIENT_MESSAGE_BYTES} bytes" in error["data"]["detail"]


def test_a_client_sending_too_fast_is_told_the_rate_and_closed_with_4029(daphne_server, owner, run):
    """A burst of twice ``KEISEI_WS_MESSAGE_RATE`` (10 a second) is answered; past it, one
    error naming the limit, then 4029. Seen failing with the bucket's check removed: every
    ping answered, no close."""

    async def scenario() -> tuple[list[str], tuple]:
        async with connect(daphne_server, f"/ws/runs/{run.pk}/", token) as ws:
            await receive(ws)
            for _ in range(60):
                await ws.send(json.dumps({"action": "ping"}))
            kinds = []
            with contextlib.suppress(websockets.ConnectionClosed):
                while True:
                    msg = await receive(ws)
                    kinds.append(msg["data"].get("code", msg["type"]))
                    if msg["type"] == "error":
                        assert "10 messages a second" in msg["data"]["detail"]
            return kinds, await close_of(ws)

    token = token_for(owner)
    kinds, (code, _) = asyncio.run(scenario())
    assert code == 4029
    assert kinds[-1] == "too_fast" and kinds.count("too_fast") == 1
    assert 20 <= kinds.count("pong") < 60  # the burst, and what refilled while it arrived


def test_unsubscribed_types_are_not_sent(daphne_server, owner, run):
    async def scenario() -> dict:
        async with connect(daphne_server, f"/ws/runs/{run.pk}/", token) as ws:
            await receive(ws)
            await ws.send(json.dumps({"action": "unsubscribe", "types": ["log"]}))
            await ws.send(json.dumps({"action": "ping"}))
            assert (await receive(ws))["type"] == "pong"  # the unsubscribe has been handled
            await asyncio.to_thread(record, run.pk, "log", "hidden")
            await asyncio.to_thread(record, run.pk, "checkpoint", "shown")
            return await receive(ws)

    token = token_for(owner)
    msg = asyncio.run(scenario())
    assert (msg["type"], msg["seq"]) == ("checkpoint", 2)


def test_reconnect_with_after_seq_replays_missed_events_once(daphne_server, owner, run):
    for i in range(1, 4):
        record(run.pk, "log", f"event {i}")

    async def scenario() -> None:
        async with connect(daphne_server, f"/ws/runs/{run.pk}/?after_seq=1", token) as ws:
            assert (await receive(ws))["data"]["last_seq"] == 3
            assert [(await receive(ws))["seq"] for _ in range(2)] == [2, 3]
            await asyncio.to_thread(record, run.pk, "log", "event 4")
            assert (await receive(ws))["seq"] == 4
            await ws.send(json.dumps({"action": "resume", "after_seq": 0}))
            assert (await receive(ws))["seq"] == 1  # only the one it never had
            await ws.send(json.dumps({"action": "ping"}))
            assert (await receive(ws))["type"] == "pong"  # and nothing else came before it

    token = token_for(owner)
    asyncio.run(scenario())


def test_a_message_over_daphnes_own_limit_is_dropped_without_a_close_frame(
    daphne_server, owner, run
):
    """What docs/websocket.md says of a message over Daphne's limit (the launcher's
    ``WEBSOCKET_MAX_MESSAGE_BYTES``): Daphne's WebSocket library drops the connection (1006)."""

    async def scenario() -> int | None:
        async with connect(daphne_server, f"/ws/runs/{run.pk}/", token) as ws:
            await receive(ws)
            with contextlib.suppress(websockets.ConnectionClosed):  # dropped while it is sent
                await ws.send("x" * (WEBSOCKET_MAX_MESSAGE_BYTES + 1))
            return (await close_of(ws))[0]

    token = token_for(owner)
    assert asyncio.run(scenario()) == 1006
