"""Matches outside a training run, and the one way people name an opponent.

An opponent is written the same way everywhere (commands, evaluation jobs, the API, forms):
one of the trainer's built-in players (``random``), ``checkpoint:<id>`` for a checkpoint of any
run the asker may see, and, only for a command to a running run, ``self`` (the policy on both
sides) or ``latest`` (the run's newest checkpoint). A free file path is never accepted: it
would let anyone load any file on a worker.

``match_play`` is what evaluation jobs and the league share: fetch both checkpoint files,
let the trainer play them (any trainer that declares it plays games), clean up.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

from keisei.interfaces import CheckpointError, MatchOutcome
from keisei.registry import get_trainer
from runs import access
from runs.models import Checkpoint
from runs.services.checkpoints import checkpoint_fetch
from runs.services.errors import CheckpointUnusable, NotFound
from runs.trainers import Capability, trainer_can

CHECKPOINT_PREFIX = "checkpoint:"
# Words that only mean something to a running run (its own policy, its own newest file).
RUN_OPPONENTS = ("self", "latest")
# A match shares the machine with training: one thread is enough for small batches.
MATCH_THREADS = 1


class OpponentRefused(ValueError):
    """The opponent cannot be used; the message says why, for the caller's field."""


@dataclass(frozen=True)
class Opponent:
    """An opponent as named: a word (a built-in player, ``self``, ``latest``) or a checkpoint."""

    name: str
    checkpoint: Checkpoint | None = None

    @classmethod
    def of_checkpoint(cls, checkpoint: Checkpoint) -> Opponent:
        return cls(name=f"{CHECKPOINT_PREFIX}{checkpoint.pk}", checkpoint=checkpoint)

    @property
    def label(self) -> str:
        """How it is named in records and results."""
        return checkpoint_label(self.checkpoint) if self.checkpoint else self.name


def checkpoint_label(checkpoint: Checkpoint) -> str:
    """How a checkpoint is named in records and results (no run name: it may be hidden)."""
    return f"checkpoint {checkpoint.pk} (run {checkpoint.run_id}, step {checkpoint.step})"


def trainer_plays_games(trainer: str) -> bool:
    """Whether ``trainer``'s checkpoints can play matches (evaluation, samples, the league)."""
    return trainer_can(trainer, Capability.PLAYS_GAMES)


def opponent_words(trainer: str, *, in_run: bool = False) -> tuple[str, ...]:
    """The words an opponent of ``trainer`` may be, besides ``checkpoint:<id>``."""
    builtin = tuple(sorted(get_trainer(trainer).builtin_opponents))
    return builtin + RUN_OPPONENTS if in_run else builtin


def opponent_resolve(*, user: Any, value: Any, trainer: str, in_run: bool = False) -> Opponent:
    """The opponent ``value`` names for a ``trainer`` player asked for by ``user``;
    ``OpponentRefused`` with the reason otherwise. A checkpoint of a run ``user`` may not see
    gets the same answer as one that does not exist."""
    words = opponent_words(trainer, in_run=in_run)
    if isinstance(value, str) and value in words:
        return Opponent(name=value)
    raw_id = value.removeprefix(CHECKPOINT_PREFIX) if isinstance(value, str) else ""
    if not (isinstance(value, str) and value.startswith(CHECKPOINT_PREFIX)):
        raise OpponentRefused(
            f"must be one of {', '.join(words)} or checkpoint:<id>, got {value!r}"
        )
    try:
        if not raw_id.isdigit():
            raise NotFound()
        found = access.checkpoint_for_opponent(user=user, checkpoint_id=int(raw_id))
    except NotFound:
        raise OpponentRefused(f"no checkpoint {raw_id} that you may see") from None
    if found.run.trainer != trainer:
        raise OpponentRefused(f"checkpoint {raw_id} is of a {found.run.trainer} run, not {trainer}")
    return Opponent(name=value, checkpoint=found)


class MatchUnplayable(Exception):
    """One side's checkpoint cannot be played (missing, tampered, corrupt): ``checkpoint``
    names which, the message why."""

    def __init__(self, checkpoint: Checkpoint, reason: str) -> None:
        super().__init__(reason)
        self.checkpoint = checkpoint


def match_play(
    *,
    agent: Checkpoint,
    opponent: Opponent,
    games: int,
    seed: int,
    record_games: int,
    temperature: float = 1.0,
    max_plies: int | None = None,
    names: tuple[str, str],
    watch: Callable[[dict[str, Any]], None] | None = None,
) -> MatchOutcome:
    """``agent`` plays ``games`` games against ``opponent`` (a built-in player or a
    checkpoint); the agent's W/D/L and the records of the first ``record_games`` games.

    ``MatchUnplayable`` names the checkpoint whose file cannot be played. ``watch`` is given
    the live board after each ply (the arena's feed). Imports torch: call it on a worker,
    never in a web process.
    """
    import torch

    trainer_cls = get_trainer(agent.run.trainer)
    workdir = Path(settings.KEISEI_WORK_DIR) / f"match-{uuid.uuid4().hex[:12]}"
    sides: dict[Path, Checkpoint] = {}
    try:
        agent_path = _fetch(agent, workdir / "agent", sides)
        rival: Path | str = opponent.name
        if opponent.checkpoint is not None:
            rival = _fetch(opponent.checkpoint, workdir / "opponent", sides)
        torch.set_num_threads(MATCH_THREADS)
        try:
            return trainer_cls.play_checkpoints(
                agent_path,
                rival,
                games=games,
                max_plies=max_plies,
                seed=seed,
                record_games=record_games,
                temperature=temperature,
                names=names,
                watch=watch,
            )
        except CheckpointError as exc:
            # The engine names the file; the file says which side it is.
            bad = next((c for path, c in sides.items() if str(path) in str(exc)), agent)
            raise MatchUnplayable(bad, str(exc)) from exc
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _fetch(checkpoint: Checkpoint, folder: Path, sides: dict[Path, Checkpoint]) -> Path:
    try:
        path = checkpoint_fetch(checkpoint, folder)
    except CheckpointUnusable as exc:
        raise MatchUnplayable(checkpoint, str(exc)) from exc
    sides[path] = checkpoint
    return path
