"""Evaluation jobs: a checkpoint plays a match on the ``default`` queue, outside any run.

A job is an ``Evaluation`` row that goes pending -> running -> done | failed. The result, its
game records and the run's ``evaluation`` event are written in one transaction, so a job that
fails (a missing or corrupt file) leaves a failed row with the reason and nothing half-written.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import uuid
from functools import partial
from pathlib import Path
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from monitoring.models import EventType
from monitoring.services import event_record
from runs import selectors
from runs.leases import Heartbeat, lease_expiry, worker_id
from runs.models import Checkpoint, Evaluation, EvaluationState, GameSource
from runs.services.checkpoints import checkpoint_fetch
from runs.services.errors import CheckpointUnusable
from runs.services.records import game_record_store

log = logging.getLogger(__name__)

EVALUATE_CHECKPOINT_TASK = "runs.evaluate_checkpoint"
RANDOM_OPPONENT = "random"
PLAYABLE_TRAINERS = ("shogi-ppo",)
MIN_GAMES, MAX_GAMES = 2, 400
# The first games of a match are kept as records (KIF/CSA); the rest only count.
RECORDED_GAMES = 10
# Evaluation shares the machine with training: one thread is enough for small batches.
EVALUATION_THREADS = 1


class EvaluationRejected(Exception):
    """An evaluation cannot be asked for; ``errors`` maps each field to its reasons."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {', '.join(v)}" for k, v in errors.items()))
        self.errors = errors


def checkpoint_label(checkpoint: Checkpoint) -> str:
    """How a checkpoint is named in records and results (no run name: it may be hidden)."""
    return f"checkpoint {checkpoint.pk} (run {checkpoint.run_id}, step {checkpoint.step})"


def _opponent_checkpoint(*, user: Any, opponent: Any) -> Checkpoint:
    """The opponent checkpoint if ``user`` may see its run, else EvaluationRejected."""
    if isinstance(opponent, int) and not isinstance(opponent, bool):
        opponent_id = opponent
    elif isinstance(opponent, str) and opponent.isdigit():
        opponent_id = int(opponent)
    else:
        raise EvaluationRejected(
            {"opponent": [f'must be "random" or a checkpoint id, got {opponent!r}']}
        )
    visible_runs = selectors.run_list_visible(user=user)
    found = (
        Checkpoint.objects.select_related("run")
        .filter(pk=opponent_id, run__in=visible_runs)
        .first()
    )
    if found is None:
        # The same answer whether it does not exist or is not the user's: nothing leaks.
        raise EvaluationRejected({"opponent": [f"no checkpoint {opponent_id} that you may see"]})
    if found.run.trainer not in PLAYABLE_TRAINERS:
        raise EvaluationRejected(
            {"opponent": [f"checkpoint {opponent_id} is of a {found.run.trainer} run"]}
        )
    return found


def evaluation_request(
    *,
    user: Any,
    checkpoint: Checkpoint,
    opponent: Any,
    games: int,
    temperature: float = 1.0,
    max_plies: int | None = None,
) -> Evaluation:
    """Queue a match of ``checkpoint`` (of a run ``user`` may see; the caller checked) against
    ``opponent``: "random" or the id of any checkpoint of any run ``user`` may see.

    Refusals name the field (``EvaluationRejected``). The job runs after commit on ``default``.
    """
    errors: dict[str, list[str]] = {}
    if checkpoint.run.trainer not in PLAYABLE_TRAINERS:
        errors["checkpoint"] = [f"only {', '.join(PLAYABLE_TRAINERS)} checkpoints can play"]
    if not isinstance(games, int) or not MIN_GAMES <= games <= MAX_GAMES:
        errors["games"] = [f"must be a whole number from {MIN_GAMES} to {MAX_GAMES}"]
    rival: Checkpoint | None = None
    if opponent != RANDOM_OPPONENT:
        try:
            rival = _opponent_checkpoint(user=user, opponent=opponent)
        except EvaluationRejected as exc:
            errors.update(exc.errors)
    if errors:
        raise EvaluationRejected(errors)
    with transaction.atomic():
        evaluation = Evaluation.objects.create(
            run=checkpoint.run,
            step=checkpoint.step,
            checkpoint=checkpoint,
            opponent=checkpoint_label(rival) if rival else RANDOM_OPPONENT,
            opponent_checkpoint=rival,
            games=games,
            state=EvaluationState.PENDING,
            requested_by=user,
            data={"temperature": float(temperature), "max_plies": max_plies},
        )
        transaction.on_commit(partial(_send, evaluation.pk))
    return evaluation


def evaluation_execute(*, evaluation_id: int, worker: str | None = None) -> str:
    """Play a pending evaluation job and store its result: 'done', 'failed', 'skipped' (not
    pending: taken by another delivery) or 'lease-lost' (reaped while it played).

    Never raises for the job's sake: a failure is the row's state and error.
    """
    worker = worker or worker_id()
    # Claimed by compare-and-swap: a redelivered task (acks are late) finds it taken and exits.
    claimed = Evaluation.objects.filter(pk=evaluation_id, state=EvaluationState.PENDING).update(
        state=EvaluationState.RUNNING,
        lease_owner=worker,
        lease_expires_at=lease_expiry(),
        attempts=F("attempts") + 1,
    )
    if not claimed:
        return "skipped"
    evaluation = Evaluation.objects.select_related(
        "checkpoint", "opponent_checkpoint", "requested_by"
    ).get(pk=evaluation_id)
    workdir = Path(settings.KEISEI_WORK_DIR) / f"evaluation-{evaluation_id}-{uuid.uuid4().hex[:8]}"
    renew = partial(evaluation_heartbeat, evaluation_id=evaluation_id, worker=worker)
    try:
        with Heartbeat(renew, name=f"lease-evaluation-{evaluation_id}"):
            result, records = _play(evaluation, workdir)
            _store_result(evaluation, result, records, worker)
    except EvaluationLeaseLost:
        log.warning("evaluation %s: the lease was lost; its result is discarded", evaluation_id)
        return "lease-lost"
    except CheckpointUnusable as exc:
        _store_failure(evaluation, str(exc), worker)
        return "failed"
    except Exception as exc:
        log.exception("evaluation %s failed", evaluation_id)
        _store_failure(evaluation, f"{type(exc).__name__}: {exc}", worker)
        return "failed"
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return "done"


class EvaluationLeaseLost(Exception):
    """The reaper gave the job to another delivery while this one played."""


def evaluation_heartbeat(*, evaluation_id: int, worker: str) -> bool:
    """Renew ``worker``'s lease on a running job; False if the job is no longer its own."""
    return bool(
        Evaluation.objects.filter(
            pk=evaluation_id, state=EvaluationState.RUNNING, lease_owner=worker
        ).update(lease_expires_at=lease_expiry())
    )


def evaluations_reap_expired(*, now: dt.datetime | None = None) -> list[int]:
    """Jobs whose worker stopped renewing its lease: pending again and sent to a worker, or
    failed after ``KEISEI_MAX_ATTEMPTS`` tries. Called by beat; returns the ids it changed."""
    now = now or timezone.now()
    reaped = []
    expired = Evaluation.objects.filter(state=EvaluationState.RUNNING, lease_expires_at__lt=now)
    for evaluation in expired.only("pk", "run_id", "attempts", "lease_owner", "requested_by"):
        # The lease is matched too: a worker that renewed meanwhile keeps its job.
        still_expired = Evaluation.objects.filter(
            pk=evaluation.pk,
            state=EvaluationState.RUNNING,
            lease_owner=evaluation.lease_owner,
            lease_expires_at__lt=now,
        )
        lost = f"the worker {evaluation.lease_owner} stopped renewing its lease"
        if evaluation.attempts >= settings.KEISEI_MAX_ATTEMPTS:
            error = f"{lost}; gave up after {evaluation.attempts} attempts"
            if still_expired.update(
                state=EvaluationState.FAILED,
                error=error,
                finished_at=now,
                lease_owner="",
                lease_expires_at=None,
            ):
                _record_failure_event(evaluation, error)
                reaped.append(evaluation.pk)
            continue
        with transaction.atomic():
            if still_expired.update(
                state=EvaluationState.PENDING, lease_owner="", lease_expires_at=None
            ):
                log.warning("evaluation %s requeued: %s", evaluation.pk, lost)
                transaction.on_commit(partial(_send, evaluation.pk))
                reaped.append(evaluation.pk)
    return reaped


def _send(evaluation_id: int) -> None:
    current_app.send_task(EVALUATE_CHECKPOINT_TASK, args=[evaluation_id], queue="default")


def _play(evaluation: Evaluation, workdir: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    # torch is imported where a match is played, never by the web processes.
    import torch

    from keisei.shogi.checkpoint import CheckpointError
    from keisei.shogi.players import evaluate_checkpoint

    if evaluation.checkpoint is None:
        raise CheckpointUnusable("the checkpoint was deleted before the match")
    agent_path = checkpoint_fetch(evaluation.checkpoint, workdir / "agent")
    opponent_path: Path | str = RANDOM_OPPONENT
    if evaluation.opponent != RANDOM_OPPONENT:
        if evaluation.opponent_checkpoint is None:
            raise CheckpointUnusable("the opponent checkpoint was deleted before the match")
        opponent_path = checkpoint_fetch(evaluation.opponent_checkpoint, workdir / "opponent")
    torch.set_num_threads(EVALUATION_THREADS)
    try:
        result, records = evaluate_checkpoint(
            agent_path,
            opponent_path,
            games=evaluation.games,
            max_plies=evaluation.data.get("max_plies"),
            seed=evaluation.pk,
            record_games=RECORDED_GAMES,
            temperature=float(evaluation.data.get("temperature", 1.0)),
            names=(checkpoint_label(evaluation.checkpoint), evaluation.opponent),
        )
    except CheckpointError as exc:
        raise CheckpointUnusable(str(exc)) from exc
    return result.as_dict(), records


def _store_result(
    evaluation: Evaluation, result: dict[str, Any], records: list[dict[str, Any]], worker: str
) -> None:
    """The result, the records and the timeline event: all of them, or none, and only while
    ``worker`` still holds the job."""
    with transaction.atomic():
        _hold(evaluation.pk, worker)
        stored = []
        for record in records:
            row = game_record_store(
                run_id=evaluation.run_id,
                record={**record, "step": evaluation.step},
                source=GameSource.EVALUATION,
            )
            stored.append(row.pk)
        evaluation.wins, evaluation.draws = result["wins"], result["draws"]
        evaluation.losses, evaluation.win_rate = result["losses"], result["win_rate"]
        evaluation.elo, evaluation.elo_low = result["elo"], result["elo_low"]
        evaluation.elo_high = result["elo_high"]
        evaluation.state = EvaluationState.DONE
        evaluation.finished_at = dt.datetime.now(dt.UTC)
        evaluation.lease_owner, evaluation.lease_expires_at = "", None
        evaluation.data = {
            **evaluation.data,
            "score": result["score"],
            "mean_plies": result["mean_plies"],
            "win_reasons": result["win_reasons"],
            "loss_reasons": result["loss_reasons"],
            "game_records": stored,
        }
        evaluation.save()
        event_record(
            run_id=evaluation.run_id,
            type=EventType.EVALUATION,
            message=f"vs {evaluation.opponent}: {evaluation.wins}/{evaluation.draws}/"
            f"{evaluation.losses} (W/D/L)",
            data={
                "evaluation": evaluation.pk,
                "checkpoint": evaluation.checkpoint_id,
                "opponent": evaluation.opponent,
                "step": evaluation.step,
                **{k: v for k, v in result.items() if isinstance(v, int | float)},
            },
            actor=_actor(evaluation),
        )


def _store_failure(evaluation: Evaluation, error: str, worker: str) -> None:
    with transaction.atomic():
        try:
            _hold(evaluation.pk, worker)
        except EvaluationLeaseLost:
            return  # another delivery owns the job now; its outcome is the one that counts
        Evaluation.objects.filter(pk=evaluation.pk).update(
            state=EvaluationState.FAILED, error=error, finished_at=dt.datetime.now(dt.UTC)
        )
    _record_failure_event(evaluation, error)


def _hold(evaluation_id: int, worker: str) -> None:
    """Lock the job's row; EvaluationLeaseLost unless ``worker`` still holds it."""
    held = (
        Evaluation.objects.select_for_update()
        .filter(pk=evaluation_id, state=EvaluationState.RUNNING, lease_owner=worker)
        .exists()
    )
    if not held:
        raise EvaluationLeaseLost(f"evaluation {evaluation_id} is no longer held by {worker}")


def _record_failure_event(evaluation: Evaluation, error: str) -> None:
    try:
        event_record(
            run_id=evaluation.run_id,
            type=EventType.LOG,
            message=f"evaluation {evaluation.pk} failed: {error}",
            data={"evaluation": evaluation.pk, "error": error},
            actor=_actor(evaluation),
        )
    except Exception:
        log.exception("could not record the failure of evaluation %s", evaluation.pk)


def _actor(evaluation: Evaluation) -> str:
    user = evaluation.requested_by
    return f"user:{user.get_username()}" if user is not None else "system"
