"""Per-user request throttling of the API (``KEISEI_API_RATE``, default 1200/min).

DRF's ``UserRateThrottle`` keeps each user's recent request times in the cache (Redis). Two
choices of ours: the rate is read from settings at each request (so a test or an operator's
override takes effect without a restart of the class), and a cache that cannot be reached
lets the request through: throttling protects the site, it must not take it down with Redis.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from redis import RedisError
from rest_framework.throttling import UserRateThrottle

log = logging.getLogger(__name__)


class ApiUserThrottle(UserRateThrottle):
    """At most ``KEISEI_API_RATE`` requests per user (per client address when anonymous);
    the refusal is 429 ``throttled`` with ``Retry-After``."""

    scope = "user"

    def get_rate(self) -> str | None:
        return settings.KEISEI_API_RATE

    def allow_request(self, request: Any, view: Any) -> bool:
        # The rate may have changed since __init__ parsed it (settings overridden).
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        try:
            return super().allow_request(request, view)
        except (RedisError, OSError):
            log.warning("request throttling skipped: the cache is unreachable", exc_info=True)
            return True
