"""How many messages a WebSocket client may send (``KEISEI_WS_MESSAGE_RATE`` a second, bursts
of twice that): a token bucket per connection, refilled by the clock.

A client's messages are cheap (ping, subscribe), but each costs the web process a JSON parse
and a reply; a loop sending them as fast as a socket carries would take a core from everyone
else on that process.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class MessageBucket:
    """``allow()`` is False once a client has sent more than ``rate`` a second on average,
    after a burst of ``burst``."""

    def __init__(
        self, rate: float, burst: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate, self.burst, self.clock = rate, burst, clock
        self.tokens = burst
        self.at = clock()

    def allow(self) -> bool:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True
