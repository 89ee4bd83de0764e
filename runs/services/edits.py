"""Changes people make to a run's own fields, and removing a finished run with its files.

The API, the admin and the pages call these; each writes only the columns it changes, in
one statement, so a worker's concurrent update of status, step or lease is never undone.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit import services as audit
from audit.models import Action
from runs.models import (
    FINISHED_STATUSES,
    Checkpoint,
    Evaluation,
    EvaluationState,
    Run,
    RunStatus,
)
from runs.services.errors import (
    NotFound,
    RunConfigError,
    RunNotFinished,
    RunNotQueued,
    RunNotRequeueable,
)
from runs.services.labels import Fields, checked_notes, checked_tags
from runs.services.lifecycle import run_requeue

PRIORITY_RANGE = (-100, 100)  # as the API and the form accept
NAME_MAX_LENGTH = 120
# What a person may put back in the queue by the API (the admin may also requeue cancelled
# runs, through ``run_requeue`` directly).
API_REQUEUEABLE = (RunStatus.FAILED, RunStatus.STOPPED)


def _checked_name(name: Any, errors: Fields) -> str | None:
    if not isinstance(name, str) or len(name.strip()) > NAME_MAX_LENGTH:
        errors["name"] = [f"must be text of at most {NAME_MAX_LENGTH} characters"]
        return None
    return name.strip()


def _checked_priority(priority: Any, errors: Fields) -> int | None:
    low, high = PRIORITY_RANGE
    if isinstance(priority, bool) or not isinstance(priority, int) or not low <= priority <= high:
        errors["priority"] = [f"must be a whole number from {low} to {high}"]
        return None
    return priority


def run_edit(
    *,
    run_id: int,
    name: str | None = None,
    priority: int | None = None,
    tags: Sequence[str] | None = None,
    notes: str | None = None,
    priority_while_queued: bool = False,
) -> None:
    """Rename, reprioritise, tag or annotate a run; ``None`` leaves a field as it is.

    Only the columns asked for are written (a single UPDATE): a save of a whole row read
    earlier could write back a status or lease the worker has changed since (a run that ended
    meanwhile would read ``running`` again, with no lease for the reaper to find).

    With ``priority_while_queued`` (the API), a new priority is taken only while the run is
    queued (``RunNotQueued`` otherwise, and nothing is written); the admin may change it
    whatever the run is doing. Tags are kept once each, in the order given.
    """
    errors: Fields = {}
    checks = {
        "name": (name, _checked_name),
        "priority": (priority, _checked_priority),
        "tags": (tags, checked_tags),
        "notes": (notes, checked_notes),
    }
    changes: dict[str, Any] = {}
    for field, (value, check) in checks.items():
        if value is not None:
            checked = check(value, errors)
            if checked is not None:
                changes[field] = checked
    if errors:
        raise RunConfigError(errors)
    if not changes:
        return
    rows = Run.objects.filter(pk=run_id)
    if priority_while_queued and "priority" in changes:
        # The status is part of the UPDATE's filter, so a claim between our read and this
        # write cannot let a running run's priority change. An unchanged priority is no change.
        rows = rows.filter(Q(status=RunStatus.QUEUED) | Q(priority=changes["priority"]))
    with transaction.atomic():
        changed = rows.update(**changes, updated_at=timezone.now())
        if changed:
            audit.record(
                action=Action.RUN_EDIT, target_type="run", target_id=run_id, details=changes
            )
    if not changed:
        status = Run.objects.filter(pk=run_id).values_list("status", flat=True).first()
        if status is None:
            raise NotFound("no such run")
        raise RunNotQueued(
            f"the priority of a run can change only while it is queued; this one is {status}",
            field="priority",
        )


def run_requeue_finished(*, run: Run, user: Any) -> Run:
    """Put a failed or stopped run back in the queue, under the same id (``run_requeue``:
    it resumes from its latest checkpoint); ``RunNotRequeueable`` for any other state."""
    if run.status not in API_REQUEUEABLE or not run_requeue(run=run, user=user):
        status = Run.objects.filter(pk=run.pk).values_list("status", flat=True).first()
        raise RunNotRequeueable(
            f"only a failed or stopped run can be requeued; this one is {status}",
            field="status",
        )
    run.refresh_from_db()
    return run


def run_delete(*, run_id: int) -> None:
    """Remove a finished run with everything it owns: rows (cascaded) and checkpoint files.

    ``RunNotFinished`` while it is queued, running or paused, while an evaluation job of it
    (or against one of its checkpoints) is still to play, or while a run that has not
    finished is to start from one of its checkpoints (the fork would lose its start).
    """
    with transaction.atomic():
        # The row lock makes a requeue or a claim wait for us (or us for it): the status
        # we check is the one the delete sees.
        run = Run.objects.select_for_update().filter(pk=run_id).first()
        if run is None:
            raise NotFound("no such run")
        if run.status not in FINISHED_STATUSES:
            raise RunNotFinished(
                f"only a finished run can be deleted; this one is {run.status}", field="status"
            )
        if Evaluation.objects.filter(
            Q(run_id=run_id) | Q(opponent_checkpoint__run_id=run_id),
            state__in=(EvaluationState.PENDING, EvaluationState.RUNNING),
        ).exists():
            raise RunNotFinished(
                "an evaluation job of (or against) this run is still to play",
                field="evaluations",
            )
        if (
            Run.objects.filter(start_checkpoint__run_id=run_id)
            .exclude(status__in=FINISHED_STATUSES)
            .exists()
        ):
            raise RunNotFinished(
                "a run that has not finished starts from one of this run's checkpoints",
                field="checkpoints",
            )
        files = [
            (checkpoint.file.storage, checkpoint.file.name)
            for checkpoint in Checkpoint.objects.filter(run_id=run_id)
            if checkpoint.file.name
        ]
        run.delete()
        audit.record(
            action=Action.RUN_DELETE,
            target_type="run",
            target_id=run_id,
            details={
                "name": run.name,
                "owner": run.owner.get_username(),
                "trainer": run.trainer,
                "status": run.status,
                "checkpoint_files": len(files),
            },
        )
        # The files after the rows commit: a rolled-back delete keeps both.
        for storage, name in files:
            transaction.on_commit(partial(storage.delete, name))
