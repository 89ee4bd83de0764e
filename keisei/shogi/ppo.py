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
) -> tuple[np.ndarray, np.ndarray]:
    """Negamax GAE over a rollout: arrays [T, N]; ``next_value`` [N] is V after the last step.

    ``dones[t]`` marks that the game ended with the move at ``t`` (a truncated game's bootstrap
    is already folded into ``rewards[t]``). Returns ``advantages`` and ``returns`` [T, N].
    """
    num_steps = rewards.shape[0]
    advantages = np.zeros_like(rewards, dtype=np.float32)
    last_gae = np.zeros(rewards.shape[1], dtype=np.float32)
    for t in reversed(range(num_steps)):
        next_values = next_value if t == num_steps - 1 else values[t + 1]
        next_nonterminal = 1.0 - dones[t]
        # The next position belongs to the opponent: its value and advantage change sign.
        delta = rewards[t] - gamma * next_values * next_nonterminal - values[t]
        last_gae = delta - gamma * gae_lambda * next_nonterminal * last_gae
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


def ppo_update(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    batch: RolloutBatch,
    cfg: ShogiPPOConfig,
    precision: Precision,
    rng: np.random.Generator,
    between_minibatches: Callable[[], bool],
) -> dict[str, float] | None:
    """``update_epochs`` passes of clipped PPO over ``batch`` in shuffled minibatches.

    ``between_minibatches`` runs before each gradient step (the trainer answers commands there);
    when it returns False the update is abandoned and None is returned.
    """
    model.train()
    # Loss scaling is needed by fp16 only (CUDA without bf16); disabled it is a pass-through.
    scaler = torch.amp.GradScaler(precision.device_type, enabled=precision.name == "fp16")
    b_size = batch.actions.shape[0]
    clipfracs: list[float] = []
    pg_losses, v_losses, entropies, kls, grad_norms = [], [], [], [], []
    approx_kl = torch.zeros(())
    for _epoch in range(cfg.update_epochs):
        b_inds = rng.permutation(b_size)
        for start in range(0, b_size, cfg.minibatch_size):
            if not between_minibatches():
                return None
            mb_inds = torch.from_numpy(b_inds[start : start + cfg.minibatch_size])
            mb_obs = precision.prepare_input(batch.obs[mb_inds])
            mb_masks = batch.masks[mb_inds].to(precision.device)
            mb_actions = batch.actions[mb_inds].to(precision.device)
            with precision.autocast():
                logits, newvalue = model(mb_obs)
            newlogprob, entropy = log_prob_and_entropy(logits, mb_masks, mb_actions)
            logratio = newlogprob - batch.logprobs[mb_inds].to(precision.device)
            ratio = logratio.exp()

            with torch.no_grad():
                # http://joschu.net/blog/kl-approx.html
                approx_kl = ((ratio - 1) - logratio).mean()
                clipfracs.append(((ratio - 1.0).abs() > cfg.clip_coef).float().mean().item())

            mb_advantages = batch.advantages[mb_inds].to(precision.device)
            if cfg.norm_adv and len(mb_inds) > 1:
                mb_advantages = (mb_advantages - mb_advantages.mean()) / (
                    mb_advantages.std() + 1e-8
                )

            # Clipped policy loss
            pg_loss1 = -mb_advantages * ratio
            pg_loss2 = -mb_advantages * torch.clamp(ratio, 1 - cfg.clip_coef, 1 + cfg.clip_coef)
            pg_loss = torch.max(pg_loss1, pg_loss2).mean()

            # Value loss
            mb_returns = batch.returns[mb_inds].to(precision.device)
            if cfg.clip_vloss:
                mb_values = batch.values[mb_inds].to(precision.device)
                v_loss_unclipped = (newvalue - mb_returns) ** 2
                v_clipped = mb_values + torch.clamp(
                    newvalue - mb_values, -cfg.clip_coef, cfg.clip_coef
                )
                v_loss_clipped = (v_clipped - mb_returns) ** 2
                v_loss = 0.5 * torch.max(v_loss_unclipped, v_loss_clipped).mean()
            else:
                v_loss = 0.5 * ((newvalue - mb_returns) ** 2).mean()

            entropy_loss = entropy.mean()
            loss = pg_loss - cfg.ent_coef * entropy_loss + v_loss * cfg.vf_coef

            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
            grad_norm = nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
            scaler.step(optimizer)
            scaler.update()

            pg_losses.append(pg_loss.item())
            v_losses.append(v_loss.item())
            entropies.append(entropy_loss.item())
            kls.append(approx_kl.item())
            grad_norms.append(float(grad_norm))

        if cfg.target_kl and approx_kl.item() > cfg.target_kl:
            break

    return {
        "losses/policy_loss": float(np.mean(pg_losses)),
        "losses/value_loss": float(np.mean(v_losses)),
        "losses/entropy": float(np.mean(entropies)),
        "losses/approx_kl": float(np.mean(kls)),
        "losses/clip_fraction": float(np.mean(clipfracs)),
        "losses/grad_norm": float(np.mean(grad_norms)),
        "losses/explained_variance": explained_variance(
            batch.values.numpy(), batch.returns.numpy()
        ),
    }
