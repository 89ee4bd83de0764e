"""Checkpoint storage limits: per run (KEISEI_MAX_RUN_CHECKPOINT_BYTES) and per user
(UserQuota.max_storage_bytes, else KEISEI_DEFAULT_MAX_STORAGE_BYTES). A checkpoint past
either is not stored and the refusal names the limit and its value; a user past theirs cannot
queue a run, in the API, the pages and the CLI alike."""

from __future__ import annotations

from pathlib import Path

import pytest

from keisei.interfaces import CheckpointInfo
from monitoring.models import RunEvent
from runs import services
from runs.models import Checkpoint, Run, RunStatus, UserQuota
from runs.services.checkpoints import CheckpointNotStored
from tests.support.cli import keisei
from tests.support.forms import filled
from tests.support.refusals import refusal
from tests.support.tokens import api_token
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def store(run: Run, tmp_path: Path, step: int, kind: str, size: int) -> Checkpoint:
    path = tmp_path / f"step{step}-{kind}.pt"
    path.write_bytes(bytes([step % 256]) * size)
    return services.checkpoint_record(
        run_id=run.pk, info=CheckpointInfo(path=path, step=step, kind=kind, metrics={})
    )


def stored_files(run: Run) -> list[str]:
    storage = Checkpoint._meta.get_field("file").storage
    folder = f"runs/{run.pk}/checkpoints"
    return sorted(storage.listdir(folder)[1]) if storage.exists(folder) else []


@pytest.fixture
def run(owner):
    return Run.objects.create(owner=owner, trainer="digits", config={"epochs": 2})


def test_a_checkpoint_past_the_run_limit_is_not_stored_and_the_refusal_names_it(
    run, tmp_path, settings
):
    settings.KEISEI_MAX_RUN_CHECKPOINT_BYTES = 2500
    store(run, tmp_path, 1, "manual", 1000)
    store(run, tmp_path, 2, "manual", 1000)
    files = stored_files(run)
    with pytest.raises(CheckpointNotStored) as refused:
        store(run, tmp_path, 3, "manual", 1000)
    assert "KEISEI_MAX_RUN_CHECKPOINT_BYTES" in str(refused.value)
    assert "2500 bytes" in str(refused.value)
    assert list(run.checkpoints.values_list("step", flat=True).order_by("step")) == [1, 2]
    assert stored_files(run) == files  # nothing of the refused file in storage


def test_a_periodic_checkpoint_counts_the_one_retention_deletes_for_it(run, tmp_path, settings):
    settings.KEISEI_KEEP_PERIODIC_CHECKPOINTS = 2
    settings.KEISEI_MAX_RUN_CHECKPOINT_BYTES = 2500
    store(run, tmp_path, 1, "periodic", 1000)
    store(run, tmp_path, 2, "periodic", 1000)
    # 3000 bytes for a moment, 2000 once step 1 is pruned: within the limit.
    store(run, tmp_path, 3, "periodic", 1000)
    assert list(run.checkpoints.values_list("step", flat=True).order_by("step")) == [2, 3]
    with pytest.raises(CheckpointNotStored, match="KEISEI_MAX_RUN_CHECKPOINT_BYTES"):
        store(run, tmp_path, 4, "manual", 1000)  # a manual one frees nothing


def test_the_users_limit_counts_every_run_of_theirs_and_refuses_queueing_past_it(
    owner, outsider, tmp_path, api_client, client
):
    UserQuota.objects.create(user=owner, max_running=2, max_queued=5, max_storage_bytes=1500)
    first = Run.objects.create(owner=owner, trainer="digits", config={}, status="completed")
    second = Run.objects.create(owner=owner, trainer="digits", config={}, status="completed")
    theirs = Run.objects.create(owner=outsider, trainer="digits", config={})
    store(theirs, tmp_path, 1, "manual", 5000)  # another user's files count for them only
    store(first, tmp_path, 1, "manual", 1000)
    with pytest.raises(CheckpointNotStored) as refused:
        store(second, tmp_path, 1, "manual", 1000)
    assert "max_storage_bytes" in str(refused.value) and "1500 bytes" in str(refused.value)

    me = api_client(owner).get("/api/v1/me/").json()
    assert (me["usage"]["storage_bytes"], me["quota"]["max_storage_bytes"]) == (1000, 1500)

    store(second, tmp_path, 2, "manual", 500)  # exactly at the limit: stored
    answer = api_client(owner).post(
        "/api/v1/runs/", {"trainer": "digits", "config": {"epochs": 1}}, format="json"
    )
    assert answer.status_code == 429, answer.content
    error = refusal(answer)
    assert (error["code"], error["limit"], error["value"]) == (
        "quota_exceeded",
        "max_storage_bytes",
        1500,
    )
    assert "1500 bytes" in error["message"]
    client.force_login(owner)
    page = client.post("/runs/new/", filled(client.get("/runs/new/", {"trainer": "digits"})))
    assert b"max_storage_bytes" in page.content
    assert Run.objects.filter(owner=owner, status=RunStatus.QUEUED).count() == 0
    # The other user is not held back by this one's files.
    other = api_client(outsider).post(
        "/api/v1/runs/", {"trainer": "digits", "config": {"epochs": 1}}, format="json"
    )
    assert other.status_code == 201, other.content


def test_the_cli_says_which_limit_refused_the_run(daphne_server, owner, tmp_path):
    UserQuota.objects.create(user=owner, max_running=2, max_queued=5, max_storage_bytes=1024)
    done = Run.objects.create(owner=owner, trainer="digits", config={}, status="completed")
    store(done, tmp_path, 1, "manual", 1024)
    token = api_token(owner)
    refused = keisei(
        "submit", "--trainer", "digits", "--set", "epochs=1",
        home=tmp_path, url=daphne_server, token=token,
    )  # fmt: skip
    assert refused.returncode != 0
    assert "max_storage_bytes" in refused.stderr and "1024 bytes" in refused.stderr
    shown = keisei("me", home=tmp_path, url=daphne_server, token=token)
    assert "checkpoint storage" in shown.stdout and "1.0 KiB of 1.0 KiB" in shown.stdout


def test_a_run_past_its_owners_limit_trains_on_and_its_timeline_says_why(celery_worker, owner):
    UserQuota.objects.create(user=owner, max_running=2, max_queued=5, max_storage_bytes=2048)
    run = services.run_queue(owner=owner, trainer="digits", config={"epochs": 2, "batch_size": 64})
    wait_for(
        lambda: Run.objects.get(pk=run.pk).status in (RunStatus.COMPLETED, RunStatus.FAILED),
        timeout=120,
        what="the run to finish",
    )
    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED, run.error
    assert not run.checkpoints.exists()
    said = list(RunEvent.objects.filter(run=run, message__contains="not stored"))
    assert said, "the timeline says the checkpoint was not stored"
    assert "max_storage_bytes" in said[0].message and "2048 bytes" in said[0].message
