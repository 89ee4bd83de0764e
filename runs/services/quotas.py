"""Per-user and global limits, checked when a run is queued, when one is claimed and when a
checkpoint is stored."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Sum
from django.template.defaultfilters import filesizeformat

from runs.models import ACTIVE_STATUSES, Checkpoint, Run, RunStatus, UserQuota
from runs.services.errors import QuotaExceeded


@dataclass(frozen=True)
class Quota:
    max_running: int
    max_queued: int
    max_storage_bytes: int


def quota_for(user_id: int) -> Quota:
    """The user's own limits, or the defaults from settings."""
    row = UserQuota.objects.filter(user_id=user_id).first()
    default_storage = settings.KEISEI_DEFAULT_MAX_STORAGE_BYTES
    if row is not None:
        storage = row.max_storage_bytes if row.max_storage_bytes is not None else default_storage
        return Quota(row.max_running, row.max_queued, storage)
    return Quota(
        settings.KEISEI_DEFAULT_MAX_RUNNING, settings.KEISEI_DEFAULT_MAX_QUEUED, default_storage
    )


def storage_used(*, owner_id: int | None = None, run_id: int | None = None) -> int:
    """Bytes of stored checkpoints of one user's runs, or of one run."""
    if run_id is not None:
        rows = Checkpoint.objects.filter(run_id=run_id)
    else:
        rows = Checkpoint.objects.filter(run__owner_id=owner_id)
    return int(rows.aggregate(total=Sum("size"))["total"] or 0)


def quota_check_checkpoint(*, run: Run, size: int, reclaimed: int = 0) -> None:
    """Refuse a checkpoint of ``size`` bytes that would take the run or its owner past their
    storage limit; ``reclaimed`` is what retention deletes once it is stored. Not locked: two
    runs of one user storing at the same moment may pass the limit by one file."""
    run_limit = settings.KEISEI_MAX_RUN_CHECKPOINT_BYTES
    run_used = storage_used(run_id=run.pk) - reclaimed
    if run_used + size > run_limit:
        raise QuotaExceeded(
            f"this run's checkpoints would take {filesizeformat(run_used + size)}; a run may "
            f"hold {filesizeformat(run_limit)} "
            f"({run_limit} bytes, KEISEI_MAX_RUN_CHECKPOINT_BYTES)",
            limit="max_run_checkpoint_bytes",
            value=run_limit,
        )
    user_limit = quota_for(run.owner_id).max_storage_bytes
    user_used = storage_used(owner_id=run.owner_id) - reclaimed
    if user_used + size > user_limit:
        raise QuotaExceeded(
            f"your checkpoints would take {filesizeformat(user_used + size)}; your limit is "
            f"{filesizeformat(user_limit)} ({user_limit} bytes, max_storage_bytes)",
            limit="max_storage_bytes",
            value=user_limit,
        )


def quota_check_queue(owner: Any) -> None:
    """Refuse a new queued run past the owner's or the site's limit (names the limit).

    Call inside the queueing transaction: the owner's row lock makes two requests at once
    count each other.
    """
    # FOR NO KEY UPDATE: orders queue requests, leaves the owner's other writes alone.
    get_user_model().objects.select_for_update(no_key=True).filter(pk=owner.pk).first()
    quota = quota_for(owner.pk)
    queued = Run.objects.filter(owner=owner, status=RunStatus.QUEUED).count()
    if queued >= quota.max_queued:
        raise QuotaExceeded(
            f"you have {queued} runs queued; your limit is {quota.max_queued} (max_queued)",
            limit="max_queued",
            value=quota.max_queued,
        )
    used = storage_used(owner_id=owner.pk)
    if used >= quota.max_storage_bytes:
        raise QuotaExceeded(
            f"your checkpoints take {filesizeformat(used)}; your limit is "
            f"{filesizeformat(quota.max_storage_bytes)} ({quota.max_storage_bytes} bytes, "
            "max_storage_bytes): delete finished runs to queue another",
            limit="max_storage_bytes",
            value=quota.max_storage_bytes,
        )
    waiting = Run.objects.filter(status__in=(RunStatus.QUEUED, *ACTIVE_STATUSES)).count()
    if waiting >= settings.KEISEI_GLOBAL_MAX_QUEUED:
        raise QuotaExceeded(
            f"the site has {waiting} runs queued or running; its limit is "
            f"{settings.KEISEI_GLOBAL_MAX_QUEUED} (KEISEI_GLOBAL_MAX_QUEUED)",
            limit="global_max_queued",
            value=settings.KEISEI_GLOBAL_MAX_QUEUED,
        )
