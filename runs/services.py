"""Writes of the run lifecycle. Pages, the API, the admin and tasks all call these.

Transitions are compare-and-swap UPDATEs: a filter on the expected state, and zero rows
changed means someone else got there first.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from pydantic import ValidationError

from keisei.registry import UnknownTrainer, get_trainer
from monitoring.models import EventType
from monitoring.services import event_record
from runs.models import ACTIVE_STATUSES, Command, CommandKind, CommandState, Run, RunStatus

EXECUTE_RUN_TASK = "runs.execute_run"


class RunConfigError(Exception):
    """The trainer or its config is refused; ``errors`` maps field paths to reasons."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {', '.join(v)}" for k, v in errors.items()))
        self.errors = errors


class CommandRejected(Exception):
    """A command does not fit the run's state; the message says why."""


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
        errors: dict[str, list[str]] = {}
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"]) or "config"
            errors.setdefault(f"config.{field}", []).append(error["msg"])
        raise RunConfigError(errors) from exc
    return parsed.model_dump(mode="json")


def run_queue(
    *, owner: Any, trainer: str, config: Mapping[str, Any], name: str = "", priority: int = 0
) -> Run:
    """Validate, store the run as queued, and send it to the training queue after commit."""
    validated = config_validate(trainer=trainer, config=config)
    with transaction.atomic():
        run = Run.objects.create(
            owner=owner, name=name.strip(), trainer=trainer, config=validated, priority=priority
        )
        _status_event(run, "queued", actor=f"user:{owner.get_username()}")
        transaction.on_commit(lambda: _enqueue(run.pk))
    return run


def _enqueue(run_id: int) -> None:
    current_app.send_task(EXECUTE_RUN_TASK, args=[run_id], queue="training")


def _status_event(
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


def _lease_expiry() -> dt.datetime:
    return timezone.now() + dt.timedelta(seconds=settings.KEISEI_LEASE_SECONDS)


def run_claim(*, run_id: int, worker: str) -> Run | None:
    """Take a queued run for ``worker``; None if it is not queued (taken, cancelled, gone)."""
    with transaction.atomic():
        # A redelivered task finds the run no longer queued and exits: one trainer per run.
        claimed = Run.objects.filter(pk=run_id, status=RunStatus.QUEUED).update(
            status=RunStatus.RUNNING,
            lease_owner=worker,
            lease_expires_at=_lease_expiry(),
            started_at=timezone.now(),
            attempts=F("attempts") + 1,
            error="",
        )
        if not claimed:
            return None
        run = Run.objects.get(pk=run_id)
        _status_event(
            run, RunStatus.RUNNING, actor=f"worker:{worker}", data={"attempt": run.attempts}
        )
    return run


def run_heartbeat(*, run_id: int, worker: str) -> bool:
    """Renew the lease; False means the worker has lost the run and must stop training."""
    return bool(
        Run.objects.filter(pk=run_id, lease_owner=worker, status__in=ACTIVE_STATUSES).update(
            lease_expires_at=_lease_expiry()
        )
    )


def run_set_paused(*, run_id: int, worker: str, paused: bool) -> bool:
    """The trainer paused or resumed (running <-> paused)."""
    source, target = (
        (RunStatus.RUNNING, RunStatus.PAUSED) if paused else (RunStatus.PAUSED, RunStatus.RUNNING)
    )
    with transaction.atomic():
        changed = Run.objects.filter(pk=run_id, lease_owner=worker, status=source).update(
            status=target
        )
        if changed:
            _status_event(Run.objects.get(pk=run_id), target, actor=f"worker:{worker}")
    return bool(changed)


def run_record_progress(*, run_id: int, worker: str, step: int, total: int) -> None:
    progress = min(1.0, step / total) if total > 0 else 0.0
    Run.objects.filter(pk=run_id, lease_owner=worker).update(
        step=step, total_steps=total, progress=progress
    )


def run_finish(*, run_id: int, worker: str, status: str, error: str = "") -> bool:
    """End a run the worker holds: completed, failed or cancelled; release the lease."""
    if status not in (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED):
        raise ValueError(f"{status!r} is not a final status")
    with transaction.atomic():
        changed = Run.objects.filter(
            pk=run_id, lease_owner=worker, status__in=ACTIVE_STATUSES
        ).update(
            status=status,
            error=error,
            finished_at=timezone.now(),
            lease_owner="",
            lease_expires_at=None,
            **({"progress": 1.0} if status == "completed" else {}),
        )
        if changed:
            run = Run.objects.get(pk=run_id)
            _status_event(
                run,
                status,
                actor=f"worker:{worker}",
                message=f"run {status}" + (f": {error.splitlines()[0]}" if error else ""),
                data={"error": error} if error else None,
            )
            # Pending commands can no longer be carried out.
            run.commands.filter(state__in=[CommandState.PENDING, CommandState.ACKNOWLEDGED]).update(
                state=CommandState.FAILED,
                error=f"the run ended ({status})",
                finished_at=timezone.now(),
            )
    return bool(changed)


# ----- commands --------------------------------------------------------------------------

# What each command needs of the run's state.
_COMMAND_STATES = {
    CommandKind.CANCEL: (RunStatus.QUEUED,),
    CommandKind.STOP: ACTIVE_STATUSES,
    CommandKind.PAUSE: (RunStatus.RUNNING,),
    CommandKind.RESUME: (RunStatus.PAUSED,),
    CommandKind.SAVE: ACTIVE_STATUSES,
    CommandKind.BACKUP: ACTIVE_STATUSES,
    CommandKind.SAMPLE: ACTIVE_STATUSES,
    CommandKind.EVALUATE: ACTIVE_STATUSES,
}


def command_request(
    *, run: Run, user: Any, kind: str, params: Mapping[str, Any] | None = None
) -> Command:
    """Record a command for a run; refused with the reason when it does not fit the run."""
    if kind not in CommandKind.values:
        raise CommandRejected(f"unknown command '{kind}' (known: {', '.join(CommandKind.values)})")
    if params is not None and not isinstance(params, Mapping):
        raise CommandRejected("params must be an object")
    actor = f"user:{user.get_username()}"
    with transaction.atomic():
        run = Run.objects.select_for_update().get(pk=run.pk)
        allowed = _COMMAND_STATES[CommandKind(kind)]
        trainer_cls = get_trainer(run.trainer)
        if kind not in (CommandKind.CANCEL,) and kind not in trainer_cls.supported_commands():
            raise CommandRejected(f"the {run.trainer} trainer does not support '{kind}'")
        if run.status not in allowed:
            raise CommandRejected(f"cannot {kind} a run that is {run.status}")
        command = Command.objects.create(
            run=run, kind=kind, params=dict(params or {}), requested_by=user
        )
        event_record(
            run_id=run.pk,
            type=EventType.COMMAND,
            message=f"{kind} requested",
            data={"command": command.pk, "kind": kind, "state": command.state},
            actor=actor,
            owner_id=run.owner_id,
        )
        if kind == CommandKind.CANCEL:
            _cancel_queued(run, command, actor=actor)
            command.refresh_from_db()
    return command


def _cancel_queued(run: Run, command: Command, *, actor: str) -> None:
    # The run row is locked (select_for_update above), so no worker can claim it meanwhile.
    Run.objects.filter(pk=run.pk, status=RunStatus.QUEUED).update(
        status=RunStatus.CANCELLED, finished_at=timezone.now()
    )
    _status_event(run, RunStatus.CANCELLED, actor=actor, message="run cancelled before it started")
    command_finish(command_id=command.pk, ok=True, result={"cancelled": True})


def commands_pending(*, run_id: int) -> list[Command]:
    return list(
        Command.objects.filter(run_id=run_id, state=CommandState.PENDING).order_by(
            "created_at", "id"
        )
    )


def command_acknowledge(*, command_id: int) -> None:
    Command.objects.filter(pk=command_id, state=CommandState.PENDING).update(
        state=CommandState.ACKNOWLEDGED, acknowledged_at=timezone.now()
    )


def command_finish(
    *, command_id: int, ok: bool, result: Mapping[str, Any] | None = None, error: str = ""
) -> None:
    """Close a command as done or failed and put the outcome on the run's timeline."""
    now = timezone.now()
    with transaction.atomic():
        command = Command.objects.select_related("run").get(pk=command_id)
        state = CommandState.DONE if ok else CommandState.FAILED
        Command.objects.filter(pk=command_id).update(
            state=state,
            result=dict(result) if result is not None else None,
            error=error,
            finished_at=now,
            acknowledged_at=command.acknowledged_at or now,
        )
        event_record(
            run_id=command.run_id,
            type=EventType.COMMAND,
            message=f"{command.kind} {state}" + (f": {error}" if error else ""),
            data={
                "command": command_id,
                "kind": command.kind,
                "state": state,
                "result": dict(result or {}),
                "error": error,
            },
            actor="system",
            owner_id=command.run.owner_id,
        )
