"""A worker killed mid-run: beat's reaper requeues the run, another worker resumes it."""

from __future__ import annotations

import os
import signal
import time

import pytest

from monitoring.models import MetricPoint, RunEvent
from runs import services
from runs.models import Checkpoint, Run, RunStatus
from tests.support.runs import wait_run_finished
from tests.support.servers import worker_holding
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

EPOCHS = 24


def test_sigkilled_worker_run_resumes_elsewhere_with_no_gap_and_no_duplicates(
    celery_worker, second_worker, celery_beat, owner
):
    run = services.run_queue(
        owner=owner,
        trainer="digits",
        config={"epochs": EPOCHS, "batch_size": 32, "checkpoint_every": 4},
    )
    wait_for(
        lambda: Checkpoint.objects.filter(run=run, kind="periodic").exists(),
        timeout=120,
        what="a periodic checkpoint",
    )
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING
    victim = worker_holding(run.lease_owner, [celery_worker, second_worker])
    killed_at = time.time()
    os.killpg(victim.process.pid, signal.SIGKILL)  # the worker and its child, no goodbyes
    victim.process.wait(10)

    wait_run_finished(run, timeout=180, what="the run to be resumed and finish")
    assert run.status == RunStatus.COMPLETED, run.error
    assert run.attempts == 2
    requeued = RunEvent.objects.get(run=run, type="status", data__requeued=True)
    assert "stopped renewing its lease" in requeued.message
    resumed = RunEvent.objects.get(run=run, type="log", message__startswith="resuming from")
    assert resumed.data["step"] >= 4
    restarted = RunEvent.objects.get(
        run=run, type="status", data__status="running", data__attempt=2
    )
    print(
        f"\nrecovery: {restarted.created_at.timestamp() - killed_at:.1f}s from SIGKILL to "
        f"training again (lease {os.environ.get('KEISEI_LEASE_SECONDS', '6')}s)"
    )
    for key in ("losses/train_loss", "charts/val_accuracy"):
        steps = list(
            MetricPoint.objects.filter(run=run, key=key)
            .order_by("step")
            .values_list("step", flat=True)
        )
        assert steps == list(range(1, EPOCHS + 1)), key


def test_reaper_fails_a_run_out_of_attempts(owner, settings):
    import datetime as dt

    from django.utils import timezone

    settings.KEISEI_MAX_ATTEMPTS = 2
    run = Run.objects.create(
        owner=owner,
        trainer="digits",
        config={},
        status=RunStatus.RUNNING,
        attempts=2,
        lease_owner="gone:1",
        lease_expires_at=timezone.now() - dt.timedelta(seconds=1),
    )
    assert services.runs_reap_expired() == [run.pk]
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert "gave up after 2 attempts" in run.error
    assert run.lease_owner == ""


def test_reaper_leaves_a_live_lease_alone(owner):
    import datetime as dt

    from django.utils import timezone

    run = Run.objects.create(
        owner=owner,
        trainer="digits",
        config={},
        status=RunStatus.RUNNING,
        attempts=1,
        lease_owner="alive:1",
        lease_expires_at=timezone.now() + dt.timedelta(seconds=30),
    )
    assert services.runs_reap_expired() == []
    run.refresh_from_db()
    assert (run.status, run.lease_owner) == (RunStatus.RUNNING, "alive:1")


def test_worker_shutdown_hands_the_run_back_and_another_worker_finishes_it(_worker_slots, owner):
    _worker_slots["worker-b"].stop()  # one worker only, so we know who trains
    first = _worker_slots["worker-a"].ensure()
    run = services.run_queue(
        owner=owner, trainer="digits", config={"epochs": EPOCHS, "batch_size": 32}
    )
    wait_for(
        lambda: MetricPoint.objects.filter(run=run, key="losses/train_loss").count() >= 2,
        timeout=120,
        what="two epochs of training",
    )
    run.refresh_from_db()
    assert worker_holding(run.lease_owner, [first]) is first
    first.stop()  # SIGTERM, as the launcher, systemd or docker send it
    run.refresh_from_db()
    assert run.status == RunStatus.QUEUED
    released = RunEvent.objects.get(run=run, type="status", data__released=True)
    assert "its worker is shutting down" in released.message
    assert Checkpoint.objects.filter(run=run).exists()

    _worker_slots["worker-b"].ensure()

    wait_run_finished(run, timeout=180, what="the run to finish on the other worker")
    assert run.status == RunStatus.COMPLETED, run.error
    assert run.attempts == 1  # a clean hand-back is not a failed attempt
    steps = list(
        MetricPoint.objects.filter(run=run, key="losses/train_loss")
        .order_by("step")
        .values_list("step", flat=True)
    )
    assert steps == list(range(1, EPOCHS + 1))
