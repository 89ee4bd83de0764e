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


def _random_batch(size: int, seed: int):
    import torch

    from keisei.shogi.features import NUM_ACTIONS, NUM_FEATURES
    from keisei.shogi.ppo import RolloutBatch

    g = torch.Generator().manual_seed(seed)
    masks = torch.rand(size, NUM_ACTIONS, generator=g) < 0.05
    actions = torch.randint(0, NUM_ACTIONS, (size,), generator=g)
    masks[torch.arange(size), actions] = True  # the played move is legal
    return RolloutBatch(
        obs=(torch.rand(size, NUM_FEATURES, 9, 9, generator=g) < 0.1).to(torch.uint8),
        masks=masks,
        actions=actions,
        logprobs=-torch.rand(size, generator=g) * 5,
        values=torch.rand(size, generator=g) * 2 - 1,
        advantages=torch.randn(size, generator=g),
        returns=torch.rand(size, generator=g) * 2 - 1,
    )


def _update(tiny_config, monkeypatch, chunk: int):
    import numpy as np
    import torch

    from keisei.shogi import ppo
    from keisei.shogi.network import Precision, build_network

    monkeypatch.setattr(ppo, "ANSWER_CHUNK", chunk)
    cfg = tiny_config(num_envs=128, minibatch_size=512, update_epochs=1, target_kl=0.0)
    torch.manual_seed(0)
    model = build_network(cfg.blocks, cfg.channels, cfg.squeeze_excitation, cfg.value_hidden)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    polls = []
    losses = ppo.ppo_update(
        model,
        optimizer,
        _random_batch(1024, seed=1),
        cfg,
        Precision("fp32", "cpu"),
        np.random.default_rng(0),
        lambda: polls.append(1) or True,
    )
    return model, losses, len(polls)


def test_a_minibatch_answers_commands_every_chunk_and_learns_the_same(tiny_config, monkeypatch):
    """Commands are checked before every ANSWER_CHUNK positions of a minibatch, and the
    accumulated gradient is the whole minibatch's: parameters and losses match an update
    that checks only between minibatches. (Fails with the share weighting removed.)"""
    import torch

    whole, whole_losses, whole_polls = _update(tiny_config, monkeypatch, chunk=512)
    chunked, chunked_losses, chunked_polls = _update(tiny_config, monkeypatch, chunk=128)
    assert (whole_polls, chunked_polls) == (2, 8)  # 2 minibatches of 512: 1 or 4 checks each
    for a, b in zip(whole.parameters(), chunked.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    for key, value in whole_losses.items():
        if key != "losses/explained_variance":
            assert chunked_losses[key] == pytest.approx(value, rel=1e-4, abs=1e-7), key


def test_gae_against_a_fixed_opponent_keeps_the_learners_sign():
    # Two columns: self-play (next sign -1) and the learner against a fixed player (+1), whose
    # replies happen inside the step, so every row is the learner's own position.
    rewards = np.array([[0.0, 0.0], [1.0, 1.0]], dtype=np.float32)
    values = np.array([[0.1, 0.1], [0.2, 0.2]], dtype=np.float32)
    dones = np.array([[0.0, 0.0], [1.0, 1.0]], dtype=np.float32)
    signs = np.array([-1.0, 1.0], dtype=np.float32)
    advantages, _ = compute_gae(rewards, values, dones, np.zeros(2, np.float32), 0.9, 1.0, signs)
    # Column 1 is ordinary single-agent GAE: A_0 = 0 + 0.9 * 0.2 - 0.1 + 0.9 * (1 - 0.2).
    np.testing.assert_allclose(advantages[:, 1], [0.08 + 0.72, 0.8], rtol=1e-6)
    # Column 0 is the negamax one: A_0 = 0 - 0.9 * 0.2 - 0.1 - 0.9 * 0.8.
    np.testing.assert_allclose(advantages[:, 0], [-0.28 - 0.72, 0.8], rtol=1e-6)


def test_gae_follows_a_game_that_passes_from_self_play_to_a_fixed_player():
    # One column: a self-play move (next sign -1), the move that ends that game, then the first
    # position of a game against a fixed player (+1). The sign is per step, not per column.
    rewards = np.array([[0.0], [1.0], [0.0]], dtype=np.float32)
    values = np.array([[0.1], [0.2], [0.3]], dtype=np.float32)
    dones = np.array([[0.0], [1.0], [0.0]], dtype=np.float32)
    signs = np.array([[-1.0], [1.0], [1.0]], dtype=np.float32)
    advantages, _ = compute_gae(
        rewards, values, dones, np.array([0.5], np.float32), 0.9, 1.0, signs
    )
    # A_2 = 0.9 * 0.5 - 0.3; A_1 = 1 - 0.2; A_0 = -0.9 * 0.2 - 0.1 - 0.9 * A_1 (negamax).
    np.testing.assert_allclose(advantages[:, 0], [-0.28 - 0.72, 0.8, 0.15], rtol=1e-6)
