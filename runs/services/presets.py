"""Presets: named configs saved by users, next to the ones trainers ship."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import IntegrityError, transaction

from keisei.registry import UnknownTrainer, get_trainer
from runs.access import presets_owned, presets_visible
from runs.models import Preset
from runs.services.errors import NotFound, RunConfigError
from runs.services.lifecycle import config_validate


def preset_create(
    *,
    owner: Any,
    name: str,
    trainer: str,
    config: Mapping[str, Any],
    description: str = "",
    shared: bool = False,
) -> Preset:
    """Validate the config like a run's and store it under ``name``."""
    name = name.strip()
    if not name:
        raise RunConfigError({"name": ["a preset needs a name"]})
    validated = config_validate(trainer=trainer, config=config)
    try:
        with transaction.atomic():
            return Preset.objects.create(
                owner=owner,
                name=name,
                trainer=trainer,
                config=validated,
                description=description.strip(),
                shared=shared,
            )
    except IntegrityError:
        raise RunConfigError({"name": [f"you already have a {trainer} preset '{name}'"]}) from None


def preset_delete(*, user: Any, preset_id: int) -> None:
    """Remove one of ``user``'s presets; ``NotFound`` for anyone else's (or none)."""
    deleted, _ = presets_owned(user=user).filter(pk=preset_id).delete()
    if not deleted:
        raise NotFound("no such preset of yours")


def preset_config(*, user: Any, trainer: str, preset: str, changes: Any = None) -> dict[str, Any]:
    """The config a preset names (a trainer's own by name, or ``<id>`` of a visible row) with
    ``changes`` over it: the run page's starting values and the API's ``preset`` alike."""
    if changes is not None and not isinstance(changes, Mapping):
        raise RunConfigError({"config": ["must be an object"]})
    return {**_preset_base(user=user, trainer=trainer, preset=preset), **(changes or {})}


def _preset_base(*, user: Any, trainer: str, preset: str) -> dict[str, Any]:
    try:
        trainer_cls = get_trainer(trainer)
    except UnknownTrainer as exc:
        raise RunConfigError({"trainer": [str(exc)]}) from exc
    if preset in trainer_cls.presets:
        return dict(trainer_cls.presets[preset])
    row = None
    if preset.isdigit():
        row = presets_visible(user=user).filter(pk=int(preset), trainer=trainer).first()
    if row is None:
        known = ", ".join(sorted(trainer_cls.presets)) or "none"
        raise RunConfigError(
            {"preset": [f"no preset '{preset}' for {trainer} (built in: {known}; or a preset id)"]}
        )
    return dict(row.config)
