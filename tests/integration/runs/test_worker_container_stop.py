"""`docker stop` of a worker container: SIGTERM reaches the container's first process alone.
Through docker/group-term.sh (the workers' entry point in docker/compose.yaml) it reaches the
training process too, so the run checkpoints and goes back to the queue at once, as it does
when `make run` or systemd signal the whole worker."""

from __future__ import annotations

import os
import signal

import pytest

from keisei_site.launcher import celery_worker_args
from monitoring.models import MetricPoint, RunEvent
from runs import services
from runs.models import RunStatus
from tests.support.runs import wait_run_finished
from tests.support.servers import ServerProcess
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

GROUP_TERM = "docker/group-term.sh"


def test_sigterm_to_the_first_process_hands_the_run_back(_worker_slots, servers_env, owner):
    for slot in _worker_slots.values():
        slot.stop()  # this test's worker alone takes the run
    args = ["sh", GROUP_TERM, *celery_worker_args("container", "training,default", "1")]
    worker = ServerProcess("container-worker", args, servers_env).start()
    try:
        wait_for(
            lambda: worker.ensure_alive() or "ready." in "\n".join(worker.output),
            timeout=60,
            what="the wrapped Celery worker to be ready",
        )
        run = services.run_queue(
            owner=owner, trainer="digits", config={"epochs": 40, "batch_size": 32}
        )
        wait_for(
            lambda: MetricPoint.objects.filter(run=run, key="losses/train_loss").count() >= 2,
            timeout=120,
            what="two epochs of training",
        )
        assert worker.process is not None
        os.kill(worker.process.pid, signal.SIGTERM)  # as Docker does: the first process only

        def handed_back() -> bool:
            run.refresh_from_db()
            return run.status == RunStatus.QUEUED

        wait_for(handed_back, timeout=30, what="the run to be handed back")
        released = RunEvent.objects.get(run=run, type="status", data__released=True)
        assert "its worker is shutting down" in released.message
        wait_for(lambda: not worker.alive(), timeout=30, what="the wrapped worker to exit")
    finally:
        worker.stop()
    _worker_slots["worker-a"].ensure()
    wait_run_finished(run, timeout=180, what="the run to finish on another worker")
    assert run.status == RunStatus.COMPLETED, run.error
