"""The latest statistics of every worker, kept in one Redis hash (worker id -> JSON).

Workers write their own entry every interval (``worker_stats``); the API, the system page and
``/ws/system/`` read them all. A worker silent for three of its intervals is ``lost``, and its
entry is removed after ``STATS_TTL_SECONDS``.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

LOST_AFTER_INTERVALS = 3
# All a lost worker is shown with: who it is and when it last reported. Its run, CPU, memory
# and GPUs are from that last report, no longer true, so they are not shown at all.
LOST_WORKER_FIELDS = ("worker", "worker_id", "host", "pid", "interval", "ts")
STATS_TTL_SECONDS = 600  # a silent worker leaves the list after this long
REDIS_TIMEOUT_SECONDS = 3.0

_redis: tuple[int, Any] | None = None


def interval_seconds() -> float:
    """Seconds between a worker's reports (``KEISEI_SYSTEM_STATS_SECONDS``)."""
    from django.conf import settings

    return float(getattr(settings, "KEISEI_SYSTEM_STATS_SECONDS", 2))


def redis_client() -> Any:
    """A Redis client for this process (redis-py's pool is not shared across a fork), with
    short timeouts: for the statistics here and ``prometheus``'s counters."""
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
    with redis_client().pipeline(transaction=True) as pipe:
        pipe.hset(_hash_key(), stats["worker_id"], json.dumps(stats))
        pipe.expire(_hash_key(), STATS_TTL_SECONDS)
        pipe.execute()


def forget(worker_id: str) -> None:
    redis_client().hdel(_hash_key(), worker_id)


def workers_latest(now: float | None = None) -> list[dict[str, Any]]:
    """Every worker's latest statistics with ``age`` (s) and ``lost``, by worker name. A lost
    worker's entry keeps only ``LOST_WORKER_FIELDS``: ``ts`` says since when it is silent.

    Entries older than ``STATS_TTL_SECONDS`` are removed here (a hash field has no TTL of its
    own in Redis 6).
    """
    now = time.time() if now is None else now
    client = redis_client()
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
        lost = age > LOST_AFTER_INTERVALS * interval
        if lost:
            stats = {key: stats[key] for key in LOST_WORKER_FIELDS if key in stats}
        stats["age"] = round(max(age, 0.0), 3)
        stats["lost"] = lost
        workers.append(stats)
    if stale:
        client.hdel(_hash_key(), *stale)
    return sorted(workers, key=lambda s: (s.get("worker") or "", s.get("pid") or 0))
