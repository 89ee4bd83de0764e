"""One Redis connection pool per process for Django's cache.

Django keeps cache backends per async context, and under ASGI every request is a context of
its own: each request built a new ``RedisCache``, a new ``ConnectionPool`` and so a new TCP
connection to Redis (with its health check), about a sixth of an API request's time (the
throttle reads and writes the cache on every request; py-spy on Daphne under bench/api.py).
``SharedConnectionPool.from_url`` hands every backend the process's one pool for that URL and
those options instead. redis-py's pools notice a fork and start afresh in the child.
"""

from __future__ import annotations

import threading
from typing import Any

from redis import ConnectionPool

_lock = threading.Lock()
_pools: dict[tuple[str, tuple[tuple[str, str], ...]], ConnectionPool] = {}


class SharedConnectionPool(ConnectionPool):
    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> ConnectionPool:  # type: ignore[override]
        key = (url, tuple(sorted((name, repr(value)) for name, value in kwargs.items())))
        with _lock:
            pool = _pools.get(key)
            if pool is None:
                pool = _pools[key] = ConnectionPool.from_url(url, **kwargs)
            return pool
