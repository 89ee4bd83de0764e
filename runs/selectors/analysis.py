"""Which checkpoints may analyse a run's positions: the ones a user may pick from, and the one
that played a stored game."""

from __future__ import annotations

import re
from dataclasses import dataclass

from runs.models import Checkpoint, GameRecord, Run

# The viewer's checkpoint list shows at most this many (newest first).
ANALYSIS_CHECKPOINTS_MAX = 50

# How services.matches.checkpoint_label names a checkpoint in a record: "checkpoint 12 (run 3, ...".
_LABEL = re.compile(r"^checkpoint (\d+) \(run (\d+),")


@dataclass(frozen=True)
class GameCheckpoint:
    """The checkpoint to analyse a game with, and why that one (``played`` it, the
    ``nearest`` before the game's step, or the run's ``latest``)."""

    checkpoint: Checkpoint
    why: str


def analysis_checkpoints(run: Run) -> list[Checkpoint]:
    """The run's checkpoints a user may analyse with, newest step first."""
    return list(run.checkpoints.order_by("-step", "-id")[:ANALYSIS_CHECKPOINTS_MAX])


def analysis_checkpoint(run: Run, *, checkpoint_id: int | None) -> Checkpoint | None:
    """``checkpoint_id`` if it is one of the run's, else None; with no id the run's newest."""
    checkpoints = run.checkpoints.order_by("-step", "-id")
    if checkpoint_id is None:
        return checkpoints.first()
    return checkpoints.filter(pk=checkpoint_id).first()


def game_record_checkpoint(record: GameRecord) -> GameCheckpoint | None:
    """The checkpoint of the record's run that played it when the record names one (an
    evaluation job's side), else the run's checkpoint at the game's step; failing both, the
    nearest before that step, then the run's newest. None when the run has no checkpoint."""
    checkpoints = record.run.checkpoints.order_by("-step", "-id")
    for name in (record.black, record.white):
        match = _LABEL.match(name)
        if match and int(match.group(2)) == record.run_id:
            named = checkpoints.filter(pk=int(match.group(1))).first()
            if named is not None:
                return GameCheckpoint(named, "played")
    at_step = checkpoints.filter(step=record.step).first()
    if at_step is not None:
        return GameCheckpoint(at_step, "played")
    before = checkpoints.filter(step__lt=record.step).first()
    if before is not None:
        return GameCheckpoint(before, "nearest")
    latest = checkpoints.first()
    return GameCheckpoint(latest, "latest") if latest is not None else None
