"""Redis drops every client in the middle of a run: training goes on, live updates come back
on their own, and a client that reconnects by ``seq`` has every durable event exactly once."""

from __future__ import annotations

import asyncio
import json
import os
from urllib.parse import urlsplit

import pytest
import redis
import websockets
from rest_framework.authtoken.models import Token

from runs import services
from runs.models import Run, RunStatus

pytestmark = pytest.mark.django_db(transaction=True)

EPOCHS = 30


def drop_every_redis_client() -> int:
    """What a Redis restart looks like to its clients: every connection is closed."""
    url = urlsplit(os.environ["REDIS_URL"])
    admin = (
        redis.Redis(unix_socket_path=url.path)
        if url.scheme == "unix"
        else redis.Redis.from_url(os.environ["REDIS_URL"])
    )
    killed = 0
    for kind in ("pubsub", "normal"):
        killed += admin.client_kill_filter(_type=kind, skipme=True)
    return killed


async def watch(ws_url: str, token: str, state: dict, deadline: float = 240) -> None:
    """Follow the run, reconnecting with ``after_seq`` whenever the socket drops."""
    headers = {"Authorization": f"Token {token}"}
    async with asyncio.timeout(deadline):
        while True:
            query = f"?after_seq={state['last_seq']}" if state["last_seq"] is not None else ""
            try:
                async with websockets.connect(ws_url + query, additional_headers=headers) as ws:
                    async for raw in ws:
                        msg = json.loads(raw)
                        if msg["type"] == "connected" and state["last_seq"] is None:
                            state["last_seq"] = msg["data"]["last_seq"]
                        if msg["seq"] is not None:
                            state["seqs"].append(msg["seq"])
                            state["last_seq"] = msg["seq"]
                        if msg["type"] == "progress":
                            state["progress"].append(state["dropped"])
                            if not state["dropped"] and len(state["progress"]) >= 2:
                                state["killed"] = await asyncio.to_thread(drop_every_redis_client)
                                state["dropped"] = True
                        if msg["type"] == "status" and msg["data"]["status"] in (
                            "completed",
                            "failed",
                            "cancelled",
                        ):
                            state["final"] = msg["data"]["status"]
                            return
            except (websockets.ConnectionClosed, OSError):
                state["reconnects"] += 1


def test_live_updates_come_back_after_redis_drops_everyone(daphne_server, celery_worker, owner):
    token = Token.objects.create(user=owner).key
    run = services.run_queue(
        owner=owner, trainer="digits", config={"epochs": EPOCHS, "batch_size": 16}
    )
    state = {
        "last_seq": None,
        "seqs": [],
        "progress": [],
        "dropped": False,
        "killed": 0,
        "reconnects": 0,
        "final": None,
    }
    ws_url = daphne_server.replace("http", "ws") + f"/ws/runs/{run.pk}/"
    try:
        asyncio.run(watch(ws_url, token, state))
    finally:
        # This process's own channel-layer connections were dropped too: start afresh, so the
        # tests after this one do not meet them (a server meets them once, then reconnects).
        from channels.layers import channel_layers

        channel_layers.backends.clear()

    assert state["dropped"] and state["killed"] > 0
    assert True in state["progress"], "no live progress arrived after Redis dropped its clients"
    assert state["final"] == "completed"
    assert Run.objects.get(pk=run.pk).status == RunStatus.COMPLETED
    seen = state["seqs"]
    assert len(seen) == len(set(seen)), f"a durable event came twice: {seen}"
    assert sorted(seen) == list(range(min(seen), max(seen) + 1)), (
        f"a durable event is missing: {seen}"
    )
