"""Reads of runs, and the one access rule: a run is seen by its owner and by staff."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db.models import Q, QuerySet

from monitoring.history import compare_run_ids, metric_compare, metric_keys
from runs.models import Checkpoint, GameRecord, Preset, Run, RunStatus


def run_list_visible(*, user: Any) -> QuerySet[Run]:
    """Every run ``user`` may see, newest first."""
    runs = Run.objects.select_related("owner")
    if user.is_staff:
        return runs.all()
    return runs.filter(owner=user)


def run_get_visible(*, user: Any, run_id: int) -> Run:
    """The run if ``user`` may see it; ``Run.DoesNotExist`` otherwise, so it looks absent."""
    return run_list_visible(user=user).get(pk=run_id)


def run_may_view(user: Any, run_id: int) -> bool:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return run_list_visible(user=user).filter(pk=run_id).exists()


def run_list_visible_active(user: Any, limit: int = 100) -> list[dict[str, Any]]:
    """The queued, running and paused runs ``user`` may see, newest first (the dashboard)."""
    active = (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.PAUSED)
    runs = run_list_visible(user=user).filter(status__in=active).order_by("-created_at", "-pk")
    return [run_as_dict(run) for run in runs[:limit]]


def run_may_change(user: Any, run: Run) -> bool:
    """Steering a run (stop, pause ...) is for its owner and staff, as seeing it is."""
    return bool(user.is_authenticated and (user.is_staff or run.owner_id == user.pk))


def run_as_dict(run: Run) -> dict[str, Any]:
    return {
        "id": run.pk,
        "name": run.display_name,
        "trainer": run.trainer,
        "status": run.status,
        "step": run.step,
        "total": run.total_steps,
        "progress": run.progress,
        "error": run.error,
        "attempts": run.attempts,
        "queue_position": run_queue_position(run),
        "created_at": run.created_at.isoformat() if run.created_at else None,
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
    }


def run_snapshot(run_id: int) -> dict[str, Any] | None:
    """What a watcher needs to draw the run's header (for the WebSocket ``connected``)."""
    run = Run.objects.filter(pk=run_id).first()
    return run_as_dict(run) if run is not None else None


def run_queue_position(run: Run) -> int | None:
    """1 for the run that trains next, 2 after it, ...; None when the run is not queued."""
    if run.status != RunStatus.QUEUED:
        return None
    ahead = Run.objects.filter(status=RunStatus.QUEUED).filter(
        Q(priority__gt=run.priority)
        | Q(priority=run.priority, created_at__lt=run.created_at)
        | Q(priority=run.priority, created_at=run.created_at, pk__lt=run.pk)
    )
    return ahead.count() + 1


def checkpoint_get_visible(*, user: Any, run_id: int, checkpoint_id: int) -> Checkpoint:
    """A checkpoint of a run ``user`` may see; ``Checkpoint.DoesNotExist`` otherwise."""
    run = run_get_visible(user=user, run_id=run_id)
    return run.checkpoints.get(pk=checkpoint_id)


def game_records_of(run: Run, *, source: str | None = None) -> QuerySet[GameRecord]:
    """A run's game records, newest first, without their moves and texts (a list)."""
    records = run.game_records.defer("moves", "kif", "csa")
    return records.filter(source=source) if source else records


def game_record_get_visible(*, user: Any, run_id: int, record_id: int) -> GameRecord:
    """A game record of a run ``user`` may see; ``GameRecord.DoesNotExist`` otherwise."""
    run = run_get_visible(user=user, run_id=run_id)
    return run.game_records.get(pk=record_id)


def preset_list_visible(*, user: Any) -> QuerySet[Preset]:
    """The user's own presets and every shared one."""
    return Preset.objects.filter(Q(owner=user) | Q(shared=True)).select_related("owner")


def runs_to_compare(*, user: Any, raw_ids: list[str]) -> list[Run]:
    """The runs named by ``raw_ids`` (ids, or comma-separated lists of them), in that order
    and once each. ``CompareRefused`` (from ``monitoring.history``) for ids that are not
    integers or too many of them; ``Run.DoesNotExist`` if any is not one ``user`` may see
    (which, is not said)."""
    parts = [part.strip() for raw in raw_ids for part in raw.split(",")]
    ids = compare_run_ids(part for part in parts if part)
    visible = run_list_visible(user=user).filter(pk__in=ids).in_bulk()
    if len(visible) != len(ids):
        raise Run.DoesNotExist("not every run may be seen")
    return [visible[run_id] for run_id in ids]


COMPARE_MAX_POINTS = 1000


def compare_chart(
    *, runs: list[Run], key: str, preferred: Sequence[str]
) -> tuple[list[str], dict[str, Any]]:
    """Every metric key of ``runs``, and the chart of one of them: ``key`` if they have it,
    else the first of ``preferred`` they have, else the first key; each run downsampled on
    its own to at most ``COMPARE_MAX_POINTS``."""
    keys = sorted({k["key"] for run in runs for k in metric_keys(run_id=run.pk)})
    if key not in keys:
        key = next((k for k in preferred if k in keys), keys[0] if keys else "")
    series = (
        metric_compare(run_ids=[r.pk for r in runs], key=key, max_points=COMPARE_MAX_POINTS)
        if key
        else {}
    )
    empty = {"step": [], "value": []}
    chart = {
        "key": key,
        "max_points": COMPARE_MAX_POINTS,
        "runs": [
            {"id": run.pk, "name": run.display_name, **_steps_and_values(series.get(run.pk), empty)}
            for run in runs
        ],
    }
    return keys, chart


def _steps_and_values(series: Any, empty: dict[str, list]) -> dict[str, list]:
    if series is None:
        return empty
    drawn = series.as_dict()  # non-finite values become None, as JSON needs
    return {"step": drawn["step"], "value": drawn["value"]}
