"""Evaluation jobs: a checkpoint plays a match on the ``default`` queue, outside any run.

A job is an ``Evaluation`` row that goes pending -> running -> done | failed. The result, its
game records and the run's ``evaluation`` event are written in one transaction, so a job that
fails (a missing or corrupt file) leaves a failed row with the reason and nothing half-written.
"""

from __future__ import annotations

import datetime as dt
import logging
from functools import partial
from typing import Any

from celery import current_app
from django.db import transaction
from django.utils import timezone

from keisei.interfaces import MatchOutcome
from monitoring.models import EventType
from monitoring.queues import DEFAULT_QUEUE
from monitoring.services import event_record
from runs.leases import (
    LEASE_CLEARED,
    Heartbeat,
    LeaseLost,
    lease_claim,
    lease_end,
    lease_hold,
    lease_renew,
    leases_reap,
    worker_id,
)
from runs.models import EVALUATION_LEASE, Checkpoint, Evaluation, EvaluationState, GameSource
from runs.selectors.arena import anchor_rating, checkpoint_rating
from runs.services.arena import ArenaFeed
from runs.services.errors import CheckpointUnusable, EvaluationRejected
from runs.services.matches import (
    MatchUnplayable,
    Opponent,
    OpponentRefused,
    checkpoint_label,
    match_play,
    opponent_resolve,
    opponent_words,
    trainer_plays_games,
)
from runs.services.records import game_record_store

log = logging.getLogger(__name__)

EVALUATE_CHECKPOINT_TASK = "runs.evaluate_checkpoint"
MIN_GAMES, MAX_GAMES = 2, 400
# The first games of a match are kept as records (KIF/CSA); the rest only count.
RECORDED_GAMES = 10


def evaluation_request(
    *,
    user: Any,
    checkpoint: Checkpoint,
    opponent: Any,
    games: int,
    temperature: float = 1.0,
    max_plies: int | None = None,
    min_games: int = MIN_GAMES,
) -> Evaluation:
    """Queue a match of ``checkpoint`` (of a run ``user`` may see; the caller checked) against
    ``opponent``: a built-in player of its trainer ("random") or ``checkpoint:<id>`` of any
    run ``user`` may see (``services.matches``).

    Refusals name the field (``EvaluationRejected``). The job runs after commit on ``default``.
    ``min_games``: a showcase (``services.showcase``) plays a single game to watch.
    """
    errors: dict[str, list[str]] = {}
    trainer = checkpoint.run.trainer
    if not trainer_plays_games(trainer):
        errors["checkpoint"] = [f"checkpoints of a {trainer} run do not play games"]
    if not isinstance(games, int) or not min_games <= games <= MAX_GAMES:
        errors["games"] = [f"must be a whole number from {min_games} to {MAX_GAMES}"]
    rival = None
    if "checkpoint" not in errors:
        try:
            rival = opponent_resolve(user=user, value=opponent, trainer=trainer)
        except OpponentRefused as exc:
            errors["opponent"] = [str(exc)]
    if errors or rival is None:
        raise EvaluationRejected(errors)
    with transaction.atomic():
        evaluation = Evaluation.objects.create(
            run=checkpoint.run,
            step=checkpoint.step,
            checkpoint=checkpoint,
            opponent=rival.label,
            opponent_checkpoint=rival.checkpoint,
            games=games,
            state=EvaluationState.PENDING,
            requested_by=user,
            data={
                "temperature": float(temperature),
                "max_plies": max_plies,
                "opponent": rival.name,
            },
        )
        transaction.on_commit(partial(_send, evaluation.pk))
    return evaluation


def evaluation_execute(*, evaluation_id: int, worker: str | None = None) -> str:
    """Play a pending evaluation job and store its result: 'done', 'failed', 'skipped' (not
    pending: taken by another delivery) or 'lease-lost' (reaped while it played).

    Never raises for the job's sake: a failure is the row's state and error.
    """
    worker = worker or worker_id()
    # A redelivered task (acks are late) finds the job taken and exits.
    if not lease_claim(
        EVALUATION_LEASE, pk=evaluation_id, worker=worker, source=EvaluationState.PENDING
    ):
        return "skipped"
    evaluation = Evaluation.objects.select_related(
        "checkpoint__run", "opponent_checkpoint", "requested_by"
    ).get(pk=evaluation_id)
    renew = partial(lease_renew, EVALUATION_LEASE, pk=evaluation_id, worker=worker)
    try:
        with Heartbeat(renew, name=f"lease-evaluation-{evaluation_id}"):
            outcome = _play(evaluation)
            _store_result(evaluation, outcome.result, outcome.records, worker)
    except LeaseLost:
        log.warning("evaluation %s: the lease was lost; its result is discarded", evaluation_id)
        return "lease-lost"
    except (MatchUnplayable, CheckpointUnusable) as exc:
        _store_failure(evaluation, str(exc), worker)
        return "failed"
    except Exception as exc:
        log.exception("evaluation %s failed", evaluation_id)
        _store_failure(evaluation, f"{type(exc).__name__}: {exc}", worker)
        return "failed"
    return "done"


def evaluations_reap_expired(*, now: dt.datetime | None = None) -> list[int]:
    """Jobs whose worker stopped renewing its lease: pending again and sent to a worker, or
    failed after ``KEISEI_MAX_ATTEMPTS`` tries. Called by beat; returns the ids it changed."""
    return leases_reap(
        EVALUATION_LEASE, now=now, requeued=_evaluation_requeued, gave_up=_record_failure_event
    )


def _evaluation_requeued(evaluation: Evaluation, reason: str) -> None:
    log.warning("evaluation %s requeued: %s", evaluation.pk, reason)
    transaction.on_commit(partial(_send, evaluation.pk))


def _send(evaluation_id: int) -> None:
    current_app.send_task(EVALUATE_CHECKPOINT_TASK, args=[evaluation_id], queue=DEFAULT_QUEUE)


def _play(evaluation: Evaluation) -> MatchOutcome:
    if evaluation.checkpoint is None:
        raise CheckpointUnusable("the checkpoint was deleted before the match")
    name = evaluation.data.get("opponent") or evaluation.opponent
    builtin = name in opponent_words(evaluation.checkpoint.run.trainer)
    if not builtin and evaluation.opponent_checkpoint is None:
        raise CheckpointUnusable("the opponent checkpoint was deleted before the match")
    opponent = Opponent(name=name, checkpoint=None if builtin else evaluation.opponent_checkpoint)
    names = (checkpoint_label(evaluation.checkpoint), evaluation.opponent)
    trainer = evaluation.checkpoint.run.trainer
    # The arena shows the match live (its runs' viewers), one board a second.
    feed = ArenaFeed(
        run_id=evaluation.run_id,
        owner_id=evaluation.checkpoint.run.owner_id,
        game=f"evaluation:{evaluation.pk}",
        source=GameSource.EVALUATION,
        title=evaluation.checkpoint.run.display_name,
        players=names,
        ratings=(
            checkpoint_rating(checkpoint_id=evaluation.checkpoint_id),
            anchor_rating(trainer=trainer, name=name)
            if builtin
            else checkpoint_rating(checkpoint_id=evaluation.opponent_checkpoint_id),
        ),
    )
    try:
        return match_play(
            agent=evaluation.checkpoint,
            opponent=opponent,
            games=evaluation.games,
            max_plies=evaluation.data.get("max_plies"),
            seed=evaluation.pk,
            record_games=RECORDED_GAMES,
            temperature=float(evaluation.data.get("temperature", 1.0)),
            names=names,
            watch=feed,
        )
    finally:
        feed.finish()


def _store_result(
    evaluation: Evaluation, result: dict[str, Any], records: list[dict[str, Any]], worker: str
) -> None:
    """The result, the records and the timeline event: all of them, or none, and only while
    ``worker`` still holds the job."""
    with transaction.atomic():
        lease_hold(EVALUATION_LEASE, pk=evaluation.pk, worker=worker)
        stored = []
        for record in records:
            row = game_record_store(
                run_id=evaluation.run_id,
                record={**record, "step": evaluation.step},
                source=GameSource.EVALUATION,
                checkpoint_id=evaluation.checkpoint_id,
            )
            stored.append(row.pk)
        evaluation.wins, evaluation.draws = result["wins"], result["draws"]
        evaluation.losses, evaluation.win_rate = result["losses"], result["win_rate"]
        evaluation.elo, evaluation.elo_low = result["elo"], result["elo_low"]
        evaluation.elo_high = result["elo_high"]
        evaluation.state = EvaluationState.DONE
        evaluation.finished_at = timezone.now()
        evaluation.lease_owner = LEASE_CLEARED["lease_owner"]
        evaluation.lease_expires_at = LEASE_CLEARED["lease_expires_at"]
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
    """The job failed: the row, its cleared lease and the timeline event, in one transaction;
    nothing if another delivery owns the job now (its outcome is the one that counts)."""
    with transaction.atomic():
        if lease_end(
            EVALUATION_LEASE,
            pk=evaluation.pk,
            worker=worker,
            state=EvaluationState.FAILED,
            error=error,
            finished_at=timezone.now(),
        ):
            _record_failure_event(evaluation, error)


def _record_failure_event(evaluation: Evaluation, error: str) -> None:
    # In the caller's transaction: the failed row and its event land together.
    event_record(
        run_id=evaluation.run_id,
        type=EventType.LOG,
        message=f"evaluation {evaluation.pk} failed: {error}",
        data={"evaluation": evaluation.pk, "error": error},
        actor=_actor(evaluation),
    )


def _actor(evaluation: Evaluation) -> str:
    user = evaluation.requested_by
    return f"user:{user.get_username()}" if user is not None else "system"
