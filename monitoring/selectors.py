"""Reads of what is observed: latest metrics, series, timeline events."""

from __future__ import annotations

from typing import Any

from django.db.models import Max

from monitoring.models import MetricPoint, RunEvent


def metrics_latest(*, run_id: int) -> dict[str, dict[str, float]]:
    """The last point of every key of a run: ``{key: {"step", "value"}}``."""
    rows = (
        MetricPoint.objects.filter(run_id=run_id)
        .order_by("key", "-step")
        .distinct("key")
        .values_list("key", "step", "value")
    )
    return {key: {"step": step, "value": value} for key, step, value in rows}


def events_after(*, run_id: int, after_seq: int, limit: int = 1000) -> list[RunEvent]:
    return list(RunEvent.objects.filter(run_id=run_id, seq__gt=after_seq).order_by("seq")[:limit])


def events_last_seq(*, run_id: int) -> int:
    return RunEvent.objects.filter(run_id=run_id).aggregate(m=Max("seq"))["m"] or 0


def event_as_message(event: RunEvent) -> dict[str, Any]:
    """A stored event in the live message shape, for replay."""
    return {
        "type": event.type,
        "run": event.run_id,
        "seq": event.seq,
        "ts": event.created_at.timestamp(),
        "data": {"message": event.message, "actor": event.actor, **event.data},
    }
