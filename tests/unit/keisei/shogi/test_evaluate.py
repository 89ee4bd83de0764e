"""Match counting, colours, Elo and its interval."""

import math

import pytest

from keisei.shogi.env import BLACK, WHITE, ShogiGame
from keisei.shogi.evaluate import RandomPlayer, match_result, play_game, play_match


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
    match = play_match(agent, opponent, games=6, max_plies=40)
    result = match.result
    assert result.wins + result.draws + result.losses == 6
    assert sum(result.win_reasons.values()) == result.wins
    assert sum(result.loss_reasons.values()) == result.losses
    # The agent is Black in even-numbered games, White in odd ones, and moved only for that side.
    assert match.agent_colors == [BLACK, WHITE] * 3
    assert [agent.colors[id(g)] for g in match.games] == [{c} for c in match.agent_colors]
    assert all(g.result.is_over for g in match.games)


def test_the_match_returns_its_games_and_scores_them_from_the_agents_side():
    match = play_match(RandomPlayer(1), RandomPlayer(2), games=6, max_plies=60)
    wins = sum(g.result.winner == c for g, c in zip(match.games, match.agent_colors, strict=True))
    assert match.result.wins == wins
    assert match.result.mean_plies == sum(g.plies for g in match.games) / 6


def test_records_name_the_agent_on_its_own_side():
    match = play_match(RandomPlayer(1), RandomPlayer(2), games=3, max_plies=6)
    records = match.records(2, ("agent", "rival"))
    assert [(r["black"], r["white"]) for r in records] == [("agent", "rival"), ("rival", "agent")]
    assert [r["moves"] for r in records] == [g.usi_moves() for g in match.games[:2]]


def test_a_between_plies_hook_that_says_no_abandons_the_match():
    plies = []

    def hook() -> bool:
        plies.append(1)
        return len(plies) < 3

    assert play_match(RandomPlayer(1), RandomPlayer(2), 2, 40, hook) is None
    assert len(plies) == 3  # asked before every ply, and nothing after the refusal
    assert play_match(RandomPlayer(1), RandomPlayer(2), 2, 4, lambda: True) is not None


def test_a_single_game_is_a_match_of_one_with_black_as_its_agent():
    black, white = RecordingPlayer(1), RecordingPlayer(2)
    game = play_game(black, white, max_plies=10)
    assert black.colors[id(game)] == {BLACK} and white.colors[id(game)] == {WHITE}
    assert game.result.is_over


def test_games_cut_at_the_ply_cap_are_draws():
    result = play_match(RandomPlayer(1), RandomPlayer(2), games=4, max_plies=2).result
    assert (result.wins, result.draws, result.losses) == (0, 4, 0)
    assert result.win_reasons == {} and result.loss_reasons == {}
    assert result.mean_plies == 2.0
