"""A rollout hands GAE the sign of each step: a game may change hands mid-rollout."""

import numpy as np
import torch

from keisei.shogi import rollout
from keisei.shogi.config import ShogiPPOConfig
from keisei.shogi.env import SelfPlayEnvs
from keisei.shogi.evaluate import RandomPlayer
from keisei.shogi.features import NUM_ACTIONS


def test_a_game_passing_to_its_fixed_player_mid_rollout_changes_its_sign_from_then(monkeypatch):
    cfg = ShogiPPOConfig(num_envs=2, num_steps=6, minibatch_size=8, max_plies=4)
    envs = SelfPlayEnvs(2, 4, [None, "random"], {"random": RandomPlayer(1)}, opponents_on=False)
    envs.bring_in_opponents()
    handed = {}
    real_gae = rollout.compute_gae

    def capture(*args):
        handed["signs"] = np.array(args[-1])
        return real_gae(*args)

    monkeypatch.setattr(rollout, "compute_gae", capture)
    rollout.collect_rollout(
        lambda obs: (torch.zeros(len(obs), NUM_ACTIONS), torch.zeros(len(obs))),
        envs,
        cfg,
        torch.Generator().manual_seed(0),
        first_step=0,
        shaping_coef=lambda step: 0.0,
        hooks=rollout.RolloutHooks(lambda: True, lambda finished: None, lambda: None),
    )
    # Game 1's self-play game reaches the 4-ply cap at step 3; the learner then plays the
    # random mover (+1). Game 0 stays self-play (-1).
    np.testing.assert_array_equal(handed["signs"][:, 0], [-1.0] * 6)
    np.testing.assert_array_equal(handed["signs"][:, 1], [-1.0, -1.0, -1.0, 1.0, 1.0, 1.0])
