"""Checkpoints: stored with a hash, pruned by retention, fetched back for a resume."""

from __future__ import annotations

import hashlib
import logging
from functools import partial
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.storage import Storage
from django.db import transaction

from keisei.interfaces import CheckpointInfo
from runs.models import Checkpoint, CheckpointKind, Run
from runs.services.errors import CheckpointUnusable, QuotaExceeded
from runs.services.quotas import quota_check_checkpoint

log = logging.getLogger(__name__)

CHUNK = 1 << 20


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class CheckpointNotStored(Exception):
    """The artifact store refused a checkpoint file (full, unwritable) or kept a copy that is
    not the file: nothing was recorded and nothing of it is left in storage."""


def checkpoint_record(*, run_id: int, info: CheckpointInfo) -> Checkpoint:
    """Copy a finished checkpoint file into storage, record it, and apply retention.

    The row, which is what downloads and resumes go through, is written only once the stored
    copy is whole: read back, its sha256 is the file's. A copy that failed or does not match
    is deleted (a full disk leaves half a file behind) and ``CheckpointNotStored`` raised.
    """
    checkpoint = Checkpoint(
        run_id=run_id,
        step=info.step,
        kind=info.kind if info.kind in CheckpointKind.values else CheckpointKind.MANUAL,
        size=info.path.stat().st_size,
        sha256=file_sha256(info.path),
        metrics={k: float(v) for k, v in info.metrics.items()},
    )
    reclaimed = 0
    if checkpoint.kind == CheckpointKind.PERIODIC:
        # It takes the place of the oldest periodic one, which retention then deletes.
        keep = settings.KEISEI_KEEP_PERIODIC_CHECKPOINTS - 1
        reclaimed = sum(c.size for c in _pruned(run_id, keep=keep))
    try:
        quota_check_checkpoint(
            run=Run.objects.get(pk=run_id), size=checkpoint.size, reclaimed=reclaimed
        )
    except QuotaExceeded as exc:
        raise CheckpointNotStored(str(exc)) from exc
    field, storage = checkpoint.file.field, checkpoint.file.storage
    # The name is settled before writing so that a failed write's leftovers can be found:
    # only this run's one worker writes under runs/<id>/checkpoints/.
    name = storage.get_available_name(
        field.generate_filename(checkpoint, info.path.name), max_length=field.max_length
    )
    try:
        with open(info.path, "rb") as fh:
            name = storage.save(name, File(fh), max_length=field.max_length)
        stored_sha256 = _stored_sha256(storage, name)
        if stored_sha256 != checkpoint.sha256:
            raise CheckpointNotStored(
                f"the stored copy of {info.path.name} has sha256 {stored_sha256}, not the "
                f"file's {checkpoint.sha256}"
            )
        checkpoint.file.name = name
        checkpoint.save()
    except BaseException as exc:
        # Nothing half-written stays behind, whatever went wrong (a retry after a database
        # outage stores the file again).
        _delete_quietly(storage, name)
        if isinstance(exc, OSError):
            raise CheckpointNotStored(f"the artifact store refused the file: {exc}") from exc
        raise
    checkpoints_prune(run_id=run_id)
    return checkpoint


def _stored_sha256(storage: Storage, name: str) -> str:
    digest = hashlib.sha256()
    with storage.open(name, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _delete_quietly(storage: Storage, name: str) -> None:
    try:
        storage.delete(name)
    except Exception:
        log.exception("could not delete the partial checkpoint file %s", name)


def checkpoints_prune(*, run_id: int) -> list[int]:
    """Keep the last N periodic checkpoints and every manual, backup, best and final one."""
    doomed = _pruned(run_id, keep=settings.KEISEI_KEEP_PERIODIC_CHECKPOINTS)
    for checkpoint in doomed:
        name, storage = checkpoint.file.name, checkpoint.file.storage
        checkpoint.delete()
        # Rows and files go together; the file after the row commits, so no row points at nothing.
        transaction.on_commit(partial(storage.delete, name))
    return [c.pk for c in doomed]


def _pruned(run_id: int, *, keep: int) -> list[Checkpoint]:
    """The periodic checkpoints past the newest ``keep``; a checkpoint a fork starts from
    stays, whatever its kind."""
    periodic = Checkpoint.objects.filter(run_id=run_id, kind=CheckpointKind.PERIODIC).order_by(
        "-step", "-id"
    )
    return [c for c in periodic[max(keep, 0) :] if not c.forks.exists()]


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
