"""Does the whole site stay up, and its memory flat, under sustained mixed load?

A throwaway embedded PostgreSQL and Redis, and the processes as ``make run`` starts them
(``keisei_site.launcher``): Daphne, one per core on one shared socket; the training worker
(queues ``training`` and ``default``) with one pool slot per training run; the short-jobs
worker; Celery beat. Then, all at once and all on loopback, for ``--minutes`` (10; ``--quick``
one):

- ``--runs`` shogi-ppo runs (3; small networks, one torch thread each, spectated so their
  boards go out live) train on the worker for the whole time;
- 100 API requests/s, open-loop as ``bench/api.py`` sends them (its ``Load``): run details and
  the runs list of 100 finished runs, with an API token; latency from the scheduled time;
- 50 WebSocket clients on the live runs (``/ws/runs/<id>/``, spread evenly), each reading
  every message for the whole time.

Figures: ``errors`` (goal 0: any answer not 2xx or not answered, any WebSocket that failed to
connect or closed before the end, any run that failed or stopped training), ``p95_ms`` of the
API, and ``max_rss_growth``: every few seconds after a warm-up (the first minute; 15 s with
``--quick``) the resident memory of each process (each Daphne, each worker, its pool
children, beat) is read from ``/proc``; the figure is the largest end/start ratio of any
process that lived from the first sample to the last (goal <= 1.10). Also ``seconds``,
``requests``, ``ws_clients``, ``ws_messages``, ``runs``, per process its start and end RSS,
and ``cpu_cores``: the cores each process (this script's own load client among them) used on
average over the same samples, the whole machine's, its steal (the time a shared host gave our
cores to its other tenants) and the rest (PostgreSQL, Redis, ...).

Everything started here is stopped here (by process group, each started in its own session).
Logs go to stderr; the last line of stdout is one JSON object.

    .venv/bin/python bench/soak.py            # about 12 minutes
    .venv/bin/python bench/soak.py --quick    # about 2 minutes
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import websockets
from _stack import bench_user, django_stack, percentile
from api import Load, web

API_RUNS = 100
RSS_EVERY_S = 5.0
CONNECT_AT_ONCE = 10  # WebSocket handshakes in flight at a time
PAGE = os.sysconf("SC_PAGE_SIZE")
TICK = os.sysconf("SC_CLK_TCK")
# Small enough that several train side by side on two shared cores; trains far past the soak.
LIVE_SHOGI = {
    "num_envs": 4,
    "num_steps": 8,
    "max_plies": 40,
    "blocks": 1,
    "channels": 8,
    "value_hidden": 8,
    "minibatch_size": 16,
    "total_steps": 4 * 8 * 1_000_000,
    "precision": "fp32",
    "threads": 1,
    "spectate": True,
}


def log(text: str) -> None:
    print(f"soak | {time.strftime('%H:%M:%S')} {text}", file=sys.stderr, flush=True)


# ----- memory ----------------------------------------------------------------------------------


def rss_bytes(pid: int) -> int | None:
    """Resident memory of ``pid`` from /proc (None once it has gone)."""
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return None


def children_of(pid: int) -> list[int]:
    """Direct children of ``pid`` (a Celery worker's pool processes), from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # The command may hold spaces and parentheses: the fields after the last ")".
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid:
            found.append(int(entry.name))
    return found


@dataclass
class Memory:
    """RSS of each named process at every sample after the warm-up."""

    series: dict[str, list[int]] = field(default_factory=dict)
    samples: int = 0

    def sample(self, roots: dict[str, int]) -> None:
        for name, pid in roots.items():
            self._note(name, rss_bytes(pid))
            for child in children_of(pid):
                self._note(f"{name}/child-{child}", rss_bytes(child))
        self.samples += 1

    def _note(self, name: str, rss: int | None) -> None:
        # A process that appeared after the first sample is not compared: only the ones that
        # lived from the first sample on (their list starts at sample 0).
        if rss is not None and (self.samples == 0 or name in self.series):
            self.series.setdefault(name, []).append(rss)

    def _lived(self) -> dict[str, list[int]]:
        return {n: v for n, v in self.series.items() if len(v) == self.samples and v[0] > 0}

    def growth(self) -> dict[str, float]:
        """End/start ratio of each process present from the first sample to the last."""
        return {name: v[-1] / v[0] for name, v in self._lived().items()}

    def growth_second_half(self) -> dict[str, float]:
        """End/middle ratio: a one-off step (a module imported by a first task) shows in
        ``growth`` but not here; a leak shows in both."""
        return {name: v[-1] / v[len(v) // 2] for name, v in self._lived().items()}

    def mb(self, name: str) -> list[float]:
        """First, middle and last RSS of ``name`` in MB."""
        v = self.series[name]
        return [round(v[i] / 2**20, 1) for i in (0, len(v) // 2, -1)]


def cpu_seconds(pid: int) -> float | None:
    """User and system CPU time of ``pid`` from /proc (None once it has gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def machine_seconds() -> tuple[float, float]:
    """CPU time every core spent not idle since boot, and of that the time the hypervisor
    gave our cores to another machine (steal: a shared host's neighbours), in seconds."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle, iowait
    return (sum(values[:8]) - idle) / TICK, values[7] / TICK


@dataclass
class Cpu:
    """Cores each named process used on average over the load: where two cores went."""

    first: dict[str, float] = field(default_factory=dict)
    last: dict[str, float] = field(default_factory=dict)
    times: list[float] = field(default_factory=list)
    machine: list[float] = field(default_factory=list)
    steal: list[float] = field(default_factory=list)

    def sample(self, roots: dict[str, int], alone: dict[str, int]) -> None:
        """``roots`` with their children, ``alone`` without (this script: its children are
        the Daphnes, already in ``roots``)."""
        self.times.append(time.monotonic())
        busy, steal = machine_seconds()
        self.machine.append(busy)
        self.steal.append(steal)
        for name, pid in alone.items():
            self._note(name, cpu_seconds(pid))
        for name, pid in roots.items():
            self._note(name, cpu_seconds(pid))
            for child in children_of(pid):
                self._note(f"{name}/child-{child}", cpu_seconds(child))

    def _note(self, name: str, seconds: float | None) -> None:
        if seconds is not None:
            self.first.setdefault(name, seconds)
            self.last[name] = seconds

    def cores(self) -> dict[str, float]:
        if len(self.times) < 2:
            return {}
        span = self.times[-1] - self.times[0]
        used = {n: round((self.last[n] - self.first[n]) / span, 2) for n in self.first}
        used["machine"] = round((self.machine[-1] - self.machine[0]) / span, 2)
        used["machine steal (the host's other tenants)"] = round(
            (self.steal[-1] - self.steal[0]) / span, 2
        )
        steal = used["machine steal (the host's other tenants)"]
        ours = sum(v for n, v in used.items() if not n.startswith("machine"))
        used["other (PostgreSQL, Redis, ...)"] = round(used["machine"] - steal - ours, 2)
        return used


# ----- WebSocket clients ------------------------------------------------------------------------


@dataclass
class Sockets:
    connected: int = 0
    failed: int = 0
    dropped: int = 0
    messages: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def note(self, reason: str) -> None:
        self.reasons[reason[:120]] = self.reasons.get(reason[:120], 0) + 1


async def connect(url: str, token: str, gate: asyncio.Semaphore, out: Sockets):
    """A run's socket whose first message is ``connected``, or None (counted as failed)."""
    try:
        async with gate:  # a few handshakes at a time; the sockets all stay open
            ws = await websockets.connect(
                url, additional_headers={"Authorization": f"Token {token}"}, open_timeout=60
            )
            first = json.loads(await asyncio.wait_for(ws.recv(), 30))
        if first["type"] != "connected":
            raise RuntimeError(f"first message {first['type']}")
    except Exception as exc:  # refused, timed out, closed: a failed connect
        out.failed += 1
        out.note(f"connect: {type(exc).__name__}: {exc}")
        return None
    out.connected += 1
    return ws


async def read_until(ws, until: float, out: Sockets) -> None:
    """Every message until ``until``; a close before then is a drop."""
    try:
        async with asyncio.timeout(max(0.1, until - time.monotonic())):
            async for _ in ws:
                out.messages += 1
    except TimeoutError:
        pass  # the end of the soak: the socket stayed open throughout
    except websockets.ConnectionClosed as exc:
        out.dropped += 1
        out.note(f"closed: {exc}")
    else:
        out.dropped += 1  # the server ended the stream before the soak's end
        out.note("closed by the server")
    finally:
        await ws.close()


# ----- the soak ---------------------------------------------------------------------------------


async def load_everything(
    base: str,
    token: str,
    api_run_ids: list[int],
    live_run_ids: list[int],
    roots: dict[str, int],
    *,
    seconds: float,
    warmup: float,
    rate: float,
    clients: int,
) -> tuple[list, float, Sockets, Memory, Cpu]:
    """The WebSocket clients connected first, then API load, their reading and RSS samples
    at once, for ``seconds``."""
    sockets = Sockets()
    ws_base = base.replace("http://", "ws://")
    gate = asyncio.Semaphore(CONNECT_AT_ONCE)
    opened = await asyncio.gather(
        *(
            connect(
                f"{ws_base}/ws/runs/{live_run_ids[i % len(live_run_ids)]}/", token, gate, sockets
            )
            for i in range(clients)
        )
    )
    log(f"{sockets.connected} of {clients} WebSocket clients connected")
    until = time.monotonic() + seconds
    watchers = [asyncio.create_task(read_until(ws, until, sockets)) for ws in opened if ws]
    memory = Memory()
    cpu = Cpu()
    client = {"load client (this script)": os.getpid()}

    async def sample_memory() -> None:
        await asyncio.sleep(warmup)
        while time.monotonic() < until:
            memory.sample(roots)
            cpu.sample(roots, client)
            await asyncio.sleep(min(RSS_EVERY_S, max(0.0, until - time.monotonic())))
        memory.sample(roots)
        cpu.sample(roots, client)

    sampler = asyncio.create_task(sample_memory())
    load = Load(base, token, api_run_ids)
    try:
        answers, took = await load.run(rate, seconds)
    finally:
        load.close()
    await asyncio.gather(*watchers)
    await sampler
    return answers, took, sockets, memory, cpu


def make_api_runs(owner) -> list[int]:
    """Finished runs for the API load (finished: no worker may claim them)."""
    from runs.models import Run, RunStatus

    runs = [
        Run(
            owner=owner,
            trainer="shogi-ppo",
            name=f"soak run {i}",
            config={"total_steps": 1_000_000},
            status=RunStatus.COMPLETED,
            step=1_000_000,
            total_steps=1_000_000,
            progress=1.0,
            tags=["soak", f"group-{i % 4}"],
        )
        for i in range(API_RUNS)
    ]
    return [run.pk for run in Run.objects.bulk_create(runs)]


def start_workers(env: dict[str, str], runs: int) -> dict[str, object]:
    """The training worker (one pool slot per run), the short-jobs worker and beat, with the
    command lines ``make run`` uses; each in its own session (stopped by process group)."""
    from keisei_site.launcher import celery_beat_args, celery_worker_args
    from monitoring.queues import DEFAULT_QUEUE, TRAINING_QUEUE
    from tests.support.servers import ServerProcess
    from tests.support.waiting import wait_for

    started = {
        "worker": ServerProcess(
            "worker",
            celery_worker_args("worker", f"{TRAINING_QUEUE},{DEFAULT_QUEUE}", str(runs)),
            env,
        ).start(),
        "shortjobs": ServerProcess(
            "shortjobs", celery_worker_args("shortjobs", DEFAULT_QUEUE, "1"), env
        ).start(),
        "beat": ServerProcess(
            "beat", celery_beat_args(Path(env["KEISEI_VAR_DIR"]) / "celerybeat-schedule"), env
        ).start(),
    }
    for name in ("worker", "shortjobs"):
        process = started[name]
        wait_for(
            lambda p=process: p.ensure_alive() or "ready." in "\n".join(p.output),
            timeout=120,
            what=f"the Celery {name} to be ready",
        )
    return started


def wait_training(run_ids: list[int], timeout: float) -> list[int]:
    """The runs that have reached ``running`` with a first step within ``timeout``."""
    from runs.models import Run, RunStatus

    deadline = time.monotonic() + timeout
    running: list[int] = []
    while time.monotonic() < deadline:
        running = list(
            Run.objects.filter(pk__in=run_ids, status=RunStatus.RUNNING, step__gt=0).values_list(
                "pk", flat=True
            )
        )
        if len(running) == len(run_ids):
            return running
        time.sleep(1)
    return running


def stop_runs(owner, run_ids: list[int], timeout: float) -> None:
    from runs import services
    from runs.models import Run, RunStatus

    for run in Run.objects.filter(pk__in=run_ids):
        if run.status in (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.PAUSED):
            kind = "cancel" if run.status == RunStatus.QUEUED else "stop"
            services.command_request(run=run, user=owner, kind=kind)
    deadline = time.monotonic() + timeout
    active = (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.PAUSED)
    while time.monotonic() < deadline:
        if not Run.objects.filter(pk__in=run_ids, status__in=active).exists():
            return
        time.sleep(1)
    log("some runs did not stop in time: their worker is stopped anyway")


def main() -> None:
    from keisei_site.launcher import web_processes

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one minute instead of ten")
    parser.add_argument("--minutes", type=float, default=10.0, help="how long the load lasts")
    parser.add_argument("--runs", type=int, default=3, help="concurrent training runs")
    parser.add_argument("--rate", type=float, default=100.0, help="API requests a second")
    parser.add_argument("--ws-clients", type=int, default=50, help="WebSocket clients")
    parser.add_argument(
        "--web-processes",
        type=int,
        default=web_processes(dict(os.environ)),
        help="Daphne processes on the shared socket (default: as make run, one per core)",
    )
    args = parser.parse_args()
    seconds = 60.0 if args.quick else args.minutes * 60
    warmup = 15.0 if args.quick else 60.0
    extra = {
        "KEISEI_API_RATE": "1000000/min",
        "KEISEI_DEFAULT_MAX_RUNNING": str(args.runs),
    }
    with django_stack(extra) as env:
        from runs import services
        from runs.models import Run, RunStatus

        owner, token = bench_user("soak")
        api_run_ids = make_api_runs(owner)
        with web(env, args.web_processes) as base:
            started = start_workers(env, args.runs)
            live_ids: list[int] = []
            try:
                live_ids = [
                    services.run_queue(
                        owner=owner,
                        trainer="shogi-ppo",
                        config={**LIVE_SHOGI, "seed": i},
                        name=f"soak live {i}",
                    ).pk
                    for i in range(args.runs)
                ]
                training = wait_training(live_ids, timeout=300)
                log(f"{len(training)} of {len(live_ids)} runs training; load for {seconds:.0f} s")
                roots = {name: p.process.pid for name, p in started.items()}
                roots.update(daphne_pids(base))
                answers, took, sockets, memory, cpu = asyncio.run(
                    load_everything(
                        base,
                        token,
                        api_run_ids,
                        live_ids,
                        roots,
                        seconds=seconds,
                        warmup=warmup,
                        rate=args.rate,
                        clients=args.ws_clients,
                    )
                )
                statuses = dict(Run.objects.filter(pk__in=live_ids).values_list("pk", "status"))
                for name, process in started.items():
                    if not process.alive():
                        log(f"{name} exited:\n{process.log_tail()}")
                stopped_early = [pk for pk, s in statuses.items() if s != RunStatus.RUNNING]
            finally:
                stop_runs(owner, live_ids, timeout=90)
                for process in started.values():
                    process.stop(30)
    ok = [ms for _, ms, status, _ in answers if _succeeded(status)]
    bad = len(answers) - len(ok)
    growth = memory.growth()
    second_half = memory.growth_second_half()
    errors = bad + sockets.failed + sockets.dropped + len(stopped_early)
    if growth:
        worst = max(growth, key=growth.__getitem__)
        log(f"largest RSS growth: {worst} x{growth[worst]:.3f}")
    figures = {
        "seconds": round(took, 1),
        "errors": errors,
        "p95_ms": round(percentile(ok, 95), 1) if ok else None,
        "max_rss_growth": round(max(growth.values()), 3) if growth else None,
        "max_rss_growth_second_half": round(max(second_half.values()), 3) if second_half else None,
        "runs": len(live_ids),
        "runs_training_at_start": len(training),
        "ws_clients": args.ws_clients,
        "requests": len(answers),
        "p50_ms": round(percentile(ok, 50), 1) if ok else None,
        "p99_ms": round(percentile(ok, 99), 1) if ok else None,
        "api_errors": bad,
        "api_failures": dict(
            Counter(str(status) for _, _, status, _ in answers if not _succeeded(status))
        ),
        "worst_windows": worst_windows(answers),
        "ws_failed": sockets.failed,
        "ws_dropped": sockets.dropped,
        "ws_messages": sockets.messages,
        "ws_reasons": sockets.reasons,
        "runs_not_training_at_end": {str(pk): statuses[pk] for pk in stopped_early},
        "rss_mb": {name: memory.mb(name) for name in growth},
        "rss_samples": memory.samples,
        "cpu_cores": cpu.cores(),
        "warmup_seconds": warmup,
        "web_processes": args.web_processes,
        "quick": args.quick,
    }
    print(json.dumps(figures))


def worst_windows(answers: list, width: float = 10.0, count: int = 5) -> list[dict]:
    """The ``count`` windows of ``width`` seconds (by when each request was due, from the
    first) with the slowest answer or any error: where a stall is, to lay beside the logs."""
    if not answers:
        return []
    first = min(due for *_, due in answers)
    windows: dict[int, list] = {}
    for _, ms, status, due in answers:
        windows.setdefault(int((due - first) // width), []).append((ms, status))
    rows = []
    for index, window in windows.items():
        ok = [ms for ms, status in window if _succeeded(status)]
        rows.append(
            {
                "from_s": index * width,
                "requests": len(window),
                "errors": len(window) - len(ok),
                "p50_ms": round(percentile(ok, 50), 1) if ok else None,
                "max_ms": round(max(ok), 1) if ok else None,
            }
        )
    rows.sort(key=lambda r: (r["errors"], r["max_ms"] or 0.0), reverse=True)
    return sorted(rows[:count], key=lambda r: r["from_s"])


def _succeeded(status: int | str) -> bool:
    """An answer with a 2xx status (``Load`` records an error's name instead of a status)."""
    return isinstance(status, int) and 200 <= status < 300


def daphne_pids(base: str) -> dict[str, int]:
    """The Daphne processes serving ``base`` (``api.web`` does not hand out its children):
    the Python processes whose command line runs daphne on this port's shared socket."""
    found = {}
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == me and any(b"daphne" in part for part in cmdline):
            found[f"daphne-{entry.name}"] = int(entry.name)
    return found


if __name__ == "__main__":
    main()
