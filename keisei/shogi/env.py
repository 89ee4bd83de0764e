"""Shogi games with the official end rules, and a batch of self-play games stepped together.

Move generation, legality and check detection are cshogi's. This module adds what cshogi leaves
to the caller: when a game ends and who won.

After every move the position is judged, from the new side to move's point of view, in order:

1. **Sennichite**: the position (board, hands, side to move) occurs for the 4th time. A draw,
   unless one side gave check with every move since the last occurrence: that side loses
   (cshogi's ``is_draw`` tells the checker apart; it reports a repetition at the *first* repeat,
   so occurrences are counted here by Zobrist hash).
2. **Entering king** (nyugyoku, 27-point rule): the side to move meets every declaration
   condition; it declares and wins (declaration is automatic).
3. **Checkmate**: the side to move has no legal move (no stalemate in shogi) and loses. Illegal
   pawn-drop mates are never generated.
4. **Ply cap**: ``max_plies`` plies were played. The game is *truncated*, not decided: the
   trainer bootstraps the value of the last position instead of scoring a draw.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import cshogi
import numpy as np

from keisei.shogi.features import LegalMoves, fill_observations

ONGOING = "ongoing"
CHECKMATE = "checkmate"
SENNICHITE = "sennichite"
PERPETUAL_CHECK = "perpetual_check"
NYUGYOKU = "nyugyoku"
MAX_PLIES = "max_plies"

BLACK, WHITE = cshogi.BLACK, cshogi.WHITE

# Material in pawn units by cshogi piece type (index 0 = none); promoted pieces are worth more.
PIECE_VALUES = np.array([0, 1, 3, 4, 5, 8, 10, 6, 0, 5, 5, 5, 5, 10, 12], dtype=np.float32)
# The piece type a captured piece becomes in hand (promotion is lost).
UNPROMOTED = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6], dtype=np.int64)
PROMOTED = np.array([0, 9, 10, 11, 12, 13, 14, 7, 8, 9, 10, 11, 12, 13, 14], dtype=np.int64)


def material_gain(move: int) -> float:
    """Material the mover wins by ``move`` (pawn units): capture (board + hand) and promotion."""
    gain = 0.0
    captured = cshogi.move_cap(move)
    if captured:
        gain += PIECE_VALUES[captured] + PIECE_VALUES[UNPROMOTED[captured]]
    if cshogi.move_is_promotion(move):
        moved = cshogi.move_from_piece_type(move)
        gain += PIECE_VALUES[PROMOTED[moved]] - PIECE_VALUES[moved]
    return float(gain)


@dataclass(frozen=True, slots=True)
class MoveResult:
    """What one move did: the game's state afterwards and who won, if anyone."""

    reason: str  # ONGOING, CHECKMATE, SENNICHITE, PERPETUAL_CHECK, NYUGYOKU or MAX_PLIES
    winner: int | None  # BLACK, WHITE, or None (ongoing, draw, truncated)
    mover: int

    @property
    def is_terminated(self) -> bool:
        return self.reason not in (ONGOING, MAX_PLIES)

    @property
    def is_truncated(self) -> bool:
        return self.reason == MAX_PLIES

    @property
    def is_over(self) -> bool:
        return self.reason != ONGOING

    @property
    def mover_reward(self) -> float:
        """+1 if the mover won, -1 if it lost, 0 otherwise."""
        if self.winner is None:
            return 0.0
        return 1.0 if self.winner == self.mover else -1.0


class ShogiGame:
    """One game: a cshogi board, its move list and the occurrence count of each position."""

    def __init__(self, max_plies: int, sfen: str = cshogi.STARTING_SFEN) -> None:
        self.max_plies = max_plies
        self.start_sfen = sfen
        self.board = cshogi.Board(sfen)
        self.moves: list[int] = []
        self.occurrences: Counter[int] = Counter({self.board.zobrist_hash(): 1})
        self.result = MoveResult(ONGOING, None, self.board.turn)

    @property
    def plies(self) -> int:
        return len(self.moves)

    def push(self, move: int) -> MoveResult:
        """Play ``move`` (must be legal) and judge the new position."""
        board = self.board
        mover = board.turn
        board.push(move)
        self.moves.append(move)
        key = board.zobrist_hash()
        self.occurrences[key] += 1
        self.result = self._judge(mover, self.occurrences[key])
        return self.result

    def _judge(self, mover: int, occurrences: int) -> MoveResult:
        board = self.board
        to_move = board.turn
        if occurrences >= 4:
            verdict = board.is_draw()
            if verdict == cshogi.REPETITION_WIN:  # the mover checked every time: it loses
                return MoveResult(PERPETUAL_CHECK, to_move, mover)
            if verdict == cshogi.REPETITION_LOSE:  # the side to move did the checking
                return MoveResult(PERPETUAL_CHECK, mover, mover)
            return MoveResult(SENNICHITE, None, mover)
        if board.is_nyugyoku():
            return MoveResult(NYUGYOKU, to_move, mover)
        if board.is_game_over():  # no legal move: mated
            return MoveResult(CHECKMATE, mover, mover)
        if len(self.moves) >= self.max_plies:
            return MoveResult(MAX_PLIES, None, mover)
        return MoveResult(ONGOING, None, mover)

    def usi_moves(self) -> list[str]:
        return [cshogi.move_to_usi(m) for m in self.moves]

    @classmethod
    def replay(cls, max_plies: int, sfen: str, usi_moves: list[str]) -> ShogiGame:
        """A game rebuilt from its start and moves; ValueError on an illegal or post-end move."""
        game = cls(max_plies, sfen)
        for usi in usi_moves:
            if game.result.is_over:
                raise ValueError(f"move {usi} after the game ended ({game.result.reason})")
            move = game.board.move_from_usi(usi)
            if not move or not game.board.is_legal(move):
                raise ValueError(f"illegal move {usi} in {game.board.sfen()}")
            game.push(move)
        return game


@dataclass(frozen=True, slots=True)
class FinishedGame:
    """A self-play game that ended during a step (``game`` holds its moves, for a record)."""

    env: int
    plies: int
    reason: str
    winner: int | None
    game_id: int = -1
    game: ShogiGame | None = field(default=None, compare=False, repr=False)


class SelfPlayEnvs:
    """``num_envs`` games stepped as one batch; a finished game restarts at once.

    The caller reads ``obs`` and ``legal.mask`` (the position of each game, side to move's
    view), chooses one label per game and calls ``step``.
    """

    def __init__(self, num_envs: int, max_plies: int) -> None:
        self.num_envs = num_envs
        self.max_plies = max_plies
        self.games = [ShogiGame(max_plies) for _ in range(num_envs)]
        self.game_ids = list(range(num_envs))  # a running number per game, for the live board
        self.next_game_id = num_envs
        self.obs = np.zeros((num_envs, 119, 9, 9), dtype=np.float32)  # [N, 119, 9, 9]
        self.legal = LegalMoves(num_envs)
        self.refresh()

    def refresh(self) -> None:
        """Recompute the observations and legal moves of every game."""
        boards = [g.board for g in self.games]
        fill_observations(boards, self.obs)
        self.legal.fill(boards)

    def step(
        self, labels: np.ndarray, shaping_coef: float = 0.0
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[FinishedGame], np.ndarray]:
        """Play one label per game.

        Returns ``rewards`` (to each mover), ``terminated``, ``truncated``, the finished games,
        and ``final_obs`` (the last position of each truncated game, in env order, for the value
        bootstrap). Finished games restart; ``obs`` and ``legal`` then describe the new games.
        """
        n = self.num_envs
        rewards = np.zeros(n, dtype=np.float32)
        terminated = np.zeros(n, dtype=np.bool_)
        truncated = np.zeros(n, dtype=np.bool_)
        finished: list[FinishedGame] = []
        for i in range(n):
            game = self.games[i]
            move = self.legal.move(i, int(labels[i]))
            result = game.push(move)
            reward = result.mover_reward
            if shaping_coef:
                reward += shaping_coef * material_gain(move)
            rewards[i] = reward
            if result.is_over:
                terminated[i] = result.is_terminated
                truncated[i] = result.is_truncated
                finished.append(
                    FinishedGame(
                        i, game.plies, result.reason, result.winner, self.game_ids[i], game
                    )
                )
        trunc_idx = np.flatnonzero(truncated)
        final_obs = np.zeros((len(trunc_idx), 119, 9, 9), dtype=np.float32)
        if len(trunc_idx):
            fill_observations([self.games[i].board for i in trunc_idx], final_obs)
        for f in finished:
            self.games[f.env] = ShogiGame(self.max_plies)
            self.game_ids[f.env] = self.next_game_id
            self.next_game_id += 1
        self.refresh()
        return rewards, terminated, truncated, finished, final_obs

    # ----- state for checkpoints -----------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The games as start SFEN + move ints (cheap; turned into USI when written)."""
        return {
            "games": [(g.start_sfen, list(g.moves)) for g in self.games],
            "game_ids": list(self.game_ids),
            "next_game_id": self.next_game_id,
        }

    @staticmethod
    def snapshot_to_portable(snapshot: dict[str, Any]) -> dict[str, Any]:
        """A snapshot with USI move strings (what a checkpoint stores)."""
        return {
            "games": [
                {"sfen": sfen, "moves": [cshogi.move_to_usi(m) for m in moves]}
                for sfen, moves in snapshot["games"]
            ],
            "game_ids": list(snapshot["game_ids"]),
            "next_game_id": int(snapshot["next_game_id"]),
        }

    @classmethod
    def from_portable(cls, state: dict[str, Any], num_envs: int, max_plies: int) -> SelfPlayEnvs:
        """Games rebuilt from a checkpoint's portable snapshot (ValueError if inconsistent)."""
        games = state["games"]
        if len(games) != num_envs or len(state["game_ids"]) != num_envs:
            raise ValueError(f"the checkpoint holds {len(games)} games, the config {num_envs}")
        envs = cls.__new__(cls)
        envs.num_envs = num_envs
        envs.max_plies = max_plies
        envs.games = [ShogiGame.replay(max_plies, g["sfen"], list(g["moves"])) for g in games]
        if any(g.result.is_over for g in envs.games):
            raise ValueError("the checkpoint holds a game that has already ended")
        envs.game_ids = [int(x) for x in state["game_ids"]]
        envs.next_game_id = int(state["next_game_id"])
        envs.obs = np.zeros((num_envs, 119, 9, 9), dtype=np.float32)
        envs.legal = LegalMoves(num_envs)
        envs.refresh()
        return envs

    def board_snapshot(self, env: int) -> dict[str, Any]:
        """The live-board message of game ``env``."""
        game = self.games[env]
        board = game.board
        usi = game.usi_moves()
        return {
            "sfen": board.sfen(),
            "last_move": usi[-1] if usi else None,
            "moves": usi,
            "ply": game.plies,
            "side_to_move": "black" if board.turn == BLACK else "white",
            "in_check": bool(board.is_check()),
            "game": self.game_ids[env],
        }
