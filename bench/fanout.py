"""How many WebSocket clients can one Daphne feed, and how fast? Live fan-out of one run.

A real Daphne (a subprocess, as in production) on embedded PostgreSQL and Redis; first 50,
then 500 WebSocket clients (``websockets``, ``Authorization: Token <key>``) all watching one
run at ``/ws/runs/<id>/``; a SEPARATE publisher process (this script with ``--publish``) sends
``metrics`` messages through ``monitoring.live`` (the worker's own publisher: a background
thread, the Redis channel layer) at a fixed rate (10/s to 50 clients, 2/s to 500: the live
metrics throttle), each stamped with its send time (``ts``).
The clients run in this process on one event loop and note the receive time of each message.

Prints one JSON object as its last line: ``msgs_per_s_50`` (deliveries per second to all
clients), ``p50_ms_50``, ``p99_ms_50`` (publish -> receive), ``p99_ms_500``, ``errors_500``
(failed connects plus unexpected closes) and the rest per phase. Goals: p99 <= 50 ms with 50
clients; 500 clients held by one Daphne process with no errors.

    .venv/bin/python bench/fanout.py
    .venv/bin/python bench/fanout.py --quick      # under a minute

The same script is also the publisher (``--publish``) and, for bench/overhead.py, a group of
watching clients (``--watch``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import websockets
from _stack import bench_user, django_stack, percentile

HERE = Path(__file__).resolve()
CONNECT_AT_ONCE = 50  # handshakes in flight at a time
WARMUP = -1  # the publisher's first message (opens its Redis connection) is not measured


@dataclass
class Phase:
    clients: int
    connected: int = 0
    failed_connects: int = 0
    closes: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    first_sent: float = float("inf")
    last_received: float = 0.0
    reasons: dict[str, int] = field(default_factory=dict)


async def _client(
    url: str, token: str, phase: Phase, expect: int, ready, deadline, gate: asyncio.Semaphore
) -> None:
    headers = {"Authorization": f"Token {token}"}
    try:
        async with gate:  # only the handshakes are limited; the sockets all stay open
            ws = await websockets.connect(url, additional_headers=headers, open_timeout=60)
            first = json.loads(await asyncio.wait_for(ws.recv(), 30))
        if first["type"] != "connected":
            raise RuntimeError(f"first message {first['type']}")
    except Exception as exc:  # refused, timed out, closed: a failed connect
        phase.failed_connects += 1
        reason = f"{type(exc).__name__}: {exc}"[:120]
        phase.reasons[reason] = phase.reasons.get(reason, 0) + 1
        ready()
        return
    phase.connected += 1
    ready()
    received = 0
    try:
        async with asyncio.timeout(max(0.1, deadline() - time.monotonic())):
            async for raw in ws:
                now = time.time()
                msg = json.loads(raw)
                if msg["type"] != "metrics" or msg["data"]["step"] == WARMUP:
                    continue
                phase.latencies_ms.append((now - msg["ts"]) * 1000)
                phase.first_sent = min(phase.first_sent, msg["ts"])
                phase.last_received = max(phase.last_received, now)
                received += 1
                if received >= expect:
                    break
    except websockets.ConnectionClosed as exc:
        phase.closes += 1
        reason = f"closed: {exc}"[:120]
        phase.reasons[reason] = phase.reasons.get(reason, 0) + 1
    except TimeoutError:
        pass  # messages not received are counted as lost
    finally:
        await ws.close()


async def _phase(url: str, tokens: list[str], clients: int, rate: float, count: int, env) -> Phase:
    phase = Phase(clients)
    all_ready = asyncio.Event()
    waiting = [clients]
    end_at = [float("inf")]

    def ready() -> None:
        waiting[0] -= 1
        if waiting[0] == 0:
            all_ready.set()

    gate = asyncio.Semaphore(CONNECT_AT_ONCE)
    tasks = [
        asyncio.create_task(
            _client(url, tokens[i % len(tokens)], phase, count, ready, lambda: end_at[0], gate)
        )
        for i in range(clients)
    ]
    await asyncio.wait_for(all_ready.wait(), 300)
    publisher = await asyncio.create_subprocess_exec(
        sys.executable,
        str(HERE),
        "--publish",
        "--url",
        url,
        "--rate",
        str(rate),
        "--count",
        str(count),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    out, _ = await publisher.communicate()
    # Everything was sent: whatever has not arrived 10 s later is lost.
    end_at[0] = time.monotonic() + 10
    await asyncio.gather(*tasks)
    phase.publisher = json.loads(out.decode().strip().splitlines()[-1])  # type: ignore[attr-defined]
    return phase


def _figures(phase: Phase, count: int) -> dict:
    lat = phase.latencies_ms or [float("nan")]
    span = max(1e-9, phase.last_received - phase.first_sent)
    n = phase.clients
    return {
        f"msgs_per_s_{n}": round(len(phase.latencies_ms) / span, 1),
        f"p50_ms_{n}": round(percentile(lat, 50), 1),
        f"p99_ms_{n}": round(percentile(lat, 99), 1),
        f"max_ms_{n}": round(max(lat), 1),
        f"errors_{n}": phase.failed_connects + phase.closes,
        f"lost_{n}": phase.connected * count - len(phase.latencies_ms),
        f"publisher_dropped_{n}": phase.publisher["dropped"],  # type: ignore[attr-defined]
        **({f"error_reasons_{n}": phase.reasons} if phase.reasons else {}),
    }


def publish(url: str, rate: float, count: int) -> None:
    """The publisher process: ``count`` metrics messages at ``rate`` per second."""
    import django

    django.setup()
    from monitoring import live

    run_id = int(url.rstrip("/").rsplit("/", 1)[-1])
    live.publish_run_message(run_id, live.message("metrics", run_id, {"step": WARMUP}))
    live.publisher().flush(10)
    time.sleep(0.5)
    started = time.monotonic()
    for i in range(count):
        delay = started + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        values = {"losses/policy_loss": 1.0 / (i + 1), "charts/win_rate": 0.5}
        live.publish_run_message(
            run_id, live.message("metrics", run_id, {"step": i, "values": values})
        )
    live.publisher().flush(30)
    print(json.dumps({"sent": live.publisher().sent - 1, "dropped": live.publisher().dropped}))


def watch(url: str, tokens: list[str], clients: int, seconds: float) -> None:
    """Clients that watch a run (bench/overhead.py): print ``ready`` once all are connected,
    then watch until stdin closes or ``seconds`` pass; last, a JSON line of what they saw."""

    async def main() -> dict:
        counts = {"connected": 0, "failed": 0, "messages": 0, "closes": 0}
        stop = asyncio.Event()
        opened: list = []

        async def one(token: str) -> None:
            try:
                ws = await websockets.connect(
                    url, additional_headers={"Authorization": f"Token {token}"}, open_timeout=60
                )
            except Exception:
                counts["failed"] += 1
                return
            counts["connected"] += 1
            opened.append(ws)
            try:
                async for _ in ws:
                    counts["messages"] += 1
            except websockets.ConnectionClosed:
                if not stop.is_set():
                    counts["closes"] += 1

        tasks = [asyncio.create_task(one(tokens[i % len(tokens)])) for i in range(clients)]
        while counts["connected"] + counts["failed"] < clients:
            await asyncio.sleep(0.05)
        print("ready", flush=True)
        stdin_closed = asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        await asyncio.wait([stdin_closed], timeout=seconds)
        stop.set()
        for ws in opened:
            await ws.close()
        await asyncio.gather(*tasks, return_exceptions=True)
        return counts

    print(json.dumps(asyncio.run(main())), flush=True)


def start_daphne(env: dict[str, str]):
    """A real Daphne subprocess on 127.0.0.1 (tests/support/servers.py): (process, ws base).

    With database connections kept between requests, as in production (the bench's own
    process closes them after each use)."""
    from tests.support.servers import start_daphne as start

    daphne, base = start({**env, "DATABASE_CONN_MAX_AGE": "60"})
    return daphne, base.replace("http://", "ws://")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a reduced run, under a minute")
    parser.add_argument(
        "--rate", type=float, default=10.0, help="messages per second with 50 clients"
    )
    parser.add_argument(
        "--rate-500",
        type=float,
        default=2.0,
        help="messages per second with 500 clients (2: the live metrics throttle)",
    )
    parser.add_argument("--seconds", type=float, help="publishing time per phase")
    parser.add_argument("--publish", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--watch", type=int, metavar="CLIENTS", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--tokens", help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.publish:
        publish(opts.url, opts.rate, opts.count)
        return
    if opts.watch:
        watch(opts.url, opts.tokens.split(","), opts.watch, opts.seconds)
        return

    seconds = opts.seconds or (5.0 if opts.quick else 20.0)
    result: dict = {}
    with django_stack() as env:
        from runs.models import Run

        owner, token = bench_user("bench-fanout")
        run = Run.objects.create(owner=owner, trainer="digits", config={})
        daphne, base = start_daphne(env)
        try:
            url = f"{base}/ws/runs/{run.pk}/"
            for clients, rate in ((50, opts.rate), (500, opts.rate_500)):
                count = max(1, round(rate * seconds))
                phase = asyncio.run(_phase(url, [token], clients, rate, count, env))
                daphne.ensure_alive()
                result.update(_figures(phase, count))
                result[f"rate_per_s_{clients}"] = rate
        finally:
            daphne.stop()
    result.update({"seconds_per_phase": seconds, "quick": opts.quick})
    print(json.dumps(result))


if __name__ == "__main__":
    main()
