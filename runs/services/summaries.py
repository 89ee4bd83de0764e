"""A run's summary, written once when it ends (completed, stopped, failed or cancelled): why
it ended, how long it took, its best step with that step's metrics, its last metrics, and
the checkpoint to use. Stored on ``Run.summary`` and sent as the run's last durable event
(``summary``), in the transaction of the end itself, so nobody sees one without the other.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.urls import reverse

from keisei.registry import UnknownTrainer, get_trainer
from monitoring.models import EventType, MetricPoint
from monitoring.selectors import metric_values_at, metrics_latest
from monitoring.services import event_record
from runs.models import CheckpointKind, Command, CommandKind, CommandState, Run, RunStatus

# Enough for an aggregate's keys (a federated digits run reports 27), few enough to keep
# the run row and the event small whatever a trainer reports.
SUMMARY_MAX_METRICS = 40
# Per-client series of a federated run: dozens of clients times five keys, for the clients
# panel and its charts, not for a summary of the run.
CLIENT_PREFIX = "clients/"


@dataclass(frozen=True)
class CheckpointRow:
    id: int
    step: int
    kind: str


def run_summary_record(*, run_id: int, actor: str) -> dict[str, Any]:
    """Compute the summary of a run that has just ended, store it on the run and write it as
    the run's last event. Called inside the transaction that ended the run, after its final
    status event; returns the summary."""
    run = Run.objects.get(pk=run_id)
    summary = run_summary_build(run=run)
    Run.objects.filter(pk=run_id).update(summary=summary)
    event_record(
        run_id=run_id,
        type=EventType.SUMMARY,
        message=summary_sentence(summary),
        data=summary,
        actor=actor,
        owner_id=run.owner_id,
    )
    return summary


def run_summary_build(*, run: Run) -> dict[str, Any]:
    """The summary of an ended ``run`` as stored (the shape docs/api.md describes)."""
    latest = {key: point["value"] for key, point in metrics_latest(run_id=run.pk).items()}
    best = _best(run, keys=summary_metrics(latest).keys())
    duration = None
    if run.started_at is not None and run.finished_at is not None:
        duration = round((run.finished_at - run.started_at).total_seconds(), 1)
    checkpoints = [
        CheckpointRow(id=c["id"], step=c["step"], kind=c["kind"])
        for c in run.checkpoints.order_by("-step", "-id").values("id", "step", "kind")
    ]
    chosen = checkpoint_choice(checkpoints, best_step=best["step"] if best else None)
    return {
        "status": run.status,
        "reason": _reason(run),
        "started_at": _iso(run.started_at),
        "finished_at": _iso(run.finished_at),
        "duration_s": duration,
        "step": run.step,
        "total": run.total_steps,
        "best": best,
        "final_metrics": summary_metrics(latest),
        "checkpoint": None
        if chosen is None
        else {
            "id": chosen.id,
            "step": chosen.step,
            "kind": chosen.kind,
            "url": reverse("runs:checkpoint-download", args=[run.pk, chosen.id]),
        },
    }


def _iso(moment: dt.datetime | None) -> str | None:
    """ISO 8601, UTC written "Z", as the API writes a run's times."""
    if moment is None:
        return None
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _best(run: Run, *, keys: Iterable[str]) -> dict[str, Any] | None:
    """The step where the trainer's ``best_metric`` was best (the earliest of equals) and
    the values of ``keys`` at that step; None if the trainer names no such metric or it has
    no point.

    Points a resumed run superseded are deleted when it resumes (``run_resume_from``), so
    every stored point is of the trajectory that stands."""
    try:
        best_metric = get_trainer(run.trainer).best_metric
    except UnknownTrainer:  # a trainer no longer installed: the run still gets a summary
        return None
    if best_metric is None:
        return None
    key, mode = best_metric
    # NaN sorts above every number in PostgreSQL, and an infinity is no achievement:
    # only finite values compete.
    finite = MetricPoint.objects.filter(
        run_id=run.pk, key=key, value__gt=-math.inf, value__lt=math.inf
    )
    point = (
        finite.order_by("-value" if mode == "max" else "value", "step")
        .values("step", "value")
        .first()
    )
    if point is None:
        return None
    # Only the keys the summary keeps (no per-client ones), one block each.
    at_step = metric_values_at(run_id=run.pk, keys=list(keys), step=point["step"])
    return {
        "metric": key,
        "mode": mode,
        "step": point["step"],
        "value": point["value"],
        "metrics": summary_metrics(at_step),
    }


def summary_metrics(values: Mapping[str, float]) -> dict[str, float | None]:
    """At most ``SUMMARY_MAX_METRICS`` keys in key order, per-client keys left out; a value
    that is not finite becomes None (JSON has no NaN)."""
    keys = sorted(key for key in values if not key.startswith(CLIENT_PREFIX))
    return {
        key: values[key] if math.isfinite(values[key]) else None
        for key in keys[:SUMMARY_MAX_METRICS]
    }


def checkpoint_choice(
    checkpoints: Sequence[CheckpointRow], *, best_step: int | None
) -> CheckpointRow | None:
    """The checkpoint to use: the newest best-kind one; else the one at or nearest before
    the best step; else the final one; else the newest."""

    def newest(rows: Sequence[CheckpointRow]) -> CheckpointRow | None:
        return max(rows, key=lambda c: (c.step, c.id), default=None)

    if chosen := newest([c for c in checkpoints if c.kind == CheckpointKind.BEST]):
        return chosen
    if best_step is not None and (
        chosen := newest([c for c in checkpoints if c.step <= best_step])
    ):
        return chosen
    return newest([c for c in checkpoints if c.kind == CheckpointKind.FINAL]) or newest(checkpoints)


def _reason(run: Run) -> str:
    if run.status == RunStatus.COMPLETED:
        return budget_reason(run.step, run.total_steps, unit=budget_unit(run.trainer))
    if run.status == RunStatus.STOPPED:
        return f"stopped by {_asked_by(run, CommandKind.STOP)}"
    if run.status == RunStatus.CANCELLED:
        return f"cancelled before it started (by {_asked_by(run, CommandKind.CANCEL)})"
    return first_line(run.error) or "the run failed"


def _asked_by(run: Run, kind: str) -> str:
    """Who asked for the newest ``kind`` command that was not refused."""
    command = (
        Command.objects.filter(run_id=run.pk, kind=kind)
        .exclude(state=CommandState.REJECTED)
        .select_related("requested_by")
        .order_by("-created_at", "-id")
        .first()
    )
    if command is None:
        return "the system"
    if command.requested_by is None:
        return "a deleted user"
    return str(command.requested_by.get_username())


def budget_unit(trainer: str) -> str:
    """What a trainer's steps count, from its budget field ("epochs", "steps")."""
    try:
        field = get_trainer(trainer).budget_field
    except UnknownTrainer:
        field = None
    if not field:
        return "steps"
    return field.removeprefix("total_").replace("_", " ")


def budget_reason(step: int, total: int, *, unit: str) -> str:
    return f"the budget was spent: {step} of {total or step} {unit}"


def first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def duration_text(seconds: float) -> str:
    """3.2s, 42s, 3m 12s, 2h 5m."""
    if seconds < 10:
        return f"{seconds:.1f}s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m {whole % 60}s"
    return f"{whole // 3600}h {whole % 3600 // 60}m"


def summary_sentence(summary: Mapping[str, Any]) -> str:
    """The summary event's message: "completed in 3m 12s; best charts/val_accuracy 0.962 at
    step 12"."""
    status, reason = summary["status"], summary["reason"]
    seconds = summary["duration_s"]
    took = duration_text(seconds) if seconds is not None else ""
    if status == RunStatus.COMPLETED:
        head = f"completed in {took}" if took else "completed"
    elif status == RunStatus.STOPPED:
        head = f"{reason} after {took}" if took else reason
    elif status == RunStatus.CANCELLED:
        head = reason
    else:
        head = f"failed after {took}: {reason}" if took else f"failed: {reason}"
    best = summary["best"]
    if best is not None:
        head += f"; best {best['metric']} {best['value']:.4g} at step {best['step']}"
    return head
