"""Real shogi-ppo checkpoints for tests: a tiny run trained headless, recorded through the
services as a worker would."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from keisei.interfaces import Callbacks, CheckpointInfo

# Two updates of four games of eight plies (about a second on one core).
TINY_SHOGI = {
    "num_envs": 4,
    "num_steps": 8,
    "max_plies": 24,
    "blocks": 1,
    "channels": 8,
    "value_hidden": 8,
    "minibatch_size": 16,
    "total_steps": 64,
    "checkpoint_every": 1,
    "precision": "fp32",
    "threads": 1,
    "spectate": False,
    "seed": 7,
}


class _Checkpoints(Callbacks):
    def __init__(self) -> None:
        self.infos: list[CheckpointInfo] = []

    def on_checkpoint(self, info: CheckpointInfo) -> None:
        self.infos.append(info)


def train_tiny_shogi(workdir: Path, **overrides: Any) -> list[CheckpointInfo]:
    """Train a tiny shogi-ppo run headless; its checkpoint files, oldest first (the last is
    the ``final`` one)."""
    from keisei.shogi.config import ShogiPPOConfig
    from keisei.shogi.trainer import ShogiPPOTrainer

    callbacks = _Checkpoints()
    config = ShogiPPOConfig(**{**TINY_SHOGI, **overrides})
    ShogiPPOTrainer(config, workdir=workdir, callbacks=callbacks).train()
    return callbacks.infos
