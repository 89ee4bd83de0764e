"""Reads of trainers (config schema, presets) and of the caller's own quota and usage."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import Count

from keisei.registry import UnknownTrainer, available_trainers, get_trainer
from monitoring.errors import NotFound
from runs import access
from runs.models import (
    ACTIVE_STATUSES,
    Run,
    RunStatus,
)
from runs.services.quotas import quota_for, storage_used

# ----- trainers and the caller's own account --------------------------------------------------


def trainer_described(*, name: str) -> dict[str, Any]:
    """A trainer as a client needs it to queue a run: what it can do, its config's JSON
    Schema and its presets. ``NotFound`` for a name this installation does not know."""
    try:
        trainer = get_trainer(name)
    except UnknownTrainer:
        raise NotFound(f"no trainer {name!r}") from None
    return {
        "name": name,
        "description": trainer.description,
        "capabilities": sorted(str(capability) for capability in trainer.capabilities),
        "config_schema": trainer.config_schema(),
        "presets": {preset: dict(config) for preset, config in trainer.presets.items()},
    }


def trainers_described() -> list[dict[str, Any]]:
    """Every trainer this installation knows, by name."""
    return [trainer_described(name=name) for name in sorted(available_trainers())]


def user_quota_usage(*, user: Any) -> dict[str, Any]:
    """The caller's limits (their own or the site's defaults) and how much of them is used."""
    quota = quota_for(user.pk)
    counts = dict(
        Run.objects.filter(owner=user, status__in=(RunStatus.QUEUED, *ACTIVE_STATUSES))
        .order_by()  # no default ordering in the GROUP BY
        .values("status")
        .annotate(n=Count("pk"))
        .values_list("status", "n")
    )
    return {
        "username": user.get_username(),
        "is_staff": bool(user.is_staff),
        "role": access.role_of(user),
        "quota": {
            "max_running": quota.max_running,
            "max_queued": quota.max_queued,
            "max_storage_bytes": quota.max_storage_bytes,
            "max_run_checkpoint_bytes": settings.KEISEI_MAX_RUN_CHECKPOINT_BYTES,
        },
        "usage": {
            "running": sum(counts.get(status, 0) for status in ACTIVE_STATUSES),
            "queued": counts.get(RunStatus.QUEUED, 0),
            "storage_bytes": storage_used(owner_id=user.pk),
        },
    }
