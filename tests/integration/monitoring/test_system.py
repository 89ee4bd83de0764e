"""System statistics: a real worker reports itself; ``/ws/system/``, the API and the page show it.

The worker and Daphne are real processes; the channel layer, Redis and PostgreSQL are real.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request

import pytest
import websockets
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from keisei_site.asgi import application
from monitoring import queues, worker_stats, worker_store
from runs.models import Run
from tests.support.sockets import connect, receive_type
from tests.support.tokens import api_token
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True)
in_event_loop = pytest.mark.asyncio(loop_scope="session")


async def connect_as(user, path: str) -> WebsocketCommunicator:
    """A WebSocket with the user's session cookie (as test_run_consumer.py builds it)."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    await sync_to_async(session.save)()
    headers = [
        (b"origin", b"http://localhost"),
        (b"cookie", f"sessionid={session.session_key}".encode()),
    ]
    return WebsocketCommunicator(application, path, headers=headers)


def get_json(url: str, token: str | None = None) -> tuple[int, dict]:
    headers = {"Authorization": f"Token {token}"} if token else {}
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, {}


def reported_by(workers: list[dict], name_prefix: str) -> dict | None:
    return next((w for w in workers if w["worker"].startswith(name_prefix)), None)


def live_report(workers: list[dict], name_prefix: str) -> dict | None:
    """This session's worker's report: against the machine's own Redis (the external pass),
    an earlier session's worker of the same name is still listed, lost, until it expires."""
    return next((w for w in workers if w["worker"].startswith(name_prefix) and not w["lost"]), None)


def stats_for(worker: str, *, run: int | None = None, age: float = 0.0) -> dict:
    """A stored entry as a worker would write it, ``age`` seconds old."""
    stats = worker_stats.collect(worker)
    stats.update(
        worker_id=f"{worker}:1", run=run, busy=run is not None, ts=time.time() - age, interval=2.0
    )
    return stats


@pytest.fixture
def stored():
    """Store entries for the test; forget them afterwards."""
    ids: list[str] = []

    def store(stats: dict) -> dict:
        worker_store.store(stats)
        ids.append(stats["worker_id"])
        return stats

    yield store
    for worker_id in ids:
        worker_store.forget(worker_id)


def test_a_real_worker_reports_itself_to_the_api_and_the_socket(
    celery_worker, daphne_server, owner
):
    token = api_token(owner)
    url = f"{daphne_server}/api/v1/system/"

    def fresh_report() -> dict | None:
        status, body = get_json(url, token)
        assert status == 200, status
        worker = live_report(body["workers"], "worker-a@")
        return (worker, body) if worker else None

    worker, body = wait_for(fresh_report, timeout=60, what="worker-a's statistics in the API")
    celery_worker.ensure_alive()
    # The prefork child that runs tasks reports; the parent, which runs none, does not.
    assert worker["pid"] != celery_worker.process.pid
    assert celery_worker.process.pid not in {w["pid"] for w in body["workers"]}
    assert worker["rss"] > 0 and 0 <= worker["cpu_percent"] <= 100
    assert worker["memory"]["total"] > 0 and len(worker["load"]) == 3
    assert worker["run"] is None and worker["busy"] is False and worker["gpus"] == []
    assert worker["age"] < 3 * worker["interval"]
    assert set(body["queues"]) == set(queues.QUEUES)
    assert all(isinstance(depth, int) for depth in body["queues"].values())

    async def next_report_over_the_socket() -> dict:
        ws_url = daphne_server.replace("http", "ws") + "/ws/system/"
        headers = {"Authorization": f"Token {token}"}
        async with websockets.connect(ws_url, additional_headers=headers) as ws:
            hello = json.loads(await ws.recv())
            assert hello["type"] == "connected"
            assert live_report(hello["data"]["workers"], "worker-a@") is not None
            async with asyncio.timeout(30):
                while True:
                    msg = json.loads(await ws.recv())
                    if msg["type"] == "system" and msg["data"]["worker"].startswith("worker-a@"):
                        return msg

    msg = asyncio.run(next_report_over_the_socket())
    assert (msg["run"], msg["seq"]) == (None, None)
    assert msg["data"]["pid"] == worker["pid"] and msg["data"]["ts"] > worker["ts"]


def test_a_worker_silent_for_three_intervals_is_lost(api_client, owner, stored):
    stored(stats_for("fresh@test"))
    stored(stats_for("silent@test", age=3 * 2.0 + 1))
    forgotten = stored(stats_for("gone@test", age=worker_store.STATS_TTL_SECONDS + 1))

    response = api_client(owner).get("/api/v1/system/")

    assert response.status_code == 200
    workers = response.json()["workers"]
    assert reported_by(workers, "fresh@")["lost"] is False
    assert reported_by(workers, "silent@")["lost"] is True
    assert reported_by(workers, "gone@") is None  # past the TTL: removed, not listed
    assert forgotten["worker_id"] not in {w["worker_id"] for w in worker_store.workers_latest()}


def test_a_lost_worker_shows_only_that_it_is_lost_and_since_when(daphne_server, owner, stored):
    """Through Daphne, in the API and in ``/ws/system/``'s snapshot: a worker silent past the
    threshold, whose last report named a run and 88% CPU, shows neither (nor any other figure
    of that report), only who it is, that it is lost, and its last report's time."""
    run = Run.objects.create(owner=owner, trainer="digits", config={})
    silent = stats_for("silent@test", run=run.pk, age=worker_store.LOST_AFTER_INTERVALS * 2.0 + 1)
    silent["cpu_percent"] = 88.0
    stored(silent)
    stored(stats_for("alive@test", run=run.pk))
    token = api_token(owner)

    status, body = get_json(f"{daphne_server}/api/v1/system/", token)

    async def snapshot() -> dict:
        async with connect(daphne_server, "/ws/system/", token) as ws:
            return (await receive_type(ws, "connected"))["data"]

    seen = {"api": body["workers"], "socket": asyncio.run(snapshot())["workers"]}
    assert status == 200
    for where, workers in seen.items():
        lost = reported_by(workers, "silent@")
        assert lost == {
            "worker": "silent@test",
            "worker_id": "silent@test:1",
            "host": silent["host"],
            "pid": silent["pid"],
            "interval": 2.0,
            "ts": silent["ts"],  # since when: its last report
            "age": pytest.approx(silent_age(silent), abs=30),
            "lost": True,
        }, where
        alive = reported_by(workers, "alive@")  # a live worker still shows everything
        assert (alive["lost"], alive["run"], alive["busy"]) == (False, run.pk, True), where
        assert "cpu_percent" in alive and "memory" in alive, where


def silent_age(stats: dict) -> float:
    return time.time() - stats["ts"]


def test_the_api_names_a_workers_run_only_to_those_who_may_see_it(
    api_client, owner, outsider, staff, stored
):
    run = Run.objects.create(owner=owner, trainer="digits", config={})
    stored(stats_for("busy@test", run=run.pk))

    def seen_by(user) -> dict:
        return reported_by(api_client(user).get("/api/v1/system/").json()["workers"], "busy@")

    assert seen_by(owner)["run"] == run.pk
    assert seen_by(staff)["run"] == run.pk
    hidden = seen_by(outsider)
    assert (hidden["run"], hidden["busy"]) == (None, True)


def test_anonymous_gets_neither_the_api_nor_the_page(client, api_client):
    assert api_client().get("/api/v1/system/").status_code in (401, 403)
    page = client.get("/system/")
    assert page.status_code == 302 and "/accounts/login/" in page["Location"]


def test_the_system_page_lists_workers_for_a_signed_in_user(client, outsider, stored):
    run = Run.objects.create(owner=outsider, trainer="digits", config={})
    stored(stats_for("page@test", run=None))
    from django.contrib.auth import get_user_model

    viewer = get_user_model().objects.create_user(username="viola", password="x" * 20)
    stored(stats_for("other@test", run=run.pk))
    client.force_login(viewer)
    page = client.get("/system/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "page@test" in html and "other@test" in html
    assert f"/runs/{run.pk}/" not in html  # Oscar's run is not named to Viola
    assert "another user's run" in html
    assert "js/system_page.js" in html


@in_event_loop
async def test_the_system_socket_names_a_run_only_to_those_who_may_see_it(owner, outsider):
    run = await sync_to_async(Run.objects.create)(owner=owner, trainer="digits", config={})
    sockets = {}
    for name, user in (("owner", owner), ("outsider", outsider)):
        ws = await connect_as(user, "/ws/system/")
        assert (await ws.connect())[0]
        assert (await ws.receive_json_from(timeout=5))["type"] == "connected"
        sockets[name] = ws
    with worker_stats.current_run(run.pk):  # as the worker names the run it trains
        stats = await sync_to_async(worker_stats.publish_once)("filter@test")
    assert worker_stats.collect("after@test")["run"] is None
    await sync_to_async(worker_store.forget)(stats["worker_id"])

    async def report_of(ws) -> dict:
        while True:  # a real worker of another test may report on the same group
            msg = await ws.receive_json_from(timeout=10)
            if msg["type"] == "system" and msg["data"]["worker"] == "filter@test":
                return msg["data"]

    seen_by_owner = await report_of(sockets["owner"])
    seen_by_outsider = await report_of(sockets["outsider"])
    assert (seen_by_owner["run"], seen_by_owner["busy"]) == (run.pk, True)
    assert (seen_by_outsider["run"], seen_by_outsider["busy"]) == (None, True)
    for ws in sockets.values():
        await ws.disconnect()


DEAD_REDIS = "redis://127.0.0.1:1/0"  # nothing listens there: connections are refused


def test_without_redis_the_api_says_unavailable_and_the_page_still_renders(
    api_client, client, owner, settings, monkeypatch
):
    settings.REDIS_URL = DEAD_REDIS
    monkeypatch.setattr(worker_store, "_redis", None)  # this process's statistics client, rebuilt
    response = api_client(owner).get("/api/v1/system/")
    assert response.status_code == 503
    assert "unavailable" in response.json()["detail"]
    client.force_login(owner)
    page = client.get("/system/")
    assert page.status_code == 200 and "No worker has reported yet." in page.content.decode()


@in_event_loop
async def test_without_redis_for_the_user_count_a_connection_is_still_served(
    owner, settings, monkeypatch
):
    from monitoring.connection_caps import caps

    settings.REDIS_URL = DEAD_REDIS  # the per-user count's Redis; the channel layer is intact
    settings.KEISEI_WS_MAX_PER_USER = 1
    monkeypatch.setattr(caps, "_client", None)
    monkeypatch.setattr(worker_store, "_redis", None)
    sockets = []
    for _ in range(2):  # over the user cap, but the count is unknown: not enforced
        ws = await connect_as(owner, "/ws/system/")
        assert (await ws.connect())[0]
        hello = await ws.receive_json_from(timeout=10)
        assert (hello["type"], hello["data"]["workers"]) == ("connected", [])
        sockets.append(ws)
    await sockets[-1].send_json_to({"action": "ping"})
    assert (await sockets[-1].receive_json_from(timeout=5))["type"] == "pong"
    for ws in sockets:
        await ws.disconnect()
