"""Celery tasks: ids in, one service call, nothing else."""

from celery import shared_task

from runs import services
from runs.execution import run_execute


@shared_task(name="runs.execute_run", acks_late=True, reject_on_worker_lost=True)
def execute_run(run_id: int) -> str:
    """Train the queued run that should go next (see ``services.run_claim_next``)."""
    return run_execute(woken_by=run_id)


@shared_task(name="runs.reap_expired_leases")
def reap_expired_leases() -> list[int]:
    """Beat: requeue runs whose worker died; fail those out of attempts."""
    return services.runs_reap_expired()
