"""Live messages: the one module that owns group names, payloads and publishing.

Every message a client sees has the shape ``{"type", "run", "seq", "ts", "data"}``. Producers
(the worker's reporter, services in the web tier) call the ``publish_*`` functions; those hand
the message to one background thread per process that owns an event loop and a Redis
connection (STACK-NOTES: ``async_to_sync`` per send opens a connection each time). The caller
never waits on the network: transient messages coalesce per key (latest wins) and, beyond a
bounded backlog, the oldest are dropped and counted. Durable events are safe in PostgreSQL
whatever happens here; clients replay them by ``seq``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

from monitoring.models import EventType

log = logging.getLogger(__name__)

# The channel-layer event type consumers handle (``live_message``).
LAYER_EVENT = "live.message"
MAX_BACKLOG = 2000
# The stored timeline types are the durable message types: one list, in the model.
DURABLE_TYPES = frozenset(EventType.values)
TRANSIENT_TYPES = frozenset(
    {"connected", "metrics", "progress", "game_state", "clients", "system", "error", "pong"}
    | {"arena"}
)
ALL_TYPES = DURABLE_TYPES | TRANSIENT_TYPES
BOARD_CACHE_SECONDS = 3600


def run_group(run_id: int) -> str:
    return f"run.{run_id}"


# Status changes and progress of every run, for the dashboards: each connection keeps what its
# user may see (their own runs, those shared with them, public ones; staff: all).
RUNS_GROUP = "runs.all"
SYSTEM_GROUP = "system"
# Every live game's board (self-play, evaluation, league), at most one a second per game: each
# arena connection keeps those of the runs its user may see (``/ws/arena/``).
ARENA_GROUP = "arena"


def board_cache_key(run_id: int) -> str:
    return f"live:board:{run_id}"


def message(
    type_: str, run_id: int | None, data: Mapping[str, Any], seq: int | None = None
) -> dict:
    """A message as clients receive it. ``seq`` is set for durable types only."""
    return {"type": type_, "run": run_id, "seq": seq, "ts": time.time(), "data": dict(data)}


def as_text(msg: Mapping[str, Any]) -> str:
    """A message's JSON text, as a WebSocket frame carries it."""
    return json.dumps(msg, default=str)


def layer_event(msg: Mapping[str, Any], *, owner_id: int | None = None) -> dict:
    """The channel-layer event that carries ``msg`` to the consumers: its JSON text, made once
    here rather than once per watching client, with the type and seq they filter and
    de-duplicate by (a string also unpacks far faster than the nested dict, once per client),
    and the run and its owner, which a dashboard decides by without parsing the text."""
    return {
        "type": LAYER_EVENT,
        "kind": msg["type"],
        "seq": msg.get("seq"),
        "run": msg.get("run"),
        "owner": owner_id,
        "text": as_text(msg),
    }


def relayed_run(event: Mapping[str, Any]) -> tuple[int | None, int | None]:
    """A layer event's (run id, owner id); the owner is None from an older publisher."""
    if "text" in event:
        return event.get("run"), event.get("owner")
    return event["message"].get("run"), None


def relayed(event: Mapping[str, Any]) -> tuple[str, int | None, str]:
    """A layer event's (type, seq, JSON text). An event from a publisher older than
    ``layer_event`` carries the message itself (a worker not yet upgraded during a deploy)."""
    if "text" in event:
        return event["kind"], event["seq"], event["text"]
    msg = event["message"]
    return msg["type"], msg.get("seq"), as_text(msg)


class Publisher:
    """Sends to the channel layer from a background thread; ``publish`` never blocks."""

    def __init__(self, max_backlog: int = MAX_BACKLOG) -> None:
        self.max_backlog = max_backlog
        self.pid = os.getpid()
        self.sent = 0
        self.dropped = 0
        self._lock = threading.Lock()
        self._pending: OrderedDict[Any, tuple[list[str], dict, str | None, int | None]] = (
            OrderedDict()
        )
        self._ids = itertools.count()
        self._idle = threading.Event()
        self._idle.set()
        # The loop and its wake-up event belong to the thread; no executor thread is ever
        # parked in a blocking wait (one would hold up interpreter exit).
        self._loop = asyncio.new_event_loop()
        self._wake = asyncio.Event()
        self._thread = threading.Thread(
            target=self._thread_main, name="live-publisher", daemon=True
        )
        self._thread.start()

    def publish(
        self,
        groups: list[str],
        msg: dict,
        *,
        coalesce_key: Any = None,
        remember_as: str | None = None,
        owner_id: int | None = None,
    ) -> None:
        """Queue ``msg`` for ``groups``. Same ``coalesce_key``: only the latest is sent.
        ``owner_id``: the run's owner, for the dashboards to decide by."""
        with self._lock:
            key = coalesce_key if coalesce_key is not None else ("unique", next(self._ids))
            self._pending.pop(key, None)
            self._pending[key] = (groups, msg, remember_as, owner_id)
            while len(self._pending) > self.max_backlog:
                self._pending.popitem(last=False)
                self.dropped += 1
            self._idle.clear()
        self._loop.call_soon_threadsafe(self._wake.set)

    def figures(self) -> dict[str, int]:
        """Messages waiting now, sent and dropped since the process started."""
        with self._lock:
            return {"backlog": len(self._pending), "sent": self.sent, "dropped": self.dropped}

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything queued so far was sent (or dropped); False on timeout."""
        return self._idle.wait(timeout)

    def _thread_main(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._run())

    async def _run(self) -> None:
        from channels.layers import get_channel_layer
        from django.core.cache import cache

        layer = get_channel_layer()
        while True:
            await self._wake.wait()
            self._wake.clear()
            while True:
                with self._lock:
                    if not self._pending:
                        self._idle.set()
                        break
                    _, (groups, msg, remember_as, owner_id) = self._pending.popitem(last=False)
                for attempt in (1, 2):
                    try:
                        await self._send(layer, cache, groups, msg, remember_as, owner_id)
                        self.sent += 1
                        break
                    except Exception:
                        if attempt == 1:
                            # A connection Redis closed (a restart, a client kill) fails once,
                            # then the client reconnects: the message goes out on the second try.
                            continue
                        # Redis down or slow: drop this one, keep the thread alive.
                        self.dropped += 1
                        log.warning("live message dropped (%s)", msg.get("type"), exc_info=True)
                        await asyncio.sleep(0.5)

    @staticmethod
    async def _send(
        layer: Any,
        cache: Any,
        groups: list[str],
        msg: dict,
        remember_as: str | None,
        owner_id: int | None,
    ) -> None:
        if remember_as:
            await cache.aset(remember_as, msg["data"], BOARD_CACHE_SECONDS)
        event = layer_event(msg, owner_id=owner_id)
        for group in groups:
            await layer.group_send(group, event)


_publisher: Publisher | None = None
_publisher_lock = threading.Lock()


def publisher() -> Publisher:
    """This process's publisher (a forked Celery child gets its own, with its own thread)."""
    global _publisher
    with _publisher_lock:
        if _publisher is None or _publisher.pid != os.getpid():
            _publisher = Publisher()
        return _publisher


def publish_run_message(run_id: int, msg: dict, *, coalesce: bool = False) -> None:
    publisher().publish(
        [run_group(run_id)], msg, coalesce_key=(run_id, msg["type"]) if coalesce else None
    )


def publish_event(
    run_id: int, *, owner_id: int | None, seq: int, type_: str, data: Mapping
) -> None:
    """A durable event to the run's watchers; status events to the dashboards too."""
    groups = [run_group(run_id)]
    if type_ == "status":
        groups.append(RUNS_GROUP)
    publisher().publish(groups, message(type_, run_id, data, seq=seq), owner_id=owner_id)


def publish_metrics(run_id: int, step: int, metrics: Mapping[str, float]) -> None:
    publish_run_message(
        run_id, message("metrics", run_id, {"step": step, "values": dict(metrics)}), coalesce=True
    )


def publish_progress(run_id: int, data: Mapping[str, Any], *, owner_id: int | None = None) -> None:
    """Progress to the run's watchers and, with ``owner_id``, to the dashboards that list
    the run (those of everyone who may see it); per run, only the latest is kept."""
    groups = [run_group(run_id)]
    if owner_id is not None:
        groups.append(RUNS_GROUP)
    publisher().publish(
        groups,
        message("progress", run_id, data),
        coalesce_key=(run_id, "progress"),
        owner_id=owner_id,
    )


def publish_board(run_id: int, snapshot: Mapping[str, Any]) -> None:
    msg = message("game_state", run_id, snapshot)
    publisher().publish(
        [run_group(run_id)],
        msg,
        coalesce_key=(run_id, "game_state"),
        remember_as=board_cache_key(run_id),
    )


def arena_board_key(game: str) -> str:
    return f"live:arena:{game}"


def arena_selfplay_game(run_id: int) -> str:
    """The arena's name of a run's live self-play game (its connected snapshot looks it up)."""
    return f"selfplay:{run_id}"


def publish_arena(run_id: int, *, owner_id: int, game: str, data: Mapping[str, Any]) -> None:
    """A live game's board to the arena (the caller throttles to one a second per ``game``;
    here, per game, only the latest waiting is sent), remembered for the arena's snapshot."""
    msg = message("arena", run_id, {**data, "game": game})
    publisher().publish(
        [ARENA_GROUP],
        msg,
        coalesce_key=("arena", game),
        remember_as=arena_board_key(game),
        owner_id=owner_id,
    )


def publish_clients(run_id: int, round_: int, updates: Sequence[Mapping[str, Any]]) -> None:
    """A federated round's client updates (oldest first) to the run's watchers. Never
    coalesced with the batch before: each carries state changes the panel must not miss."""
    publish_run_message(
        run_id, message("clients", run_id, {"round": round_, "updates": [dict(u) for u in updates]})
    )


def publish_system(stats: Mapping[str, Any]) -> None:
    """One worker's statistics to ``/ws/system/``; per worker, only the latest is kept."""
    publisher().publish(
        [SYSTEM_GROUP],
        message("system", None, stats),
        coalesce_key=("system", stats.get("worker_id")),
    )
