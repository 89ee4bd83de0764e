"""A queued run whose wake-up never reached a worker (a Redis without persistence restarted,
a purged broker) is started by beat's stranded-run check, not left waiting for ever."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from monitoring.models import RunEvent
from runs import services
from runs.models import Run, RunStatus, UserQuota
from tests.support.runs import wait_run_finished
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_queued_run_without_a_wakeup_is_started_by_beat(celery_worker, celery_beat, owner):
    # Stored as run_queue stores it, but no message was ever sent to the training queue.
    run = Run.objects.create(owner=owner, trainer="digits", config={"epochs": 2, "batch_size": 32})
    Run.objects.filter(pk=run.pk).update(updated_at=timezone.now() - dt.timedelta(minutes=5))

    wait_run_finished(run, timeout=120, what="beat to wake a worker for the stranded run")
    assert run.status == RunStatus.COMPLETED, run.error
    assert run.attempts == 1
    assert RunEvent.objects.filter(run=run, type="status", data__status="running").count() == 1


def test_a_run_whose_owner_is_at_the_running_limit_waits_until_a_place_is_free(
    celery_worker, owner
):
    UserQuota.objects.create(user=owner, max_running=1, max_queued=10)
    holder = Run.objects.create(
        owner=owner, trainer="digits", config={}, status=RunStatus.RUNNING, lease_owner="w:1"
    )
    waiting = Run.objects.create(owner=owner, trainer="digits", config={"epochs": 1})
    Run.objects.filter(pk=waiting.pk).update(updated_at=timezone.now() - dt.timedelta(minutes=5))
    assert services.runs_wake_stranded() == 0

    Run.objects.filter(pk=holder.pk).update(status=RunStatus.COMPLETED, lease_owner="")
    # Now it is woken: by this call, or by beat's if an earlier test started beat.
    services.runs_wake_stranded()
    wait_for(
        lambda: Run.objects.get(pk=waiting.pk).status == RunStatus.COMPLETED,
        timeout=120,
        what="the woken worker to train the waiting run",
    )
