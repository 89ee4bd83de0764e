"""A real Celery worker trains queued runs: rows in PostgreSQL, commands, failures."""

from __future__ import annotations

import hashlib

import pytest

from monitoring.models import MetricPoint, RunEvent
from monitoring.queues import TRAINING_QUEUE
from runs import services
from runs.models import Checkpoint, Command, Run, RunStatus
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.django_db(transaction=True)]

RUN_TIMEOUT = 120


def wait_for_status(run: Run, *statuses: str) -> Run:
    def reached():
        run.refresh_from_db()
        return run.status in statuses

    wait_for(reached, timeout=RUN_TIMEOUT, what=f"run {run.pk} to become {'/'.join(statuses)}")
    return run


def test_worker_trains_digits_and_stores_metrics_and_timeline(celery_worker, owner):
    run = services.run_queue(owner=owner, trainer="digits", config={"epochs": 4})
    wait_for_status(run, RunStatus.COMPLETED, RunStatus.FAILED)
    assert run.status == RunStatus.COMPLETED, run.error
    assert (run.step, run.total_steps, run.progress, run.attempts) == (4, 4, 1.0, 1)
    assert run.lease_owner == ""
    steps = list(
        MetricPoint.objects.filter(run=run, key="charts/val_accuracy")
        .order_by("step")
        .values_list("step", flat=True)
    )
    assert steps == [1, 2, 3, 4]
    assert MetricPoint.objects.get(run=run, key="charts/val_accuracy", step=4).value > 0.5
    events = list(RunEvent.objects.filter(run=run).order_by("seq"))
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    statuses = [e.data["status"] for e in events if e.type == "status"]
    assert statuses == ["queued", "running", "completed"]
    event = next(e for e in events if e.type == "checkpoint")
    assert event.data["kind"] == "final" and event.data["step"] == 4
    checkpoint = Checkpoint.objects.get(run=run)
    assert (checkpoint.pk, checkpoint.kind, checkpoint.step) == (
        event.data["checkpoint"],
        "final",
        4,
    )
    with checkpoint.file.open("rb") as fh:
        assert hashlib.sha256(fh.read()).hexdigest() == checkpoint.sha256


def test_trainer_that_raises_fails_the_run_and_the_worker_goes_on(celery_worker, owner):
    broken = services.run_queue(owner=owner, trainer="broken", config={"fail_at": 3})
    wait_for_status(broken, RunStatus.COMPLETED, RunStatus.FAILED)
    assert broken.status == RunStatus.FAILED
    assert broken.error == "RuntimeError: the model diverged at step 3"
    log = RunEvent.objects.get(run=broken, type="log", message__startswith="training failed")
    assert "the model diverged" in log.data["traceback"]
    # Points reported before the failure are kept.
    assert MetricPoint.objects.filter(run=broken).count() == 2
    after = services.run_queue(owner=owner, trainer="digits", config={"epochs": 1})
    assert wait_for_status(after, RunStatus.COMPLETED, RunStatus.FAILED).status == "completed"
    celery_worker.ensure_alive()


def test_stop_command_ends_a_running_run_with_a_final_checkpoint(celery_worker, owner):
    run = services.run_queue(owner=owner, trainer="digits", config={"epochs": 500, "batch_size": 8})
    wait_for(
        lambda: MetricPoint.objects.filter(run=run).exists(),
        timeout=RUN_TIMEOUT,
        what="the first metrics",
    )
    run.refresh_from_db()
    command = services.command_request(run=run, user=owner, kind="stop")
    try:
        wait_for_status(run, RunStatus.STOPPED, RunStatus.COMPLETED, RunStatus.FAILED)
    except AssertionError as exc:  # what the worker and the command were doing, to tell why
        command.refresh_from_db()
        raise AssertionError(
            f"{exc}; the command is {command.state}; worker-a said:\n{celery_worker.log_tail(80)}"
        ) from None
    assert run.status == RunStatus.STOPPED  # a person's stop reads as stopped, not cancelled
    assert run.step < 500
    command.refresh_from_db()
    assert command.state == "done" and command.acknowledged_at is not None
    final = RunEvent.objects.get(run=run, type="checkpoint")
    assert final.data["kind"] == "final"


def test_pause_and_resume_through_commands(celery_worker, owner):
    run = services.run_queue(owner=owner, trainer="digits", config={"epochs": 500, "batch_size": 8})
    wait_for_status(run, RunStatus.RUNNING)
    services.command_request(run=run, user=owner, kind="pause")
    wait_for_status(run, RunStatus.PAUSED)
    paused_at = run.step
    services.command_request(run=run, user=owner, kind="resume")
    wait_for_status(run, RunStatus.RUNNING)
    services.command_request(run=run, user=owner, kind="stop")
    wait_for_status(run, RunStatus.STOPPED)
    assert run.step >= paused_at
    states = list(Command.objects.filter(run=run).values_list("kind", "state"))
    assert states == [("pause", "done"), ("resume", "done"), ("stop", "done")]


def test_a_second_delivery_to_a_second_worker_does_not_train_it_again(
    celery_worker, second_worker, owner
):
    from celery import current_app

    epochs = 30
    run = services.run_queue(
        owner=owner, trainer="digits", config={"epochs": epochs, "batch_size": 16}
    )
    wait_for_status(run, RunStatus.RUNNING)
    # Celery redelivers unacked tasks (worker loss, visibility timeout): simulate that now.
    current_app.send_task("runs.train_next_run", args=[run.pk], queue=TRAINING_QUEUE)
    wait_for(
        lambda: any(
            "no queued run can start now" in line
            for w in (celery_worker, second_worker)
            for line in w.output
        ),
        timeout=RUN_TIMEOUT,
        what="the second delivery to be turned away",
    )
    wait_for_status(run, RunStatus.COMPLETED)
    assert run.attempts == 1
    assert RunEvent.objects.filter(run=run, type="status", data__status="running").count() == 1
    steps = list(
        MetricPoint.objects.filter(run=run, key="losses/train_loss")
        .order_by("step")
        .values_list("step", flat=True)
    )
    assert steps == list(range(1, epochs + 1))
