"""WebSocket connection caps: per Daphne process in memory, per user across processes in Redis."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from django.conf import settings

log = logging.getLogger(__name__)


class ConnectionCaps:
    """Counts open connections: per process in memory, per user in Redis.

    Per user, the count must hold across every Daphne process, so it lives in Redis: a sorted
    set per user whose members are connections (channel names) scored by a lease expiry. This
    process renews its members' leases every ``LEASE_SECONDS / 3``; a process that dies stops
    renewing and its connections drop out within ``LEASE_SECONDS``, so a crash never locks a
    user out (a plain INCR/DECR counter would stay high after a crash until its TTL, and a TTL
    renewed on every connect would never run out). Adding and counting is one MULTI, so two
    simultaneous connections cannot both take the last place. If Redis cannot be reached the
    user cap is not enforced (the per-process cap still is) and the connection is renewed into
    Redis once it is back.
    """

    LEASE_SECONDS = 90.0
    # Redis connections per process. Hundreds of handshakes at once wait for one (up to
    # POOL_TIMEOUT_SECONDS) rather than fail: redis-py's default pool raises "Too many
    # connections" past 100, and a mass disconnect left hundreds of connections counted.
    POOL_SIZE = 32
    POOL_TIMEOUT_SECONDS = 5.0
    RELEASE_ATTEMPTS = 3
    RELEASE_RETRY_SECONDS = 0.2

    def __init__(self) -> None:
        self.process_count = 0
        self.members: dict[int, set[str]] = {}
        self._refresher: asyncio.Task | None = None
        self._client: tuple[asyncio.AbstractEventLoop, Any] | None = None
        # Connections closed but not yet removed from Redis, and the futures their release
        # waits on; one task removes them, a batch per pipeline (see ``release``).
        self._releasing: dict[int, set[str]] = {}
        self._released: list[asyncio.Future[None]] = []
        self._releaser: asyncio.Task | None = None

    def redis(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._client is None or self._client[0] is not loop:  # a client per event loop
            import redis.asyncio

            pool = redis.asyncio.BlockingConnectionPool.from_url(
                settings.REDIS_URL,
                max_connections=self.POOL_SIZE,
                timeout=self.POOL_TIMEOUT_SECONDS,
                socket_timeout=3,
                socket_connect_timeout=3,
            )
            self._client = (loop, redis.asyncio.Redis(connection_pool=pool))
        return self._client[1]

    @staticmethod
    def key(user_id: int) -> str:
        prefix = settings.CACHES["default"].get("KEY_PREFIX") or "keisei"
        return f"{prefix}:ws:user:{user_id}"

    async def acquire(self, user_id: int, member: str) -> str | None:
        """Count a connection in; the reason it may not stay when a cap is reached."""
        max_process = settings.KEISEI_WS_MAX_PER_PROCESS
        if self.process_count >= max_process:
            return f"too many connections to this server (at most {max_process})"
        self.process_count += 1  # before any await: concurrent handshakes see it
        self.members.setdefault(user_id, set()).add(member)
        max_user = settings.KEISEI_WS_MAX_PER_USER
        try:
            now = time.time()
            async with self.redis().pipeline(transaction=True) as pipe:
                pipe.zremrangebyscore(self.key(user_id), "-inf", now)
                pipe.zadd(self.key(user_id), {member: now + self.LEASE_SECONDS})
                pipe.zcard(self.key(user_id))
                pipe.expire(self.key(user_id), int(self.LEASE_SECONDS))
                count = (await pipe.execute())[2]
        except Exception:
            log.warning("per-user connection count unavailable; not enforced", exc_info=True)
            count = 0
        if count > max_user:
            await self.release(user_id, member)
            return f"too many connections for this user (at most {max_user})"
        if self._refresher is None or self._refresher.done():
            self._refresher = asyncio.get_running_loop().create_task(self._renew_leases())
        return None

    async def release(self, user_id: int, member: str) -> None:
        """Count a connection out; returns once Redis has it out too, or gave up. Never raises
        (it runs in every disconnect).

        When hundreds of sockets close at once, their removals go to Redis together: every
        removal waiting when one batch leaves goes in the next pipeline, on one connection,
        rather than one connection each. A batch that fails is tried again a few times; after
        that its leases (``LEASE_SECONDS``) take the connections out of the count.
        """
        self.process_count -= 1
        members = self.members.get(user_id, set())
        members.discard(member)
        if not members:
            self.members.pop(user_id, None)
        loop = asyncio.get_running_loop()
        self._releasing.setdefault(user_id, set()).add(member)
        done = loop.create_future()
        self._released.append(done)
        if self._releaser is None or self._releaser.done() or self._releaser.get_loop() is not loop:
            self._releaser = loop.create_task(self._remove_released())
        await asyncio.shield(done)  # a cancelled disconnect leaves the removal running

    async def _remove_released(self) -> None:
        """Remove closed connections from Redis, a batch at a time, until none is waiting."""
        while self._releasing:
            batch, self._releasing = self._releasing, {}
            waiting, self._released = self._released, []
            try:
                await self._remove(batch)
            finally:  # even when cancelled (shutdown): no disconnect waits forever
                for done in waiting:
                    if not done.done():
                        done.set_result(None)

    async def _remove(self, batch: dict[int, set[str]]) -> None:
        """One pipeline for the batch, tried ``RELEASE_ATTEMPTS`` times; then the leases."""
        error: Exception | None = None
        for attempt in range(1, self.RELEASE_ATTEMPTS + 1):
            try:
                async with self.redis().pipeline(transaction=False) as pipe:
                    for user_id, members in batch.items():
                        pipe.zrem(self.key(user_id), *members)
                    await pipe.execute()
                return
            except Exception as exc:  # Redis away or slow: try again, then leave it
                error = exc
                if attempt < self.RELEASE_ATTEMPTS:
                    await asyncio.sleep(self.RELEASE_RETRY_SECONDS * attempt)
        log.warning(
            "could not remove %d connections from the per-user count; their leases run out "
            "within %.0f s",
            sum(map(len, batch.values())),
            self.LEASE_SECONDS,
            exc_info=error,
        )

    async def _renew_leases(self) -> None:
        """Renew this process's leases while it has connections; ends when it has none."""
        while self.members:
            await asyncio.sleep(self.LEASE_SECONDS / 3)
            expires = time.time() + self.LEASE_SECONDS
            renewed = {user_id: set(members) for user_id, members in self.members.items()}
            try:
                async with self.redis().pipeline(transaction=False) as pipe:
                    for user_id, members in renewed.items():
                        pipe.zadd(self.key(user_id), dict.fromkeys(members, expires))
                        pipe.expire(self.key(user_id), int(self.LEASE_SECONDS))
                    await pipe.execute()
                    # A connection that closed while this ran may have been added back: the
                    # renewal and its removal race on different Redis connections.
                    for user_id, members in renewed.items():
                        gone = members - self.members.get(user_id, set())
                        if gone:
                            pipe.zrem(self.key(user_id), *gone)
                    await pipe.execute()
            except Exception:
                log.warning("could not renew connection leases", exc_info=True)


caps = ConnectionCaps()  # one per process: the per-process count lives here
