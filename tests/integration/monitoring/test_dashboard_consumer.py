"""``/ws/runs/`` (the dashboard), in process on the real Redis layer; refusals at the handshake and
the caps are tested through the real Daphne (test_run_consumer.py, test_connection_caps.py)."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from keisei_site.asgi import application
from runs.models import Run
from runs.services.lifecycle import status_event_record

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.django_db(transaction=True)]

ORIGIN = (b"origin", b"http://localhost")


async def connect_as(user, path: str = "/ws/runs/") -> WebsocketCommunicator:
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
    return WebsocketCommunicator(application, path, headers=headers)


async def open_dashboard(user) -> tuple[WebsocketCommunicator, dict]:
    ws = await connect_as(user)
    connected, _ = await ws.connect()
    assert connected
    hello = await ws.receive_json_from(timeout=5)
    assert hello["type"] == "connected"
    return ws, hello


def status_change(run: Run, status: str) -> None:
    """A status event through the run services' own recorder (durable, then to dashboards)."""
    status_event_record(run, status, actor="test")


@pytest.fixture
def runs(owner, outsider):
    """Olivia's queued run and finished run, and Oscar's queued run."""
    return {
        "olivia": Run.objects.create(owner=owner, trainer="digits", config={}, name="mine"),
        "olivia_done": Run.objects.create(
            owner=owner, trainer="digits", config={}, name="done", status="completed"
        ),
        "oscar": Run.objects.create(owner=outsider, trainer="digits", config={}, name="his"),
    }


async def test_snapshot_lists_only_the_users_active_runs(owner, runs):
    ws, hello = await open_dashboard(owner)
    assert hello["run"] is None and hello["seq"] is None
    assert [r["id"] for r in hello["data"]["runs"]] == [runs["olivia"].pk]
    assert hello["data"]["runs"][0]["status"] == "queued"
    await ws.disconnect()


async def test_a_status_change_reaches_its_owner_and_never_another_user(owner, outsider, runs):
    olivia, _ = await open_dashboard(owner)
    oscar, _ = await open_dashboard(outsider)
    await sync_to_async(status_change)(runs["olivia"], "running")
    msg = await olivia.receive_json_from(timeout=5)
    assert (msg["type"], msg["run"], msg["data"]["status"]) == (
        "status",
        runs["olivia"].pk,
        "running",
    )
    # Oscar's own run changes next: if Olivia's had leaked to him, it would come first.
    await sync_to_async(status_change)(runs["oscar"], "running")
    msg = await oscar.receive_json_from(timeout=5)
    assert (msg["run"], msg["data"]["status"]) == (runs["oscar"].pk, "running")
    assert await oscar.receive_nothing(timeout=0.5)
    assert await olivia.receive_nothing(timeout=0.5)
    await olivia.disconnect()
    await oscar.disconnect()


async def test_progress_reaches_the_owners_and_staffs_dashboards_only(owner, outsider, staff, runs):
    from monitoring import live

    olivia, _ = await open_dashboard(owner)
    oscar, _ = await open_dashboard(outsider)
    stella, _ = await open_dashboard(staff)
    run = runs["olivia"]
    live.publish_progress(run.pk, {"step": 3, "total": 6, "progress": 0.5}, owner_id=owner.pk)
    for ws in (olivia, stella):
        msg = await ws.receive_json_from(timeout=5)
        assert (msg["type"], msg["run"], msg["data"]["progress"]) == ("progress", run.pk, 0.5)
    assert await oscar.receive_nothing(timeout=0.5)
    for ws in (olivia, oscar, stella):
        await ws.disconnect()


async def test_staff_see_every_run_once(owner, staff, runs):
    ws, hello = await open_dashboard(staff)
    listed = {r["id"] for r in hello["data"]["runs"]}
    assert {runs["olivia"].pk, runs["oscar"].pk} <= listed
    assert runs["olivia_done"].pk not in listed
    mine = await sync_to_async(Run.objects.create)(owner=staff, trainer="digits", config={})
    for run in (runs["olivia"], runs["oscar"], mine):
        await sync_to_async(status_change)(run, "running")
    got = [await ws.receive_json_from(timeout=5) for _ in range(3)]
    assert [m["run"] for m in got] == [runs["olivia"].pk, runs["oscar"].pk, mine.pk]
    assert await ws.receive_nothing(timeout=0.5)  # her own run's change came once
    await ws.disconnect()


async def test_dashboard_speaks_the_shared_protocol(owner, runs):
    ws, _ = await open_dashboard(owner)
    await ws.send_json_to({"action": "ping"})
    assert (await ws.receive_json_from(timeout=5))["type"] == "pong"
    await ws.send_to(text_data="[1, 2")
    assert (await ws.receive_json_from(timeout=5))["data"]["code"] == "malformed"
    await ws.send_json_to({"action": "unsubscribe", "types": ["status"]})
    await sync_to_async(status_change)(runs["olivia"], "running")
    assert await ws.receive_nothing(timeout=1)
    await ws.send_json_to({"action": "subscribe", "types": ["status"]})
    await ws.send_json_to({"action": "ping"})  # the subscription is in place once this answers
    assert (await ws.receive_json_from(timeout=5))["type"] == "pong"
    await sync_to_async(status_change)(runs["olivia"], "paused")
    assert (await ws.receive_json_from(timeout=5))["data"]["status"] == "paused"
    await ws.disconnect()
