"""The whole slice, every part real: API -> Celery worker -> PostgreSQL -> Daphne -> WebSocket.

A run is queued over HTTP with a token, a real worker trains ``digits``, a real WebSocket
client connected to a real Daphne watches progress arrive, and the run ends completed. Another
user is refused by the API, the page and the WebSocket.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.parse
import urllib.request

import pytest
import websockets

from monitoring.models import MetricPoint
from runs.models import Run
from tests.support.tokens import api_token

pytestmark = pytest.mark.django_db(transaction=True)

EPOCHS = 25


def http(base: str, path: str, token: str, body: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(
        base + path,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
        method="POST" if body is not None else "GET",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, {}


async def watch_until_finished(ws_url: str, token: str, deadline: float = 120) -> list[dict]:
    messages: list[dict] = []
    headers = {"Authorization": f"Token {token}"}
    async with websockets.connect(ws_url, additional_headers=headers) as ws:
        async with asyncio.timeout(deadline):
            async for raw in ws:
                msg = json.loads(raw)
                messages.append(msg)
                status = msg["data"].get("status") if msg["type"] == "status" else None
                if msg["type"] == "connected":
                    status = msg["data"]["run"]["status"]
                if status in ("completed", "failed", "stopped", "cancelled"):
                    return messages
    return messages


def test_run_queued_by_api_is_trained_and_watched_live(
    celery_worker, daphne_server, owner, outsider
):
    token = api_token(owner)
    status, created = http(
        daphne_server,
        "/api/v1/runs/",
        token,
        {"trainer": "digits", "config": {"epochs": EPOCHS, "batch_size": 16}},
    )
    assert status == 201, created
    run_id = created["id"]
    ws_url = daphne_server.replace("http", "ws") + f"/ws/runs/{run_id}/"

    messages = asyncio.run(watch_until_finished(ws_url, token))

    kinds = [m["type"] for m in messages]
    assert kinds[0] == "connected"
    progress = [m["data"] for m in messages if m["type"] == "progress"]
    assert progress, f"no progress message arrived: {kinds}"
    assert all(0 < p["progress"] <= 1 and p["total"] == EPOCHS for p in progress)
    assert messages[-1]["type"] == "status" and messages[-1]["data"]["status"] == "completed"
    run = Run.objects.get(pk=run_id)
    assert run.status == "completed"
    assert MetricPoint.objects.filter(run=run, key="losses/train_loss").count() == EPOCHS
    status, detail = http(daphne_server, f"/api/v1/runs/{run_id}/", token)
    assert (status, detail["status"], detail["progress"]) == (200, "completed", 1.0)

    # Another user: 404 by API, 404 by page, 403 at the WebSocket handshake.
    other = api_token(outsider)
    assert http(daphne_server, f"/api/v1/runs/{run_id}/", other)[0] == 404
    with pytest.raises(urllib.error.HTTPError) as page:
        opener = urllib.request.build_opener()
        request = urllib.request.Request(f"{daphne_server}/runs/{run_id}/")
        sessionid = login_session(daphne_server, "oscar")
        request.add_header("Cookie", f"sessionid={sessionid}")
        opener.open(request, timeout=10)
    assert page.value.code == 404
    with pytest.raises(websockets.InvalidStatus) as refused:
        asyncio.run(watch_until_finished(ws_url, other, deadline=10))
    assert refused.value.response.status_code == 403


def login_session(base: str, username: str) -> str:
    """Log in through the real login form and return the session cookie."""
    import http.cookiejar

    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.open(f"{base}/accounts/login/", timeout=10).read()
    csrf = next(c.value for c in jar if c.name == "csrftoken")
    body = urllib.parse.urlencode(
        {
            "username": username,
            "password": "correct-horse-battery-staple",
            "csrfmiddlewaretoken": csrf,
        }
    ).encode()
    request = urllib.request.Request(
        f"{base}/accounts/login/", data=body, headers={"Referer": f"{base}/accounts/login/"}
    )
    opener.open(request, timeout=10).read()
    return next(c.value for c in jar if c.name == "sessionid")


def test_idle_websocket_stays_open_past_the_redis_socket_timeout(daphne_server, owner):
    """STACK-NOTES: redis-py's 5 s socket timeout used to close idle sockets with 1011."""
    from monitoring.services import event_record

    run = Run.objects.create(owner=owner, trainer="digits", config={})
    token = api_token(owner)
    ws_url = daphne_server.replace("http", "ws") + f"/ws/runs/{run.pk}/"

    async def idle_then_receive() -> dict:
        async with websockets.connect(
            ws_url, additional_headers={"Authorization": f"Token {token}"}
        ) as ws:
            assert json.loads(await ws.recv())["type"] == "connected"
            with pytest.raises(TimeoutError):  # the idle period itself is what is tested
                await asyncio.wait_for(ws.recv(), timeout=7)
            await asyncio.to_thread(event_record, run_id=run.pk, type="log", message="still here")
            return json.loads(await asyncio.wait_for(ws.recv(), timeout=10))

    msg = asyncio.run(idle_then_receive())
    assert (msg["type"], msg["data"]["message"]) == ("log", "still here")
