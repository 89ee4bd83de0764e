"""A farm on one machine: separate worker processes under their own host names and work
folders share PostgreSQL, the broker and the artifact store (the media root).

Runs spread over the workers; a worker killed outright (its whole process group: no
hand-back, only the lease reaper) has its run resumed by another worker from the checkpoint
in the shared store; a worker started later picks up queued work. Every worker is a CPU
worker: GPU placement is tested in test_placement.py, never by faking a GPU here.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from monitoring.models import MetricPoint, RunEvent, WorkerNode
from runs import services
from runs.models import Checkpoint, Run, RunStatus
from tests.support.runs import wait_run_finished
from tests.support.servers import ServerProcess, start_celery_worker, worker_holding
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

LONG_EPOCHS = 30  # long enough to outlast a short run, a kill, a lease and a new worker
RUN_TIMEOUT = 240
NODES = {"farm1": "farm1@hostA", "farm2": "farm2@hostB", "farm3": "farm3@hostC"}


def _farm_worker(servers_env, tmp_path: Path, name: str) -> ServerProcess:
    """A worker as another host would run one: its own node name and work folder; the
    database, the broker and the media root (the artifact store) are the session's."""
    env = {
        **servers_env,
        "KEISEI_WORK_DIR": str(tmp_path / f"{name}-work"),
        "KEISEI_WORKER_HEARTBEAT_SECONDS": "1",
    }
    return start_celery_worker(env, name, host=NODES[name].split("@")[1])


def _trained_by(run: Run, attempt: int, workers: list[ServerProcess]) -> ServerProcess:
    """The worker whose pool process started ``attempt`` of ``run`` (from its status event:
    the lease owner is gone once the run ends)."""
    started = wait_for(
        lambda: RunEvent.objects.filter(
            run=run, type="status", data__status="running", data__attempt=attempt
        ).first(),
        timeout=RUN_TIMEOUT,
        what=f"attempt {attempt} of run {run.pk} to start",
    )
    return worker_holding(started.actor.removeprefix("worker:"), workers)


def _node(name: str) -> WorkerNode | None:
    return WorkerNode.objects.filter(name=name).first()


def test_runs_spread_over_a_farm_and_survive_the_loss_of_a_worker(
    _worker_slots, servers_env, celery_beat, tmp_path, owner, api_client
):
    for slot in _worker_slots.values():
        slot.stop()  # the farm's workers alone train here
    farm = [
        _farm_worker(servers_env, tmp_path, "farm1"),
        _farm_worker(servers_env, tmp_path, "farm2"),
    ]
    try:
        # Each registers itself, under its own host name.
        for worker in farm:
            node = wait_for(
                lambda w=worker: _node(NODES[w.name]), timeout=30, what=f"{worker.name} to register"
            )
            assert (node.host, node.gpus, node.queues) == (
                NODES[worker.name].split("@")[1],
                0,
                ["default", "training"],
            )

        # Two runs, two workers: each trains one.
        long_run = services.run_queue(
            owner=owner,
            trainer="digits",
            config={"epochs": LONG_EPOCHS, "batch_size": 32, "checkpoint_every": 3},
        )
        victim = _trained_by(long_run, 1, farm)
        short_run = services.run_queue(
            owner=owner, trainer="digits", config={"epochs": 2, "device": "cpu"}
        )
        survivor = _trained_by(short_run, 1, farm)
        assert survivor is not victim
        wait_run_finished(short_run, timeout=RUN_TIMEOUT, what="the short run to finish")
        assert short_run.status == RunStatus.COMPLETED, short_run.error

        # Each worker trains in its own folder.
        victim_dir = Path(victim.env["KEISEI_WORK_DIR"])
        assert any(victim_dir.glob(f"run-{long_run.pk}-*"))
        assert not any(Path(survivor.env["KEISEI_WORK_DIR"]).glob(f"run-{long_run.pk}-*"))

        # The victim goes, process group and all, once a checkpoint is in the shared store.
        checkpoint = wait_for(
            lambda: Checkpoint.objects.filter(run=long_run, kind="periodic").first(),
            timeout=RUN_TIMEOUT,
            what="a periodic checkpoint of the long run",
        )
        os.killpg(victim.process.pid, signal.SIGKILL)
        victim.process.wait(10)

        # The lease runs out, the reaper requeues it, the survivor resumes it.
        assert _trained_by(long_run, 2, farm) is survivor
        resumed = wait_for(  # written once the checkpoint is fetched, after the claim
            lambda: RunEvent.objects.filter(
                run=long_run, type="log", message__startswith="resuming"
            ).first(),
            timeout=60,
            what="the resumed attempt to say where it resumes from",
        )
        assert resumed.data["step"] >= checkpoint.step
        assert resumed.data["attempt"] == 2

        # A worker started later picks up what waits meanwhile (the survivor is busy).
        waiting = services.run_queue(owner=owner, trainer="digits", config={"epochs": 2})
        late = _farm_worker(servers_env, tmp_path, "farm3")
        farm.append(late)
        assert _trained_by(waiting, 1, farm) is late
        wait_run_finished(waiting, timeout=RUN_TIMEOUT, what="the late worker's run to finish")
        assert waiting.status == RunStatus.COMPLETED, waiting.error

        wait_run_finished(long_run, timeout=RUN_TIMEOUT, what="the resumed run to finish")
        assert long_run.status == RunStatus.COMPLETED, long_run.error
        assert long_run.attempts == 2
        requeued = RunEvent.objects.get(run=long_run, type="status", data__requeued=True)
        assert "stopped renewing its lease" in requeued.message
        steps = list(
            MetricPoint.objects.filter(run=long_run, key="losses/train_loss")
            .order_by("step")
            .values_list("step", flat=True)
        )
        assert steps == list(range(1, LONG_EPOCHS + 1))  # the step continues, no gap

        # The registry: the killed worker fell silent, the others are online.
        client = api_client(owner)
        states = wait_for(
            lambda: (lambda s: s if s.get(NODES[victim.name]) == "silent" else None)(
                {n["name"]: n["state"] for n in client.get("/api/v1/system/").json()["nodes"]}
            ),
            timeout=30,
            what="the killed worker to show as silent",
        )
        assert states[NODES[survivor.name]] == "online"
        assert states[NODES[late.name]] == "online"
    finally:
        for worker in farm:
            worker.stop()
