"""Checkpoints: stored with a hash, downloadable by those who may see the run, pruned,
refused at resume when damaged, and the start of forks."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch

from keisei.interfaces import CheckpointInfo
from monitoring.models import RunEvent
from runs import services
from runs.execution import run_execute
from runs.models import Checkpoint, Run, RunStatus
from tests.support.refusals import fields
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def make_file(tmp_path: Path, name: str, payload: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(payload)
    return path


def record(run: Run, tmp_path: Path, step: int, kind: str, payload: bytes = b"") -> Checkpoint:
    path = make_file(tmp_path, f"step{step}-{kind}.pt", payload or f"state {step}".encode())
    return services.checkpoint_record(
        run_id=run.pk, info=CheckpointInfo(path=path, step=step, kind=kind, metrics={"a": 1.0})
    )


@pytest.fixture
def run(owner):
    return Run.objects.create(owner=owner, trainer="digits", config={"epochs": 2})


def test_checkpoint_is_stored_with_its_size_and_hash(run, tmp_path):
    checkpoint = record(run, tmp_path, 3, "manual", b"weights")
    assert (checkpoint.size, checkpoint.sha256) == (7, hashlib.sha256(b"weights").hexdigest())
    with checkpoint.file.open("rb") as fh:
        assert fh.read() == b"weights"


def test_download_for_the_owner_and_staff_404_for_others(
    run, tmp_path, client, owner, outsider, staff, api_client
):
    checkpoint = record(run, tmp_path, 3, "manual", b"weights")
    page_url = f"/runs/{run.pk}/checkpoints/{checkpoint.pk}/download/"
    api_url = f"/api/v1/runs/{run.pk}/checkpoints/{checkpoint.pk}/download/"
    for user in (owner, staff):
        client.force_login(user)
        response = client.get(page_url)
        assert response.status_code == 200
        assert b"".join(response.streaming_content) == b"weights"
        assert api_client(user).get(api_url).status_code == 200
    client.force_login(outsider)
    assert client.get(page_url).status_code == 404
    assert api_client(outsider).get(api_url).status_code == 404
    assert api_client(outsider).get(f"/api/v1/runs/{run.pk}/checkpoints/").status_code == 404
    listed = api_client(owner).get(f"/api/v1/runs/{run.pk}/checkpoints/").json()
    assert [c["id"] for c in listed] == [checkpoint.pk]


def test_retention_keeps_last_periodic_and_every_kept_kind(run, tmp_path, settings):
    settings.KEISEI_KEEP_PERIODIC_CHECKPOINTS = 2
    periodic = [record(run, tmp_path, step, "periodic") for step in (1, 2, 3, 4)]
    manual = record(run, tmp_path, 2, "manual")
    final = record(run, tmp_path, 5, "final")
    kept = set(Checkpoint.objects.filter(run=run).values_list("pk", flat=True))
    assert kept == {periodic[2].pk, periodic[3].pk, manual.pk, final.pk}
    storage = periodic[0].file.storage
    assert not storage.exists(periodic[0].file.name)
    assert storage.exists(periodic[3].file.name)


def test_damaged_checkpoint_fails_the_run_with_the_reason_at_resume(run, tmp_path):
    checkpoint = record(run, tmp_path, 1, "periodic", b"good bytes")
    with checkpoint.file.storage.open(checkpoint.file.name, "wb") as fh:
        fh.write(b"tampered")
    assert run_execute(worker="test:1") == RunStatus.FAILED
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert run.error.startswith("cannot resume: checkpoint")
    assert "does not match the recorded" in run.error
    checkpoint.file.storage.delete(checkpoint.file.name)
    run2 = Run.objects.create(owner=run.owner, trainer="digits", config={"epochs": 2})
    Checkpoint.objects.filter(pk=checkpoint.pk).update(run=run2)
    assert run_execute(worker="test:2") == RunStatus.FAILED
    run2.refresh_from_db()
    assert "is missing from storage" in run2.error


def test_fork_starts_from_the_checkpoint_with_an_edited_config(
    celery_worker, owner, api_client, tmp_path
):
    from keisei.digits.config import DigitsConfig
    from keisei.digits.trainer import DigitsTrainer

    parent = Run.objects.create(
        owner=owner,
        trainer="digits",
        config=services.config_validate(trainer="digits", config={"epochs": 2}),
        status=RunStatus.COMPLETED,
    )
    trainer = DigitsTrainer(DigitsConfig(epochs=2), workdir=tmp_path, device="cpu")
    trainer.train()
    path = next((tmp_path / "checkpoints").glob("*final.pt"))
    checkpoint = services.checkpoint_record(
        run_id=parent.pk, info=CheckpointInfo(path=path, step=2, kind="final")
    )
    response = api_client(owner).post(
        f"/api/v1/runs/{parent.pk}/fork/",
        {"checkpoint": checkpoint.pk, "config": {"epochs": 4}},
        format="json",
    )
    assert response.status_code == 201, response.content
    fork = Run.objects.get(pk=response.json()["id"])
    assert (fork.parent, fork.start_checkpoint, fork.config["epochs"]) == (parent, checkpoint, 4)
    bad = api_client(owner).post(
        f"/api/v1/runs/{parent.pk}/fork/",
        {"checkpoint": checkpoint.pk, "config": {"epochs": -1}},
        format="json",
    )
    assert bad.status_code == 400 and "config.epochs" in fields(bad)
    wait_for(
        lambda: Run.objects.get(pk=fork.pk).status in (RunStatus.COMPLETED, RunStatus.FAILED),
        timeout=120,
        what="the fork to be trained by the worker",
    )
    fork.refresh_from_db()
    assert fork.status == RunStatus.COMPLETED, fork.error
    resumed = RunEvent.objects.get(run=fork, type="log", message__startswith="resuming from")
    assert resumed.data["step"] == 2
    assert fork.step == 4
    assert (
        torch.load(Checkpoint.objects.get(run=fork, kind="final").file.path, weights_only=True)[
            "epoch"
        ]
        == 4
    )
