"""``/ws/runs/`` (the dashboard) and the connection caps, in process on the real Redis layer."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from keisei_site.asgi import application
from monitoring.connection_caps import caps as connection_caps
from runs.models import Run
from runs.services.lifecycle import status_event_record
from tests.support.waiting import until

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


async def test_anonymous_is_refused_at_every_endpoint(runs):
    for path in ("/ws/runs/", "/ws/system/", f"/ws/runs/{runs['olivia'].pk}/"):
        ws = await connect_as(None, path)
        connected, _ = await ws.connect()
        assert not connected, path
        await ws.disconnect()


async def test_a_connection_over_the_per_user_cap_is_closed_with_1008(owner, outsider, settings):
    settings.KEISEI_WS_MAX_PER_USER = 2
    first, _ = await open_dashboard(owner)
    second = await connect_as(owner, "/ws/system/")  # the cap counts every endpoint
    assert (await second.connect())[0]
    await second.receive_json_from(timeout=5)

    extra = await connect_as(owner)
    assert (await extra.connect())[0]  # accepted, so the client can read why it is closed
    closed = await extra.receive_output(timeout=5)
    assert (closed["type"], closed["code"]) == ("websocket.close", 1008)
    assert "too many connections for this user" in closed["reason"]
    await extra.disconnect()

    other, _ = await open_dashboard(outsider)  # another user is not held back by Olivia's
    await first.disconnect()
    again, _ = await open_dashboard(owner)  # a closed connection gives its place back
    for ws in (second, other, again):
        await ws.disconnect()


async def test_a_connection_over_the_per_process_cap_is_closed_with_1008(owner, settings):
    settings.KEISEI_WS_MAX_PER_PROCESS = connection_caps.process_count + 1
    first, _ = await open_dashboard(owner)
    extra = await connect_as(owner)
    assert (await extra.connect())[0]
    closed = await extra.receive_output(timeout=5)
    assert (closed["code"], "too many connections to this server" in closed["reason"]) == (
        1008,
        True,
    )
    await extra.disconnect()
    await first.disconnect()
    assert connection_caps.process_count == settings.KEISEI_WS_MAX_PER_PROCESS - 1


async def redis_score_above(redis, key: str, member: str, score: float) -> bool:
    return (await redis.zscore(key, member) or 0) > score


async def test_leases_are_renewed_and_a_dead_process_does_not_lock_a_user_out(
    owner, settings, monkeypatch
):
    import time

    caps = connection_caps
    settings.KEISEI_WS_MAX_PER_USER = 1
    monkeypatch.setattr(caps, "LEASE_SECONDS", 1.5)
    monkeypatch.setattr(caps, "_refresher", None)  # start one that renews on the short lease
    redis, key = caps.redis(), caps.key(owner.pk)
    # A connection of a Daphne process that was killed: its lease ran out, nobody renews it.
    await redis.zadd(key, {"specific.dead-process!1": time.time() - 1})

    ws, _ = await open_dashboard(owner)  # not counted against Olivia
    (member,) = caps.members[owner.pk]
    granted = await redis.zscore(key, member)
    await until(
        lambda: redis_score_above(redis, key, member, granted),
        timeout=10,
        what="the lease to be renewed before it runs out",
    )
    # Past the first lease's expiry, only renewal can have kept the place.
    await until(lambda: time.time() > granted + 0.5, timeout=10, what="the first lease to expire")
    extra = await connect_as(owner)
    assert (await extra.connect())[0]
    assert (await extra.receive_output(timeout=5))["code"] == 1008
    await extra.disconnect()
    await ws.disconnect()
    assert await redis.zcard(key) == 0
