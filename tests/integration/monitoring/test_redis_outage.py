"""Redis is restarted in the middle of a run that writes a checkpoint every epoch: training goes
on while it is down, and so do durable events (PostgreSQL is up, so the checkpoint events are
stored, but their live messages are lost with Redis). The socket that stayed open gets them
anyway, once and in order, without reconnecting; live updates come back; a socket opened after
the restart works at its first try. And when Redis drops every connection without a restart,
the next handshake is not the one that pays."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets
from django.db import connection
from django.db.models import Max

from monitoring.models import MetricPoint, RunEvent
from runs import services
from runs.models import Run, RunStatus
from tests.support.outages import (
    drop_connections_to_this_database,
    embedded_redis_pid,
    stop_embedded_redis,
)
from tests.support.tokens import api_token
from tests.support.waiting import until

pytestmark = pytest.mark.django_db(transaction=True)

EPOCHS = 40
FINAL = ("completed", "failed", "stopped", "cancelled")


def stored_seqs_after(run_id: int, seq: int) -> list[tuple[int, str]]:
    """The run's stored events after ``seq``: (seq, type). Closes its connection, as below."""
    try:
        events = RunEvent.objects.filter(run_id=run_id, seq__gt=seq).order_by("seq")
        return list(events.values_list("seq", "type"))
    finally:
        connection.close()


def latest_stored_step(run_id: int) -> int:
    """Asked from a thread of the event loop's pool: its connection is closed after use, so
    none is left open on the test database."""
    try:
        return MetricPoint.objects.filter(run_id=run_id).aggregate(m=Max("step"))["m"] or -1
    finally:
        connection.close()


class Watcher:
    """One client following the run, resuming by ``after_seq`` whenever its socket drops."""

    def __init__(self, url: str, token: str, *, after_seq: int | None = None) -> None:
        self.url, self.headers = url, {"Authorization": f"Token {token}"}
        self.last_seq: int | None = after_seq
        self.seqs: list[int] = []
        self.progress_at: list[float] = []  # loop time of each progress message
        self.connects = 0
        self.first_frames: list[str] = []  # the first message type of each connection
        self.final: str | None = None

    async def follow(self) -> None:
        loop = asyncio.get_running_loop()
        while self.final is None:
            query = f"?after_seq={self.last_seq}" if self.last_seq is not None else ""
            try:
                async with websockets.connect(
                    self.url + query, additional_headers=self.headers
                ) as ws:
                    self.connects += 1
                    first = True
                    async for raw in ws:
                        msg = json.loads(raw)
                        if first:
                            self.first_frames.append(msg["type"])
                            first = False
                        if msg["type"] == "connected" and self.last_seq is None:
                            self.last_seq = msg["data"]["last_seq"]
                        if msg["seq"] is not None:
                            self.seqs.append(msg["seq"])
                            self.last_seq = msg["seq"]
                        if msg["type"] == "progress":
                            self.progress_at.append(loop.time())
                        if msg["type"] == "status" and msg["data"]["status"] in FINAL:
                            self.final = msg["data"]["status"]
                        if msg["type"] == "summary":  # the run's last event
                            return
            except (websockets.ConnectionClosed, OSError):
                await asyncio.sleep(0.2)  # a browser page waits a little before it reconnects

    def progress_since(self, moment: float) -> int:
        return sum(1 for t in self.progress_at if t > moment)


async def scenario(base: str, run_id: int, token: str) -> dict:
    url = base.replace("http", "ws") + f"/ws/runs/{run_id}/"
    loop = asyncio.get_running_loop()
    before = Watcher(url, token, after_seq=0)  # every durable event of the run, from seq 1
    following = asyncio.create_task(before.follow())
    await until(lambda: len(before.progress_at) >= 2, timeout=120, what="live progress")

    stopped = await asyncio.to_thread(stop_embedded_redis)
    step_at_stop = await asyncio.to_thread(latest_stored_step, run_id)
    seq_at_stop = before.last_seq or 0
    try:
        # Training goes on without Redis: its metric points keep reaching PostgreSQL, and so
        # do its checkpoint events, whose live messages are lost.
        await until(
            lambda: asyncio.to_thread(lambda: latest_stored_step(run_id) >= step_at_stop + 2),
            timeout=120,
            what="training to go on without Redis",
        )
        await until(
            lambda: asyncio.to_thread(
                lambda: (
                    [t for _, t in stored_seqs_after(run_id, seq_at_stop)].count("checkpoint") >= 2
                )
            ),
            timeout=120,
            what="two checkpoint events stored while Redis is down",
        )
        during_outage = await asyncio.to_thread(stored_seqs_after, run_id, seq_at_stop)
    finally:
        await asyncio.to_thread(stopped.start)
    restarted_at = loop.time()

    after = Watcher(url, token)  # a page opened after the restart
    opened_after = asyncio.create_task(after.follow())
    await until(
        lambda: before.progress_since(restarted_at) and after.progress_since(restarted_at),
        timeout=120,
        what="live progress on both sockets after the restart",
    )
    async with asyncio.timeout(240):
        await asyncio.gather(following, opened_after)
    return {"before": before, "after": after, "during_outage": during_outage}


def test_a_redis_restart_mid_run_loses_nothing_and_the_open_socket_gets_what_was_written_meanwhile(
    daphne_server, celery_worker, owner
):
    embedded_redis_pid()  # skips first, before training, against the machine's own Redis
    token = api_token(owner)
    run = services.run_queue(
        owner=owner,
        trainer="digits",
        config={"epochs": EPOCHS, "batch_size": 16, "checkpoint_every": 1},
    )
    try:
        result = asyncio.run(scenario(daphne_server, run.pk, token))
    finally:
        # This process's own channel-layer clients met the restart: the tests after this one
        # get fresh ones.
        from channels.layers import channel_layers

        channel_layers.backends.clear()

    before, after = result["before"], result["after"]
    assert before.final == after.final == "completed"
    # The socket opened before the outage stayed open, and got every durable event of the run
    # (seq 1..N), the checkpoints stored while Redis was down among them, once and in order.
    assert before.connects == 1
    last = Run.objects.get(pk=run.pk).events.aggregate(m=Max("seq"))["m"]
    assert before.seqs == list(range(1, last + 1)), before.seqs
    written_during_outage = [seq for seq, kind in result["during_outage"] if kind == "checkpoint"]
    assert len(written_during_outage) >= 2
    assert set(written_during_outage) <= set(before.seqs)
    assert Run.objects.get(pk=run.pk).status == RunStatus.COMPLETED
    # The socket opened after the restart was accepted at its first try.
    assert after.first_frames[0] == "connected", after.first_frames
    for watcher in (before, after):
        seen = watcher.seqs
        assert len(seen) == len(set(seen)), f"a durable event came twice: {seen}"
        assert sorted(seen) == list(range(min(seen), max(seen) + 1)), (
            f"a durable event is missing: {seen}"
        )


def test_a_socket_opened_just_after_redis_drops_every_connection_is_accepted(daphne_server, owner):
    """Daphne's subscriptions meet the dead connection first; the layer tries again
    (monitoring/channel_layer.py) instead of answering the handshake with 500."""
    run = Run.objects.create(owner=owner, trainer="digits", config={}, status=RunStatus.COMPLETED)
    url = daphne_server.replace("http", "ws") + f"/ws/runs/{run.pk}/"
    headers = {"Authorization": f"Token {api_token(owner)}"}

    async def first_message() -> str:
        async with websockets.connect(url, additional_headers=headers) as ws:
            return json.loads(await asyncio.wait_for(ws.recv(), 10))["type"]

    assert asyncio.run(first_message()) == "connected"  # Daphne's layer is connected now
    dropped = drop_connections_to_this_database()
    try:
        assert dropped > 0
        assert asyncio.run(first_message()) == "connected"
    finally:
        from channels.layers import channel_layers

        channel_layers.backends.clear()  # this process's own layer connections were dropped too
