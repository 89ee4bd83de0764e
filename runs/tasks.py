"""Celery tasks: ids in, one service call, nothing else."""

from celery import shared_task
from django.conf import settings

from runs import services
from runs.execution import run_execute
from runs.priority import autogroup_priority_lower, process_priority_lower
from runs.worker_lost import TrainingTask


# base: a lost pool process hands its run back at once, not after the lease (worker_lost.py).
@shared_task(
    name="runs.train_next_run", acks_late=True, reject_on_worker_lost=True, base=TrainingTask
)
def train_next_run(woken_by: int) -> str:
    """Train the queued run that should go next (``services.run_claim_next``): not always
    ``woken_by``, the run whose queueing (or end) sent this wake-up."""
    # Training yields the CPU to the web tier sharing the host (runs/priority.py).
    process_priority_lower(settings.KEISEI_TRAINING_NICE)
    autogroup_priority_lower(settings.KEISEI_TRAINING_NICE)
    return run_execute(woken_by=woken_by)


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
