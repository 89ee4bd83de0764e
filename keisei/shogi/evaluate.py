"""Matches between players, and the Elo difference they imply.

All games of a match are played in lockstep, so the network sees one batch per ply. The agent
takes Black in even-numbered games and White in odd ones. A game that reaches the ply cap is
scored as a draw. ``play_match`` is the one match loop: the trainer's periodic evaluation and
its evaluate and sample commands use it, and so do matches between checkpoint files
(``players``).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, overload

import numpy as np
import torch
from torch import nn

from keisei.shogi.env import BLACK, WHITE, ShogiGame
from keisei.shogi.features import NUM_FEATURES, LegalMoves, fill_observations
from keisei.shogi.network import Precision
from keisei.shogi.ppo import sample_actions
from keisei.shogi.records import game_record


class Player(Protocol):
    """Chooses one legal move for each game given (each has at least one legal move)."""

    def choose(self, games: list[ShogiGame]) -> list[int]: ...


class RandomPlayer:
    """Uniform over the legal moves."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def choose(self, games: list[ShogiGame]) -> list[int]:
        chosen = []
        for game in games:
            moves = list(game.board.legal_moves)
            chosen.append(moves[int(self.rng.integers(len(moves)))])
        return chosen


class NetworkPlayer:
    """Samples from the network's policy at ``temperature`` (0: the most likely move)."""

    def __init__(
        self, model: nn.Module, precision: Precision, temperature: float, seed: int
    ) -> None:
        self.model = model
        self.precision = precision
        self.temperature = temperature
        self.generator = torch.Generator().manual_seed(seed)

    @torch.no_grad()
    def choose(self, games: list[ShogiGame]) -> list[int]:
        boards = [g.board for g in games]
        obs = np.zeros((len(games), NUM_FEATURES, 9, 9), dtype=np.float32)
        fill_observations(boards, obs)
        legal = LegalMoves(len(games))
        legal.fill(boards)
        was_training = self.model.training
        self.model.eval()
        with self.precision.autocast():
            logits, _ = self.model(self.precision.prepare_input(torch.from_numpy(obs)))
        self.model.train(was_training)
        actions, _ = sample_actions(
            logits.cpu(), torch.from_numpy(legal.mask), self.generator, self.temperature
        )
        return [legal.move(i, int(a)) for i, a in enumerate(actions.tolist())]


@dataclass(frozen=True, slots=True)
class MatchResult:
    """A match from the agent's point of view, with the Elo difference and its 95% CI."""

    games: int
    wins: int
    draws: int
    losses: int
    win_rate: float
    score: float
    elo: float
    elo_low: float
    elo_high: float
    mean_plies: float
    # How the agent's wins and losses came about, e.g. {"checkmate": 7, "nyugyoku": 2}.
    win_reasons: dict[str, int] = field(default_factory=dict)
    loss_reasons: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def elo_from_score(score: float) -> float:
    return -400.0 * math.log10(1.0 / score - 1.0)


def match_result(
    wins: int,
    draws: int,
    losses: int,
    mean_plies: float = 0.0,
    win_reasons: dict[str, int] | None = None,
    loss_reasons: dict[str, int] | None = None,
) -> MatchResult:
    """W/D/L -> win rate, score, Elo and a 95% interval (normal approximation on the score).

    A score of 0 or 1 has an infinite Elo; it is clamped half a game inside (n - 0.5 of n) so
    the figure stays finite and JSON-serialisable.
    """
    n = wins + draws + losses
    if n == 0:
        raise ValueError("no games were played")
    score = (wins + 0.5 * draws) / n
    variance = (
        wins * (1.0 - score) ** 2 + draws * (0.5 - score) ** 2 + losses * (0.0 - score) ** 2
    ) / n
    margin = 1.96 * math.sqrt(variance / n)
    lo_clamp, hi_clamp = 0.5 / n, 1.0 - 0.5 / n
    if n == 1:
        lo_clamp, hi_clamp = 0.25, 0.75

    def clamp(s: float) -> float:
        return min(max(s, lo_clamp), hi_clamp)

    return MatchResult(
        games=n,
        wins=wins,
        draws=draws,
        losses=losses,
        win_rate=wins / n,
        score=score,
        elo=elo_from_score(clamp(score)),
        elo_low=elo_from_score(clamp(score - margin)),
        elo_high=elo_from_score(clamp(score + margin)),
        mean_plies=mean_plies,
        win_reasons=dict(win_reasons or {}),
        loss_reasons=dict(loss_reasons or {}),
    )


@dataclass(frozen=True, slots=True)
class PlayedMatch:
    """A finished match: its games, the agent's colour in each, and the agent's score."""

    games: list[ShogiGame]
    agent_colors: list[int]
    result: MatchResult

    def records(self, count: int, names: tuple[str, str]) -> list[dict[str, Any]]:
        """Records of the first ``count`` games; ``names`` are the agent's and the opponent's,
        put in colour order game by game."""
        records = []
        for game, color in list(zip(self.games, self.agent_colors, strict=True))[: max(0, count)]:
            pair = names if color == BLACK else (names[1], names[0])
            records.append(game_record(game, pair))
        return records


# What a watcher of a match is given after each ply: a snapshot of the watched game.
Watcher = Callable[[dict[str, Any]], None]


@overload
def play_match(
    agent: Player, opponent: Player, games: int, max_plies: int, *, watch: Watcher | None = None
) -> PlayedMatch: ...


@overload
def play_match(
    agent: Player,
    opponent: Player,
    games: int,
    max_plies: int,
    between_plies: Callable[[], bool],
    *,
    watch: Watcher | None = None,
) -> PlayedMatch | None: ...


def play_match(
    agent: Player,
    opponent: Player,
    games: int,
    max_plies: int,
    between_plies: Callable[[], bool] | None = None,
    *,
    watch: Watcher | None = None,
) -> PlayedMatch | None:
    """``games`` games in lockstep, colours alternating (agent Black in game 0).

    ``between_plies`` runs before each ply (the trainer answers commands there during its
    periodic evaluations); when it returns False the match is abandoned and None returned.
    ``watch`` is given a snapshot (``watched_game``) of one game after each ply: the first
    game still being played, so a watcher follows the match game after game (whoever watches
    throttles; a snapshot costs microseconds against a ply's milliseconds).
    """
    matches = [ShogiGame(max_plies) for _ in range(games)]
    agent_colors = [BLACK if i % 2 == 0 else WHITE for i in range(games)]
    active = list(range(games))
    while active:
        if between_plies is not None and not between_plies():
            return None
        agent_turn = [i for i in active if matches[i].board.turn == agent_colors[i]]
        opponent_turn = [i for i in active if matches[i].board.turn != agent_colors[i]]
        for player, idx in ((agent, agent_turn), (opponent, opponent_turn)):
            if idx:
                for i, move in zip(idx, player.choose([matches[i] for i in idx]), strict=True):
                    matches[i].push(move)
        if watch is not None:
            shown = active[0]
            watch(
                watched_game(matches[shown], index=shown, agent_black=agent_colors[shown] == BLACK)
            )
        active = [i for i in active if not matches[i].result.is_over]
    return PlayedMatch(matches, agent_colors, score_matches(matches, agent_colors))


def watched_game(game: ShogiGame, *, index: int, agent_black: bool) -> dict[str, Any]:
    """A game of a match as a live board: ``ShogiGame.board_message`` with the game's number
    in the match, which side the agent plays and whether it is over."""
    return {
        **game.board_message(index),
        "agent_black": agent_black,
        "over": game.result.is_over,
    }


def score_matches(matches: list[ShogiGame], agent_colors: list[int]) -> MatchResult:
    """The agent's W/D/L over finished games (its colour per game), with how each was decided."""
    win_reasons: Counter[str] = Counter()
    loss_reasons: Counter[str] = Counter()
    for game, color in zip(matches, agent_colors, strict=True):
        if game.result.winner == color:
            win_reasons[game.result.reason] += 1
        elif game.result.winner is not None:
            loss_reasons[game.result.reason] += 1
    wins, losses = sum(win_reasons.values()), sum(loss_reasons.values())
    mean_plies = float(np.mean([g.plies for g in matches]))
    return match_result(
        wins,
        len(matches) - wins - losses,
        losses,
        mean_plies,
        dict(win_reasons),
        dict(loss_reasons),
    )


def play_game(black: Player, white: Player, max_plies: int) -> ShogiGame:
    """One game to its end (or the ply cap): a match of one game, ``black`` its agent."""
    return play_match(black, white, 1, max_plies).games[0]
