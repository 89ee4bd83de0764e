"""Checkpoints: stored with a hash, pruned by retention, fetched back for a resume."""

from __future__ import annotations

import hashlib
from functools import partial
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.db import transaction

from keisei.interfaces import CheckpointInfo
from runs.models import Checkpoint, CheckpointKind
from runs.services.errors import CheckpointUnusable

CHUNK = 1 << 20


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def checkpoint_record(*, run_id: int, info: CheckpointInfo) -> Checkpoint:
    """Copy a finished checkpoint file into storage, record it, and apply retention."""
    checkpoint = Checkpoint(
        run_id=run_id,
        step=info.step,
        kind=info.kind if info.kind in CheckpointKind.values else CheckpointKind.MANUAL,
        size=info.path.stat().st_size,
        sha256=file_sha256(info.path),
        metrics={k: float(v) for k, v in info.metrics.items()},
    )
    with open(info.path, "rb") as fh:
        checkpoint.file.save(info.path.name, File(fh), save=False)
    checkpoint.save()
    checkpoints_prune(run_id=run_id)
    return checkpoint


def checkpoints_prune(*, run_id: int) -> list[int]:
    """Keep the last N periodic checkpoints and every manual, backup, best and final one."""
    keep = settings.KEISEI_KEEP_PERIODIC_CHECKPOINTS
    periodic = Checkpoint.objects.filter(run_id=run_id, kind=CheckpointKind.PERIODIC).order_by(
        "-step", "-id"
    )
    doomed = list(periodic[keep:])
    # A checkpoint a fork starts from stays, whatever its kind.
    doomed = [c for c in doomed if not c.forks.exists()]
    for checkpoint in doomed:
        name, storage = checkpoint.file.name, checkpoint.file.storage
        checkpoint.delete()
        # Rows and files go together; the file after the row commits, so no row points at nothing.
        transaction.on_commit(partial(storage.delete, name))
    return [c.pk for c in doomed]


def checkpoint_fetch(checkpoint: Checkpoint, directory: Path) -> Path:
    """Copy a checkpoint from storage to ``directory`` and check its hash before any use."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / Path(checkpoint.file.name).name
    storage = checkpoint.file.storage
    if not storage.exists(checkpoint.file.name):
        raise CheckpointUnusable(
            f"checkpoint {checkpoint.pk} (step {checkpoint.step}): file {checkpoint.file.name} "
            "is missing from storage"
        )
    digest = hashlib.sha256()
    with storage.open(checkpoint.file.name, "rb") as src, open(target, "wb") as dst:
        while chunk := src.read(CHUNK):
            digest.update(chunk)
            dst.write(chunk)
    if digest.hexdigest() != checkpoint.sha256:
        target.unlink(missing_ok=True)
        raise CheckpointUnusable(
            f"checkpoint {checkpoint.pk} (step {checkpoint.step}): sha256 {digest.hexdigest()} "
            f"does not match the recorded {checkpoint.sha256}"
        )
    return target
