"""What the site asks of a trainer by its name: whether it can do something.

The site never tests a trainer's name nor imports a trainer's package (an import-linter
contract keeps it so): a trainer declares its capabilities (``keisei.Trainer.capabilities``),
so a third-party trainer that plays games gets evaluation, samples and the league unchanged.
"""

from __future__ import annotations

from keisei.interfaces import Capability
from keisei.registry import UnknownTrainer, get_trainer

__all__ = ["Capability", "trainer_can", "trainer_plays_people"]


def trainer_can(trainer: str, capability: Capability) -> bool:
    """Whether the trainer registered as ``trainer`` declares ``capability``; False for a
    trainer this installation does not know (a run of a trainer since removed)."""
    try:
        return get_trainer(trainer).can(capability)
    except UnknownTrainer:
        return False


def trainer_plays_people(trainer: str) -> bool:
    """Whether ``trainer``'s checkpoints can play a person (the play page): they analyse
    positions and play games."""
    return trainer_can(trainer, Capability.ANALYSES_POSITIONS) and trainer_can(
        trainer, Capability.PLAYS_GAMES
    )
