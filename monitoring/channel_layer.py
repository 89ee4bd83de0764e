"""The Channels layer: channels_redis's pub/sub layer, with subscriptions that survive a
dropped Redis connection.

When Redis drops its connections (a restart, a failover, a proxy's idle timeout), the layer's
receive loop reconnects within about a second; until it has, the first subscription made on
the dead connection fails, and the WebSocket handshake that asked for it answers 500. A
subscription is idempotent, so it is simply tried again on a fresh connection.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import redis.exceptions
from channels_redis.pubsub import RedisPubSubChannelLayer

log = logging.getLogger(__name__)

ATTEMPTS = 3
RETRY_DELAY_SECONDS = 0.1
DROPPED = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, ConnectionError)


class ReconnectingPubSubChannelLayer(RedisPubSubChannelLayer):
    async def new_channel(self, prefix: str = "specific.") -> str:
        return await self._subscribing("new_channel", prefix)

    async def group_add(self, group: str, channel: str) -> None:
        await self._subscribing("group_add", group, channel)

    async def _subscribing(self, name: str, *args: Any) -> Any:
        # One layer per event loop, as the parent's proxy does; the last try's error is raised.
        for attempt in range(1, ATTEMPTS):
            try:
                return await getattr(self._get_layer(), name)(*args)
            except DROPPED as exc:
                log.warning("Redis dropped the connection under %s (%s); trying again", name, exc)
                await asyncio.sleep(RETRY_DELAY_SECONDS * attempt)
        return await getattr(self._get_layer(), name)(*args)
