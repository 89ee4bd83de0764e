"""Learning happens in bf16 as in fp32: PPO passes over one self-play rollout fit it."""

import numpy as np
import torch

from keisei.shogi.ppo import log_prob_and_entropy, ppo_update
from keisei.shogi.rollout import RolloutHooks, collect_rollout
from keisei.shogi.trainer import ShogiPPOTrainer


def fit_one_rollout(tmp_path, config, passes):
    """Collect one rollout, then run ``passes`` PPO updates on it: the value loss of each, and
    the advantage-weighted change of the actions' log-probabilities (the surrogate PPO climbs:
    positive when better-than-expected actions gained probability over worse ones)."""
    trainer = ShogiPPOTrainer(config, workdir=tmp_path)
    hooks = RolloutHooks(lambda: True, lambda finished: None, lambda: None)
    batch, _ = collect_rollout(
        trainer.policy,
        trainer.envs,
        config,
        trainer.action_generator,
        first_step=0,
        shaping_coef=lambda step: config.shaping_coef,
        hooks=hooks,
    )

    def logprobs():
        with torch.no_grad(), trainer.precision.autocast():
            logits, _ = trainer.model(trainer.precision.prepare_input(batch.obs))
        return log_prob_and_entropy(logits.float(), batch.masks, batch.actions)[0]

    before = logprobs()
    rng = np.random.default_rng(0)
    value_losses = []
    for _ in range(passes):
        losses = ppo_update(
            trainer.model, trainer.optimizer, batch, config, trainer.precision, rng, lambda: True
        )
        value_losses.append(losses["losses/value_loss"])
    advantages = (batch.advantages - batch.advantages.mean()) / batch.advantages.std()
    climbed = float((advantages * (logprobs() - before)).mean())
    return value_losses, climbed, trainer.precision.name


def test_ppo_fits_a_rollout_in_bf16_as_in_fp32(tmp_path, tiny_config):
    # Strong shaping and 32 plies, so that rewards and returns vary (captures, games cut).
    fits = {}
    for precision in ("fp32", "bf16"):
        config = tiny_config(
            precision=precision,
            shaping_coef=1.0,
            learning_rate=3e-3,
            num_envs=8,
            num_steps=32,
            minibatch_size=64,
        )
        value_losses, climbed, used = fit_one_rollout(tmp_path / precision, config, passes=15)
        assert used == precision  # bf16 really ran under autocast, not an fp32 fallback
        assert all(np.isfinite(value_losses)), precision
        assert value_losses[-1] < 0.9 * value_losses[0], (precision, value_losses)
        # The policy moved toward the actions that did better than expected.
        assert climbed > 0.02, (precision, climbed)
        fits[precision] = value_losses[-1]
    # Same seed, same rollout: bf16 ends where fp32 does, give or take its rounding.
    assert abs(fits["bf16"] - fits["fp32"]) < 0.1 * fits["fp32"], fits
