"""The two interfaces between a trainer and whoever runs it.

``Callbacks`` carries what happened (status, metrics, progress, events, checkpoints, the live
board, transient live messages) out of the trainer; ``Control`` carries what is asked
(commands) into it. The portal implements both on top of PostgreSQL and Channels; the
headless CLI prints and never commands. Trainers call them from the training thread, so
implementations must return quickly.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable


class Capability(enum.StrEnum):
    """What a trainer can do beyond training; the site asks ``Trainer.can``, never the name."""

    PLAYS_GAMES = "plays_games"  # its checkpoints can play matches: evaluation jobs, sample, league
    HAS_BOARD = "has_board"  # it reports a live board through Callbacks.on_board
    ANALYSES_POSITIONS = "analyses_positions"  # Trainer.analyse_position: a checkpoint's view


class CheckpointError(Exception):
    """A checkpoint file cannot be used: unreadable, foreign, corrupt or incompatible."""


class MoveRefused(ValueError):
    """A person's move the game's rules refuse; the message names the move and says why
    ("7g7e is not legal here: the pawn on 7g cannot move to 7e")."""


@dataclass(frozen=True, slots=True)
class MatchOutcome:
    """A match between checkpoints (``Trainer.play_checkpoints``), from the agent's side."""

    # MatchResult.as_dict(): games, wins, draws, losses, win_rate, score, elo, elo_low,
    # elo_high, mean_plies, win_reasons, loss_reasons
    result: dict[str, Any]
    # Game records (keisei.shogi.records.game_record dicts) of the first ``record_games`` games.
    records: list[dict[str, Any]]


class RunOutcome(enum.StrEnum):
    """How ``Trainer.run`` ended when it did not raise."""

    COMPLETED = "completed"  # the configured budget was spent
    STOPPED = "stopped"  # a stop command ended it early, after a final checkpoint


@dataclass(frozen=True, slots=True)
class CheckpointInfo:
    """A checkpoint file the trainer has finished writing (atomically) to ``path``."""

    path: Path
    step: int
    kind: str  # periodic | manual | backup | final | best
    metrics: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CommandRequest:
    """A command for a running trainer: ``kind`` (stop, pause, resume, save, ...) and params."""

    id: str
    kind: str
    params: Mapping[str, Any] = field(default_factory=dict)


class PositionAnalyser(Protocol):
    """A checkpoint's network loaded once (``Trainer.position_analyser``), asked about many
    positions: kept in memory by whoever serves analyses, so only the first call loads."""

    def analyse(self, sfens: Sequence[str], *, top_k: int = 5) -> list[dict[str, Any]]:
        """One analysis per SFEN, in one batch, each as ``Trainer.analyse_position`` returns
        it; ``ValueError`` naming the first bad SFEN before the network runs."""
        ...


@runtime_checkable
class GameOpponent(PositionAnalyser, Protocol):
    """A position analyser that can also play a person (the portal's play page): the
    engine's rules judge the person's moves and the game's end, the network answers. Ask
    ``isinstance(analyser, GameOpponent)``. A game travels as its start and USI moves; nothing
    of it is kept between calls."""

    def play_turn(
        self,
        start_sfen: str,
        moves: Sequence[str],
        move: str | None,
        *,
        temperature: float,
        seed: int,
        top_k: int = 5,
    ) -> dict[str, Any]:
        """Play the person's ``move`` (None: only the network moves, as at the start when it
        has the first move), then, unless the game is over, the network's answer, sampled at
        ``temperature`` (0: its likeliest move) with ``seed``. Returns ``moves`` (all of
        them), ``model_move`` (or None), ``model_probability``, ``state`` (``sfen``, ``ply``,
        ``last_move``, ``side_to_move``, ``in_check``, ``legal_moves``, ``over``, ``reason``,
        ``result``) and ``analysis`` of the position the person now faces (``value``,
        ``win_probability`` of the side to move, ``top_moves``; None once over).
        ``MoveRefused`` for a move the rules refuse, ``ValueError`` for a game that does not
        replay."""
        ...

    def game_state(self, start_sfen: str, moves: Sequence[str]) -> dict[str, Any]:
        """Where the game stands (``state`` above); ``ValueError`` if it does not replay."""
        ...

    def game_record(
        self,
        start_sfen: str,
        moves: Sequence[str],
        *,
        names: tuple[str, str],
        resigned: str | None = None,
    ) -> dict[str, Any]:
        """The finished game's record (``sfen``, ``moves``, ``plies``, ``result``,
        ``reason``, ``black``, ``white``, ``kif``, ``csa``); ``resigned`` names the side
        ("black" or "white") that resigned. ``ValueError`` for a game not over."""
        ...


class Callbacks(Protocol):
    """What a trainer reports. Every method must return fast and never raise into training."""

    def on_status(self, status: str, message: str = "") -> None:
        """The trainer's own state changed: ``running`` or ``paused``."""

    def on_progress(self, step: int, total: int) -> None:
        """``step`` of ``total`` units of the training budget are done."""

    def on_metrics(self, step: int, metrics: Mapping[str, float]) -> None:
        """Scalar metrics at ``step``; keys are namespaced (``losses/value_loss``)."""

    def on_event(self, kind: str, message: str, data: Mapping[str, Any] | None = None) -> None:
        """A durable timeline event: ``log``, ``evaluation``, ``sample`` ..."""

    def on_checkpoint(self, info: CheckpointInfo) -> None:
        """A checkpoint file is complete on disk."""

    def on_board(self, snapshot: Mapping[str, Any]) -> None:
        """A snapshot of a spectated game (transient; callers throttle)."""

    def on_live(self, kind: str, data: Mapping[str, Any]) -> None:
        """A transient message for whoever watches (``client``: a federated client's state and
        progress); the caller does not throttle, so implementations buffer or drop."""


class Control(Protocol):
    """What is asked of a trainer. Polled between training steps."""

    def poll(self) -> list[CommandRequest]:
        """New commands since the last poll, oldest first. Must be cheap to call often."""

    def acknowledge(self, command: CommandRequest) -> None:
        """The trainer has seen ``command`` and is acting on it."""

    def complete(self, command: CommandRequest, result: Mapping[str, Any] | None = None) -> None:
        """``command`` is done; ``result`` is JSON-serialisable."""

    def fail(self, command: CommandRequest, error: str) -> None:
        """``command`` could not be carried out; training goes on."""


class NullCallbacks:
    """Callbacks that drop everything (for tests and benchmarks)."""

    def on_status(self, status: str, message: str = "") -> None:
        pass

    def on_progress(self, step: int, total: int) -> None:
        pass

    def on_metrics(self, step: int, metrics: Mapping[str, float]) -> None:
        pass

    def on_event(self, kind: str, message: str, data: Mapping[str, Any] | None = None) -> None:
        pass

    def on_checkpoint(self, info: CheckpointInfo) -> None:
        pass

    def on_board(self, snapshot: Mapping[str, Any]) -> None:
        pass

    def on_live(self, kind: str, data: Mapping[str, Any]) -> None:
        pass


class NullControl:
    """A control that never asks for anything."""

    def poll(self) -> list[CommandRequest]:
        return []

    def acknowledge(self, command: CommandRequest) -> None:
        pass

    def complete(self, command: CommandRequest, result: Mapping[str, Any] | None = None) -> None:
        pass

    def fail(self, command: CommandRequest, error: str) -> None:
        pass
