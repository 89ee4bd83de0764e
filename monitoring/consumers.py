"""WebSocket consumers: authenticate, join groups, relay. No business logic here."""

from __future__ import annotations

import json
import logging
import time
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.core.cache import cache

from monitoring import access, live, selectors, worker_store
from monitoring.connection_caps import caps
from monitoring.message_rate import MessageBucket

log = logging.getLogger(__name__)

MAX_CLIENT_MESSAGE_BYTES = 64 * 1024
# 4000 + RFC 6455's code: Daphne's WebSocket library lets an application close only with 1000
# or 3000-4999 (1008 or 1009 would reach the client as 1011), and Daphne drops the close
# reason, so the reason goes first as an ``error`` message (docs/websocket.md).
CLOSE_OVER_CAP = 4008
CLOSE_TOO_BIG = 4009
CLOSE_TOO_FAST = 4029  # over KEISEI_WS_MESSAGE_RATE (HTTP's 429)
MAX_CACHED_RUN_ANSWERS = 1000
# How long a dashboard trusts its answer to "may this user see run N?" (sharing can change).
RUN_ANSWER_SECONDS = 10.0


def is_signed_in(user: Any) -> bool:
    return bool(user is not None and getattr(user, "is_authenticated", False) and user.is_active)


class LiveConsumer(AsyncWebsocketConsumer):
    """Shared protocol: ping, subscribe/unsubscribe by type, errors that keep the socket open."""

    groups_to_join: list[str]

    async def connect(self) -> None:
        self.subscribed: set[str] = set(live.ALL_TYPES)
        self.joined: list[str] = []
        self.sent_seqs: set[int] = set()  # durable events this connection has had
        self.last_seq = 0  # the highest seq this connection has had (or its snapshot named)
        self.counted_for: int | None = None  # the user this connection is counted against
        rate = settings.KEISEI_WS_MESSAGE_RATE
        self.bucket = MessageBucket(rate, 2 * rate)
        self.refused_for_rate = False

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Relay a live message without Channels' old-connection check.

        ``AsyncConsumer.dispatch`` runs ``close_old_connections`` in a thread before every
        handler: a hop through the one thread ``sync_to_async`` shares, per message per client,
        the largest cost in a profile of Daphne under bench/fanout.py. Skipping it is safe here:
        the relay itself does no ORM work, and where it does reach the database (a gap's
        replay, a run's visibility) it goes through ``database_sync_to_async``, which closes
        old connections around the call itself. Every other handler (connect, receive,
        disconnect) keeps Channels' check.
        """
        if message["type"] == live.LAYER_EVENT:
            await self.live_message(message)
        else:
            await super().dispatch(message)

    async def admit(self) -> bool:
        """Accept the handshake, then close with 4008 and the reason if a cap is reached.

        Accepting first lets the client read the code and the reason (a refused handshake is
        a bare HTTP 403), so it knows not to retry at once.
        """
        await self.accept()
        user_id = self.scope["user"].pk
        reason = await caps.acquire(user_id, self.channel_name)
        if reason is not None:
            log.info("websocket closed for user %s: %s", user_id, reason)
            await self.close_with("too_many_connections", reason, CLOSE_OVER_CAP)
            return False
        self.counted_for = user_id
        return True

    async def join(self, groups: list[str]) -> None:
        for group in groups:
            await self.channel_layer.group_add(group, self.channel_name)
            self.joined.append(group)

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)
        user_id = getattr(self, "counted_for", None)
        if user_id is not None:
            self.counted_for = None
            await caps.release(user_id, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.refused_for_rate:
            return  # closing: what the client sent after the refusal is dropped
        if not self.bucket.allow():
            self.refused_for_rate = True
            rate = settings.KEISEI_WS_MESSAGE_RATE
            detail = f"at most {rate} messages a second (KEISEI_WS_MESSAGE_RATE)"
            await self.close_with("too_fast", detail, CLOSE_TOO_FAST)
            return
        raw = text_data if text_data is not None else (bytes_data or b"").decode("utf-8", "replace")
        if len(raw.encode("utf-8")) > MAX_CLIENT_MESSAGE_BYTES:
            detail = f"a message may be at most {MAX_CLIENT_MESSAGE_BYTES} bytes"
            await self.close_with("too_big", detail, CLOSE_TOO_BIG)
            return
        try:
            content = json.loads(raw)
        except json.JSONDecodeError:
            await self.send_error("malformed", "messages must be JSON objects")
            return
        if not isinstance(content, dict) or not isinstance(content.get("action"), str):
            await self.send_error("malformed", "a message needs a string field 'action'")
            return
        await self.handle_action(content["action"], content)

    async def handle_action(self, action: str, content: dict[str, Any]) -> None:
        if action == "ping":
            await self.send_json(live.message("pong", self.run_id_or_none(), {}))
        elif action in {"subscribe", "unsubscribe"}:
            types = content.get("types")
            if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
                await self.send_error("invalid", "'types' must be a list of message type names")
                return
            unknown = sorted(set(types) - live.ALL_TYPES)
            if unknown:
                await self.send_error("invalid", f"unknown message types: {', '.join(unknown)}")
                return
            if action == "subscribe":
                self.subscribed |= set(types)
            else:
                self.subscribed -= set(types)
        else:
            await self.send_error("unknown_action", f"unknown action {action!r}")

    def run_id_or_none(self) -> int | None:
        return None

    async def send_json(self, content: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(content, default=str))

    async def send_error(self, code: str, detail: str) -> None:
        await self.send_json(
            live.message("error", self.run_id_or_none(), {"code": code, "detail": detail})
        )

    async def close_with(self, code: str, detail: str, close_code: int) -> None:
        """An ``error`` saying why, then the close (the reason rides along for servers that
        pass it on; Daphne 4.2 does not)."""
        await self.send_error(code, detail)
        await self.close(code=close_code, reason=detail)

    async def live_message(self, event: dict[str, Any]) -> None:
        kind, seq, text = live.relayed(event)
        if seq is not None:
            # A replay may already have sent it (the group is joined before the replay runs).
            if seq in self.sent_seqs:
                return
            if await self.fill_gap_before(seq):
                return  # the replay sent it, in order
            self.sent_seqs.add(seq)
            self.last_seq = max(self.last_seq, seq)
        if kind in self.subscribed:
            await self.send(text_data=text)  # serialized once, by the publisher

    async def fill_gap_before(self, seq: int) -> bool:
        """Durable events that never arrived live (lost while Redis was away): none here."""
        return False


class RunConsumer(LiveConsumer):
    """``/ws/runs/<id>/``: one run's live messages, after a ``connected`` snapshot."""

    async def connect(self) -> None:
        await super().connect()
        self.run_id = int(self.scope["url_route"]["kwargs"]["run_id"])
        user = self.scope.get("user")
        if not await database_sync_to_async(access.user_may_view_run)(user, self.run_id):
            log.info("websocket refused: %s may not watch run %s", user, self.run_id)
            await self.close()  # before accept: the handshake is answered 403
            return
        after_seq = query_param(self.scope, "after_seq")
        if not await self.admit():
            return
        # Join before reading the snapshot and the replay, so nothing falls between them.
        await self.join([live.run_group(self.run_id)])
        snapshot = await self.snapshot()
        # The page or client holds the history up to the snapshot's seq; a gap after it is
        # the server's to fill, not the client's.
        self.last_seq = snapshot["data"]["last_seq"]
        await self.send_json(snapshot)
        if after_seq is not None:
            if not after_seq.isdigit():
                await self.send_error("invalid", "after_seq must be a non-negative integer")
            else:
                await self.replay(int(after_seq))

    async def handle_action(self, action: str, content: dict[str, Any]) -> None:
        if action != "resume":
            await super().handle_action(action, content)
            return
        after_seq = content.get("after_seq")
        if not isinstance(after_seq, int) or isinstance(after_seq, bool) or after_seq < 0:
            await self.send_error("invalid", "'after_seq' must be a non-negative integer")
            return
        await self.replay(after_seq)

    async def replay(self, after_seq: int) -> None:
        """Send the stored durable events after ``after_seq`` this connection has not had."""
        cursor = after_seq
        while True:
            events = await database_sync_to_async(selectors.events_after)(
                run_id=self.run_id, after_seq=cursor
            )
            if not events:
                return
            for event in events:
                cursor = event.seq
                self.last_seq = max(self.last_seq, event.seq)
                if event.seq in self.sent_seqs:
                    continue
                self.sent_seqs.add(event.seq)
                if event.type in self.subscribed:
                    await self.send_json(selectors.event_as_message(event))

    async def fill_gap_before(self, seq: int) -> bool:
        """A live durable event beyond the next one expected means some never arrived live
        (published while Redis was away, so lost to pub/sub; PostgreSQL has them): send them
        from the store, in order, with this one. Events are visible in seq order (see
        ``event_record``), so the store has every seq up to this one."""
        if seq <= self.last_seq + 1:
            return False
        log.info("run %s: seq %s after %s; replaying the gap", self.run_id, seq, self.last_seq)
        await self.replay(self.last_seq)
        return seq in self.sent_seqs

    def run_id_or_none(self) -> int | None:
        return self.run_id

    async def snapshot(self) -> dict[str, Any]:
        data = await database_sync_to_async(self._snapshot_data)()
        data["board"] = await cache.aget(live.board_cache_key(self.run_id))
        return live.message("connected", self.run_id, data)

    def _snapshot_data(self) -> dict[str, Any]:
        run = access.run_snapshot(self.run_id) or {}
        return {
            "run": run,
            "metrics": selectors.metrics_latest(run_id=self.run_id),
            "last_seq": selectors.events_last_seq(run_id=self.run_id),
        }


class DashboardConsumer(LiveConsumer):
    """``/ws/runs/``: status changes of every run the user may see, after a ``connected``
    list of their queued, running and paused runs. Each message's ``run`` names its run."""

    async def connect(self) -> None:
        await super().connect()
        user = self.scope.get("user")
        if not is_signed_in(user):
            await self.close()  # before accept: the handshake is answered 403
            return
        if not await self.admit():
            return
        self.user_id, self.sees_all = user.pk, bool(user.is_staff)
        self.run_answers: dict[int, tuple[bool, float]] = {}
        # One group carries every run's status and progress; this connection keeps the runs
        # its user may see: their own, those shared with them, public ones (staff: all).
        await self.join([live.RUNS_GROUP])
        runs = await database_sync_to_async(access.visible_active_runs)(user)
        await self.send_json(live.message("connected", None, {"runs": runs}))

    async def live_message(self, event: dict[str, Any]) -> None:
        # Sequence numbers are per run, so the run consumer's de-duplication by seq does not
        # apply here; one group per connection means nothing arrives twice.
        kind, _, text = live.relayed(event)
        if kind in self.subscribed and await self.may_see(*live.relayed_run(event)):
            await self.send(text_data=text)

    async def may_see(self, run_id: int | None, owner_id: int | None) -> bool:
        """Whether this user may see the run: the owner and staff at once; anyone else asks
        the access rules, once per run per ``RUN_ANSWER_SECONDS`` (a share made or withdrawn
        is followed within that time)."""
        if self.sees_all or (owner_id is not None and owner_id == self.user_id):
            return True
        if run_id is None:
            return False
        now = time.monotonic()
        answer = self.run_answers.get(run_id)
        if answer is None or now - answer[1] > RUN_ANSWER_SECONDS:
            if len(self.run_answers) >= MAX_CACHED_RUN_ANSWERS:
                self.run_answers.clear()
            visible = await database_sync_to_async(access.user_may_view_run)(
                self.scope["user"], int(run_id)
            )
            answer = self.run_answers[run_id] = (visible, now)
        return answer[0]


class ArenaConsumer(DashboardConsumer):
    """``/ws/arena/``: the boards of every live game (self-play, evaluation, league) of the
    runs the user may see, each at most once a second (its producer throttles), after a
    ``connected`` snapshot of the self-play boards of their running runs. Evaluation and
    league games join with their next board."""

    async def connect(self) -> None:
        await LiveConsumer.connect(self)
        user = self.scope.get("user")
        if not is_signed_in(user):
            await self.close()  # before accept: the handshake is answered 403
            return
        if not await self.admit():
            return
        self.user_id, self.sees_all = user.pk, bool(user.is_staff)
        self.run_answers = {}
        await self.join([live.ARENA_GROUP])
        runs = await database_sync_to_async(access.visible_active_runs)(user)
        games = []
        for run in runs:
            board = await cache.aget(live.arena_board_key(live.arena_selfplay_game(run["id"])))
            if board and run.get("status") == "running":
                games.append({**board, "run": run["id"]})
        await self.send_json(live.message("connected", None, {"games": games}))

    async def live_message(self, event: dict[str, Any]) -> None:
        kind, _, text = live.relayed(event)
        if kind != "arena" or "arena" not in self.subscribed:
            return
        if await self.may_see(*live.relayed_run(event)):
            await self.send(text_data=text)


class SystemConsumer(LiveConsumer):
    """``/ws/system/``: every worker's statistics, for any signed-in user. A worker's current
    run is named only to people who may see that run (asked once per run per connection)."""

    async def connect(self) -> None:
        await super().connect()
        self.run_answers: dict[int, bool] = {}
        user = self.scope.get("user")
        if not is_signed_in(user):
            await self.close()
            return
        if not await self.admit():
            return
        await self.join([live.SYSTEM_GROUP])
        try:
            workers = await database_sync_to_async(worker_store.workers_latest)()
        except Exception:  # Redis away: the live messages fill the page once it is back
            log.warning("worker statistics unavailable for a connected snapshot", exc_info=True)
            workers = []
        data = {
            "interval": worker_store.interval_seconds(),
            "workers": [await self.as_seen(stats) for stats in workers],
        }
        await self.send_json(live.message("connected", None, data))

    async def as_seen(self, stats: dict[str, Any]) -> dict[str, Any]:
        run_id = stats.get("run")
        if run_id is None:
            return stats
        if run_id not in self.run_answers:
            if len(self.run_answers) >= MAX_CACHED_RUN_ANSWERS:
                self.run_answers.clear()
            self.run_answers[run_id] = await database_sync_to_async(access.user_may_view_run)(
                self.scope["user"], int(run_id)
            )
        return selectors.strip_run(stats, visible=self.run_answers[run_id])

    async def live_message(self, event: dict[str, Any]) -> None:
        kind, _, text = live.relayed(event)
        if kind != "system" or "system" not in self.subscribed:
            return
        # Parsed per connection: what a worker's run shows depends on who watches (one report
        # per worker every couple of seconds, so this stays cheap).
        msg = json.loads(text)
        await self.send_json({**msg, "data": await self.as_seen(msg["data"])})


def query_param(scope: dict[str, Any], name: str) -> str | None:
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get(name)
    return values[-1] if values else None
