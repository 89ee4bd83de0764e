"""This worker process's statistics, reported every few seconds by a background thread.

The thread collects host and process figures (CPU, memory, RSS, load, GPUs when present) and
the run this process trains, sends them to the ``system`` group (``/ws/system/``) and keeps
them as this worker's latest in ``worker_store``. Nothing here ever blocks training:
collection and storage run on their own thread and publishing goes through ``live``'s
publisher. Started by ``worker_signals``; the worker names its run with ``current_run``.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from monitoring import worker_store

log = logging.getLogger(__name__)

_current_run: int | None = None
_reporter: StatsReporter | None = None


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
        # For /metrics (monitoring/prometheus.py): live messages waiting and dropped, and the
        # durable rows the reporter holds while PostgreSQL is away.
        "live": live_figures(),
        "reporter_backlog": reporter_backlog(),
        "interval": worker_store.interval_seconds(),
        "ts": time.time(),
    }


def live_figures() -> dict[str, int]:
    """This process's live publisher: messages waiting, sent and dropped so far."""
    from monitoring import live

    return live.publisher().figures()


def reporter_backlog() -> int:
    """Metric points and events this process's reporters hold for PostgreSQL."""
    from monitoring import reporter

    return reporter.backlog()


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
    worker_store.store(stats)
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
        _reporter = StatsReporter(worker, worker_store.interval_seconds()).start()
    return _reporter
