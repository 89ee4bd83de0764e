"""A run that explains itself (issue 17, part 5): what happened, read from what is stored.

- **Anchors beaten.** For each anchor opponent of the run's trainer (shogi-ppo: random, greedy,
  two_ply), the first step at which the run won more games than it lost against it, in an
  evaluation (the trainer's own or a job) or in a league match.
- **Regime changes** of ``losses/entropy`` and ``losses/value_loss``. The series is read
  downsampled (at most ``REGIME_POINTS`` buckets, from the rollups, so a run of millions of
  steps reads the same few rows); each bucket stands for its last value. At every bucket i,
  the median of the ``REGIME_WINDOW`` buckets after it is compared with the median of the
  ``REGIME_WINDOW`` before it; a ratio of at least ``REGIME_RATIO`` (or at most its inverse)
  is a change. The strongest ratios are kept, at most ``REGIME_MAX`` per key, none within a
  window of a stronger one; the step named is the first step of the bucket where the later
  window starts; of several neighbouring buckets past the threshold, the one with the largest
  ratio of the windows' means (the one right at the jump).
- **Alerts fired** (timeline events of type ``alert``, the newest ``ALERTS_SHOWN``).
- **The checkpoint to use**: the run's checkpoint with the best league rating, else the one
  with the best Elo in an evaluation (against the opponent named).

Each item links to the charts at its step and to a stored game (the one it names, or the
stored game nearest its step). Every read is bounded: a query per anchor, two downsampled
series, a limited list of events.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

from django.db.models import F
from django.urls import reverse

from keisei.registry import UnknownTrainer, get_trainer
from monitoring.history import metric_history
from monitoring.models import EventType, RunEvent
from runs.models import Evaluation, EvaluationState, LeagueEntry, LeagueMatch, Run

REGIME_KEYS = ("losses/entropy", "losses/value_loss")
REGIME_POINTS = 120
REGIME_WINDOW = 8
REGIME_RATIO = 2.0
REGIME_MAX = 3
ALERTS_SHOWN = 20


def run_explanation(*, run: Run) -> dict[str, Any]:
    """What happened in ``run``: ``anchors``, ``regimes``, ``alerts`` and ``best`` (or None),
    each item with its ``step``, ``chart_url`` and ``game_url`` (None when the run has no
    stored game to open)."""
    has_games = run.game_records.exists()
    links = _Links(run, has_games=has_games)
    return {
        "anchors": run_anchors_beaten(run=run, links=links),
        "regimes": run_regime_changes(run=run, links=links),
        "alerts": [links.add(a, a["step"]) for a in run_alerts(run=run, limit=ALERTS_SHOWN)],
        "best": run_best_checkpoint(run=run, links=links),
        "has_games": has_games,
    }


class _Links:
    """The chart and game links of an item at a step."""

    def __init__(self, run: Run, *, has_games: bool) -> None:
        self.detail = reverse("runs:detail", args=[run.pk])
        self.nearest = reverse("runs:game-nearest", args=[run.pk])
        self.run_id = run.pk
        self.has_games = has_games

    def add(self, item: dict[str, Any], step: int | None, record_id: int | None = None):
        if step is None:
            return {**item, "chart_url": None, "game_url": None}
        game_url = None
        if record_id is not None:
            game_url = reverse("runs:game", args=[self.run_id, record_id])
        elif self.has_games:
            game_url = f"{self.nearest}?step={step}"
        return {**item, "chart_url": f"{self.detail}?step={step}#charts", "game_url": game_url}


def _anchor_names(run: Run) -> list[str]:
    try:
        ratings = get_trainer(run.trainer).anchor_ratings
    except UnknownTrainer:
        return []
    return sorted(ratings, key=lambda name: (ratings[name], name))


def run_anchors_beaten(*, run: Run, links: _Links | None = None) -> list[dict[str, Any]]:
    """Each anchor of the run's trainer, weakest first: the first step the run beat it (won
    more games than it lost, in an evaluation or a league match), or ``step`` None."""
    links = links or _Links(run, has_games=run.game_records.exists())
    found = []
    for name in _anchor_names(run):
        evaluation = (
            Evaluation.objects.filter(
                run=run, state=EvaluationState.DONE, opponent=name, wins__gt=F("losses")
            )
            .order_by("step", "id")
            .only("id", "step", "wins", "draws", "losses", "data")
            .first()
        )
        match = (
            LeagueMatch.objects.filter(
                first__checkpoint__run=run, second__builtin=name, wins__gt=F("losses")
            )
            .select_related("first__checkpoint")
            .order_by("first__checkpoint__step", "id")
            .first()
        )
        item: dict[str, Any] = {"opponent": name, "step": None, "how": ""}
        record_id = None
        match_step = match.first.checkpoint.step if match and match.first.checkpoint else None
        if evaluation is not None and (match_step is None or evaluation.step <= match_step):
            item.update(
                step=evaluation.step,
                how=f"evaluation {evaluation.wins}/{evaluation.draws}/{evaluation.losses} (W/D/L)",
            )
            records = evaluation.data.get("game_records") or []
            record_id = records[0] if records and isinstance(records[0], int) else None
        elif match is not None and match_step is not None:
            item.update(
                step=match_step,
                how=f"league match {match.wins}/{match.draws}/{match.losses} (W/D/L)",
            )
            record_id = (
                match.game_records.filter(run=run).order_by("id").values_list("id", flat=True)
            ).first()
        found.append(links.add(item, item["step"], record_id))
    return found


def regime_changes(
    steps: Sequence[int],
    values: Sequence[float | None],
    *,
    window: int = REGIME_WINDOW,
    ratio: float = REGIME_RATIO,
    most: int = REGIME_MAX,
) -> list[dict[str, Any]]:
    """The change points of a series by the rule in this module's docstring, in step order:
    ``step``, ``before`` and ``after`` (the windows' medians) and ``ratio`` (after/before)."""
    points = [
        (s, float(v))
        for s, v in zip(steps, values, strict=True)
        if v is not None and math.isfinite(v) and v > 0
    ]
    candidates = []
    for i in range(window, len(points) - window + 1):
        earlier = [v for _, v in points[i - window : i]]
        later = [v for _, v in points[i : i + window]]
        before, after = statistics.median(earlier), statistics.median(later)
        change = after / before
        if change >= ratio or change <= 1 / ratio:
            # Medians decide (one wild bucket is no regime); the ratio of the means ranks,
            # so of the buckets around a jump the one right at it wins.
            strength = abs(math.log(statistics.fmean(later) / statistics.fmean(earlier)))
            candidates.append((strength, i, before, after, change))
    chosen: list[tuple[int, float, float, float]] = []
    for _, i, before, after, change in sorted(candidates, key=lambda c: (-c[0], c[1])):
        if len(chosen) >= most:
            break
        if all(abs(i - j) >= window for j, *_ in chosen):
            chosen.append((i, before, after, change))
    return [
        {"step": points[i][0], "before": before, "after": after, "ratio": change}
        for i, before, after, change in sorted(chosen)
    ]


def run_regime_changes(*, run: Run, links: _Links | None = None) -> list[dict[str, Any]]:
    """The regime changes of the run's entropy and value loss, key by key, in step order."""
    links = links or _Links(run, has_games=run.game_records.exists())
    series = metric_history(run_id=run.pk, keys=REGIME_KEYS, max_points=REGIME_POINTS)
    found = []
    for key in REGIME_KEYS:
        s = series[key]
        for change in regime_changes(s.step, s.last):
            direction = "rose" if change["ratio"] > 1 else "fell"
            item = {
                "key": key,
                **change,
                "direction": direction,
                "sentence": f"{key} {direction} ×{change['ratio']:.2g} "
                f"({change['before']:.3g} → {change['after']:.3g})",
            }
            found.append(links.add(item, change["step"]))
    return found


def run_alerts(*, run: Run, limit: int = ALERTS_SHOWN) -> list[dict[str, Any]]:
    """The run's newest ``limit`` alerts, oldest first: ``rule``, ``key``, ``step`` (None if
    the event gave none), ``message``, ``seq``."""
    events = list(
        RunEvent.objects.filter(run=run, type=EventType.ALERT)
        .order_by("-seq")
        .values("seq", "message", "data")[:limit]
    )
    alerts = []
    for event in reversed(events):
        data = event["data"] if isinstance(event["data"], dict) else {}
        step = data.get("step")
        alerts.append(
            {
                "seq": event["seq"],
                "rule": str(data.get("rule", "")),
                "key": str(data.get("key", "")),
                "step": int(step)
                if isinstance(step, int | float) and math.isfinite(step)
                else None,
                "message": event["message"],
            }
        )
    return alerts


def run_best_checkpoint(*, run: Run, links: _Links | None = None) -> dict[str, Any] | None:
    """The checkpoint to use: the run's best league rating (after at least one game), else
    its best Elo in an evaluation; None if no checkpoint of the run is rated."""
    links = links or _Links(run, has_games=run.game_records.exists())
    entry = (
        LeagueEntry.objects.filter(checkpoint__run=run, games__gt=0)
        .select_related("checkpoint")
        .order_by("-rating", "id")
        .first()
    )
    if entry is not None and entry.checkpoint is not None:
        checkpoint, how = entry.checkpoint, f"league rating {entry.rating:.0f}"
        elo = entry.rating
    else:
        evaluation = (
            Evaluation.objects.filter(
                run=run, state=EvaluationState.DONE, checkpoint__isnull=False, elo__isnull=False
            )
            .select_related("checkpoint")
            .order_by("-elo", "id")
            .first()
        )
        if evaluation is None or evaluation.checkpoint is None:
            return None
        checkpoint, elo = evaluation.checkpoint, float(evaluation.elo or 0.0)
        how = f"Elo {elo:.0f} against {evaluation.opponent}"
    item = {
        "checkpoint": checkpoint.pk,
        "step": checkpoint.step,
        "kind": checkpoint.kind,
        "elo": elo,
        "how": how,
        "download_url": reverse("runs:checkpoint-download", args=[run.pk, checkpoint.pk]),
    }
    record_id = (
        run.game_records.filter(checkpoint=checkpoint).order_by("id").values_list("id", flat=True)
    ).first()
    return links.add(item, checkpoint.step, record_id)
