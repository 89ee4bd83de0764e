"""PPO for a two-player zero-sum game with one shared policy (CleanRL's update, negamax GAE).

Every value is from the point of view of the side to move. Consecutive positions of one game
belong to opposite players, so the value of the next position enters the TD error *negated*:

    delta_t = r_t - gamma * V(s_{t+1}) * (1 - done_t) - V(s_t)
    A_t     = delta_t - gamma * lambda * (1 - done_t) * A_{t+1}

where ``r_t`` is the reward to the player who moved at ``t``. With lambda = 1 this is exactly
``G_t - V(s_t)`` for the negamax return ``G_t = r_t - gamma * G_{t+1}``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from keisei.shogi.config import ShogiPPOConfig
from keisei.shogi.network import Precision

# Logit given to illegal labels: far below any real logit, yet finite so bf16/fp32 stay NaN-free.
ILLEGAL_LOGIT = -1e9


def compute_gae(
    rewards: np.ndarray,
    values: np.ndarray,
    dones: np.ndarray,
    next_value: np.ndarray,
    gamma: float,
    gae_lambda: float,
    next_signs: np.ndarray | float = -1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Negamax GAE over a rollout: arrays [T, N]; ``next_value`` [N] is V after the last step.

    ``dones[t]`` marks that the game ended with the move at ``t`` (a truncated game's bootstrap
    is already folded into ``rewards[t]``). ``next_signs`` ([T, N], [N] or a scalar) is -1
    where the next position is the opponent's (self-play) and +1 where the same player moves
    again (a fixed opponent replied inside the step). Returns ``advantages`` and ``returns``
    [T, N].
    """
    num_steps = rewards.shape[0]
    signs = np.broadcast_to(np.asarray(next_signs, dtype=np.float32), rewards.shape)
    advantages = np.zeros_like(rewards, dtype=np.float32)
    last_gae = np.zeros(rewards.shape[1], dtype=np.float32)
    for t in reversed(range(num_steps)):
        next_values = next_value if t == num_steps - 1 else values[t + 1]
        # In self-play the next position belongs to the opponent: its value and advantage
        # change sign.
        carry = signs[t] * (1.0 - dones[t])
        delta = rewards[t] + gamma * next_values * carry - values[t]
        last_gae = delta + gamma * gae_lambda * carry * last_gae
        advantages[t] = last_gae
    returns = advantages + values
    return advantages, returns


def masked_logits(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Illegal labels pushed to ILLEGAL_LOGIT so they have probability 0."""
    return logits.masked_fill(~mask, ILLEGAL_LOGIT)


def log_prob_and_entropy(
    logits: torch.Tensor, mask: torch.Tensor, actions: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probability of ``actions`` and the entropy of the legal-move distribution."""
    log_probs = torch.log_softmax(masked_logits(logits, mask), dim=1)  # [B, 2187]
    probs = log_probs.exp()
    entropy = -(probs * log_probs.masked_fill(~mask, 0.0)).sum(1)
    return log_probs.gather(1, actions[:, None]).squeeze(1), entropy


@torch.no_grad()
def sample_actions(
    logits: torch.Tensor,
    mask: torch.Tensor,
    generator: torch.Generator | None,
    temperature: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One legal label per row (argmax when temperature is 0) and its log-probability under
    the policy at temperature 1 (what PPO needs)."""
    log_probs = torch.log_softmax(masked_logits(logits, mask), dim=1)
    if temperature <= 0.0:
        actions = log_probs.argmax(1)
    else:
        probs = torch.softmax(masked_logits(logits / temperature, mask), dim=1)
        actions = torch.multinomial(probs, 1, generator=generator).squeeze(1)
    return actions, log_probs.gather(1, actions[:, None]).squeeze(1)


@dataclass
class RolloutBatch:
    """A flattened rollout ([T * N, ...]), the ``b_`` arrays of CleanRL."""

    obs: torch.Tensor  # [B, 119, 9, 9] uint8
    masks: torch.Tensor  # [B, 2187] bool
    actions: torch.Tensor  # [B] int64
    logprobs: torch.Tensor  # [B]
    values: torch.Tensor  # [B]
    advantages: torch.Tensor  # [B]
    returns: torch.Tensor  # [B]


def explained_variance(y_pred: np.ndarray, y_true: np.ndarray) -> float:
    """1 - Var(y_true - y_pred) / Var(y_true); nan when the returns do not vary."""
    var_y = float(np.var(y_true))
    return float("nan") if var_y == 0 else 1.0 - float(np.var(y_true - y_pred)) / var_y


# Commands are answered at least this often within a minibatch: its gradient is accumulated
# over chunks of this many positions (no batch normalisation in the network, so the sum is the
# minibatch's own gradient), with a command check before each chunk.
ANSWER_CHUNK = 256


def ppo_update(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    batch: RolloutBatch,
    cfg: ShogiPPOConfig,
    precision: Precision,
    rng: np.random.Generator,
    between_minibatches: Callable[[], bool],
    ent_coef: float | None = None,
) -> dict[str, float] | None:
    """``update_epochs`` passes of clipped PPO over ``batch`` in shuffled minibatches.

    ``ent_coef``: the entropy bonus of this update (the trainer's schedule), else the config's.

    ``between_minibatches`` runs before each gradient step and before each ``ANSWER_CHUNK``
    positions of it (the trainer answers commands there); when it returns False the update is
    abandoned and None is returned.
    """
    model.train()
    # Loss scaling is needed by fp16 only (CUDA without bf16); disabled it is a pass-through.
    scaler = torch.amp.GradScaler(precision.device_type, enabled=precision.name == "fp16")
    b_size = batch.actions.shape[0]
    stats: dict[str, list[float]] = {k: [] for k in (*MINIBATCH_STATS, "grad_norm")}
    approx_kl = 0.0
    for _epoch in range(cfg.update_epochs):
        b_inds = rng.permutation(b_size)
        for start in range(0, b_size, cfg.minibatch_size):
            mb_inds = torch.from_numpy(b_inds[start : start + cfg.minibatch_size])
            mb_advantages = batch.advantages[mb_inds]
            if cfg.norm_adv and len(mb_inds) > 1:  # over the whole minibatch, as CleanRL does
                mb_advantages = (mb_advantages - mb_advantages.mean()) / (
                    mb_advantages.std() + 1e-8
                )
            optimizer.zero_grad(set_to_none=True)
            totals = dict.fromkeys(MINIBATCH_STATS, 0.0)
            for chunk in range(0, len(mb_inds), ANSWER_CHUNK):
                if not between_minibatches():
                    return None
                part = slice(chunk, chunk + ANSWER_CHUNK)
                share = len(mb_inds[part]) / len(mb_inds)
                loss, chunk_stats = _chunk_loss(
                    model, batch, mb_inds[part], mb_advantages[part], cfg, precision, ent_coef
                )
                # Means over chunks, weighted by their share: the minibatch's own means.
                scaler.scale(loss * share).backward()
                for key, value in chunk_stats.items():
                    totals[key] += value * share
            scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
            grad_norm = nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
            scaler.step(optimizer)
            scaler.update()
            for key, value in totals.items():
                stats[key].append(value)
            stats["grad_norm"].append(float(grad_norm))
            approx_kl = totals["approx_kl"]

        if cfg.target_kl and approx_kl > cfg.target_kl:
            break

    return {
        "losses/policy_loss": float(np.mean(stats["policy_loss"])),
        "losses/value_loss": float(np.mean(stats["value_loss"])),
        "losses/entropy": float(np.mean(stats["entropy"])),
        "losses/approx_kl": float(np.mean(stats["approx_kl"])),
        "losses/clip_fraction": float(np.mean(stats["clip_fraction"])),
        "losses/grad_norm": float(np.mean(stats["grad_norm"])),
        "losses/explained_variance": explained_variance(
            batch.values.numpy(), batch.returns.numpy()
        ),
    }


MINIBATCH_STATS = ("policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction")


def _chunk_loss(
    model: nn.Module,
    batch: RolloutBatch,
    inds: torch.Tensor,
    advantages: torch.Tensor,
    cfg: ShogiPPOConfig,
    precision: Precision,
    ent_coef: float | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The PPO loss over the positions ``inds`` (means over them), and its parts."""
    obs = precision.prepare_input(batch.obs[inds])
    masks = batch.masks[inds].to(precision.device)
    actions = batch.actions[inds].to(precision.device)
    with precision.autocast():
        logits, newvalue = model(obs)
    newlogprob, entropy = log_prob_and_entropy(logits, masks, actions)
    logratio = newlogprob - batch.logprobs[inds].to(precision.device)
    ratio = logratio.exp()
    with torch.no_grad():
        # http://joschu.net/blog/kl-approx.html
        approx_kl = ((ratio - 1) - logratio).mean()
        clip_fraction = ((ratio - 1.0).abs() > cfg.clip_coef).float().mean()

    advantages = advantages.to(precision.device)
    # Clipped policy loss
    pg_loss1 = -advantages * ratio
    pg_loss2 = -advantages * torch.clamp(ratio, 1 - cfg.clip_coef, 1 + cfg.clip_coef)
    pg_loss = torch.max(pg_loss1, pg_loss2).mean()

    # Value loss
    returns = batch.returns[inds].to(precision.device)
    if cfg.clip_vloss:
        values = batch.values[inds].to(precision.device)
        v_loss_unclipped = (newvalue - returns) ** 2
        v_clipped = values + torch.clamp(newvalue - values, -cfg.clip_coef, cfg.clip_coef)
        v_loss_clipped = (v_clipped - returns) ** 2
        v_loss = 0.5 * torch.max(v_loss_unclipped, v_loss_clipped).mean()
    else:
        v_loss = 0.5 * ((newvalue - returns) ** 2).mean()

    entropy_loss = entropy.mean()
    ent_coef = cfg.ent_coef if ent_coef is None else ent_coef
    loss = pg_loss - ent_coef * entropy_loss + v_loss * cfg.vf_coef
    return loss, {
        "policy_loss": pg_loss.item(),
        "value_loss": v_loss.item(),
        "entropy": entropy_loss.item(),
        "approx_kl": approx_kl.item(),
        "clip_fraction": clip_fraction.item(),
    }
