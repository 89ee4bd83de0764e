"""Celery tasks: ids in, one service call, nothing else."""

from celery import shared_task

from runs.execution import run_execute


@shared_task(name="runs.execute_run", acks_late=True, reject_on_worker_lost=True)
def execute_run(run_id: int) -> str:
    """Train run ``run_id`` if it is still queued (a redelivery finds it claimed and exits)."""
    return run_execute(run_id=run_id)
