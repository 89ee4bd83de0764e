"""The run lifecycle: queue, claim, heartbeat, pause, finish, reap, clone and fork.

Transitions are compare-and-swap UPDATEs: a filter on the expected state, and zero rows
changed means someone else got there first.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from pydantic import ValidationError

from audit import services as audit
from audit.models import Action
from keisei.registry import UnknownTrainer, get_trainer
from keisei.trainer import config_errors
from monitoring.models import EventType
from monitoring.queues import queue_depths
from monitoring.reporter import progress_fraction
from monitoring.services import event_record, metrics_supersede_after
from runs import access, placement
from runs.leases import (
    lease_claim,
    lease_end,
    lease_hold,
    lease_renew,
    leases_reap,
    leases_take_back,
)
from runs.locks import AdvisoryLock, advisory_xact_lock
from runs.models import ACTIVE_STATUSES, RUN_LEASE, Checkpoint, CommandState, Run, RunStatus
from runs.services.errors import RunConfigError
from runs.services.labels import Fields, checked_notes, checked_tags
from runs.services.quotas import quota_check_queue, quota_for
from runs.services.summaries import run_summary_record

TRAIN_NEXT_RUN_TASK = "runs.train_next_run"
# How many queued runs a claim looks through for one whose owner is under their limit.
CLAIM_SCAN_LIMIT = 200


def config_validate(*, trainer: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """The config as the trainer will see it (defaults filled in), or ``RunConfigError``."""
    try:
        trainer_cls = get_trainer(trainer)
    except UnknownTrainer as exc:
        raise RunConfigError({"trainer": [str(exc)]}) from exc
    if not isinstance(config, Mapping):
        raise RunConfigError({"config": ["must be an object of config fields"]})
    try:
        parsed = trainer_cls.parse_config(config)
    except ValidationError as exc:
        # "config.<field>" for a field, "config" for the config as a whole.
        errors = {
            f"config.{field}" if field else "config": reasons
            for field, reasons in config_errors(exc).items()
        }
        raise RunConfigError(errors) from exc
    budget = trainer_cls.budget_field
    planned = getattr(parsed, budget, None) if budget else None
    limit = settings.KEISEI_MAX_RUN_STEPS
    if isinstance(planned, int) and planned > limit:
        raise RunConfigError(
            {f"config.{budget}": [f"at most {limit} on this site (KEISEI_MAX_RUN_STEPS)"]}
        )
    return parsed.model_dump(mode="json")


def run_queue(
    *,
    owner: Any,
    trainer: str,
    config: Mapping[str, Any],
    name: str = "",
    priority: int = 0,
    parent: Run | None = None,
    start_checkpoint: Checkpoint | None = None,
    tags: Sequence[str] = (),
    notes: str = "",
) -> Run:
    """Validate, check quotas, store the run as queued, and wake a worker after commit."""
    access.ensure_may_queue(owner)  # first: the role is refused, not the config
    errors: Fields = {}
    labels = {"tags": checked_tags(tags, errors), "notes": checked_notes(notes, errors)}
    try:
        validated = config_validate(trainer=trainer, config=config)
    except RunConfigError as refused:
        raise RunConfigError({**errors, **refused.errors}) from None
    if errors:  # every refused field at once, the config's and the labels'
        raise RunConfigError(errors)
    with transaction.atomic():
        quota_check_queue(owner)
        run = Run.objects.create(
            owner=owner,
            name=name.strip(),
            trainer=trainer,
            config=validated,
            priority=priority,
            parent=parent,
            start_checkpoint=start_checkpoint,
            **labels,
        )
        origin = {}
        if parent is not None:
            origin = {"parent": parent.pk}
            if start_checkpoint is not None:
                origin["checkpoint"] = start_checkpoint.pk
        status_event_record(
            run, RunStatus.QUEUED, actor=f"user:{owner.get_username()}", data=origin
        )
        # One entry whichever way the run came: new, cloned (a parent) or forked (a checkpoint).
        action = Action.RUN_CLONE if parent is not None else Action.RUN_CREATE
        audit.record(
            action=Action.RUN_FORK if start_checkpoint is not None else action,
            target_type="run",
            target_id=run.pk,
            details={"owner": owner.get_username(), "trainer": trainer, **origin},
        )
        transaction.on_commit(lambda: wake_worker(run.pk))
    return run


def run_clone(*, run: Run, user: Any, name: str = "") -> Run:
    """A fresh run with the same trainer and config, owned by ``user``."""
    return run_queue(
        owner=user,
        trainer=run.trainer,
        config=run.config,
        name=name or f"clone of {run.display_name}",
        parent=run,
    )


def run_fork(
    *,
    run: Run,
    user: Any,
    checkpoint: Checkpoint,
    config_changes: Mapping[str, Any] | None = None,
    name: str = "",
) -> Run:
    """A new run that starts from one of ``run``'s checkpoints, with an edited config."""
    if checkpoint.run_id != run.pk:
        raise RunConfigError({"checkpoint": [f"checkpoint {checkpoint.pk} is not of run {run.pk}"]})
    if config_changes is not None and not isinstance(config_changes, Mapping):
        raise RunConfigError({"config": ["must be an object of config fields"]})
    config = {**run.config, **dict(config_changes or {})}
    return run_queue(
        owner=user,
        trainer=run.trainer,
        config=config,
        name=name or f"fork of {run.display_name} at step {checkpoint.step}",
        parent=run,
        start_checkpoint=checkpoint,
    )


REQUEUEABLE_STATUSES = (RunStatus.FAILED, RunStatus.STOPPED, RunStatus.CANCELLED)


def run_requeue(*, run: Run, user: Any) -> bool:
    """Put a failed, stopped or cancelled run back in the queue, to resume from its latest
    checkpoint (or start over if it has none), with its attempts counted afresh.

    False when the run was not in such a state any more (compare-and-swap).
    """
    with transaction.atomic():
        quota_check_queue(run.owner)
        changed = Run.objects.filter(pk=run.pk, status__in=REQUEUEABLE_STATUSES).update(
            status=RunStatus.QUEUED,
            error="",
            finished_at=None,
            attempts=0,
            summary={},  # its next end writes a new one; none is shown while it is live
            updated_at=timezone.now(),
        )
        if changed:
            status_event_record(
                run,
                RunStatus.QUEUED,
                actor=f"user:{user.get_username()}",
                message="run requeued by hand",
                data={"requeued": True},
            )
            audit.record(
                action=Action.RUN_REQUEUE,
                user=user,
                target_type="run",
                target_id=run.pk,
                details={"was": run.status},
            )
            transaction.on_commit(lambda: wake_worker(run.pk))
    return bool(changed)


def wake_worker(run_id: int, *, queue: str | None = None) -> None:
    """Send one training slot's worth of work to the queue of the workers that may train
    ``run_id`` (``placement.queue_for`` its device), or to ``queue``.

    The message names the run that caused it, but the worker trains whichever queued run
    should go next that it may train (``run_claim_next``): the broker is FIFO, priorities
    and placement live in PostgreSQL.
    """
    if queue is None:
        config = Run.objects.filter(pk=run_id).values_list("config", flat=True).first()
        queue = placement.queue_for(placement.run_device(config or {}))
    current_app.send_task(TRAIN_NEXT_RUN_TASK, args=[run_id], queue=queue)


def wake_waiting_runs(run_id: int) -> None:
    """One wake-up for each training queue that queued runs wait on (a slot was freed by
    ``run_id``): a run that waited on its owner's limit may go now, whatever its device."""
    configs = Run.objects.filter(status=RunStatus.QUEUED).values_list("config", flat=True)
    gpu_online = placement.Capacity.now().gpu
    queues = {
        placement.queue_for(placement.run_device(config), gpu_online=gpu_online)
        for config in configs[:CLAIM_SCAN_LIMIT]
    }
    for queue in sorted(queues):
        wake_worker(run_id, queue=queue)


def status_event_record(
    run: Run, status: str, *, actor: str, message: str = "", data: Mapping[str, Any] | None = None
) -> None:
    event_record(
        run_id=run.pk,
        type=EventType.STATUS,
        message=message or f"run {status}",
        data={"status": status, **(data or {})},
        actor=actor,
        owner_id=run.owner_id,
    )


def run_claim_next(*, worker: str, gpus: int | None = None) -> Run | None:
    """Claim the queued run that should train next on a worker with ``gpus`` GPUs (default:
    this worker's ``KEISEI_WORKER_GPUS``), or None when there is nothing it may train.

    Only runs the worker may train are candidates (``placement.claimable``: a CPU worker never
    takes a ``cuda`` run); a GPU worker takes ``cuda`` runs before ``auto`` ones. Then highest
    priority first, then oldest; a run whose owner is at their running limit waits.
    """
    gpus = settings.KEISEI_WORKER_GPUS if gpus is None else gpus
    with transaction.atomic():
        advisory_xact_lock(AdvisoryLock.RUN_CLAIM)
        candidates = (
            Run.objects.filter(placement.claimable(gpus), status=RunStatus.QUEUED)
            .alias(placed=placement.claim_preference(gpus))
            .order_by("placed", "-priority", "created_at", "id")
            .values_list("pk", "owner_id")[:CLAIM_SCAN_LIMIT]
        )
        for run_id in _startable(candidates):
            run = _claim(run_id, worker)
            if run is not None:
                return run
    return None


def _startable(candidates: Iterable[tuple[int, int]]) -> Iterator[int]:
    """The ids of (run id, owner id) ``candidates`` whose owner is below their running limit."""
    busy: dict[int, bool] = {}
    for run_id, owner_id in candidates:
        if owner_id not in busy:
            running = Run.objects.filter(owner_id=owner_id, status__in=ACTIVE_STATUSES).count()
            busy[owner_id] = running >= quota_for(owner_id).max_running
        if not busy[owner_id]:
            yield run_id


def _claim(run_id: int, worker: str) -> Run | None:
    # A cancel that got the row first leaves it not queued: nothing to claim.
    if not lease_claim(
        RUN_LEASE,
        pk=run_id,
        worker=worker,
        source=RunStatus.QUEUED,
        started_at=timezone.now(),
        error="",
    ):
        return None
    run = Run.objects.get(pk=run_id)
    status_event_record(
        run, RunStatus.RUNNING, actor=f"worker:{worker}", data={"attempt": run.attempts}
    )
    return run


def run_resume_from(*, run_id: int, worker: str, checkpoint: Checkpoint) -> int:
    """Before an attempt resumes from ``checkpoint``: the points an earlier attempt stored
    after its step are deleted and their rollups corrected, and the timeline says why the
    run resumes, in one transaction under the lease. Returns how many points were superseded.

    The trainer recomputes every step after the checkpoint; the earlier attempt's points for
    them belong to a trajectory that no longer exists. A checkpoint row is stored only after
    the points reported before it, so every point up to its step is there and stays.
    """
    with transaction.atomic():
        lease_hold(
            RUN_LEASE, pk=run_id, worker=worker
        )  # a worker that lost the run deletes nothing
        superseded = metrics_supersede_after(run_id=run_id, step=checkpoint.step)
        run = Run.objects.get(pk=run_id)
        why = _why_requeued(run)
        event_record(
            run_id=run_id,
            type=EventType.LOG,
            message=f"resuming from the {checkpoint.kind} checkpoint at step {checkpoint.step}"
            + (f" {why}" if why else "")
            + (
                f"; {superseded} points it had stored after step {checkpoint.step} superseded"
                if superseded
                else ""
            ),
            data={
                "checkpoint": checkpoint.pk,
                "step": checkpoint.step,
                "attempt": run.attempts,
                "superseded_points": superseded,
            },
            actor=f"worker:{worker}",
            owner_id=run.owner_id,
        )
    return superseded


def _why_requeued(run: Run) -> str:
    """Why the run's last attempt ended, from its last requeue event ("" for a fork's first)."""
    last = run.events.filter(type=EventType.STATUS, data__requeued=True).order_by("-seq").first()
    if last is None:
        return ""
    if last.data.get("released"):
        return "after its worker shut down"
    if last.actor == "system":
        return "after the worker was lost"
    return "after it was requeued by hand"


def run_heartbeat(*, run_id: int, worker: str) -> bool:
    """Renew the lease; False means the worker has lost the run and must stop training."""
    return lease_renew(RUN_LEASE, pk=run_id, worker=worker)


def run_set_paused(*, run_id: int, worker: str, paused: bool) -> bool:
    """The trainer paused or resumed (running <-> paused)."""
    source, target = (
        (RunStatus.RUNNING, RunStatus.PAUSED) if paused else (RunStatus.PAUSED, RunStatus.RUNNING)
    )
    with transaction.atomic():
        changed = RUN_LEASE.held_by(run_id, worker).filter(status=source).update(status=target)
        if changed:
            status_event_record(Run.objects.get(pk=run_id), target, actor=f"worker:{worker}")
    return bool(changed)


def run_record_progress(*, run_id: int, worker: str, step: int, total: int) -> None:
    RUN_LEASE.held_by(run_id, worker).update(
        step=step, total_steps=total, progress=progress_fraction(step, total)
    )


def run_finish(*, run_id: int, worker: str, status: str, error: str = "") -> bool:
    """End a run the worker holds: completed, failed or stopped; release the lease."""
    if status not in (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.STOPPED):
        raise ValueError(f"{status!r} is not an end a worker gives a run")
    with transaction.atomic():
        changed = lease_end(
            RUN_LEASE,
            pk=run_id,
            worker=worker,
            state=status,
            error=error,
            finished_at=timezone.now(),
            **({"progress": 1.0} if status == RunStatus.COMPLETED else {}),
        )
        if changed:
            _finished(Run.objects.get(pk=run_id), status, error, actor=f"worker:{worker}")
    return changed


def _finished(run: Run, status: str, error: str, *, actor: str) -> None:
    status_event_record(
        run,
        status,
        actor=actor,
        message=f"run {status}" + (f": {error.splitlines()[0]}" if error else ""),
        data={"error": error} if error else None,
    )
    # Commands still open can no longer be carried out.
    run.commands.filter(state__in=[CommandState.PENDING, CommandState.ACKNOWLEDGED]).update(
        state=CommandState.FAILED, error=f"the run ended ({status})", finished_at=timezone.now()
    )
    # Last: nothing the end records comes after the summary (its event is the run's last).
    run_summary_record(run_id=run.pk, actor=actor)
    # A training slot is free: a run that waited on its owner's limit may go now.
    if Run.objects.filter(status=RunStatus.QUEUED).exists():
        transaction.on_commit(lambda: wake_waiting_runs(run.pk))


def run_release(*, run_id: int, worker: str, reason: str) -> bool:
    """Hand a run back to the queue after a clean stop (its checkpoint is written).

    The attempt is not counted: nothing failed.
    """
    with transaction.atomic():
        changed = lease_end(
            RUN_LEASE,
            pk=run_id,
            worker=worker,
            state=RunStatus.QUEUED,
            attempts=F("attempts") - 1,
        )
        if changed:
            run = Run.objects.get(pk=run_id)
            status_event_record(
                run,
                RunStatus.QUEUED,
                actor=f"worker:{worker}",
                message=f"run requeued: {reason}",
                data={"requeued": True, "released": True},
            )
            transaction.on_commit(lambda: wake_worker(run_id))
    return changed


def runs_reap_expired(*, now: dt.datetime | None = None) -> list[int]:
    """Requeue runs whose worker stopped renewing its lease; fail those out of attempts.

    Called by beat. Returns the ids of the runs it changed.
    """
    return leases_reap(RUN_LEASE, now=now, requeued=_run_requeued, gave_up=_run_gave_up)


def run_worker_process_lost(*, worker: str, cause: str = "") -> list[int]:
    """Hand back at once the runs that ``worker`` (a pool process that died: SIGKILL, OOM)
    held: queued with the attempt counted, or failed once out of attempts. Returns their ids.
    ``cause`` is what is known of the death (the signal), said in the reason.

    Called from the Celery worker's main process, which sees its pool child exit; matched on
    the dead child's lease owner, so a run another process holds is never touched. Beat's
    lease reaper stays the backstop for a whole host that vanished.
    """
    return leases_take_back(
        RUN_LEASE,
        worker=worker,
        reason=f"the worker's process {worker} was lost" + (f" ({cause})" if cause else ""),
        requeued=lambda run, reason: _run_requeued(run, reason, lost_process=worker),
        gave_up=_run_gave_up,
    )


def _run_requeued(run: Run, reason: str, **data: Any) -> None:
    status_event_record(
        run,
        RunStatus.QUEUED,
        actor="system",
        message=f"run requeued: {reason} (attempt {run.attempts} of "
        f"{settings.KEISEI_MAX_ATTEMPTS})",
        data={"requeued": True, "attempt": run.attempts, **data},
    )
    run.commands.filter(state=CommandState.ACKNOWLEDGED).update(
        state=CommandState.FAILED, error="the worker was lost", finished_at=timezone.now()
    )
    transaction.on_commit(lambda: wake_worker(run.pk))


def _run_gave_up(run: Run, error: str) -> None:
    _finished(run, RunStatus.FAILED, error, actor="system")


def runs_wake_stranded(*, now: dt.datetime | None = None) -> int:
    """Wake workers for queued runs that could start but have no wake-up waiting.

    A wake-up can be lost (a Redis without persistence restarted, a broker purged): the run
    is safe in PostgreSQL, but nothing would claim it until some other run is queued or
    ends. Called by beat. Only runs unchanged for ``KEISEI_STRANDED_RUN_SECONDS`` count (a
    fresh wake-up may be on its way), and only as many wake-ups are sent as each run's
    training queue (``placement.queue_for``) lacks. Returns how many were sent.
    """
    now = now or timezone.now()
    quiet_since = now - dt.timedelta(seconds=settings.KEISEI_STRANDED_RUN_SECONDS)
    queued = Run.objects.filter(status=RunStatus.QUEUED, updated_at__lt=quiet_since)
    startable = list(_startable(queued.values_list("pk", "owner_id")[:CLAIM_SCAN_LIMIT]))
    if not startable:
        return 0
    configs = dict(Run.objects.filter(pk__in=startable).values_list("pk", "config"))
    gpu_online = placement.Capacity.now().gpu
    by_queue: dict[str, list[int]] = {}
    for run_id in startable:
        device = placement.run_device(configs.get(run_id) or {})
        by_queue.setdefault(placement.queue_for(device, gpu_online=gpu_online), []).append(run_id)
    depths = queue_depths(queues=tuple(sorted(by_queue)))
    sent = 0
    for queue, run_ids in by_queue.items():
        waiting = depths[queue]
        if waiting is None:  # the broker cannot be read now; the next period tries again
            continue
        for run_id in run_ids[waiting:]:
            wake_worker(run_id, queue=queue)
            sent += 1
    return sent
