"""Commands people send to runs: recorded, checked against the run's state, answered."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.utils import timezone

from audit import services as audit
from audit.models import Action
from keisei.registry import get_trainer
from monitoring.models import EventType
from monitoring.services import event_record
from runs.command_wakeups import command_notify
from runs.models import (
    ACTIVE_STATUSES,
    Command,
    CommandKind,
    CommandState,
    Run,
    RunStatus,
)
from runs.services.errors import CommandRejected
from runs.services.lifecycle import status_event_record
from runs.services.matches import OpponentRefused, opponent_resolve
from runs.services.summaries import run_summary_record

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


def _opponent_rejection(run: Run, user: Any, opponent: Any) -> str:
    """Opponents follow the one grammar (``services.matches``); no opponent is the default."""
    if opponent is None:
        return ""
    try:
        opponent_resolve(user=user, value=opponent, trainer=run.trainer, in_run=True)
    except OpponentRefused as exc:
        return f"params.opponent: {exc}"
    return ""


def _rejection(run: Run, user: Any, kind: str, params: Any) -> str:
    """Why ``kind`` cannot be asked of ``run`` now, or '' when it can."""
    if params is not None and not isinstance(params, Mapping):
        return "params must be an object"
    if params and kind in (CommandKind.SAMPLE, CommandKind.EVALUATE):
        reason = _opponent_rejection(run, user, params.get("opponent"))
        if reason:
            return reason
    if kind != CommandKind.CANCEL and kind not in get_trainer(run.trainer).supported_commands():
        return f"the {run.trainer} trainer does not support '{kind}'"
    if run.status not in _COMMAND_STATES[CommandKind(kind)]:
        return f"cannot {kind} a run that is {run.status}"
    return ""


def command_request(
    *, run: Run, user: Any, kind: str, params: Mapping[str, Any] | None = None
) -> Command:
    """Record a command for a run. One that does not fit is stored as rejected and raised."""
    if kind not in CommandKind.values:
        raise CommandRejected(f"unknown command '{kind}' (known: {', '.join(CommandKind.values)})")
    actor = f"user:{user.get_username()}"
    with transaction.atomic():
        # The row lock orders this against claims and other commands on the same run. FOR NO
        # KEY UPDATE, not FOR UPDATE: the latter also blocks the foreign-key checks of rows
        # written for the run elsewhere (a worker's event), which deadlocked with this
        # transaction's own event.
        run = Run.objects.select_for_update(no_key=True).get(pk=run.pk)
        reason = _rejection(run, user, kind, params)
        command = Command.objects.create(
            run=run,
            kind=kind,
            params=dict(params) if isinstance(params, Mapping) else {},
            requested_by=user,
            state=CommandState.REJECTED if reason else CommandState.PENDING,
            error=reason,
            finished_at=timezone.now() if reason else None,
        )
        event_record(
            run_id=run.pk,
            type=EventType.COMMAND,
            message=f"{kind} rejected: {reason}" if reason else f"{kind} requested",
            data={"command": command.pk, "kind": kind, "state": command.state, "error": reason},
            actor=actor,
            owner_id=run.owner_id,
        )
        audit.record(
            action=Action.RUN_COMMAND,
            user=user,
            target_type="run",
            target_id=run.pk,
            details={
                "command": command.pk,
                "kind": kind,
                "params": command.params,
                "state": command.state,
                "error": reason,
            },
        )
        if not reason and kind == CommandKind.CANCEL:
            _cancel_queued(run, command, actor=actor)
            command.refresh_from_db()
        elif not reason:
            command_notify(run_id=run.pk)  # the worker hears of it at commit
    if reason:
        raise CommandRejected(reason)
    return command


def _cancel_queued(run: Run, command: Command, *, actor: str) -> None:
    # The run row is locked (select_for_update above), so no worker can claim it meanwhile.
    Run.objects.filter(pk=run.pk, status=RunStatus.QUEUED).update(
        status=RunStatus.CANCELLED, finished_at=timezone.now()
    )
    status_event_record(
        run, RunStatus.CANCELLED, actor=actor, message="run cancelled before it started"
    )
    command_finish(command_id=command.pk, ok=True, result={"cancelled": True})
    run_summary_record(run_id=run.pk, actor=actor)  # after the command's event: the last


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
