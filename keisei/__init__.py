"""Keisei: the Django-free training engine of Keisei Site.

The public face is small: a trainer is a class registered by name (see ``registry``), with a
pydantic config; it reports what happened through ``Callbacks`` and learns what is asked of it
through ``Control`` (both in ``interfaces``).
"""

from keisei.interfaces import (
    Callbacks,
    Capability,
    CheckpointError,
    CheckpointInfo,
    CommandRequest,
    Control,
    MatchOutcome,
    NullCallbacks,
    NullControl,
    RunOutcome,
)
from keisei.registry import available_trainers, get_trainer
from keisei.trainer import CommandError, Trainer

__all__ = [
    "Callbacks",
    "Capability",
    "CheckpointError",
    "CheckpointInfo",
    "CommandError",
    "CommandRequest",
    "Control",
    "MatchOutcome",
    "NullCallbacks",
    "NullControl",
    "RunOutcome",
    "Trainer",
    "available_trainers",
    "get_trainer",
]
