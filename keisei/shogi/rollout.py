"""Collecting one rollout of self-play: ``num_steps`` plies in each of ``num_envs`` games.

Like ``ppo.ppo_update``, it is handed what it uses (the policy, the games, the config, the
generator and the trainer's hooks) and knows nothing of the trainer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from keisei.shogi.config import ShogiPPOConfig
from keisei.shogi.env import BLACK, MAX_PLIES, WHITE, FinishedGame, SelfPlayEnvs
from keisei.shogi.features import NUM_ACTIONS, NUM_FEATURES
from keisei.shogi.ppo import RolloutBatch, compute_gae, sample_actions

# Observations [B, 119, 9, 9] -> (logits [B, 2187], values [B]) on the CPU.
Policy = Callable[[np.ndarray], tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True, slots=True)
class RolloutHooks:
    """What the trainer does around each ply of a rollout."""

    between_plies: Callable[[], bool]  # answers commands; False abandons the rollout (a stop)
    on_finished: Callable[[list[FinishedGame]], None]  # the games that ended at this ply
    after_ply: Callable[[], None]  # the live board


@dataclass
class RolloutStats:
    """How the games that ended during one rollout ended: self-play games by colour, games
    against fixed players by the learner's score."""

    lengths: list[int] = field(default_factory=list)
    black_wins: int = 0
    white_wins: int = 0
    draws: int = 0
    truncations: int = 0
    against: dict[str, list[int]] = field(default_factory=dict)  # opponent -> [wins, games]

    def record(self, finished: list[FinishedGame]) -> None:
        for game in finished:
            if game.opponent is not None:
                score = self.against.setdefault(game.opponent, [0, 0])
                score[0] += int(game.winner == game.learner)
                score[1] += 1
            self.lengths.append(game.plies)
            if game.winner == BLACK:
                self.black_wins += 1
            elif game.winner == WHITE:
                self.white_wins += 1
            elif game.reason == MAX_PLIES:
                self.truncations += 1
            else:
                self.draws += 1

    def metrics(self) -> dict[str, float]:
        """Rates are shares of the games finished in this rollout (absent when none did)."""
        n = len(self.lengths)
        out = {"charts/games_finished": float(n)}
        if n:
            out |= {
                "charts/mean_game_length": float(np.mean(self.lengths)),
                "charts/win_rate": (self.black_wins + self.white_wins) / n,
                "charts/black_win_rate": self.black_wins / n,
                "charts/white_win_rate": self.white_wins / n,
                "charts/draw_rate": self.draws / n,
                "charts/truncation_rate": self.truncations / n,
            }
        for name, (wins, games) in self.against.items():
            out[f"charts/training_win_rate_vs_{name}"] = wins / games
        return out

    def add_to(self, counters: dict[str, int]) -> None:
        counters["games_finished"] += len(self.lengths)
        counters["black_wins"] += self.black_wins
        counters["white_wins"] += self.white_wins
        counters["draws"] += self.draws + self.truncations


def collect_rollout(
    policy: Policy,
    envs: SelfPlayEnvs,
    cfg: ShogiPPOConfig,
    generator: torch.Generator,
    *,
    first_step: int,
    shaping_coef: Callable[[int], float],
    hooks: RolloutHooks,
) -> tuple[RolloutBatch, RolloutStats] | None:
    """Play ``num_steps`` plies in every game with ``policy``; None if a stop came.

    ``first_step`` is the global position count at the start (it sets the shaping
    coefficient). Commands are answered before every ply (one batched inference, a few tens
    of ms).
    """
    num_steps, num_envs = cfg.num_steps, cfg.num_envs
    obs = np.zeros((num_steps, num_envs, NUM_FEATURES, 9, 9), dtype=np.uint8)
    masks = np.zeros((num_steps, num_envs, NUM_ACTIONS), dtype=np.bool_)
    actions = np.zeros((num_steps, num_envs), dtype=np.int64)
    logprobs = np.zeros((num_steps, num_envs), dtype=np.float32)
    values = np.zeros((num_steps, num_envs), dtype=np.float32)
    rewards = np.zeros((num_steps, num_envs), dtype=np.float32)
    dones = np.zeros((num_steps, num_envs), dtype=np.float32)
    # How the next position's value enters each TD error: a game may pass from self-play to
    # a fixed player mid-rollout (when it ends, so the step that ended it carries nothing).
    next_signs = np.zeros((num_steps, num_envs), dtype=np.float32)
    stats = RolloutStats()

    for step in range(num_steps):
        if not hooks.between_plies():
            return None
        obs[step] = envs.obs  # 0/1 planes: uint8 keeps the rollout 4x smaller
        masks[step] = envs.legal.mask
        logits, value = policy(envs.obs)
        action, logprob = sample_actions(logits, torch.from_numpy(envs.legal.mask), generator)
        actions[step] = action.numpy()
        logprobs[step] = logprob.numpy()
        values[step] = value.numpy()
        coef = shaping_coef(first_step + step * num_envs)
        played = envs.step(actions[step], coef)
        reward = played.rewards
        if len(played.final_obs):
            # Truncation is not an outcome: bootstrap with the value of the position the game
            # was cut at (negated when it is the other side's to move).
            _, final_value = policy(played.final_obs)
            reward[played.truncated] += cfg.gamma * played.final_signs * final_value.numpy()
        rewards[step] = reward
        dones[step] = played.terminated | played.truncated
        next_signs[step] = envs.next_signs
        stats.record(played.finished)
        hooks.on_finished(played.finished)
        hooks.after_ply()

    _, next_value = policy(envs.obs)
    advantages, returns = compute_gae(
        rewards, values, dones, next_value.numpy(), cfg.gamma, cfg.gae_lambda, next_signs
    )
    batch = RolloutBatch(
        obs=torch.from_numpy(obs.reshape(-1, NUM_FEATURES, 9, 9)),
        masks=torch.from_numpy(masks.reshape(-1, NUM_ACTIONS)),
        actions=torch.from_numpy(actions.reshape(-1)),
        logprobs=torch.from_numpy(logprobs.reshape(-1)),
        values=torch.from_numpy(values.reshape(-1)),
        advantages=torch.from_numpy(advantages.reshape(-1)),
        returns=torch.from_numpy(returns.reshape(-1)),
    )
    return batch, stats
