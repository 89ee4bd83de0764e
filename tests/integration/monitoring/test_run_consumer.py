"""The run consumer, in process (WebsocketCommunicator) on the real Redis channel layer."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from keisei_site.asgi import application
from monitoring.services import event_record
from runs.models import Run

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.django_db(transaction=True)]

ORIGIN = (b"origin", b"http://localhost")


async def connect_as(user, run_id: int, query: str = "") -> WebsocketCommunicator:
    from channels.auth import login  # noqa: F401  (the session is built below)
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    headers = [ORIGIN]
    if user is not None:
        session = SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        await sync_to_async(session.save)()
        headers.append((b"cookie", f"sessionid={session.session_key}".encode()))
    path = f"/ws/runs/{run_id}/{query}"
    return WebsocketCommunicator(application, path, headers=headers)


@pytest.fixture
def run(owner):
    return Run.objects.create(owner=owner, trainer="digits", config={}, name="watched")


async def test_owner_gets_a_connected_snapshot_then_live_events(owner, run):
    ws = await connect_as(owner, run.pk)
    connected, _ = await ws.connect()
    assert connected
    hello = await ws.receive_json_from(timeout=5)
    assert hello["type"] == "connected" and hello["run"] == run.pk and hello["seq"] is None
    assert hello["data"]["run"]["status"] == "queued"
    assert hello["data"]["last_seq"] == 0
    await sync_to_async(event_record)(run_id=run.pk, type="log", message="hello watchers")
    live = await ws.receive_json_from(timeout=5)
    assert (live["type"], live["seq"], live["data"]["message"]) == ("log", 1, "hello watchers")
    await ws.disconnect()


async def test_outsider_and_anonymous_are_refused_at_the_handshake(outsider, run):
    for user in (outsider, None):
        ws = await connect_as(user, run.pk)
        connected, _ = await ws.connect()
        assert not connected  # Daphne answers this with HTTP 403 (see test_end_to_end)
        await ws.disconnect()


async def test_unknown_run_is_refused(owner):
    ws = await connect_as(owner, 999_999)
    connected, _ = await ws.connect()
    assert not connected
    await ws.disconnect()


async def test_malformed_messages_get_an_error_and_the_socket_stays(owner, run):
    ws = await connect_as(owner, run.pk)
    await ws.connect()
    await ws.receive_json_from(timeout=5)
    await ws.send_to(text_data="not json{")
    assert (await ws.receive_json_from(timeout=5))["data"]["code"] == "malformed"
    await ws.send_json_to({"action": "dance"})
    assert (await ws.receive_json_from(timeout=5))["data"]["code"] == "unknown_action"
    await ws.send_json_to({"action": "subscribe", "types": ["nonsense"]})
    assert (await ws.receive_json_from(timeout=5))["data"]["code"] == "invalid"
    await ws.send_json_to({"action": "ping"})
    assert (await ws.receive_json_from(timeout=5))["type"] == "pong"
    await ws.disconnect()


async def test_oversized_message_closes_with_1009(owner, run):
    ws = await connect_as(owner, run.pk)
    await ws.connect()
    await ws.receive_json_from(timeout=5)
    await ws.send_to(text_data=json.dumps({"action": "ping", "pad": "x" * 70_000}))
    closed = await ws.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": 1009}


async def test_unsubscribed_types_are_not_sent(owner, run):
    ws = await connect_as(owner, run.pk)
    await ws.connect()
    await ws.receive_json_from(timeout=5)
    await ws.send_json_to({"action": "unsubscribe", "types": ["log"]})
    await sync_to_async(event_record)(run_id=run.pk, type="log", message="hidden")
    await sync_to_async(event_record)(run_id=run.pk, type="checkpoint", message="shown")
    msg = await ws.receive_json_from(timeout=5)
    assert (msg["type"], msg["seq"]) == ("checkpoint", 2)
    await ws.disconnect()


async def test_reconnect_with_after_seq_replays_missed_events_once(owner, run):
    for i in range(1, 4):
        await sync_to_async(event_record)(run_id=run.pk, type="log", message=f"event {i}")
    ws = await connect_as(owner, run.pk, "?after_seq=1")
    await ws.connect()
    assert (await ws.receive_json_from(timeout=5))["data"]["last_seq"] == 3
    replayed = [await ws.receive_json_from(timeout=5) for _ in range(2)]
    assert [m["seq"] for m in replayed] == [2, 3]
    await sync_to_async(event_record)(run_id=run.pk, type="log", message="event 4")
    assert (await ws.receive_json_from(timeout=5))["seq"] == 4
    await ws.send_json_to({"action": "resume", "after_seq": 0})
    assert (await ws.receive_json_from(timeout=5))["seq"] == 1  # only the one it never had
    assert await ws.receive_nothing(timeout=0.5)
    await ws.disconnect()
