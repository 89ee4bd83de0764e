"""The reporter: engine callbacks in, PostgreSQL rows and live messages out.

It runs on the training thread, so it does little there: metric points are buffered and
written with COPY at most about once a second; live metrics, progress and the board are
throttled and handed to the background publisher.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Mapping
from typing import Any

from django.conf import settings

from keisei.interfaces import CheckpointInfo
from monitoring import live
from monitoring.models import EventType
from monitoring.services import MetricRow, event_record, metrics_record

log = logging.getLogger(__name__)

FLUSH_SECONDS = 1.0
FLUSH_POINTS = 20_000


class Throttle:
    """True at most once per ``interval`` seconds."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._last = float("-inf")

    def ready(self) -> bool:
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            return True
        return False


class Reporter:
    """Implements ``keisei.Callbacks`` for one run on a worker."""

    def __init__(self, *, run_id: int, owner_id: int | None, actor: str) -> None:
        self.run_id = run_id
        self.owner_id = owner_id
        self.actor = actor
        self._points: list[MetricRow] = []
        self._last_flush = time.monotonic()
        self._metrics_throttle = Throttle(settings.KEISEI_LIVE_METRICS_INTERVAL)
        self._board_throttle = Throttle(settings.KEISEI_LIVE_BOARD_INTERVAL)
        self._pending_live: dict[str, float] = {}
        self._pending_step = 0

    # ----- keisei.Callbacks ----------------------------------------------------------------

    def on_status(self, status: str, message: str = "") -> None:
        self.on_event(EventType.LOG, message or f"trainer is {status}")

    def on_progress(self, step: int, total: int) -> None:
        live.publish_progress(self.run_id, progress_payload(step, total))

    def on_metrics(self, step: int, metrics: Mapping[str, float]) -> None:
        wall = dt.datetime.now(dt.UTC)
        self._points.extend((key, step, float(value), wall) for key, value in metrics.items())
        self._pending_live.update(metrics)
        self._pending_step = step
        if self._metrics_throttle.ready():
            self._publish_metrics()
        if (
            len(self._points) >= FLUSH_POINTS
            or time.monotonic() - self._last_flush >= FLUSH_SECONDS
        ):
            self.flush()

    def on_event(self, kind: str, message: str, data: Mapping[str, Any] | None = None) -> None:
        type_ = kind if kind in EventType.values else EventType.LOG
        payload = dict(data or {})
        if type_ != kind:
            payload["kind"] = kind
        event_record(
            run_id=self.run_id,
            type=type_,
            message=message,
            data=payload,
            actor=self.actor,
            owner_id=self.owner_id,
        )

    def on_checkpoint(self, info: CheckpointInfo) -> None:
        self.on_event(
            EventType.CHECKPOINT,
            f"{info.kind} checkpoint at step {info.step}",
            {"step": info.step, "kind": info.kind, "metrics": dict(info.metrics)},
        )

    def on_board(self, snapshot: Mapping[str, Any]) -> None:
        if self._board_throttle.ready():
            live.publish_board(self.run_id, snapshot)

    # ----- lifecycle -----------------------------------------------------------------------

    def _publish_metrics(self) -> None:
        if self._pending_live:
            live.publish_metrics(self.run_id, self._pending_step, self._pending_live)
            self._pending_live = {}

    def flush(self) -> None:
        """Write buffered points now (one COPY)."""
        points, self._points = self._points, []
        self._last_flush = time.monotonic()
        if points:
            metrics_record(run_id=self.run_id, points=points)

    def close(self) -> None:
        """Write what is buffered and let the last live messages go out."""
        self.flush()
        self._publish_metrics()
        live.publisher().flush(timeout=5.0)


def progress_payload(step: int, total: int) -> dict[str, Any]:
    fraction = min(1.0, step / total) if total > 0 else 0.0
    return {"step": step, "total": total, "progress": fraction}
