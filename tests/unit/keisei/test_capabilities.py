"""What a trainer declares it can do, asked through the generic interface (as the site asks)."""

from pathlib import Path

import pytest

from keisei import Capability, get_trainer


def test_shogi_ppo_plays_games_and_has_a_board():
    shogi = get_trainer("shogi-ppo")
    assert shogi.can(Capability.PLAYS_GAMES) and shogi.can(Capability.HAS_BOARD)
    assert shogi.builtin_opponents == frozenset({"random", "greedy", "two_ply"})


def test_a_trainer_that_does_not_declare_plays_games_refuses_a_match(tmp_path):
    digits = get_trainer("digits")
    assert not digits.can(Capability.PLAYS_GAMES) and not digits.can(Capability.HAS_BOARD)
    assert digits.builtin_opponents == frozenset()
    with pytest.raises(NotImplementedError, match="digits does not play games"):
        digits.play_checkpoints(
            Path(tmp_path / "a.pt"), Path(tmp_path / "b.pt"), games=2, max_plies=None, seed=1
        )
