"""How many WebSocket clients can one Daphne feed, and how fast? Live fan-out of runs.

A real Daphne (a subprocess, as in production) on embedded PostgreSQL and Redis, with the
per-process connection cap at its production default and a per-user cap the clients respect
(``KEISEI_WS_MAX_PER_USER``, several users). Two kinds of phase:

- **metrics only** (the first figures): 50, then 500 clients (``websockets``,
  ``Authorization: Token <key>``) watch one run at ``/ws/runs/<id>/``; a separate publisher
  process (this script with ``--publish``) sends ``metrics`` messages through
  ``monitoring.live`` at a fixed rate (10/s to 50 clients, 2/s to 500).
- **spectated** (what a watched shogi run sends): 5 runs, each with its own producer process
  (``--produce``) publishing through ``monitoring.live``'s real functions at the live
  throttles in settings: ``metrics`` 2/s (the trainer's keys), ``game_state`` 4/s (a real
  ``SelfPlayEnvs.board_snapshot`` of a game advancing one ply per board) and ``progress`` 1/s.
  50, 500 and 1,000 clients, spread evenly over the 5 runs, run in separate client processes
  (``--clients``, at most 250 clients each) so that neither the producers nor one client event
  loop decide the latency.

Latency is receive time minus the ``ts`` the producer stamped when it built the message (one
machine, one clock). Prints one JSON object as its last line: ``p50_ms_50``, ``p99_ms_50``,
``p99_ms_500``, ``errors_500``, ``msgs_per_s_50`` (metrics only); ``p99_ms_50_spectated``,
``p99_ms_500_spectated``, ``p99_ms_1000_spectated``, ``errors_1000_spectated``,
``lost_1000_spectated``, ``msgs_per_s_1000_spectated`` and the rest per phase. Errors are
failed connects plus unexpected closes; lost are messages a connected client never received
within 10 s of the last send. Goals: p99 <= 20 ms spectated by 50 clients; 1,000 clients on
one Daphne process with no error.

    .venv/bin/python bench/fanout.py              # about 3-4 minutes on an idle machine
    .venv/bin/python bench/fanout.py --quick      # about a minute

The same script is also the publisher (``--publish``), a producer (``--produce``), a group of
measuring clients (``--clients``) and, for bench/overhead.py, a group of watching clients
(``--watch``).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import os
import random
import resource
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

SPECTATED_RUNS = 5
SPECTATED_TYPES = frozenset({"metrics", "game_state", "progress"})
CLIENTS_PER_PROCESS = 250  # one event loop parsing ~1,750 messages/s stays well under a core
# Daphne's caps: per process the production default; per user a bound each bench user stays
# under with room to spare (a closing connection of the previous phase may still count).
MAX_PER_PROCESS = 2000
MAX_PER_USER = 100
CLIENTS_PER_USER = 80
GRACE_SECONDS = 10.0  # after the last send, what has not arrived by then is lost
# The keys shogi-ppo reports (keisei/shogi), as one live metrics message carries them.
SHOGI_METRIC_KEYS = (
    "losses/policy_loss",
    "losses/value_loss",
    "losses/entropy",
    "losses/approx_kl",
    "losses/clip_fraction",
    "losses/explained_variance",
    "losses/grad_norm",
    "charts/win_rate",
    "charts/draw_rate",
    "charts/black_win_rate",
    "charts/white_win_rate",
    "charts/truncation_rate",
    "charts/mean_game_length",
    "charts/games_finished",
    "charts/learning_rate",
    "charts/shaping_coef",
    "time/positions_per_s",
)
MAX_PLIES = 256  # the quick preset's cap: the spectated game's move list grows up to it


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


async def _open(url: str, token: str, gate: asyncio.Semaphore):
    """A socket whose first message is ``connected``; raises for any other outcome."""
    headers = {"Authorization": f"Token {token}"}
    async with gate:  # only the handshakes are limited; the sockets all stay open
        ws = await websockets.connect(url, additional_headers=headers, open_timeout=60)
        first = json.loads(await asyncio.wait_for(ws.recv(), 30))
    if first["type"] != "connected":
        raise RuntimeError(f"first message {first['type']}: {first.get('data')}")
    return ws


async def _client(
    url: str, token: str, phase: Phase, expect: int, ready, deadline, gate: asyncio.Semaphore
) -> None:
    try:
        ws = await _open(url, token, gate)
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


# ----- spectated: 5 runs' producers, clients in their own processes ---------------------------


def raise_fd_limit() -> int:
    """Soft RLIMIT_NOFILE up to the hard limit (1,000 sockets, plus Daphne's children inherit
    it); the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


def produce(url: str, seconds: float, owner_id: int) -> None:
    """One spectated run's live messages for ``seconds``, after ``go`` on stdin.

    The rates are the reporter's throttles (settings ``KEISEI_LIVE_*_SECONDS``: what a trainer
    reporting every ply and every update sends after throttling) and the calls are the ones
    ``monitoring.reporter.Reporter`` makes."""
    import django

    django.setup()
    from django.conf import settings

    from keisei.shogi.env import SelfPlayEnvs, ShogiGame
    from monitoring import live
    from monitoring.reporter import progress_payload

    run_id = int(url.rstrip("/").rsplit("/", 1)[-1])
    rng = random.Random(run_id)
    envs = SelfPlayEnvs(1, MAX_PLIES)
    # Opens this process's Redis connection on a group nobody watches: not measured.
    live.publish_system({"worker_id": f"bench-producer-{run_id}"})
    live.publisher().flush(10)
    print("ready", flush=True)
    sys.stdin.readline()

    intervals = {
        "metrics": settings.KEISEI_LIVE_METRICS_INTERVAL,
        "game_state": settings.KEISEI_LIVE_BOARD_INTERVAL,
        "progress": settings.KEISEI_LIVE_PROGRESS_INTERVAL,
    }
    started = time.monotonic()
    # Staggered by run, as independent workers are: not every run on the same tick.
    offset = rng.random() * min(intervals.values())
    due = {kind: started + offset for kind in intervals}
    end = started + seconds
    step, total = 0, 2_000_000
    while True:
        kind = min(due, key=due.__getitem__)
        if due[kind] >= end:
            break
        delay = due[kind] - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        if kind == "metrics":
            values = {key: rng.random() for key in SHOGI_METRIC_KEYS}
            live.publish_metrics(run_id, step, values)
        elif kind == "game_state":
            game = envs.games[0]
            if game.result.is_over:
                envs.games[0] = ShogiGame(MAX_PLIES)
                envs.game_ids[0] = envs.next_game_id
                envs.next_game_id += 1
                game = envs.games[0]
            game.push(rng.choice(list(game.board.legal_moves)))
            live.publish_board(run_id, envs.board_snapshot(0))
            step += 256  # a ply of 256 games
        else:
            live.publish_progress(run_id, progress_payload(step, total), owner_id=owner_id)
        due[kind] += intervals[kind]
    live.publisher().flush(30)
    sent, dropped = live.publisher().sent - 1, live.publisher().dropped  # minus the warm-up
    print(json.dumps({"run": run_id, "sent": sent, "dropped": dropped}), flush=True)


def serve_clients() -> None:
    """Measuring clients (``--clients``); stdin gives, one JSON line each: the assignments
    ``[[url, token], ...]`` and the handshakes allowed in flight; later ``since`` (messages
    stamped before it are not measured); last ``expect`` (messages per run) after the last
    send. Prints ``ready`` once every client connected or failed, then a JSON report."""

    async def main() -> dict:
        loop = asyncio.get_running_loop()
        setup = json.loads(await loop.run_in_executor(None, sys.stdin.readline))
        gate = asyncio.Semaphore(setup["gate"])
        report: dict = {"connected": 0, "failed": 0, "closes": 0, "reasons": {}}
        latencies: list[float] = []
        since = [math.inf]
        last = [0.0]  # the last measured receive
        stopping = asyncio.Event()
        progress: list[list] = []  # [run, received] per connected client
        opened: list = []

        def note(reason: str) -> None:
            report["reasons"][reason[:120]] = report["reasons"].get(reason[:120], 0) + 1

        async def one(url: str, token: str) -> None:
            try:
                ws = await _open(url, token, gate)
            except Exception as exc:  # refused, timed out, closed: a failed connect
                report["failed"] += 1
                note(f"{type(exc).__name__}: {exc}")
                return
            report["connected"] += 1
            opened.append(ws)
            mine = [int(url.rstrip("/").rsplit("/", 1)[-1]), 0]
            progress.append(mine)
            try:
                async for raw in ws:
                    now = time.time()
                    msg = json.loads(raw)
                    if msg["type"] in SPECTATED_TYPES and msg["ts"] >= since[0]:
                        latencies.append(round((now - msg["ts"]) * 1000, 3))
                        mine[1] += 1
                        last[0] = max(last[0], now)
            except websockets.ConnectionClosed as exc:
                if not stopping.is_set():
                    report["closes"] += 1
                    note(f"closed: {exc}")

        tasks = [asyncio.create_task(one(url, token)) for url, token in setup["assignments"]]
        deadline = time.monotonic() + 300
        while report["connected"] + report["failed"] < len(tasks):
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        print("ready", flush=True)
        since[0] = json.loads(await loop.run_in_executor(None, sys.stdin.readline))["since"]
        cpu_started = time.process_time()
        expect = json.loads(await loop.run_in_executor(None, sys.stdin.readline))["expect"]
        end = time.monotonic() + GRACE_SECONDS
        while time.monotonic() < end and any(got < expect[str(run)] for run, got in progress):
            await asyncio.sleep(0.05)
        stopping.set()
        # All at once: behind a backlog each close waits for the server's close frame.
        await asyncio.gather(*(ws.close() for ws in opened), return_exceptions=True)
        await asyncio.gather(*tasks, return_exceptions=True)
        report["expected"] = sum(expect[str(run)] for run, _ in progress)
        report["received"] = len(latencies)
        report["last_received"] = last[0]
        report["cpu_s"] = time.process_time() - cpu_started
        report["latencies_ms"] = latencies
        return report

    print(json.dumps(asyncio.run(main())), flush=True)


def watcher_tokens(clients: int) -> list[str]:
    """API tokens of fresh staff users (staff may watch every run), one per CLIENTS_PER_USER
    clients. Fresh for every phase: a previous phase's sockets may still be counted against
    their users for a while after they closed (the per-user count lives in Redis)."""
    tokens = []
    for _ in range(math.ceil(clients / CLIENTS_PER_USER)):
        user, token = bench_user(f"bench-watcher-{next(_user_numbers)}")
        user.is_staff = True
        user.save(update_fields=["is_staff"])
        tokens.append(token)
    return tokens


_user_numbers = itertools.count(1)


def _child(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(HERE), *args],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def _wait_ready(process: subprocess.Popen, what: str) -> None:
    assert process.stdout is not None
    for line in process.stdout:  # Django or torch may print first; ``ready`` is ours
        if line.strip() == "ready":
            return
    raise SystemExit(f"{what} exited before it was ready")


def _send(process: subprocess.Popen, payload: dict | str) -> None:
    assert process.stdin is not None
    process.stdin.write((payload if isinstance(payload, str) else json.dumps(payload)) + "\n")
    process.stdin.flush()


def _last_json(process: subprocess.Popen, timeout: float) -> dict:
    out, _ = process.communicate(timeout=timeout)
    return json.loads(out.strip().splitlines()[-1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def spectated_phase(
    daphne_pid: int,
    env: dict[str, str],
    urls: list[str],
    owners: list[int],
    tokens: list[str],
    clients: int,
    seconds: float,
) -> dict:
    """``clients`` clients over the runs at ``urls``, one producer process per run."""
    assignments = [[urls[j % len(urls)], tokens[j // CLIENTS_PER_USER]] for j in range(clients)]
    groups = math.ceil(clients / CLIENTS_PER_PROCESS)
    gate = max(1, CONNECT_AT_ONCE // groups)
    watchers = [_child(["--clients"], env) for _ in range(groups)]
    producers = [
        _child(["--produce", "--url", url, "--seconds", str(seconds), "--owner", str(owner)], env)
        for url, owner in zip(urls, owners, strict=True)
    ]
    try:
        connect_started = time.monotonic()
        for i, watcher in enumerate(watchers):
            _send(watcher, {"assignments": assignments[i::groups], "gate": gate})
        for watcher in watchers:
            _wait_ready(watcher, "a client process")
        connect_s = time.monotonic() - connect_started
        for producer in producers:
            _wait_ready(producer, "a producer")
        since = time.time()
        daphne_cpu = cpu_seconds(daphne_pid)
        for watcher in watchers:
            _send(watcher, {"since": since})
        for producer in producers:
            _send(producer, "go")
        sent = [_last_json(producer, seconds + 60) for producer in producers]
        expect = {str(s["run"]): s["sent"] for s in sent}
        for watcher in watchers:
            _send(watcher, {"expect": expect})
        reports = [_last_json(watcher, GRACE_SECONDS + 60) for watcher in watchers]
        daphne_cpu = cpu_seconds(daphne_pid) - daphne_cpu
    finally:
        for process in (*watchers, *producers):
            if process.poll() is None:
                process.kill()
                process.wait()
    latencies = [ms for report in reports for ms in report["latencies_ms"]] or [float("nan")]
    reasons: dict[str, int] = {}
    for report in reports:
        for reason, count in report["reasons"].items():
            reasons[reason] = reasons.get(reason, 0) + count
    received = sum(r["received"] for r in reports)
    # Deliveries over the time they took: from the first send to the last receive.
    span = max(seconds, max(r["last_received"] for r in reports) - since)
    n = f"{clients}_spectated"
    return {
        f"p50_ms_{n}": round(percentile(latencies, 50), 1),
        f"p99_ms_{n}": round(percentile(latencies, 99), 1),
        f"max_ms_{n}": round(max(latencies), 1),
        f"errors_{n}": sum(r["failed"] + r["closes"] for r in reports),
        f"lost_{n}": sum(r["expected"] for r in reports) - received,
        f"msgs_per_s_{n}": round(received / span, 1),
        f"delivery_s_{n}": round(span, 1),
        # Daphne's CPU over that time near 1.0 (one core) means Daphne itself is the limit.
        f"daphne_cpu_share_{n}": round(daphne_cpu / span, 2),
        f"clients_cpu_share_{n}": round(sum(r["cpu_s"] for r in reports) / span, 2),
        f"sent_per_s_{n}": round(sum(s["sent"] for s in sent) / seconds, 1),
        f"publisher_dropped_{n}": sum(s["dropped"] for s in sent),
        f"connect_s_{n}": round(connect_s, 1),
        f"client_processes_{n}": groups,
        **({f"error_reasons_{n}": reasons} if reasons else {}),
    }


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
    parser.add_argument("--seconds", type=float, help="publishing time per metrics-only phase")
    parser.add_argument(
        "--spectated-seconds", type=float, help="producing time per spectated phase"
    )
    parser.add_argument(
        "--spectated",
        help="client counts of the spectated phases, comma-separated (default 50,500,1000; "
        "quick: 50,1000)",
    )
    parser.add_argument("--publish", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--produce", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--clients", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--watch", type=int, metavar="CLIENTS", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--owner", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--tokens", help=argparse.SUPPRESS)
    opts = parser.parse_args()
    raise_fd_limit()  # every mode: the client processes hold hundreds of sockets each
    if opts.publish:
        publish(opts.url, opts.rate, opts.count)
        return
    if opts.produce:
        produce(opts.url, opts.seconds, opts.owner)
        return
    if opts.clients:
        serve_clients()
        return
    if opts.watch:
        watch(opts.url, opts.tokens.split(","), opts.watch, opts.seconds)
        return

    seconds = opts.seconds or (3.0 if opts.quick else 20.0)
    spectated_seconds = opts.spectated_seconds or (5.0 if opts.quick else 20.0)
    sizes = [
        int(n) for n in (opts.spectated or ("50,1000" if opts.quick else "50,500,1000")).split(",")
    ]
    # --quick leaves out the two 500-client phases: their handshakes alone take ~20 s here.
    metrics_phases = ((50, opts.rate),) if opts.quick else ((50, opts.rate), (500, opts.rate_500))
    result: dict = {"nofile_limit": raise_fd_limit()}
    caps = {
        "KEISEI_WS_MAX_PER_USER": str(MAX_PER_USER),
        "KEISEI_WS_MAX_PER_PROCESS": str(MAX_PER_PROCESS),
    }
    with django_stack(caps) as env:
        from runs.models import Run

        owner, _ = bench_user("bench-fanout-owner")
        run = Run.objects.create(owner=owner, trainer="digits", config={})
        spectated = [
            Run.objects.create(owner=owner, trainer="shogi-ppo", config={})
            for _ in range(SPECTATED_RUNS)
        ]
        daphne, base = start_daphne(env)
        try:
            url = f"{base}/ws/runs/{run.pk}/"
            for clients, rate in metrics_phases:
                count = max(1, round(rate * seconds))
                tokens = watcher_tokens(clients)
                phase = asyncio.run(_phase(url, tokens, clients, rate, count, env))
                daphne.ensure_alive()
                result.update(_figures(phase, count))
                result[f"rate_per_s_{clients}"] = rate
            urls = [f"{base}/ws/runs/{r.pk}/" for r in spectated]
            for clients in sizes:
                figures = spectated_phase(
                    daphne.process.pid,
                    env,
                    urls,
                    [owner.pk] * len(urls),
                    watcher_tokens(clients),
                    clients,
                    spectated_seconds,
                )
                daphne.ensure_alive()
                result.update(figures)
                print(json.dumps(figures), file=sys.stderr, flush=True)
        finally:
            daphne.stop()
    result.update(
        {
            "seconds_per_phase": seconds,
            "seconds_per_spectated_phase": spectated_seconds,
            "spectated_runs": SPECTATED_RUNS,
            "quick": opts.quick,
        }
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
