"""System statistics: each Celery worker process reports itself every few seconds.

A background thread in every worker process collects host and process figures (CPU, memory,
RSS, load, GPUs when present) and the run it is training, sends them to the ``system`` group
(``/ws/system/``) and keeps the latest per worker in one Redis hash, which the API and the
system page read. A worker that stops reporting is ``lost`` after three of its intervals and
forgotten after ``STATS_TTL_SECONDS``. Nothing here ever blocks training: collection and
storage run on their own thread and publishing goes through ``live``'s publisher.

Hooked up by ``connect_worker_signals()`` in ``keisei_site/celery.py``; the worker names its
current run through ``set_current_run``.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

log = logging.getLogger(__name__)

LOST_AFTER_INTERVALS = 3
STATS_TTL_SECONDS = 600  # a silent worker leaves the list after this long
REDIS_TIMEOUT_SECONDS = 3.0
QUEUES = ("training", "default")

_current_run: int | None = None
_reporter: StatsReporter | None = None
_redis: tuple[int, Any] | None = None


# ----- the worker side ---------------------------------------------------------------------


def set_current_run(run_id: int | None) -> None:
    """The run this process trains now (None when idle); reported at once, then every tick."""
    global _current_run
    _current_run = run_id
    if _reporter is not None:
        _reporter.wake.set()


@contextmanager
def current_run(run_id: int) -> Iterator[None]:
    """``with current_run(run.pk):`` around training names the run until the block ends."""
    set_current_run(run_id)
    try:
        yield
    finally:
        set_current_run(None)


def interval_seconds() -> float:
    from django.conf import settings

    return float(getattr(settings, "KEISEI_SYSTEM_STATS_SECONDS", 2))


def collect(worker: str) -> dict[str, Any]:
    """This process's statistics, in the shape ``/ws/system/`` and the API show."""
    import psutil

    process = psutil.Process()
    memory = psutil.virtual_memory()
    host = socket.gethostname()
    pid = os.getpid()
    return {
        "worker": worker,
        "worker_id": f"{host}:{pid}",  # as runs name a lease holder
        "host": host,
        "pid": pid,
        "cpu_percent": psutil.cpu_percent(interval=None),  # since the previous call
        "cpu_count": psutil.cpu_count(),
        "process_cpu_percent": process.cpu_percent(interval=None),
        "memory": {
            "total": memory.total,
            "available": memory.available,
            "used": memory.used,
            "percent": memory.percent,
        },
        "rss": process.memory_info().rss,
        "load": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "run": _current_run,
        "busy": _current_run is not None,
        "gpus": gpu_stats(),
        "interval": interval_seconds(),
        "ts": time.time(),
    }


_nvml_ready: bool | None = None


def gpu_stats() -> list[dict[str, Any]]:
    """Per GPU: memory and, with NVML, utilisation. Never required: [] without a GPU.

    NVML (``pynvml``) reads every device without touching CUDA. Without it, torch's
    ``mem_get_info`` is asked only once this process already uses CUDA: asking earlier would
    create a CUDA context on every device, which costs GPU memory the trainer may need.
    """
    global _nvml_ready
    try:
        if _nvml_ready is None:
            _nvml_ready = importlib.util.find_spec("pynvml") is not None
            if _nvml_ready:
                import pynvml

                pynvml.nvmlInit()
        if _nvml_ready:
            return _nvml_gpus()
        torch = sys.modules.get("torch")  # never imported for this alone
        if torch is None or not torch.cuda.is_available() or not torch.cuda.is_initialized():
            return []
        gpus = []
        for index in range(torch.cuda.device_count()):
            free, total = torch.cuda.mem_get_info(index)
            gpus.append(
                {
                    "index": index,
                    "name": torch.cuda.get_device_name(index),
                    "utilization": None,
                    "memory_used": total - free,
                    "memory_total": total,
                }
            )
        return gpus
    except Exception:  # a driver hiccup must not stop the statistics
        log.debug("GPU statistics unavailable", exc_info=True)
        return []


def _nvml_gpus() -> list[dict[str, Any]]:
    import pynvml

    gpus = []
    for index in range(pynvml.nvmlDeviceGetCount()):
        handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
        name = pynvml.nvmlDeviceGetName(handle)
        gpus.append(
            {
                "index": index,
                "name": name.decode() if isinstance(name, bytes) else name,
                "utilization": pynvml.nvmlDeviceGetUtilizationRates(handle).gpu,
                "memory_used": memory.used,
                "memory_total": memory.total,
            }
        )
    return gpus


def publish_once(worker: str) -> dict[str, Any]:
    """Collect, store the latest, and send to ``/ws/system/``: one tick of the reporter."""
    from monitoring import live

    stats = collect(worker)
    live.publish_system(stats)  # never blocks; coalesces if Redis is slow
    store(stats)
    return stats


class StatsReporter:
    """The thread that reports this process every ``interval`` seconds."""

    def __init__(self, worker: str, interval: float) -> None:
        self.worker = worker
        self.interval = interval
        self.pid = os.getpid()
        self.wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, name="system-stats", daemon=True)

    def start(self) -> StatsReporter:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.wake.set()
        self._thread.join(timeout=5)

    def _main(self) -> None:
        import psutil

        psutil.cpu_percent(interval=None)  # the first reading is against nothing: prime it
        failing = False
        while not self._stop.is_set():
            try:
                publish_once(self.worker)
                if failing:
                    log.info("system statistics are reported again")
                failing = False
            except Exception:  # Redis away: say so once, keep trying every tick
                if not failing:
                    log.warning("system statistics could not be stored", exc_info=True)
                failing = True
            self.wake.wait(self.interval)
            self.wake.clear()


def start_reporting(worker: str) -> StatsReporter:
    """Start this process's reporter (once per process; a forked child starts its own)."""
    global _reporter
    if _reporter is None or _reporter.pid != os.getpid():
        _reporter = StatsReporter(worker, interval_seconds()).start()
    return _reporter


def connect_worker_signals() -> None:
    """Report from every process that runs tasks: each prefork child, or the worker itself
    when its pool runs tasks in-process (solo, threads)."""
    from celery import signals

    def on_process_init(sender: Any = None, **_: Any) -> None:
        start_reporting(str(sender or socket.gethostname()))

    def on_worker_ready(sender: Any = None, **_: Any) -> None:
        pool = getattr(sender, "pool", None)
        if pool is not None and type(pool).__module__.endswith(".prefork"):
            return  # the children report; this parent runs no task
        start_reporting(str(getattr(sender, "hostname", None) or socket.gethostname()))

    signals.worker_process_init.connect(on_process_init, weak=False)
    signals.worker_ready.connect(on_worker_ready, weak=False)


# ----- storage: one Redis hash, worker id -> latest statistics ------------------------------


def _client() -> Any:
    """A Redis client for this process (redis-py's pool is not shared across a fork)."""
    global _redis
    if _redis is None or _redis[0] != os.getpid():
        import redis
        from django.conf import settings

        client = redis.Redis.from_url(
            settings.REDIS_URL,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        )
        _redis = (os.getpid(), client)
    return _redis[1]


def _hash_key() -> str:
    from django.conf import settings

    prefix = settings.CACHES["default"].get("KEY_PREFIX") or "keisei"
    return f"{prefix}:system:workers"


def store(stats: dict[str, Any]) -> None:
    """Keep ``stats`` as its worker's latest. The hash expires when no worker writes to it."""
    with _client().pipeline(transaction=True) as pipe:
        pipe.hset(_hash_key(), stats["worker_id"], json.dumps(stats))
        pipe.expire(_hash_key(), STATS_TTL_SECONDS)
        pipe.execute()


def forget(worker_id: str) -> None:
    _client().hdel(_hash_key(), worker_id)


def workers_latest(now: float | None = None) -> list[dict[str, Any]]:
    """Every worker's latest statistics with ``age`` (s) and ``lost``, by worker name.

    Entries older than ``STATS_TTL_SECONDS`` are removed here (a hash field has no TTL of its
    own in Redis 6).
    """
    now = time.time() if now is None else now
    client = _client()
    workers, stale = [], []
    for field, raw in client.hgetall(_hash_key()).items():
        try:
            stats = json.loads(raw)
            age = now - float(stats["ts"])
        except (ValueError, KeyError, TypeError):
            stale.append(field)
            continue
        if age > STATS_TTL_SECONDS:
            stale.append(field)
            continue
        interval = float(stats.get("interval") or interval_seconds())
        stats["age"] = round(max(age, 0.0), 3)
        stats["lost"] = age > LOST_AFTER_INTERVALS * interval
        workers.append(stats)
    if stale:
        client.hdel(_hash_key(), *stale)
    return sorted(workers, key=lambda s: (s.get("worker") or "", s.get("pid") or 0))


def strip_run(stats: dict[str, Any], *, visible: bool) -> dict[str, Any]:
    """``stats`` as someone sees it: the current run is named only to people who may see it
    (``busy`` still says the worker is training)."""
    if stats.get("run") is None or visible:
        return stats
    return {**stats, "run": None}


def queue_depths() -> dict[str, int | None]:
    """Messages waiting in each Celery queue (LLEN of the broker's lists, priority lists too).

    None for a queue whose depth could not be read (broker unreachable).
    """
    from celery import current_app

    depths: dict[str, int | None] = dict.fromkeys(QUEUES)
    try:
        with current_app.pool.acquire(block=True, timeout=REDIS_TIMEOUT_SECONDS) as conn:
            channel = conn.default_channel
            steps = getattr(channel, "priority_steps", [0])
            sep = getattr(channel, "sep", "\x06\x16")
            for queue in QUEUES:
                names = [queue if pri == 0 else f"{queue}{sep}{pri}" for pri in steps]
                depths[queue] = sum(int(channel.client.llen(name)) for name in names)
    except Exception:
        log.warning("queue depths unavailable", exc_info=True)
    return depths


def overview(user: Any, may_view: Callable[[Any, int], bool] | None = None) -> dict[str, Any]:
    """What ``GET /api/v1/system/`` and the system page show ``user``."""
    from monitoring import access

    may_view = may_view or access.user_may_view_run
    answers: dict[int, bool] = {}

    def visible(run_id: int) -> bool:
        if run_id not in answers:
            answers[run_id] = may_view(user, run_id)
        return answers[run_id]

    workers = [
        strip_run(stats, visible=stats.get("run") is not None and visible(int(stats["run"])))
        for stats in workers_latest()
    ]
    return {"interval": interval_seconds(), "workers": workers, "queues": queue_depths()}
