"""Negamax GAE on a hand-computed two-player example, and the masked policy maths."""

import numpy as np
import pytest
import torch

from keisei.shogi.ppo import compute_gae, explained_variance, log_prob_and_entropy


def test_gae_negates_the_next_value_between_players():
    # One game, three plies: Black moves (t=0), White (t=1), Black mates (t=2, reward +1).
    rewards = np.array([[0.0], [0.0], [1.0]], dtype=np.float32)
    values = np.array([[0.1], [0.2], [0.3]], dtype=np.float32)
    dones = np.array([[0.0], [0.0], [1.0]], dtype=np.float32)
    gamma, lam = 0.9, 0.5
    advantages, returns = compute_gae(
        rewards, values, dones, np.array([0.7], dtype=np.float32), gamma, lam
    )
    # By hand: delta_2 = 1 - 0.3 = 0.7 (terminal: next value ignored)
    #          delta_1 = 0 - 0.9 * 0.3 - 0.2 = -0.47
    #          delta_0 = 0 - 0.9 * 0.2 - 0.1 = -0.28
    #          A_2 = 0.7; A_1 = -0.47 - 0.45 * 0.7 = -0.785; A_0 = -0.28 - 0.45 * -0.785
    expected = np.array([[-0.28 + 0.45 * 0.785], [-0.785], [0.7]], dtype=np.float32)
    np.testing.assert_allclose(advantages, expected, rtol=1e-6)
    np.testing.assert_allclose(returns, expected + values, rtol=1e-6)


def test_gae_with_lambda_one_is_the_negamax_return():
    # White loses at t=2 after Black's mate; Black's earlier moves see +gamma^k, White's -.
    rewards = np.array([[0.0], [0.0], [1.0]], dtype=np.float32)
    values = np.zeros((3, 1), dtype=np.float32)
    dones = np.array([[0.0], [0.0], [1.0]], dtype=np.float32)
    _, returns = compute_gae(rewards, values, dones, np.zeros(1, np.float32), 0.9, 1.0)
    np.testing.assert_allclose(returns[:, 0], [0.81, -0.9, 1.0], rtol=1e-6)


def test_gae_does_not_leak_across_a_game_boundary_and_bootstraps_the_tail():
    rewards = np.array([[-1.0], [0.0]], dtype=np.float32)
    values = np.array([[0.5], [0.25]], dtype=np.float32)
    dones = np.array([[1.0], [0.0]], dtype=np.float32)
    advantages, _ = compute_gae(rewards, values, dones, np.array([0.5], np.float32), 1.0, 1.0)
    # t=1 starts a new game; its tail bootstraps with the opponent's value 0.5, negated.
    np.testing.assert_allclose(advantages[:, 0], [-1.5, -0.75], rtol=1e-6)


def test_masked_log_prob_and_entropy_ignore_illegal_labels():
    logits = torch.tensor([[5.0, 0.0, 0.0, 9.0]])
    mask = torch.tensor([[False, True, True, False]])
    logprob, entropy = log_prob_and_entropy(logits, mask, torch.tensor([1]))
    assert logprob.item() == pytest.approx(np.log(0.5))
    assert entropy.item() == pytest.approx(np.log(2.0))


def test_explained_variance():
    y = np.array([1.0, 2.0, 3.0])
    assert explained_variance(y, y) == 1.0
    assert explained_variance(np.zeros(3), y) == pytest.approx(0.0)
    assert np.isnan(explained_variance(y, np.ones(3)))
