"""Match counting, colours, Elo and its interval."""

import math

import pytest

from keisei.shogi.env import BLACK, ShogiGame
from keisei.shogi.evaluate import RandomPlayer, match_result, play_match


class RecordingPlayer(RandomPlayer):
    """A random mover that remembers which colour it moved for in each game."""

    def __init__(self, seed):
        super().__init__(seed)
        self.colors: dict[int, set[int]] = {}

    def choose(self, games: list[ShogiGame]) -> list[int]:
        for g in games:
            self.colors.setdefault(id(g), set()).add(g.board.turn)
        return super().choose(games)


def test_match_result_counts_and_elo():
    result = match_result(wins=7, draws=2, losses=1)
    assert (result.games, result.wins, result.draws, result.losses) == (10, 7, 2, 1)
    assert result.win_rate == 0.7
    assert result.score == 0.8
    assert result.elo == pytest.approx(-400 * math.log10(1 / 0.8 - 1))
    assert result.elo_low < result.elo < result.elo_high


def test_even_match_is_zero_elo_and_symmetric():
    even = match_result(wins=5, draws=0, losses=5)
    assert even.elo == pytest.approx(0.0)
    assert even.elo_low == pytest.approx(-even.elo_high)
    mirror = match_result(wins=1, draws=2, losses=7)
    assert mirror.elo == pytest.approx(-match_result(wins=7, draws=2, losses=1).elo)


def test_perfect_score_stays_finite():
    result = match_result(wins=20, draws=0, losses=0)
    assert math.isfinite(result.elo) and result.elo > 400
    assert result.win_rate == 1.0


def test_play_match_alternates_colours_and_counts_every_game():
    agent, opponent = RecordingPlayer(1), RecordingPlayer(2)
    result = play_match(agent, opponent, games=6, max_plies=40)
    assert result.wins + result.draws + result.losses == 6
    assert sum(result.win_reasons.values()) == result.wins
    assert sum(result.loss_reasons.values()) == result.losses
    # Agent played Black in three games and White in three; never both sides of one game.
    agent_colors = sorted(next(iter(c)) for c in agent.colors.values())
    assert agent_colors == [BLACK] * 3 + [1 - BLACK] * 3
    assert all(len(c) == 1 for c in agent.colors.values())


def test_games_cut_at_the_ply_cap_are_draws():
    result = play_match(RandomPlayer(1), RandomPlayer(2), games=4, max_plies=2)
    assert (result.wins, result.draws, result.losses) == (0, 4, 0)
    assert result.win_reasons == {} and result.loss_reasons == {}
    assert result.mean_plies == 2.0
