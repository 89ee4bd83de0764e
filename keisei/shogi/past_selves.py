"""Past selves: the learner's own earlier weights as a training opponent.

Self-play against only the current network can chase its own tail: it learns to beat what it
plays now and forgets what beat it before. With ``train_vs_past`` a share of the games is played
against a network drawn from a pool of the learner's past weights: its weights at the start,
then every ``past_every`` updates, the newest ``past_pool_size`` kept.

One past self is drawn (uniformly, from the player's own generator) at the start of each
rollout and plays the replies of every such game in it, so the rollout still pays one batched
inference per ply for them; a game longer than a rollout may meet more than one. It samples
from its policy at temperature 1, as the learner does in self-play.

The pool travels in checkpoints with the player's generator (saved with the games), so a
stopped or killed run resumes exactly.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from keisei.shogi.env import ShogiGame
from keisei.shogi.evaluate import NetworkPlayer
from keisei.shogi.network import Precision

PAST = "past"

Weights = dict[str, torch.Tensor]


class PastSelves:
    """A pool of the learner's past weights, one of which replies in each rollout's games
    against it (a ``ScriptedPlayer``: ``rng`` and ``choose``)."""

    def __init__(self, model: nn.Module, precision: Precision, pool_size: int, seed: int) -> None:
        self.model = model.eval()  # the network the drawn weights are loaded into
        self.player = NetworkPlayer(self.model, precision, 1.0, seed)
        self.pool_size = pool_size
        self.rng = np.random.default_rng(seed)
        self.pool: list[Weights] = []
        self.drawn = -1  # the pool index playing now (-1: none drawn yet)

    def add(self, weights: Weights) -> None:
        """Keep ``weights`` (a copy the caller no longer changes), dropping the oldest past
        ``pool_size``."""
        self.pool = [*self.pool, weights][-self.pool_size :]

    def draw(self) -> None:
        """The past self for the next rollout: a uniform draw from the pool."""
        if not self.pool:
            raise RuntimeError("no past weights to draw from")
        self.drawn = int(self.rng.integers(len(self.pool)))
        self.model.load_state_dict(self.pool[self.drawn])

    def choose(self, games: list[ShogiGame]) -> list[int]:
        if self.drawn < 0:
            raise RuntimeError("draw() a past self before it plays")
        # A torch generator seeded from the player's own: its state is the one to save.
        self.player.generator = torch.Generator().manual_seed(int(self.rng.integers(2**62)))
        return self.player.choose(games)

    # ----- state for checkpoints -----------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """The pool and the index drawn (the generator travels with the games' snapshot)."""
        return {"pool": list(self.pool), "drawn": self.drawn}

    def restore(self, state: dict[str, Any]) -> None:
        """Adopt a checkpoint's pool: ValueError, with nothing changed, if it does not fit the
        network or the pool size."""
        pool = list(state["pool"])
        drawn = int(state["drawn"])
        if not pool or len(pool) > self.pool_size:
            raise ValueError(
                f"the checkpoint holds {len(pool)} past selves, the config keeps "
                f"1 to {self.pool_size}"
            )
        if not -1 <= drawn < len(pool):
            raise ValueError(f"the checkpoint's drawn past self ({drawn}) is not in its pool")
        before = {k: v.clone() for k, v in self.model.state_dict().items()}
        try:
            for weights in pool:
                self.model.load_state_dict(weights)
        except (RuntimeError, KeyError, TypeError, AttributeError) as exc:
            self.model.load_state_dict(before)
            raise ValueError(f"a past self does not fit this config's network: {exc}") from exc
        self.pool = pool
        self.drawn = drawn
        self.model.load_state_dict(pool[drawn] if drawn >= 0 else before)
