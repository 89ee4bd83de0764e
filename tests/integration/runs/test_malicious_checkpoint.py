"""A malicious pickle stored as a run's checkpoint: recording it and fetching it (the sha256
verification every download, resume and evaluation goes through) only hash its bytes, and
the portal's analysis refuses it with a clear error; its payload never runs. The engine's
loaders (resume, matches, analysis) are tested one by one in
tests/unit/keisei/test_malicious_checkpoint.py."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from keisei.interfaces import CheckpointInfo
from keisei.shogi.checkpoint import MAGIC
from runs import services
from runs.models import Run, RunStatus
from runs.services import analysis
from runs.services.checkpoints import checkpoint_fetch
from tests.support.refusals import refusal
from tests.support.shogi import TINY_SHOGI

pytestmark = pytest.mark.django_db


class Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_a_malicious_checkpoint_is_hashed_never_unpickled_and_analysis_refuses_it(
    owner, api_client, tmp_path
):
    marker = tmp_path / "payload-ran"
    evil = tmp_path / "shogi-ppo-00000064-final.pt"
    torch.save({"magic": MAGIC, "model": Payload(marker)}, evil)
    run = Run.objects.create(
        owner=owner, trainer="shogi-ppo", config=TINY_SHOGI, status=RunStatus.COMPLETED
    )
    checkpoint = services.checkpoint_record(
        run_id=run.pk, info=CheckpointInfo(path=evil, step=64, kind="final", metrics={})
    )
    fetched = checkpoint_fetch(checkpoint, tmp_path / "fetched")
    assert fetched.read_bytes() == evil.read_bytes()
    download = api_client(owner).get(f"/api/v1/runs/{run.pk}/checkpoints/{checkpoint.pk}/download/")
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == evil.read_bytes()
    assert not marker.exists()

    analysis.ANALYSERS.clear()
    answer = api_client(owner).get(
        f"/api/v1/runs/{run.pk}/analysis/", {"sfen": "startpos", "checkpoint": checkpoint.pk}
    )

    assert answer.status_code == 409, answer.content
    message = refusal(answer)["message"]
    assert f"checkpoint {checkpoint.pk}" in message and "cannot be read" in message, message
    assert "weights" in message.lower() or "unsupported global" in message.lower(), message
    assert not marker.exists(), "the payload ran"
    assert checkpoint not in analysis.ANALYSERS
