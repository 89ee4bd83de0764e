"""Reads of runs: lists, snapshots, queue positions, what a run has, presets."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.db.models import F, Q, QuerySet, Window
from django.db.models.functions import RowNumber

from runs import access, placement
from runs.models import (
    Checkpoint,
    Command,
    CommandState,
    Evaluation,
    GameRecord,
    Preset,
    Run,
    RunStatus,
)
from runs.trainers import trainer_plays_people

# The order in which queued runs are claimed (runs.services.lifecycle.run_claim_next).
CLAIM_ORDER = (F("priority").desc(), F("created_at").asc(), F("id").asc())
ACTIVE = (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.PAUSED)


# ----- runs -----------------------------------------------------------------------------------


def run_list_active(user: Any, limit: int = 100) -> list[dict[str, Any]]:
    """The queued, running and paused runs ``user`` may see, newest first (the dashboard)."""
    runs = access.runs_visible(user=user).filter(status__in=ACTIVE).order_by("-created_at", "-pk")
    positions = queue_positions()
    capacity = placement.Capacity.now()
    return [
        run_as_dict(
            run,
            queue_position=positions.get(run.pk),
            waiting_for=run_waiting_for(run, capacity=capacity),
        )
        for run in runs[:limit]
    ]


def run_as_dict(
    run: Run, *, queue_position: int | None = None, waiting_for: str | None = None
) -> dict[str, Any]:
    """A run as the live messages and the dashboard describe it."""
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
        "queue_position": queue_position,
        "waiting_for": waiting_for,
        "created_at": run.created_at.isoformat() if run.created_at else None,
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
    }


def run_snapshot(run_id: int) -> dict[str, Any] | None:
    """What a watcher needs to draw the run's header (for the WebSocket ``connected``)."""
    run = Run.objects.filter(pk=run_id).first()
    if run is None:
        return None
    return run_as_dict(
        run, queue_position=run_queue_position(run), waiting_for=run_waiting_for(run)
    )


def queue_positions() -> dict[int, int]:
    """Every queued run's place in the queue (1 trains next), in one query: a row number over
    the queued runs in claim order. The queue is bounded (KEISEI_GLOBAL_MAX_QUEUED), so the
    whole map is small; filtering by id in SQL would number only the runs kept."""
    ranked = (
        Run.objects.filter(status=RunStatus.QUEUED)
        .annotate(position=Window(RowNumber(), order_by=list(CLAIM_ORDER)))
        .order_by(*CLAIM_ORDER)
        .values_list("pk", "position")
    )
    return dict(ranked[: settings.KEISEI_GLOBAL_MAX_QUEUED * 2])


def run_queue_position(run: Run) -> int | None:
    """One run's place in the queue (1 trains next); None when the run is not queued."""
    if run.status != RunStatus.QUEUED:
        return None
    ahead = Run.objects.filter(status=RunStatus.QUEUED).filter(
        Q(priority__gt=run.priority)
        | Q(priority=run.priority, created_at__lt=run.created_at)
        | Q(priority=run.priority, created_at=run.created_at, pk__lt=run.pk)
    )
    return ahead.count() + 1


def run_page_context(runs: Sequence[Run]) -> dict[str, Any]:
    """What ``RunSerializer`` needs for a page of runs beyond their rows: every queued run's
    place and which workers are online, each read once for the page, and only when the page
    holds a queued run (for any other run both are null). The runs list's first page is
    often all finished runs: the two queries were about a sixth of its time (cProfile of
    bench/api.py's requests, in process)."""
    if not any(run.status == RunStatus.QUEUED for run in runs):
        return {"queue_positions": {}, "capacity": None}
    return {"queue_positions": queue_positions(), "capacity": worker_capacity()}


def worker_capacity() -> placement.Capacity:
    """Which kinds of training worker are online now (the worker registry, one query)."""
    return placement.Capacity.now()


def run_waiting_for(run: Run, *, capacity: placement.Capacity | None = None) -> str | None:
    """What a queued run waits for beyond its turn: a kind of worker none of which is online
    (a ``cuda`` run and no GPU worker). None when it is not queued or such a worker is
    online. ``capacity``: read once for a list of runs."""
    if run.status != RunStatus.QUEUED:
        return None
    return placement.waiting_for(
        placement.run_device(run.config), capacity or placement.Capacity.now()
    )


# ----- what a run has -------------------------------------------------------------------------


def run_artifacts(run: Run) -> dict[str, Any]:
    """The run page's checkpoints, evaluations and games (newest first, a screenful each), and
    whether its checkpoints can play a person (the play page's link on each)."""
    return {
        "plays_people": trainer_plays_people(run.trainer),
        "checkpoints": run.checkpoints.all()[:50],
        "evaluations": run.evaluations.all()[:20],
        "game_records": run.game_records.defer("kif", "csa", "moves")[:20],
    }


def run_commands_recent(run: Run, *, limit: int = 20) -> QuerySet[Command]:
    return run.commands.select_related("requested_by").order_by("-created_at")[:limit]


def run_commands(run: Run) -> QuerySet[Command]:
    return run.commands.all()


def run_checkpoints(run: Run) -> QuerySet[Checkpoint]:
    return run.checkpoints.all()


def run_checkpoint(run: Run, *, checkpoint_id: int) -> Checkpoint | None:
    """One of this run's checkpoints (a fork's starting point), or None."""
    return run.checkpoints.filter(pk=checkpoint_id).first()


def run_evaluations(run: Run, *, limit: int = 500) -> QuerySet[Evaluation]:
    return run.evaluations.select_related("requested_by")[:limit]


def commands_pending(*, run_id: int) -> list[Command]:
    """The commands a run's trainer has not picked up yet, oldest first."""
    return list(
        Command.objects.filter(run_id=run_id, state=CommandState.PENDING).order_by(
            "created_at", "id"
        )
    )


def checkpoint_to_resume(run: Run) -> Checkpoint | None:
    """The run's latest checkpoint, else the checkpoint a fork starts from."""
    latest = run.checkpoints.order_by("-step", "-id").first()
    return latest or run.start_checkpoint


def game_records_of(run: Run, *, source: str | None = None) -> QuerySet[GameRecord]:
    """A run's game records, newest first, without their moves and texts (a list)."""
    records = run.game_records.defer("moves", "kif", "csa")
    return records.filter(source=source) if source else records


# ----- presets --------------------------------------------------------------------------------


def preset_list_visible(*, user: Any, trainer: str | None = None) -> QuerySet[Preset]:
    """The user's own presets and every shared one (of ``trainer``, if named)."""
    presets = access.presets_visible(user=user)
    return presets.filter(trainer=trainer) if trainer else presets
