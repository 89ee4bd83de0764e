"""A shogi-ppo run whose pool process is killed after a checkpoint resumes from it, and its
stored history is the surviving trajectory's: the lost attempt's points after the checkpoint
are gone, the resumed attempt's replace them (equal, for a seeded fp32 run, to an unbroken
run's), the rollups agree with the points, and the timeline says what happened."""

from __future__ import annotations

import os
import signal

import pytest

from keisei.shogi.config import ShogiPPOConfig
from keisei.shogi.trainer import ShogiPPOTrainer
from monitoring.models import MetricPoint, RunEvent
from monitoring.services import metrics_rollups_rebuild
from runs import services
from runs.models import Checkpoint, RunStatus
from tests.support.runs import (
    assert_one_checkpoint_per_step_and_kind,
    rollup_rows,
    wait_run_finished,
)
from tests.support.shogi import TINY_SHOGI
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

UPDATE = TINY_SHOGI["num_envs"] * TINY_SHOGI["num_steps"]  # positions, the unit of steps
# Updates: room to kill between the first checkpoint and the next. A tiny update takes tens of
# milliseconds, so 20 updates could pass between seeing the first checkpoint and the kill.
CHECKPOINT_EVERY = 60
CONFIG = {
    **TINY_SHOGI,
    "total_steps": UPDATE * 150,
    "checkpoint_every": CHECKPOINT_EVERY,
    "record_selfplay_every": 0,
}


class _Metrics:
    def __init__(self) -> None:
        self.points: dict[tuple[str, int], float] = {}

    def on_metrics(self, step, metrics):
        self.points.update({(key, step): float(value) for key, value in metrics.items()})

    def __getattr__(self, name):  # every other callback: nothing to keep
        return lambda *args, **kwargs: None


def unbroken_points(config: dict, workdir) -> dict[tuple[str, int], float]:
    """The same run trained headless here, start to end, in one attempt."""
    callbacks = _Metrics()
    ShogiPPOTrainer(ShogiPPOConfig(**config), workdir=workdir, callbacks=callbacks).train()
    return callbacks.points


def deterministic(key: str) -> bool:
    return not key.startswith("time/")  # wall-clock figures differ between any two runs


def test_killed_shogi_run_resumes_and_keeps_only_the_surviving_trajectory(
    celery_worker, owner, tmp_path
):
    """Seen to fail with ``metrics_supersede_after`` left out of ``run_resume_from`` (its
    count taken as 0): the lost attempt's points after the checkpoint stayed, with wall times
    from before the resume. (Their values alone cannot show it: a seeded run recomputes the
    same ones.)"""
    run = services.run_queue(owner=owner, trainer="shogi-ppo", config=CONFIG)
    first = wait_for(
        lambda: Checkpoint.objects.filter(run=run, kind="periodic").first(),
        timeout=180,
        what="the first periodic checkpoint",
    )
    resumed_at = first.step
    wait_for(
        lambda: MetricPoint.objects.filter(run=run, step__gt=resumed_at + UPDATE).exists(),
        timeout=120,
        what="points two updates past the checkpoint",
    )
    run.refresh_from_db()
    lost = run.lease_owner
    pid = int(lost.rsplit(":", 1)[1])
    # Counted before the kill: the hand-back is so quick that the next attempt may have
    # superseded them by the time the process is seen gone. More may land before the kill.
    resumed_at = run.checkpoints.order_by("-step").values_list("step", flat=True)[0]
    lost_points = MetricPoint.objects.filter(run=run, step__gt=resumed_at).count()
    assert lost_points > 0  # the lost attempt had written past its checkpoint
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not os.path.exists(f"/proc/{pid}"), timeout=30, what="the process to die")
    # Killed well before the next checkpoint (60 updates on): the one to resume from.
    assert run.checkpoints.order_by("-step").values_list("step", flat=True)[0] == resumed_at

    wait_run_finished(run, timeout=300, what="the resumed run to finish")
    assert run.status == RunStatus.COMPLETED, run.error
    assert run.attempts == 2

    resumed = RunEvent.objects.get(run=run, type="log", message__startswith="resuming from")
    stored = list(
        MetricPoint.objects.filter(run=run).values_list("key", "step", "value", "wall_time")
    )
    # Every point after the checkpoint was written by the surviving attempt, after it resumed.
    after = [wall for _, step, _, wall in stored if step > resumed_at]
    assert after and min(after) >= resumed.created_at
    assert resumed.message.startswith(
        f"resuming from the periodic checkpoint at step {resumed_at} after the worker was lost"
    )
    assert resumed.data["superseded_points"] >= lost_points
    requeued = RunEvent.objects.get(run=run, type="status", data__requeued=True)
    assert requeued.data["lost_process"] == lost and requeued.seq < resumed.seq

    # The whole series is the unbroken run's, point for point.
    expected = unbroken_points(run.config, tmp_path)
    assert {(k, s) for k, s, _, _ in stored} == set(expected)
    mismatched = [
        (k, s, v, expected[k, s])
        for k, s, v, _ in stored
        if deterministic(k) and v != expected[k, s]
    ]
    assert not mismatched, mismatched[:5]

    # The rollups the writer kept are the ones the surviving points make.
    kept = rollup_rows(run)
    metrics_rollups_rebuild(run_id=run.pk)
    assert kept == rollup_rows(run)

    # One checkpoint per step and kind: the resumed attempt does not record its starting
    # checkpoint again (test_recovery shows this check failing for such a trainer).
    assert_one_checkpoint_per_step_and_kind(run)
