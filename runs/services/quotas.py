"""Per-user and global limits, checked when a run is queued and when one is claimed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model

from runs.models import ACTIVE_STATUSES, Run, RunStatus, UserQuota
from runs.services.errors import QuotaExceeded


@dataclass(frozen=True)
class Quota:
    max_running: int
    max_queued: int


def quota_for(user_id: int) -> Quota:
    """The user's own limits, or the defaults from settings."""
    row = UserQuota.objects.filter(user_id=user_id).first()
    if row is not None:
        return Quota(row.max_running, row.max_queued)
    return Quota(settings.KEISEI_DEFAULT_MAX_RUNNING, settings.KEISEI_DEFAULT_MAX_QUEUED)


def quota_check_queue(owner: Any) -> None:
    """Refuse a new queued run past the owner's or the site's limit (names the limit).

    Call inside the queueing transaction: the owner's row lock makes two requests at once
    count each other.
    """
    get_user_model().objects.select_for_update().filter(pk=owner.pk).first()
    quota = quota_for(owner.pk)
    queued = Run.objects.filter(owner=owner, status=RunStatus.QUEUED).count()
    if queued >= quota.max_queued:
        raise QuotaExceeded(
            f"you have {queued} runs queued; your limit is {quota.max_queued} (max_queued)",
            limit="max_queued",
            value=quota.max_queued,
        )
    waiting = Run.objects.filter(status__in=(RunStatus.QUEUED, *ACTIVE_STATUSES)).count()
    if waiting >= settings.KEISEI_GLOBAL_MAX_QUEUED:
        raise QuotaExceeded(
            f"the site has {waiting} runs queued or running; its limit is "
            f"{settings.KEISEI_GLOBAL_MAX_QUEUED} (KEISEI_GLOBAL_MAX_QUEUED)",
            limit="global_max_queued",
            value=settings.KEISEI_GLOBAL_MAX_QUEUED,
        )
