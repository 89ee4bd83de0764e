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

import copy
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

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


def _first_colour(env: int) -> int:
    """The learner's colour in the first game of slot ``env`` against its fixed player: Black
    in even slots, White in odd ones (it alternates from game to game after that)."""
    return int(BLACK if env % 2 == 0 else WHITE)


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

    def board_message(self, game_id: int) -> dict[str, Any]:
        """The game as a live board shows it (the ``board`` message's fields)."""
        board = self.board
        usi = self.usi_moves()
        return {
            "sfen": board.sfen(),
            "last_move": usi[-1] if usi else None,
            "moves": usi,
            "ply": self.plies,
            "side_to_move": "black" if board.turn == BLACK else "white",
            "in_check": bool(board.is_check()),
            "game": game_id,
        }

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
    """A game that ended during a step (``game`` holds its moves, for a record).

    ``opponent`` names the fixed player the learner met in it (None: self-play), and
    ``learner`` is then the learner's colour.
    """

    env: int
    plies: int
    reason: str
    winner: int | None
    game_id: int = -1
    game: ShogiGame | None = field(default=None, compare=False, repr=False)
    opponent: str | None = None
    learner: int | None = None


class ScriptedPlayer(Protocol):
    """A fixed player the learner can train against (``keisei.shogi.players``' built-ins):
    one legal move per game, drawn from its own generator (saved in checkpoints)."""

    rng: np.random.Generator

    def choose(self, games: list[ShogiGame]) -> list[int]: ...


class Step(NamedTuple):
    """What ``SelfPlayEnvs.step`` did, per game (env order)."""

    rewards: np.ndarray  # to the player who chose the label
    terminated: np.ndarray
    truncated: np.ndarray
    finished: list[FinishedGame]
    final_obs: np.ndarray  # the last position of each truncated game, for the value bootstrap
    # +1 where that position's side to move is the one who chose the label (an opponent's
    # reply came last), -1 where it is the other side (the value enters negated).
    final_signs: np.ndarray


class SelfPlayEnvs:
    """``num_envs`` games stepped as one batch; a finished game restarts at once.

    The caller reads ``obs`` and ``legal.mask`` (the position of each game, side to move's
    view), chooses one label per game and calls ``step``.

    Games named in ``opponents`` (a name per game, None for self-play) are played against that
    fixed player from ``players``: the learner's colour alternates from one game to the next
    in each slot (Black first in even slots, White in odd ones), and the opponent's replies
    happen inside ``step``, so every position the caller sees is the learner's to move.
    ``next_signs`` says how the next position's value enters the learner's TD error: negated
    in self-play (the other side moves next), as is against a fixed player (the learner moves
    next).

    With ``opponents_on`` False the named games start as self-play; after
    ``bring_in_opponents`` each turns to its player when its current game ends (a game in
    progress never changes hands).
    """

    def __init__(
        self,
        num_envs: int,
        max_plies: int,
        opponents: Sequence[str | None] = (),
        players: Mapping[str, ScriptedPlayer] | None = None,
        *,
        opponents_on: bool = True,
    ) -> None:
        self.num_envs = num_envs
        self.max_plies = max_plies
        self._set_opponents(opponents, players)
        self.opponents_on = opponents_on
        if not opponents_on:
            self._set_playing([None] * num_envs)
        self.games = [ShogiGame(max_plies) for _ in range(num_envs)]
        self.game_ids = list(range(num_envs))  # a running number per game, for the live board
        self.next_game_id = num_envs
        self.obs = np.zeros((num_envs, 119, 9, 9), dtype=np.float32)  # [N, 119, 9, 9]
        self.legal = LegalMoves(num_envs)
        # New games where the learner has White open with the opponent's move (a first move
        # cannot end a game: max_plies is at least 2).
        self._opponents_reply(self._against)
        self.refresh()

    def _set_opponents(
        self, opponents: Sequence[str | None], players: Mapping[str, ScriptedPlayer] | None
    ) -> None:
        names = list(opponents) or [None] * self.num_envs
        if len(names) != self.num_envs:
            raise ValueError(f"{len(names)} opponents named for {self.num_envs} games")
        self.players = dict(players or {})
        missing = {n for n in names if n is not None} - set(self.players)
        if missing:
            raise ValueError(f"no player for opponents {sorted(missing)}")
        self.assigned: list[str | None] = names  # each game's player once opponents are on
        self._set_playing(names)

    def _set_playing(self, names: list[str | None]) -> None:
        """The player each game is played against now (None: self-play), the learner's colour
        starting at Black in even games and White in odd ones."""
        self.opponents: list[str | None] = list(names)
        self.learner_colours: list[int | None] = [
            None if name is None else _first_colour(i) for i, name in enumerate(names)
        ]
        self.next_signs = np.array([-1.0 if n is None else 1.0 for n in names], np.float32)
        self._note_against()

    def _note_against(self) -> None:
        """The games played against a fixed player now (read at every step)."""
        self._against = [i for i, name in enumerate(self.opponents) if name is not None]

    def bring_in_opponents(self) -> None:
        """From now on, each game named in ``opponents`` turns to its player when it ends."""
        self.opponents_on = True

    def learner_colour(self, env: int) -> int | None:
        """The learner's colour in game ``env`` (None: self-play, it plays both)."""
        return self.learner_colours[env]

    def _opponents_reply(self, envs: Sequence[int]) -> list[tuple[int, int, MoveResult]]:
        """The fixed players move in those of ``envs`` where it is their turn, one batch per
        player: (env, move, result) in env order."""
        turns: dict[str, list[int]] = {}
        for i in envs:
            name = self.opponents[i]
            game = self.games[i]
            if name is not None and not game.result.is_over:
                if game.board.turn != self.learner_colour(i):
                    turns.setdefault(name, []).append(i)
        replies = []
        for name, indices in turns.items():
            moves = self.players[name].choose([self.games[i] for i in indices])
            replies += [(i, m, self.games[i].push(m)) for i, m in zip(indices, moves, strict=True)]
        return sorted(replies, key=lambda r: r[0])

    def refresh(self) -> None:
        """Recompute the observations and legal moves of every game."""
        boards = [g.board for g in self.games]
        fill_observations(boards, self.obs)
        self.legal.fill(boards)

    def step(self, labels: np.ndarray, shaping_coef: float = 0.0) -> Step:
        """Play one label per game, then the fixed players' replies (``Step`` says what came
        of it). Finished games restart; ``obs`` and ``legal`` then describe the new games.

        Against a fixed player, the learner's reward for its move includes the reply: the
        material it won minus what the reply won back, and -1 if the reply won the game.
        """
        n = self.num_envs
        rewards = np.zeros(n, dtype=np.float32)
        terminated = np.zeros(n, dtype=np.bool_)
        truncated = np.zeros(n, dtype=np.bool_)
        signs = np.full(n, -1.0, dtype=np.float32)
        ended: list[int] = []
        for i in range(n):
            game = self.games[i]
            move = self.legal.move(i, int(labels[i]))
            result = game.push(move)
            reward = result.mover_reward
            if shaping_coef:
                reward += shaping_coef * material_gain(move)
            rewards[i] = reward
            if result.is_over:
                ended.append(i)
        for i, move, result in self._opponents_reply(self._against):
            rewards[i] -= result.mover_reward
            if shaping_coef:
                rewards[i] -= shaping_coef * material_gain(move)
            signs[i] = 1.0
            ended.append(i)
        finished: list[FinishedGame] = []
        for i in sorted(e for e in ended if self.games[e].result.is_over):
            game = self.games[i]
            result = game.result
            terminated[i] = result.is_terminated
            truncated[i] = result.is_truncated
            finished.append(
                FinishedGame(
                    i,
                    game.plies,
                    result.reason,
                    result.winner,
                    self.game_ids[i],
                    game,
                    self.opponents[i],
                    self.learner_colour(i),
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
            if f.learner is not None:
                self.learner_colours[f.env] = int(WHITE if f.learner == BLACK else BLACK)
        if self.opponents_on:
            self._take_over([f.env for f in finished])
        self._opponents_reply([f.env for f in finished if self.opponents[f.env] is not None])
        self.refresh()
        return Step(rewards, terminated, truncated, finished, final_obs, signs[trunc_idx])

    def _take_over(self, envs: Sequence[int]) -> None:
        """Games among ``envs`` (just restarted) still in self-play pass to their player."""
        switched = [i for i in envs if self.opponents[i] != self.assigned[i]]
        for i in switched:  # the colour as _set_playing starts it; other games keep theirs
            self.opponents[i] = self.assigned[i]
            self.learner_colours[i] = _first_colour(i)
            self.next_signs[i] = 1.0
        if switched:
            self._note_against()

    # ----- state for checkpoints -----------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The games as start SFEN + move ints (cheap; turned into USI when written), and the
        fixed players' generators."""
        return {
            "games": [(g.start_sfen, list(g.moves)) for g in self.games],
            "game_ids": list(self.game_ids),
            "next_game_id": self.next_game_id,
            "opponents": list(self.opponents),
            "opponents_on": self.opponents_on,
            "learner_colours": list(self.learner_colours),
            "players": {
                name: copy.deepcopy(p.rng.bit_generator.state) for name, p in self.players.items()
            },
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
            "opponents": list(snapshot["opponents"]),
            "opponents_on": bool(snapshot["opponents_on"]),
            "learner_colours": list(snapshot["learner_colours"]),
            "players": copy.deepcopy(snapshot["players"]),
        }

    @classmethod
    def from_portable(
        cls,
        state: dict[str, Any],
        num_envs: int,
        max_plies: int,
        opponents: Sequence[str | None] = (),
        players: Mapping[str, ScriptedPlayer] | None = None,
    ) -> SelfPlayEnvs:
        """Games rebuilt from a checkpoint's portable snapshot, the fixed players' generators
        restored into ``players`` (ValueError if inconsistent)."""
        games = state["games"]
        if len(games) != num_envs or len(state["game_ids"]) != num_envs:
            raise ValueError(f"the checkpoint holds {len(games)} games, the config {num_envs}")
        envs = cls.__new__(cls)
        envs.num_envs = num_envs
        envs.max_plies = max_plies
        envs._set_opponents(opponents, players)
        # Checkpoints from before training opponents existed hold only self-play games. A game
        # may still be self-play where the config names a player: it had not ended since the
        # players were brought in, or they were not yet (``opponents_on``).
        saved = list(state.get("opponents") or [None] * num_envs)
        if len(saved) != num_envs or any(
            name is not None and name != assigned
            for name, assigned in zip(saved, envs.assigned, strict=True)
        ):
            raise ValueError("the checkpoint's games were played against other opponents")
        envs._set_playing(saved)
        envs.opponents_on = bool(state.get("opponents_on", True))
        colours = state.get("learner_colours") or [None] * num_envs
        if [c is None for c in colours] != [n is None for n in envs.opponents]:
            raise ValueError("the checkpoint's learner colours do not fit its opponents")
        envs.learner_colours = [None if c is None else int(c) for c in colours]
        envs.games = [ShogiGame.replay(max_plies, g["sfen"], list(g["moves"])) for g in games]
        if any(g.result.is_over for g in envs.games):
            raise ValueError("the checkpoint holds a game that has already ended")
        if any(
            c is not None and g.board.turn != c
            for g, c in zip(envs.games, envs.learner_colours, strict=True)
        ):
            raise ValueError("the checkpoint holds a game where a fixed player is to move")
        for name, rng_state in state.get("players", {}).items():
            if name not in envs.players:
                raise ValueError(f"the checkpoint holds a generator for opponent '{name}'")
            envs.players[name].rng.bit_generator.state = rng_state
        envs.game_ids = [int(x) for x in state["game_ids"]]
        envs.next_game_id = int(state["next_game_id"])
        envs.obs = np.zeros((num_envs, 119, 9, 9), dtype=np.float32)
        envs.legal = LegalMoves(num_envs)
        envs.refresh()
        return envs

    def board_snapshot(self, env: int) -> dict[str, Any]:
        """The live-board message of game ``env``."""
        return self.games[env].board_message(self.game_ids[env])
