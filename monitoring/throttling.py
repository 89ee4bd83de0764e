"""Per-user request throttling of the API (``KEISEI_API_RATE``, default 1200/min).

A sliding-window counter in Redis (the estimate of the last ``duration`` seconds is this
window's count plus the previous window's, weighted by how much of it still overlaps), checked
and counted by one Lua script: one round trip of a few bytes, whatever the rate. DRF's
``UserRateThrottle`` keeps every request's time in one cached list that is read and written
whole on each request: at the rates ``bench/api.py`` offers that list held tens of thousands
of entries, and pickling it twice a request was what stopped the API near 150 requests/s.

Our choices: the rate is read from settings at each request (a test or an operator's override
takes effect without restarting anything); the clock is Redis's, so several web hosts agree; a
refused request is not counted, so a client that waits out ``Retry-After`` gets in; and a
Redis that cannot be reached lets the request through: throttling protects the site, it must
not take it down with Redis.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import redis
from django.conf import settings
from redis import RedisError
from rest_framework.throttling import SimpleRateThrottle

from monitoring.cache_pool import SharedConnectionPool

log = logging.getLogger(__name__)

# KEYS[1]: the caller's key prefix. ARGV: limit, window in ms.
# Returns {allowed (0/1), this window's count, the previous window's count, ms into this window}.
SLIDING_WINDOW = """
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local index = math.floor(now_ms / window)
local elapsed = now_ms - index * window
local current_key = KEYS[1] .. ':' .. index
local current = tonumber(redis.call('GET', current_key) or '0')
local previous = tonumber(redis.call('GET', KEYS[1] .. ':' .. (index - 1)) or '0')
-- Rounded up: a request of the previous window counts whole until its weight is gone, so a
-- burst that straddles two windows is never let past the limit early.
if math.ceil(previous * (window - elapsed) / window) + current >= limit then
  return {0, current, previous, elapsed}
end
redis.call('INCR', current_key)
redis.call('PEXPIRE', current_key, 2 * window)
return {1, current + 1, previous, elapsed}
"""


def seconds_until_allowed(
    *, limit: int, window_s: float, current: int, previous: int, elapsed_s: float
) -> float:
    """How long until the sliding estimate drops below ``limit`` if nothing more is sent."""
    if current < limit and previous > 0:
        # Still in this window: ceil(previous * (window - elapsed - t) / window) + current
        # < limit, that is previous * (window - elapsed - t) / window <= limit - current - 1.
        return max(0.0, window_s * (1 - (limit - current - 1) / previous) - elapsed_s)
    # Into the next window, where this window's count becomes the weighted one.
    return (window_s - elapsed_s) + max(0.0, window_s * (1 - limit / max(current, 1)))


class ApiUserThrottle(SimpleRateThrottle):
    """At most ``KEISEI_API_RATE`` requests per user (per client address when anonymous);
    the refusal is 429 ``throttled`` with ``Retry-After``."""

    scope = "user"
    _script: Any = None

    def __init__(self) -> None:  # SimpleRateThrottle's reads the rate once; ours each request
        self._wait: float | None = None

    def get_rate(self) -> str | None:
        return settings.KEISEI_API_RATE

    def get_cache_key(self, request: Any, view: Any) -> str:
        who = request.user.pk if request.user and request.user.is_authenticated else None
        ident = f"u{who}" if who is not None else f"a{self.get_ident(request)}"
        prefix = settings.CACHES["default"].get("KEY_PREFIX", "")
        return f"{prefix}:throttle:{self.scope}:{ident}"

    @classmethod
    def script(cls) -> Any:
        if cls._script is None:
            pool = SharedConnectionPool.from_url(settings.REDIS_URL)  # the cache's own pool
            cls._script = redis.Redis(connection_pool=pool).register_script(SLIDING_WINDOW)
        return cls._script

    def allow_request(self, request: Any, view: Any) -> bool:
        rate = self.get_rate()
        if rate is None:
            return True
        limit, window_s = self.parse_rate(rate)
        assert limit is not None and window_s is not None
        try:
            allowed, current, previous, elapsed_ms = self.script()(
                keys=[self.get_cache_key(request, view)], args=[limit, int(window_s * 1000)]
            )
        except (RedisError, OSError):
            log.warning("request throttling skipped: the cache is unreachable", exc_info=True)
            return True
        if allowed:
            return True
        self._wait = seconds_until_allowed(
            limit=limit,
            window_s=window_s,
            current=int(current),
            previous=int(previous),
            elapsed_s=int(elapsed_ms) / 1000,
        )
        return False

    def wait(self) -> float | None:
        # DRF rounds Retry-After up to whole seconds; never tell a client 0.
        return None if self._wait is None else max(1.0, math.ceil(self._wait))
