"""Trainers by name: the built-in ones, any package's ``keisei.trainers`` entry points, and
``KEISEI_TRAINERS`` (``name=module:Class,...``) for trainers that are not packaged."""

from __future__ import annotations

import importlib
import os
from functools import cache
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from keisei.trainer import Trainer

# Built-ins are listed here too, so a checkout that is not pip-installed still finds them.
BUILTIN_TRAINERS = {
    "digits": "keisei.digits.trainer:DigitsTrainer",
    "shogi-ppo": "keisei.shogi.trainer:ShogiPPOTrainer",
}


class UnknownTrainer(LookupError):
    """No trainer is registered under the name asked for."""


@cache
def _targets() -> dict[str, str]:
    targets = dict(BUILTIN_TRAINERS)
    for ep in entry_points(group="keisei.trainers"):
        targets.setdefault(ep.name, ep.value)
    for item in os.environ.get("KEISEI_TRAINERS", "").split(","):
        name, sep, target = item.strip().partition("=")
        if sep and ":" in target:
            targets[name.strip()] = target.strip()
    return targets


def available_trainers() -> list[str]:
    """The names of every trainer that can be built, sorted."""
    return sorted(_targets())


@cache
def get_trainer(name: str) -> type[Trainer[Any]]:
    """The trainer class registered as ``name``; ``UnknownTrainer`` if there is none."""
    target = _targets().get(name)
    if target is None:
        known = ", ".join(available_trainers())
        raise UnknownTrainer(f"unknown trainer '{name}' (known: {known})")
    module_name, _, attr = target.partition(":")
    cls: type[Trainer[Any]] = getattr(importlib.import_module(module_name), attr)
    return cls
