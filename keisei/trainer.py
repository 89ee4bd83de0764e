"""The base class every trainer extends, with the command loop they share.

A trainer subclass names itself (``name``), declares its pydantic ``Config`` and optional
``presets``, and implements ``train``. Between steps it calls ``self.checkpoint_commands()``;
the base class answers stop, pause, resume and save, and hands any other command kind to
``handle_command`` (which a trainer overrides for sample, evaluate, backup ...).

What a trainer can do beyond training is declared in ``capabilities`` and asked with ``can``:
the site never tests a trainer's name nor imports its package.
"""

from __future__ import annotations

import abc
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from keisei.interfaces import (
    Callbacks,
    Capability,
    CheckpointInfo,
    CommandRequest,
    Control,
    MatchOutcome,
    NullCallbacks,
    NullControl,
    PositionAnalyser,
    RunOutcome,
)

log = logging.getLogger(__name__)

# How often a paused trainer looks for resume/stop: well inside the 1 s acknowledgement goal.
PAUSE_POLL_SECONDS = 0.1


class CommandError(Exception):
    """A command cannot be carried out (bad parameters, wrong state); training goes on."""


ConfigT = TypeVar("ConfigT", bound=BaseModel)


class Trainer(abc.ABC, Generic[ConfigT]):
    """A named, configurable training job that reports through callbacks and obeys a control."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    # The pydantic model of ``ConfigT`` (a ClassVar cannot name a type variable; ``__init__``
    # checks the instance, so ``self.config`` is a ``ConfigT``).
    Config: ClassVar[type[BaseModel]]
    # Named configs a user can start from, as partial dicts validated by ``Config``.
    presets: ClassVar[Mapping[str, Mapping[str, Any]]] = {}
    # Command kinds this trainer answers beyond the shared stop/pause/resume/save.
    extra_commands: ClassVar[frozenset[str]] = frozenset()
    capabilities: ClassVar[frozenset[Capability]] = frozenset()
    # Names of the built-in players ``play_checkpoints`` accepts as an opponent ("random").
    builtin_opponents: ClassVar[frozenset[str]] = frozenset()
    # Built-in players that sit in a league at a fixed Elo (name -> rating), so that ratings
    # mean the same across the site's lifetime; each name is one of ``builtin_opponents``.
    anchor_ratings: ClassVar[Mapping[str, float]] = {}
    # The config field that sets how many steps a run plans (its training budget), which a
    # site may cap (``KEISEI_MAX_RUN_STEPS``); None: the trainer plans no fixed number.
    budget_field: ClassVar[str | None] = None
    # The metric that says which step was best, and whether higher ("max") or lower ("min")
    # is better: a run's summary names that step, its metrics and the checkpoint to use.
    # None: the summary gives the last step's metrics only.
    best_metric: ClassVar[tuple[str, Literal["max", "min"]] | None] = None

    def __init__(
        self,
        config: ConfigT,
        *,
        workdir: Path,
        callbacks: Callbacks | None = None,
        control: Control | None = None,
        device: str | None = None,
    ) -> None:
        if not isinstance(config, self.Config):
            raise TypeError(f"{self.name} expects a {self.Config.__name__}, got {type(config)!r}")
        self.config: ConfigT = config
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.callbacks: Callbacks = callbacks or NullCallbacks()
        self.control: Control = control or NullControl()
        self.device = device or default_device()
        self.stop_requested = False

    # ----- what a subclass implements -------------------------------------------------------

    @abc.abstractmethod
    def train(self, resume_from: Path | None = None) -> RunOutcome:
        """Train until the budget is spent or a stop is asked; return how it ended."""

    @abc.abstractmethod
    def save_checkpoint(self, kind: str) -> CheckpointInfo:
        """Write the full training state atomically and report it through ``on_checkpoint``."""

    def handle_command(self, command: CommandRequest) -> Mapping[str, Any] | None:
        """Answer a command kind from ``extra_commands``; raise ``CommandError`` to refuse."""
        raise CommandError(f"the {self.name} trainer does not support '{command.kind}'")

    @classmethod
    def play_checkpoints(
        cls,
        agent: Path,
        opponent: Path | str,
        *,
        games: int,
        max_plies: int | None,
        seed: int,
        record_games: int = 0,
        temperature: float = 1.0,
        names: tuple[str, str] = ("agent", "opponent"),
        device: str | None = None,
        watch: Callable[[dict[str, Any]], None] | None = None,
    ) -> MatchOutcome:
        """A match of the checkpoint ``agent`` against ``opponent`` (another checkpoint file,
        or one of ``builtin_opponents`` by name), for trainers that can ``PLAYS_GAMES``.
        ``watch``, if given, is called after each ply with a live board of the game being
        played (the shape ``Callbacks.on_board`` takes); the caller throttles.

        ``CheckpointError`` for an unusable file (either side), ``ValueError`` for an unknown
        built-in name or ``games`` < 1. ``max_plies`` None is the agent's own training cap.
        """
        raise NotImplementedError(f"{cls.name} does not play games")

    @classmethod
    def analyse_position(
        cls, checkpoint: Path, sfen: str, *, top_k: int = 5, device: str | None = None
    ) -> dict[str, Any]:
        """What the checkpoint makes of a position, for trainers that can
        ``ANALYSES_POSITIONS``: ``value`` (the value head, -1..1, for the side to move),
        ``win_probability`` ((value + 1) / 2: the expected score, a draw counting half),
        ``top_moves`` (the ``top_k`` likeliest legal moves: ``usi``, ``probability``),
        ``square_mass`` (81 numbers: the policy's probability summed by destination square,
        index ``(file - 1) * 9 + (rank - 1)``, 0 = 1a, 8 = 1i, 80 = 9i), ``legal_moves``,
        ``side_to_move`` and the normalised ``sfen``.

        ``ValueError`` naming the SFEN for a bad position, ``CheckpointError`` for an unusable
        file.
        """
        raise NotImplementedError(f"{cls.name} does not analyse positions")

    @classmethod
    def position_analyser(cls, checkpoint: Path, *, device: str | None = None) -> PositionAnalyser:
        """The checkpoint's network loaded once, to analyse many positions as
        ``analyse_position`` does (for ``ANALYSES_POSITIONS``); ``CheckpointError`` for an
        unusable file. A server keeps it in memory instead of reloading per request."""
        raise NotImplementedError(f"{cls.name} does not analyse positions")

    @classmethod
    def game_positions(cls, start_sfen: str, moves: Sequence[str]) -> list[str]:
        """The SFEN before the first move and after each of ``moves`` (USI), for
        ``ANALYSES_POSITIONS``: as many as the moves are legal (a record is never analysed
        past a move the rules refuse). ``ValueError`` naming the SFEN for a bad start."""
        raise NotImplementedError(f"{cls.name} does not analyse positions")

    # ----- shared machinery -----------------------------------------------------------------

    @classmethod
    def can(cls, capability: Capability) -> bool:
        return capability in cls.capabilities

    @classmethod
    def supported_commands(cls) -> frozenset[str]:
        return frozenset({"stop", "pause", "resume", "save"}) | cls.extra_commands

    @classmethod
    def config_schema(cls) -> dict[str, Any]:
        return cls.Config.model_json_schema()

    @classmethod
    def parse_config(cls, data: Mapping[str, Any]) -> BaseModel:
        """Validate a raw mapping (raises ``pydantic.ValidationError`` naming each field;
        ``config_errors`` turns it into messages for people)."""
        return cls.Config.model_validate(dict(data))

    def checkpoint_commands(self) -> None:
        """Answer every pending command; blocks while paused. Call between training steps."""
        paused = False
        while True:
            for command in self.control.poll():
                paused = self._answer(command, paused=paused)
            if not paused or self.stop_requested:
                return
            time.sleep(PAUSE_POLL_SECONDS)

    def _answer(self, command: CommandRequest, *, paused: bool) -> bool:
        """Carry out one command and report it; returns whether training is now paused."""
        if command.kind not in self.supported_commands():
            self.control.fail(command, f"the {self.name} trainer does not support '{command.kind}'")
            return paused
        self.control.acknowledge(command)
        try:
            result: Mapping[str, Any] | None
            if command.kind == "stop":
                self.stop_requested = True
                result, paused = {"stopping": True}, False
            elif command.kind == "pause":
                if paused:
                    raise CommandError("the run is already paused")
                self.callbacks.on_status("paused")
                result, paused = {"paused": True}, True
            elif command.kind == "resume":
                if not paused:
                    raise CommandError("the run is not paused")
                self.callbacks.on_status("running")
                result, paused = {"paused": False}, False
            elif command.kind == "save":
                info = self.save_checkpoint("manual")
                result = {"step": info.step, "path": str(info.path)}
            else:
                result = self.handle_command(command)
        except CommandError as exc:
            self.control.fail(command, str(exc))
            return paused
        except Exception as exc:  # a failing command must never end the training
            log.exception("command %s (%s) failed", command.id, command.kind)
            self.control.fail(command, f"{type(exc).__name__}: {exc}")
            return paused
        self.control.complete(command, result)
        return paused


def default_device() -> str:
    """``cuda`` when a GPU is present, else the CPU."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def atomic_torch_save(obj: Any, path: Path) -> None:
    """Write with ``torch.save`` to a temporary name, fsync, then rename over ``path``."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as fh:
        torch.save(obj, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def config_errors(exc: ValidationError) -> dict[str, list[str]]:
    """A config's validation errors by field path ("" for the config as a whole), worded for
    people: pydantic's "Value error, " prefix on a validator's own message is dropped."""
    errors: dict[str, list[str]] = {}
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"])
        errors.setdefault(field, []).append(error["msg"].removeprefix("Value error, "))
    return errors
