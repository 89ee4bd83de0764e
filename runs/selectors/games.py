"""Reads of a run's stored games by training step: what a chart's click opens (issue 17).

A chart point is a step; the game it opens is the stored game of the run whose step is
nearest (ties: the earlier game). Two index reads on (run, step), one each side of the step,
so a run with a million games answers as fast as one with ten.
"""

from __future__ import annotations

from typing import Any

from runs.models import GameRecord, GameSource, Run
from runs.services.errors import FieldsRefused

# Far beyond any run's step count (a bigint column holds more): a typo, not a step.
STEP_MAX = 10**15


class ChartStepRefused(FieldsRefused):
    """A chart's step or source cannot be read; ``fields`` names which."""

    code = "chart_step_invalid"


def chart_step_parse(*, raw_step: Any, raw_source: Any = None) -> tuple[int, str | None]:
    """The step (a whole number from 0) and the source (a ``GameSource`` or none) of a
    chart's click; ``ChartStepRefused`` naming ``step`` or ``source`` otherwise."""
    errors: dict[str, list[str]] = {}
    text = str(raw_step if raw_step is not None else "").strip()
    step = int(text) if text.isdigit() and len(text) <= 16 else -1
    if not 0 <= step <= STEP_MAX:
        errors["step"] = [f"a whole number from 0 to {STEP_MAX}, got {text[:40]!r}"]
    source = str(raw_source or "").strip() or None
    if source is not None and source not in GameSource.values:
        errors["source"] = [f"one of {', '.join(GameSource.values)}, or empty for any"]
    if errors:
        raise ChartStepRefused(errors)
    return step, source


def game_record_nearest(*, run: Run, step: int, source: str | None = None) -> GameRecord | None:
    """The run's stored game (of ``source``, if named) whose step is nearest ``step``; the
    earlier of two as near; None if the run has none."""
    games = run.game_records.defer("moves", "kif", "csa")
    if source:
        games = games.filter(source=source)
    below = games.filter(step__lte=step).order_by("-step", "id").first()
    above = games.filter(step__gt=step).order_by("step", "id").first()
    if below is None or above is None:
        return below or above
    return below if step - below.step <= above.step - step else above
