"""How fast does the REST API answer, at a steady 100 requests/s and at the most two cores take?

A throwaway embedded PostgreSQL and Redis, and the web processes as ``make run`` starts them:
one Daphne per core on one shared socket (``keisei_site.launcher``; ``--web-processes N``),
each with its pool of database connections. One user owns 100
runs (a few queued, so the list computes queue positions); every request carries their API
token. Requests alternate ``GET /api/v1/runs/<id>/`` (a random one of the 100) and
``GET /api/v1/runs/`` (the first page: 50 runs), over HTTP/1.1 kept-alive connections.

The load is open-loop: requests are sent on a fixed schedule whatever the server does, and a
request's latency runs from its scheduled time to the last byte of its answer, so a server that
falls behind is charged for the queue it built (no coordinated omission). A request that finds
no idle connection opens another (up to ``MAX_CONNECTIONS``).

- ``p50_ms_at_100rps``, ``p95_ms_at_100rps``, ``p99_ms_at_100rps`` (goal: p95 <= 30 ms), and
  per endpoint (``p95_ms_detail_at_100rps``, ``p95_ms_list_at_100rps``);
- ``max_rps``: the rates in ``RAMP`` are offered in turn; the highest at which p95 stays under
  100 ms, nothing fails and at least 95% of the offered rate is answered (goal: >= 500);
- ``framework_max_rps``: the same ramp of ``GET /healthz``, a view that touches no server:
  what Daphne and Django's request path alone sustain here, the ceiling of any endpoint;
- ``web_cpu_ms_per_request_at_100rps`` and ``web_cpu_ms_per_healthz``: the web processes' CPU
  time (user and system, all of them) over the steady phase, and over the ``/healthz`` ramp,
  per request answered: what one request costs them, whatever else shares the cores;
  ``web_cpu_ms_per_healthz_at_200rps``: the same at a steady 200 ``/healthz`` a second (the
  ramp's figure also pays for the requests that queue and fail at its top);
- ``bare_daphne_max_rps`` and ``bare_daphne_cpu_ms_per_request``: the same ramp against the
  same Daphnes serving ``bench/bare_asgi.py``, an application that answers at once: what the
  server costs before Django, the floor under every endpoint.

The load generator shares the two cores with the server (a lean asyncio client, well under
a tenth of a core at 100 requests/s). Per-user throttling is on, with its rate raised
(``KEISEI_API_RATE``) so one user may send this many: its Redis round trip is paid as in
production. Prints one JSON object as its last line.

    .venv/bin/python bench/api.py            # about 2 minutes
    .venv/bin/python bench/api.py --quick    # under a minute
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from urllib.parse import urlsplit

import psutil
from _stack import bench_user, django_stack, percentile

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
RUNS = 100
QUEUED = 5
RAMP = (100, 200, 300, 400, 500, 600, 800, 1000, 1200, 1500)
MAX_CONNECTIONS = 256
MAX_P95_MS = 100.0
HEALTHZ_STEADY_RPS = 200


class Connection:
    """One kept-alive HTTP/1.1 connection; answers are read by their Content-Length."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def get(self, request: bytes) -> int:
        self.writer.write(request)
        status_line = await self.reader.readline()
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return int(status_line.split()[1])


class Load:
    """Sends requests on a schedule and records (kind, latency ms, status, when due) of each."""

    def __init__(self, base: str, token: str, run_ids: list[int]) -> None:
        parts = urlsplit(base)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.idle: list[Connection] = []
        self.opened = 0
        headers = f"Host: {self.host}\r\nAuthorization: Token {token}\r\nAccept: application/json"
        self.list_request = f"GET /api/v1/runs/ HTTP/1.1\r\n{headers}\r\n\r\n".encode()
        self.detail_requests = [
            f"GET /api/v1/runs/{run_id}/ HTTP/1.1\r\n{headers}\r\n\r\n".encode()
            for run_id in run_ids
        ]
        self.healthz_request = f"GET /healthz HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode()
        self.healthz_only = False

    async def _connection(self) -> tuple[Connection | None, bool]:
        """A connection and whether it was kept alive from an earlier request."""
        if self.idle:
            return self.idle.pop(), True
        if self.opened >= MAX_CONNECTIONS:
            return None, False
        self.opened += 1
        return Connection(*await asyncio.open_connection(self.host, self.port)), False

    async def _one(self, kind: str, request: bytes, due: float, out: list) -> None:
        connection, reused = await self._connection()
        if connection is None:
            out.append((kind, None, "no connection left", due))
            return
        try:
            try:
                status = await connection.get(request)
            except (ConnectionError, asyncio.IncompleteReadError, IndexError):
                if not reused:
                    raise
                # The server closed a kept-alive connection before this request reached it
                # (an idle timeout): a GET is retried once on a new connection, as HTTP
                # clients do (RFC 9112, 9.3.1). A second failure counts.
                connection.writer.close()
                connection = Connection(*await asyncio.open_connection(self.host, self.port))
                status = await connection.get(request)
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
            self.opened -= 1
            out.append((kind, None, type(exc).__name__, due))
            return
        out.append((kind, (time.perf_counter() - due) * 1000, status, due))
        self.idle.append(connection)

    async def run(self, rate: float, seconds: float) -> tuple[list, float]:
        """``rate`` requests a second for ``seconds``; returns the answers and the time taken
        until the last one arrived."""
        out: list = []
        tasks = []
        count = int(rate * seconds)
        started = time.perf_counter()
        for i in range(count):
            due = started + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if self.healthz_only:
                kind, request = "healthz", self.healthz_request
            elif i % 2:
                kind, request = "list", self.list_request
            else:
                kind, request = "detail", random.choice(self.detail_requests)
            tasks.append(asyncio.create_task(self._one(kind, request, due, out)))
        await asyncio.gather(*tasks)
        return out, time.perf_counter() - started

    def close(self) -> None:
        for connection in self.idle:
            connection.writer.close()


def web_cpu_s() -> float:
    """CPU seconds (user and system) the Daphnes this script started have used so far."""
    total = 0.0
    for child in psutil.Process().children():
        with contextlib.suppress(psutil.Error):
            if "daphne" in child.cmdline():
                times = child.cpu_times()
                total += times.user + times.system
    return total


def summary(answers: list) -> dict:
    ok = [ms for _, ms, status, _ in answers if status == 200]
    failed = Counter(str(status) for _, ms, status, _ in answers if status != 200)
    return {
        "p50_ms": round(percentile(ok, 50), 1) if ok else None,
        "p95_ms": round(percentile(ok, 95), 1) if ok else None,
        "p99_ms": round(percentile(ok, 99), 1) if ok else None,
        "answered": len(ok),
        "failed": sum(failed.values()),
        "failures": dict(failed),  # by status code or error
    }


def make_runs(owner) -> list[int]:
    from runs.models import Run, RunStatus

    runs = [
        Run(
            owner=owner,
            trainer="shogi-ppo",
            name=f"bench run {i}",
            config={"total_steps": 1_000_000, "learning_rate": 0.001},
            status=RunStatus.QUEUED if i < QUEUED else RunStatus.COMPLETED,
            step=0 if i < QUEUED else 1_000_000,
            total_steps=1_000_000,
            progress=0.0 if i < QUEUED else 1.0,
            tags=["bench", f"group-{i % 4}"],
        )
        for i in range(RUNS)
    ]
    return [run.pk for run in Run.objects.bulk_create(runs)]


async def ramp_up(load: Load, quick: bool) -> tuple[dict, int]:
    """Each rate of ``RAMP`` in turn until one is not sustained: the figures of each rate
    offered, and the highest sustained."""
    ramp = {}
    max_rps = 0
    for rate in RAMP:
        answers, took = await load.run(rate, 3 if quick else 8)
        figures = summary(answers)
        figures["achieved_rps"] = round(figures["answered"] / took, 1)
        ramp[str(rate)] = figures
        sustained = (
            figures["failed"] == 0
            and figures["p95_ms"] is not None
            and figures["p95_ms"] <= MAX_P95_MS
            and figures["achieved_rps"] >= 0.95 * rate
        )
        if not sustained:
            break
        max_rps = rate
    return ramp, max_rps


def cpu_ms_per_answer(cpu_s: float, answered: int) -> float:
    return round(cpu_s * 1000 / max(1, answered), 2)


async def steady_with_cpu(load: Load, rate: float, seconds: float) -> tuple[list, dict, float]:
    """``rate`` requests a second for ``seconds``: the answers, their summary and the web
    processes' CPU ms per request answered."""
    cpu_s = web_cpu_s()
    answers, _ = await load.run(rate, seconds)
    cpu_s = web_cpu_s() - cpu_s
    figures = summary(answers)
    return answers, figures, cpu_ms_per_answer(cpu_s, figures["answered"])


async def ramp_with_cpu(load: Load, quick: bool) -> tuple[dict, int, float]:
    """``ramp_up``, and the web processes' CPU ms per request answered over it."""
    cpu_s = web_cpu_s()
    ramp, max_rps = await ramp_up(load, quick)
    cpu_s = web_cpu_s() - cpu_s
    return ramp, max_rps, cpu_ms_per_answer(cpu_s, sum(f["answered"] for f in ramp.values()))


async def measure(base: str, token: str, run_ids: list[int], quick: bool) -> dict:
    load = Load(base, token, run_ids)
    try:
        # Warm, at the steady rate: a fresh Daphne's first seconds pay for its lazy imports and
        # its pool's new connections (here p95 about 100 ms in the first 5 s, 17 ms after).
        await load.run(100, 5)
        steady_s = 5 if quick else 20
        answers, steady, steady_cpu_ms = await steady_with_cpu(load, 100, steady_s)
        per_kind = {
            kind: summary([a for a in answers if a[0] == kind]) for kind in ("detail", "list")
        }
        # /healthz at a rate well under saturation, before any ramp has queued requests: the
        # ramp's CPU per request also pays for the requests that queue and fail at its top.
        load.healthz_only = True
        _, _, healthz_steady_cpu_ms = await steady_with_cpu(load, HEALTHZ_STEADY_RPS, steady_s)
        load.healthz_only = False
        ramp, max_rps = await ramp_up(load, quick)
        load.healthz_only = True
        framework_ramp, framework_max_rps, healthz_cpu_ms = await ramp_with_cpu(load, quick)
    finally:
        load.close()
    return {
        "p50_ms_at_100rps": steady["p50_ms"],
        "p95_ms_at_100rps": steady["p95_ms"],
        "p99_ms_at_100rps": steady["p99_ms"],
        "failed_at_100rps": steady["failed"],
        "failures_at_100rps": steady["failures"],
        "p95_ms_detail_at_100rps": per_kind["detail"]["p95_ms"],
        "p95_ms_list_at_100rps": per_kind["list"]["p95_ms"],
        "max_rps": max_rps,
        "framework_max_rps": framework_max_rps,
        "web_cpu_ms_per_request_at_100rps": steady_cpu_ms,
        "web_cpu_ms_per_healthz": healthz_cpu_ms,
        "web_cpu_ms_per_healthz_at_200rps": healthz_steady_cpu_ms,
        "ramp": ramp,
        "framework_ramp": framework_ramp,
        "connections": load.opened,
        "runs": len(run_ids),
        "steady_seconds": steady_s,
        "quick": quick,
    }


async def measure_bare(base: str, quick: bool) -> dict:
    """``/healthz``'s ramp against Daphne serving ``bare_asgi``: the server's own cost."""
    load = Load(base, "", [])
    load.healthz_only = True
    try:
        await load.run(100, 2)  # warm-up
        ramp, max_rps, cpu_ms = await ramp_with_cpu(load, quick)
    finally:
        load.close()
    return {
        "bare_daphne_max_rps": max_rps,
        "bare_daphne_cpu_ms_per_request": cpu_ms,
        "bare_daphne_ramp": ramp,
    }


@contextlib.contextmanager
def web(env: dict[str, str], processes: int, app: str | None = None) -> Iterator[str]:
    """Daphne as ``make run`` serves the site: ``processes`` of them on one shared socket
    (``keisei_site.launcher``); their output goes to stderr. ``app`` serves another ASGI
    application (a ``module:name`` found from ``bench/``) with the same options. Yields the
    base URL."""
    from keisei_site.launcher import daphne_args, listening_socket
    from tests.support.servers import free_port
    from tests.support.waiting import wait_for

    port = free_port()
    sock = listening_socket("127.0.0.1", port)
    args = daphne_args("127.0.0.1", str(port), fd=sock.fileno())
    if app is not None:
        args[-1] = app
        path = os.pathsep.join(filter(None, (BENCH_DIR, env.get("PYTHONPATH"))))
        env = {**env, "PYTHONPATH": path}
    children = [
        subprocess.Popen(args, env=env, pass_fds=[sock.fileno()], stdout=sys.stderr)
        for _ in range(processes)
    ]
    base = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        assert all(child.poll() is None for child in children), "a Daphne exited"
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    try:
        wait_for(answers, timeout=60, what="Daphne to answer /healthz")
        yield base
        assert all(child.poll() is None for child in children), "a Daphne exited"
    finally:
        for child in children:
            child.terminate()
        for child in children:
            child.wait(30)
        sock.close()


def main() -> None:
    from keisei_site.launcher import web_processes

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter phases, under a minute")
    parser.add_argument(
        "--web-processes",
        type=int,
        default=web_processes(dict(os.environ)),
        help="Daphne processes on the shared socket (default: as make run, one per core)",
    )
    args = parser.parse_args()
    with django_stack({"KEISEI_API_RATE": "1000000/min"}) as env:
        owner, token = bench_user("api-bench")
        run_ids = make_runs(owner)
        with web(env, args.web_processes) as base:
            figures = asyncio.run(measure(base, token, run_ids, args.quick))
        with web(env, args.web_processes, app="bare_asgi:application") as base:
            figures.update(asyncio.run(measure_bare(base, args.quick)))
    figures["web_processes"] = args.web_processes
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
