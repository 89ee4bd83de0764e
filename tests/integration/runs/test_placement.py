"""Worker placement on the real PostgreSQL and broker: what a worker may claim, where a run's
wake-up goes, what a queued run says it waits for, and the worker registry.

GPU execution itself is not tested here (this machine has no GPU): a GPU worker is a claim
with ``gpus=1`` or a registry row, never a faked device.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from monitoring import worker_registry
from monitoring.models import WorkerNode
from monitoring.queues import TRAINING_GPU_QUEUE, TRAINING_QUEUE, is_missing_queue, queue_depths
from runs import selectors, services
from runs.models import Run, RunStatus, UserQuota
from tests.support.runs import wait_run_finished
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def _purge_gpu_queue() -> None:
    from celery import current_app
    from kombu.exceptions import ChannelError

    with current_app.connection_for_write() as conn:
        try:
            conn.default_channel.queue_purge(TRAINING_GPU_QUEUE)
        except ChannelError as error:  # RabbitMQ: not declared yet, so nothing to purge
            if not is_missing_queue(error):
                raise


@pytest.fixture
def empty_gpu_queue():
    """No test worker consumes ``training-gpu``: what a test sends there stays until purged."""
    _purge_gpu_queue()
    yield
    _purge_gpu_queue()


def _queued(owner, device: str | None, priority: int = 0) -> Run:
    """A queued run with no wake-up sent: only the claims in the test can take it."""
    config = {"epochs": 1} if device is None else {"epochs": 1, "device": device}
    return Run.objects.create(owner=owner, trainer="digits", config=config, priority=priority)


def _gpu_worker_online() -> WorkerNode:
    return worker_registry.node_register(
        name="gpu0@gpuhost", queues=[TRAINING_GPU_QUEUE], concurrency=1, gpus=1, pid=1
    )


def test_a_cpu_worker_never_claims_a_cuda_run(owner):
    """Seen to fail with the placement filter removed from ``run_claim_next``."""
    cuda = _queued(owner, "cuda", priority=10)
    assert services.run_claim_next(worker="host:1", gpus=0) is None
    cpu, auto = _queued(owner, "cpu"), _queued(owner, "auto")
    assert services.run_claim_next(worker="host:1", gpus=0) == cpu  # older than auto
    assert services.run_claim_next(worker="host:2", gpus=0) == auto
    cuda.refresh_from_db()
    assert (cuda.status, cuda.lease_owner) == (RunStatus.QUEUED, "")


def test_a_gpu_worker_takes_cuda_runs_first_then_auto_never_cpu(owner):
    """Seen to fail with the cuda-first preference removed (the auto run came first)."""
    UserQuota.objects.create(user=owner, max_running=10, max_queued=10)
    auto = _queued(owner, "auto", priority=5)
    legacy = _queued(owner, None, priority=5)  # a config without the field is auto
    cpu = _queued(owner, "cpu", priority=50)
    cuda = _queued(owner, "cuda")
    assert services.run_claim_next(worker="gpu:1", gpus=1) == cuda
    assert services.run_claim_next(worker="gpu:2", gpus=1) == auto
    assert services.run_claim_next(worker="gpu:3", gpus=1) == legacy
    assert services.run_claim_next(worker="gpu:4", gpus=1) is None
    cpu.refresh_from_db()
    assert cpu.status == RunStatus.QUEUED


def test_a_cuda_run_is_woken_on_the_gpu_queue(owner, empty_gpu_queue):
    """Seen to fail with ``wake_worker`` sending every run to ``training``."""
    services.run_queue(owner=owner, trainer="digits", config={"epochs": 1, "device": "cuda"})
    wait_for(
        lambda: queue_depths(queues=(TRAINING_GPU_QUEUE,))[TRAINING_GPU_QUEUE] == 1,
        timeout=10,
        what="the cuda run's wake-up in training-gpu",
    )


def test_an_auto_run_is_woken_on_the_gpu_queue_while_a_gpu_worker_is_online(owner, empty_gpu_queue):
    _gpu_worker_online()
    services.run_queue(owner=owner, trainer="digits", config={"epochs": 1})
    wait_for(
        lambda: queue_depths(queues=(TRAINING_GPU_QUEUE,))[TRAINING_GPU_QUEUE] == 1,
        timeout=10,
        what="the auto run's wake-up in training-gpu",
    )


def test_stranded_cuda_runs_are_woken_on_the_gpu_queue_once(owner, settings, empty_gpu_queue):
    settings.KEISEI_STRANDED_RUN_SECONDS = 1
    run = _queued(owner, "cuda")
    Run.objects.filter(pk=run.pk).update(updated_at=timezone.now() - dt.timedelta(seconds=5))
    assert services.runs_wake_stranded() == 1
    assert queue_depths(queues=(TRAINING_GPU_QUEUE,))[TRAINING_GPU_QUEUE] == 1
    # Its wake-up waits in training-gpu (no GPU worker): none more is sent.
    assert services.runs_wake_stranded() == 0


def test_a_cuda_run_says_on_the_api_and_the_page_that_it_waits_for_a_gpu_worker(
    owner, api_client, client, empty_gpu_queue
):
    """Seen to fail with ``waiting_for`` left out of the serializer and the page."""
    response = api_client(owner).post(
        "/api/v1/runs/", {"trainer": "digits", "config": {"device": "cuda"}}, format="json"
    )
    assert response.status_code == 201, response.content
    run_id = response.json()["id"]
    body = api_client(owner).get(f"/api/v1/runs/{run_id}/").json()
    assert body["status"] == "queued"
    assert "a GPU worker: none is online" in body["waiting_for"]
    listed = api_client(owner).get("/api/v1/runs/").json()["results"]
    assert "GPU worker" in listed[0]["waiting_for"]
    client.force_login(owner)
    page = client.get(f"/runs/{run_id}/").content.decode()
    assert 'id="waiting-for"' in page and "Waiting for a GPU worker" in page

    _gpu_worker_online()
    assert api_client(owner).get(f"/api/v1/runs/{run_id}/").json()["waiting_for"] is None
    assert 'id="waiting-for"' not in client.get(f"/runs/{run_id}/").content.decode()


def test_a_device_that_is_not_offered_is_refused_naming_the_field(owner, api_client):
    response = api_client(owner).post(
        "/api/v1/runs/", {"trainer": "digits", "config": {"device": "tpu"}}, format="json"
    )
    assert response.status_code == 400
    assert "config.device" in response.json()["error"]["fields"]


def test_a_real_cpu_worker_trains_cpu_runs_and_leaves_a_cuda_run_queued(
    celery_worker, owner, empty_gpu_queue
):
    """A wake-up for the cuda run that reaches the CPU worker anyway (sent to ``training``
    by hand) trains nothing: the claim filters, not only the routing. Seen to fail with the
    placement filter removed from ``run_claim_next`` (the CPU worker trained the cuda run)."""
    from celery import current_app

    cuda = services.run_queue(owner=owner, trainer="digits", config={"epochs": 1, "device": "cuda"})
    current_app.send_task("runs.train_next_run", args=[cuda.pk], queue=TRAINING_QUEUE)
    wait_for(
        lambda: any(f"woken for run {cuda.pk}, but no" in line for line in celery_worker.output),
        timeout=60,
        what="the CPU worker to turn the cuda run's wake-up away",
    )
    cpu = services.run_queue(owner=owner, trainer="digits", config={"epochs": 1, "device": "cpu"})
    wait_run_finished(cpu, timeout=120, what="the cpu run to finish")
    assert cpu.status == RunStatus.COMPLETED, cpu.error
    cuda.refresh_from_db()
    assert (cuda.status, cuda.attempts) == (RunStatus.QUEUED, 0)


def test_a_worker_registers_its_name_and_capabilities_and_shows_on_the_system_api(
    celery_worker, owner, api_client
):
    """The row is written by the worker itself (at start, then on its heartbeat, which
    registers it again after a test flushed the table)."""
    node = wait_for(
        lambda: WorkerNode.objects.filter(name__startswith="worker-a@").first(),
        timeout=40,
        what="the worker to register itself",
    )
    assert (node.gpus, node.concurrency, node.queues) == (0, 1, ["default", "training"])
    assert node.stopped_at is None
    body = api_client(owner).get("/api/v1/system/").json()
    listed = {n["name"]: n for n in body["nodes"]}
    assert listed[node.name]["device"] == "cpu"
    assert listed[node.name]["state"] == "online"
    assert listed[node.name]["queues"] == ["default", "training"]
    assert selectors.worker_capacity().cpu


def test_the_system_page_lists_registered_workers(client, owner):
    _gpu_worker_online()
    WorkerNode.objects.filter(name="gpu0@gpuhost").update(
        last_seen_at=timezone.now() - dt.timedelta(minutes=5)
    )
    client.force_login(owner)
    page = client.get("/system/").content.decode()
    assert 'data-node="gpu0@gpuhost"' in page
    assert "GPU (1)" in page and "training-gpu" in page and "silent" in page
