"""Connection caps as a client meets them: a Daphne of its own with small caps, real sockets.
Over a cap the client reads an ``error`` saying why, then the close code 4008."""

from __future__ import annotations

import asyncio
import time
from contextlib import AsyncExitStack

import pytest

from monitoring.connection_caps import ConnectionCaps
from tests.support.servers import start_daphne
from tests.support.sockets import close_of, connect, receive, token_for
from tests.support.waiting import until

pytestmark = pytest.mark.django_db(transaction=True)

MAX_PER_USER = 2
MAX_PER_PROCESS = 4


@pytest.fixture(scope="module")
def capped_daphne(servers_env):
    env = {
        **servers_env,
        "KEISEI_WS_MAX_PER_USER": str(MAX_PER_USER),
        "KEISEI_WS_MAX_PER_PROCESS": str(MAX_PER_PROCESS),
    }
    daphne, base = start_daphne(env)
    yield base
    daphne.stop()


async def open_socket(stack: AsyncExitStack, base: str, path: str, token: str):
    """A connection that was let in (its first message is ``connected``). Tried again for a
    while: Daphne counts a connection out only once it has seen it close, which may come just
    after the previous test ended."""
    deadline = time.monotonic() + 30
    while True:
        ws = await stack.enter_async_context(connect(base, path, token))
        first = await receive(ws)
        if first["type"] == "connected":
            return ws
        assert time.monotonic() < deadline, f"never let in: {first}"
        await ws.close()
        await asyncio.sleep(0.2)  # the poll interval of this deadline wait


async def refused(base: str, path: str, token: str) -> tuple[dict, int | None]:
    """The error message and close code of a connection over a cap."""
    async with connect(base, path, token) as ws:
        error = await receive(ws)  # accepted first, so the client can read why
        code, _ = await close_of(ws)
    return error, code


def test_a_connection_over_the_per_user_cap_is_closed_with_4008(capped_daphne, owner, outsider):
    olivia, oscar = token_for(owner), token_for(outsider)

    async def scenario() -> None:
        async with AsyncExitStack() as stack:
            first = await open_socket(stack, capped_daphne, "/ws/runs/", olivia)
            await open_socket(stack, capped_daphne, "/ws/system/", olivia)  # every endpoint counts
            error, code = await refused(capped_daphne, "/ws/runs/", olivia)
            assert code == 4008
            assert (error["type"], error["data"]["code"]) == ("error", "too_many_connections")
            assert error["data"]["detail"] == (
                f"too many connections for this user (at most {MAX_PER_USER})"
            )
            await open_socket(stack, capped_daphne, "/ws/runs/", oscar)  # not held back by hers
            await first.close()
            # A closed connection gives its place back (once Daphne has seen it close).
            await until(lambda: reopened(capped_daphne, olivia), timeout=30, what="the place freed")

    asyncio.run(scenario())


async def reopened(base: str, token: str) -> bool:
    async with connect(base, "/ws/runs/", token) as ws:
        return (await receive(ws))["type"] == "connected"


def test_a_connection_over_the_per_process_cap_is_closed_with_4008(
    capped_daphne, owner, outsider, staff
):
    tokens = [token_for(user) for user in (owner, outsider)]

    stella = token_for(staff)

    async def scenario() -> tuple[dict, int | None]:
        async with AsyncExitStack() as stack:
            for token in tokens:
                for _ in range(MAX_PER_PROCESS // len(tokens)):
                    await open_socket(stack, capped_daphne, "/ws/runs/", token)
            return await refused(capped_daphne, "/ws/system/", stella)

    error, code = asyncio.run(scenario())
    assert code == 4008
    assert error["data"] == {
        "code": "too_many_connections",
        "detail": f"too many connections to this server (at most {MAX_PER_PROCESS})",
    }


def test_a_dead_processs_connections_do_not_lock_a_user_out(capped_daphne, owner):
    """A connection counted by a Daphne process that was killed: its lease ran out and nobody
    renews it, so Olivia's two places are both hers."""
    caps, token = ConnectionCaps(), token_for(owner)

    async def scenario() -> tuple[dict, int | None]:
        redis = caps.redis()
        await redis.zadd(caps.key(owner.pk), {"specific.dead-process!1": time.time() - 1})
        async with AsyncExitStack() as stack:
            for _ in range(MAX_PER_USER):
                await open_socket(stack, capped_daphne, "/ws/runs/", token)
            return await refused(capped_daphne, "/ws/runs/", token)  # the cap still holds

    _, code = asyncio.run(scenario())
    assert code == 4008


@pytest.mark.asyncio(loop_scope="session")
async def test_a_processs_leases_are_renewed_while_its_connections_are_open(owner, settings):
    """The count itself (no socket): a lease is renewed before it runs out, so an open
    connection keeps its place past its first lease."""
    settings.KEISEI_WS_MAX_PER_USER = 1
    caps = ConnectionCaps()
    caps.LEASE_SECONDS = 1.5
    redis, key = caps.redis(), caps.key(owner.pk)
    assert await caps.acquire(owner.pk, "specific.open!1") is None
    granted = await redis.zscore(key, "specific.open!1")
    await until(lambda: time.time() > granted + 0.5, timeout=10, what="the first lease to expire")
    assert await redis.zscore(key, "specific.open!1") > granted
    assert await caps.acquire(owner.pk, "specific.extra!2") == (
        "too many connections for this user (at most 1)"
    )
    await caps.release(owner.pk, "specific.open!1")
    assert await redis.zcard(key) == 0


BURST = 300  # sockets closed at once: three times redis-py's default pool of 100 connections


@pytest.fixture(scope="module")
def burst_daphne(servers_env):
    """A Daphne whose per-user cap is exactly BURST: one stale entry refuses the next connect."""
    env = {
        **servers_env,
        "KEISEI_WS_MAX_PER_USER": str(BURST),
        "KEISEI_WS_MAX_PER_PROCESS": str(2 * BURST),
    }
    daphne, base = start_daphne(env)
    yield base
    daphne.stop()


def test_a_mass_disconnect_gives_every_place_back_at_once(burst_daphne, owner):
    """Hundreds of sockets of one user close together: each is counted out of Redis (not left
    to its 90 s lease), so the count is back to 0 and the user's next connect is let in."""
    caps, token = ConnectionCaps(), token_for(owner)

    async def scenario() -> dict:
        redis, key = caps.redis(), caps.key(owner.pk)
        gate = asyncio.Semaphore(50)  # handshakes in flight; the sockets all stay open

        async def one(stack: AsyncExitStack):
            async with gate:
                return await open_socket(stack, burst_daphne, "/ws/runs/", token)

        async with AsyncExitStack() as stack:
            sockets = await asyncio.gather(*(one(stack) for _ in range(BURST)))
            assert await redis.zcard(key) == BURST
            await asyncio.gather(*(ws.close() for ws in sockets))
        await until(
            lambda: _count_is(redis, key, 0),
            timeout=20,  # well under the lease: a count left to the lease would still be BURST
            what="the per-user count back to 0",
        )
        async with connect(burst_daphne, "/ws/runs/", token) as ws:
            return await receive(ws)  # not retried: the first try is let in

    assert asyncio.run(scenario())["type"] == "connected"


async def _count_is(redis, key: str, expected: int) -> bool:
    return await redis.zcard(key) == expected
