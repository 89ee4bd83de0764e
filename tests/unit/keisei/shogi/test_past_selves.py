"""The pool of past selves: what it keeps, what it draws, what it plays, what it refuses."""

import numpy as np
import pytest
import torch

from keisei.shogi.env import ShogiGame
from keisei.shogi.network import Precision, build_network
from keisei.shogi.past_selves import PastSelves


def _weights(seed: int) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    return build_network(1, 8, False, 8).state_dict()


def _pool(size: int = 3, seed: int = 0) -> PastSelves:
    return PastSelves(build_network(1, 8, False, 8), Precision("fp32", "cpu"), size, seed)


def _loaded(past: PastSelves) -> dict[str, torch.Tensor]:
    return past.model.state_dict()


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_the_pool_keeps_the_newest_and_a_draw_loads_the_one_its_generator_picks():
    past = _pool(size=3, seed=11)
    saved = [_weights(seed) for seed in range(5)]
    for weights in saved:
        past.add(weights)
    assert [id(w) for w in past.pool] == [id(w) for w in saved[2:]]

    expected = np.random.default_rng(11)
    for _ in range(20):
        past.draw()
        index = int(expected.integers(3))
        assert past.drawn == index
        assert _same(_loaded(past), saved[2 + index])


def test_a_past_self_plays_legal_moves_and_needs_a_draw_first():
    past = _pool()
    past.add(_weights(1))
    games = [ShogiGame(max_plies=40) for _ in range(3)]
    with pytest.raises(RuntimeError, match="draw"):
        past.choose(games)
    past.draw()
    for _ in range(10):
        moves = past.choose(games)
        for game, move in zip(games, moves, strict=True):
            assert game.board.is_legal(move)
            game.push(move)


def test_the_same_generator_state_plays_the_same_moves():
    first, second = _pool(seed=5), _pool(seed=5)
    for past in (first, second):
        past.add(_weights(2))
        past.draw()
    games = [ShogiGame(max_plies=40) for _ in range(8)]
    assert first.choose(games) == second.choose(games)


def test_a_restored_pool_is_adopted_whole_and_a_misfit_changes_nothing():
    source = _pool(size=3)
    for seed in range(3):
        source.add(_weights(seed))
    source.draw()

    target = _pool(size=3)
    target.restore(source.state())
    assert target.drawn == source.drawn
    assert all(_same(a, b) for a, b in zip(target.pool, source.pool, strict=True))
    assert _same(_loaded(target), source.pool[source.drawn])

    other = _pool(size=3)
    other.add(_weights(9))
    other.draw()
    before = {k: v.clone() for k, v in _loaded(other).items()}
    torch.manual_seed(0)
    wider = build_network(1, 16, False, 8).state_dict()
    with pytest.raises(ValueError, match="does not fit"):
        other.restore({"pool": [_weights(1), wider], "drawn": 0})
    with pytest.raises(ValueError, match="keeps 1 to 3"):
        other.restore({"pool": [_weights(1)] * 4, "drawn": 0})
    with pytest.raises(ValueError, match="not in its pool"):
        other.restore({"pool": [_weights(1)], "drawn": 1})
    assert len(other.pool) == 1 and other.drawn == 0
    assert _same(_loaded(other), before)
