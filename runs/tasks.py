"""Celery tasks: ids in, one service call, nothing else."""

from celery import shared_task

from runs import services
from runs.execution import run_execute


@shared_task(name="runs.execute_run", acks_late=True, reject_on_worker_lost=True)
def execute_run(run_id: int) -> str:
    """Train the queued run that should go next (see ``services.run_claim_next``)."""
    return run_execute(woken_by=run_id)


@shared_task(name="runs.reap_expired_leases")
def reap_expired_leases() -> dict[str, list[int]]:
    """Beat: requeue runs and evaluation jobs whose worker died; fail those out of attempts."""
    return {
        "runs": services.runs_reap_expired(),
        "evaluations": services.evaluations_reap_expired(),
    }


@shared_task(name="runs.wake_stranded_runs")
def wake_stranded_runs() -> int:
    """Beat: wake workers for startable queued runs whose wake-up was lost."""
    return services.runs_wake_stranded()


@shared_task(name="runs.evaluate_checkpoint")
def evaluate_checkpoint(evaluation_id: int) -> str:
    """Play a queued evaluation job (a checkpoint against an opponent) and store the result."""
    return services.evaluation_execute(evaluation_id=evaluation_id)


@shared_task(name="runs.league_round")
def league_round() -> list[int]:
    """Beat: pair neighbours in the league's rating list and play their matches."""
    return services.league_round()
