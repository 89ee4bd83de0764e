"""Reads of the league: standings, head-to-head, recent matches, ratings over time, the
showcase. A run the user may not see is a "hidden run" here: never its name, owner or games.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import Prefetch, Q, Sum

from keisei.registry import available_trainers, get_trainer
from monitoring.errors import NotFound
from runs import access
from runs.models import (
    Checkpoint,
    Evaluation,
    GameRecord,
    LeagueEntry,
    LeagueMatch,
)
from runs.services.matches import trainer_plays_games

# ----- the league -----------------------------------------------------------------------------

HIDDEN_RUN = "hidden run"


def league_standings(*, user: Any) -> list[dict[str, Any]]:
    """Every entry, strongest first. Ratings are for everyone; which run (and checkpoint) an
    entry is, only for people who may see that run: for others it is a "hidden run". Anchors
    (built-in players at a fixed rating) are named for everyone, with ``anchor`` set."""
    entries = list(
        LeagueEntry.objects.select_related("checkpoint__run__owner").order_by(
            "-is_active", "-rating", "id"
        )
    )
    run_ids = {e.checkpoint.run_id for e in entries if e.checkpoint is not None}
    visible = access.run_ids_visible(user=user, run_ids=run_ids)
    return [
        _standing(
            rank,
            entry,
            shown=entry.checkpoint is not None and entry.checkpoint.run_id in visible,
        )
        for rank, entry in enumerate(entries, start=1)
    ]


def _standing(rank: int, entry: LeagueEntry, *, shown: bool) -> dict[str, Any]:
    common = {
        "rank": rank,
        "id": entry.pk,
        "rating": round(entry.rating, 1),
        "games": entry.games,
        "wins": entry.wins,
        "draws": entry.draws,
        "losses": entry.losses,
        "is_active": entry.is_active,
        "entered_at": entry.entered_at.isoformat(),
        "last_played_at": entry.last_played_at.isoformat() if entry.last_played_at else None,
    }
    checkpoint = entry.checkpoint
    if checkpoint is None:
        return {
            **common,
            "anchor": entry.builtin,
            "retired_reason": entry.retired_reason,
            "label": f"anchor: {entry.builtin} ({entry.trainer}, fixed rating)",
            "run": None,
            "checkpoint": None,
        }
    run = checkpoint.run
    return {
        **common,
        "anchor": None,
        "retired_reason": entry.retired_reason if shown else "",
        "label": f"{run.display_name} @ step {checkpoint.step}" if shown else HIDDEN_RUN,
        "run": {"id": run.pk, "name": run.display_name, "owner": run.owner.get_username()}
        if shown
        else None,
        "checkpoint": {"id": checkpoint.pk, "step": checkpoint.step, "kind": checkpoint.kind}
        if shown
        else None,
    }


# ----- the league page: head-to-head, recent matches, ratings over time -------------------------

LEAGUE_RECENT_MATCHES = 20
LEAGUE_MATRIX_MAX = 16


@dataclass(frozen=True)
class LeagueGameLink:
    """A stored game of a league match that the viewer may open (its run is visible)."""

    run_id: int
    record_id: int
    black: str
    white: str
    result: str


@dataclass(frozen=True)
class LeagueMatchRow:
    """A played match as the page lists it: both sides by their standings label."""

    id: int
    first: dict[str, Any]
    second: dict[str, Any]
    wins: int
    draws: int
    losses: int
    rating_change: float
    played_at: dt.datetime
    games: list[LeagueGameLink]


@dataclass
class LeaguePage:
    """Everything the league page shows, with hidden runs hidden (``league_standings``' rule)."""

    standings: list[dict[str, Any]]
    matrix_entries: list[dict[str, Any]]
    matrix: list[dict[str, Any]]  # rows: ``entry`` and ``cells``, its W/D/L against each column
    matrix_left_out: int
    recent: list[LeagueMatchRow]
    ratings: dict[str, Any]  # the chart's series, as JSON


def league_head_to_head() -> dict[tuple[int, int], dict[str, int]]:
    """W/D/L of every ordered pair of entries that met, from both sides of every match."""
    pairs = (
        LeagueMatch.objects.order_by()
        .values("first_id", "second_id")
        .annotate(w=Sum("wins"), d=Sum("draws"), l=Sum("losses"))
    )
    head: dict[tuple[int, int], dict[str, int]] = {}
    for p in pairs:
        for a, b, won, lost in (
            (p["first_id"], p["second_id"], p["w"], p["l"]),
            (p["second_id"], p["first_id"], p["l"], p["w"]),
        ):
            cell = head.setdefault((a, b), {"wins": 0, "draws": 0, "losses": 0})
            cell["wins"] += won
            cell["draws"] += p["d"]
            cell["losses"] += lost
    return head


def league_page(
    *, user: Any, recent: int = LEAGUE_RECENT_MATCHES, matrix_max: int = LEAGUE_MATRIX_MAX
) -> LeaguePage:
    """The standings, a head-to-head matrix of the ``matrix_max`` strongest entries that have
    played, the ``recent`` newest matches with the games ``user`` may open, and the rating of
    each entry of a run ``user`` may see after each of its matches (rebuilt from the matches:
    each stores both ratings before it and the change)."""
    standings = league_standings(user=user)
    for standing in standings:  # the API's ISO strings, as datetimes for "3 min ago"
        last = standing["last_played_at"]
        standing["last_played"] = dt.datetime.fromisoformat(last) if last else None
    by_id = {s["id"]: s for s in standings}
    head = league_head_to_head()
    played = [s for s in standings if s["games"] > 0]
    shown = played[:matrix_max]
    matrix = [
        {"entry": row, "cells": [head.get((row["id"], col["id"])) for col in shown]}
        for row in shown
    ]
    games = GameRecord.objects.only("id", "run_id", "black", "white", "result").order_by("id")
    matches = list(
        LeagueMatch.objects.order_by("-played_at", "-id")[:recent].prefetch_related(
            Prefetch("game_records", queryset=games)
        )
    )
    # Games are linked only on runs the user may see: the standings already decided which.
    visible = {s["run"]["id"] for s in standings if s["run"] is not None}
    rows = [
        LeagueMatchRow(
            id=m.pk,
            first=by_id[m.first_id],
            second=by_id[m.second_id],
            wins=m.wins,
            draws=m.draws,
            losses=m.losses,
            rating_change=m.rating_change,
            played_at=m.played_at,
            games=[
                LeagueGameLink(g.run_id, g.pk, g.black, g.white, g.result)
                for g in m.game_records.all()
                if g.run_id in visible
            ],
        )
        for m in matches
    ]
    return LeaguePage(
        standings=standings,
        matrix_entries=shown,
        matrix=matrix,
        matrix_left_out=len(played) - len(shown),
        recent=rows,
        ratings=league_rating_history(standings=standings),
    )


def league_rating_history(*, standings: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Each shown (not hidden, not anchor) entry's rating after each of its matches, as one
    series per entry on a shared time axis (seconds since the epoch; None where an entry did
    not play), starting from its rating before its first match."""
    shown = {s["id"]: s for s in standings if s["run"] is not None}
    points: dict[int, list[tuple[float, float]]] = {i: [] for i in shown}
    matches = (
        LeagueMatch.objects.filter(Q(first_id__in=shown) | Q(second_id__in=shown))
        .order_by("played_at", "id")
        .values_list(
            "first_id",
            "second_id",
            "first_rating_before",
            "second_rating_before",
            "rating_change",
            "played_at",
        )
    )
    for first, second, first_before, second_before, change, played_at in matches:
        at = played_at.timestamp()
        for entry, before, delta in (
            (first, first_before, change),
            (second, second_before, -change),
        ):
            if entry in points:
                if not points[entry]:  # where it stood before its first match, a second earlier
                    points[entry].append((at - 1.0, before))
                points[entry].append((at, before + delta))
    series = [(i, p) for i, p in points.items() if p]
    times = sorted({t for _, p in series for t, _ in p})
    column = {t: n for n, t in enumerate(times)}
    values: list[list[float | None]] = []
    for _, p in series:
        line: list[float | None] = [None] * len(times)
        for t, rating in p:
            line[column[t]] = round(rating, 1)
        values.append(line)
    return {
        "time": times,
        "series": [{"id": i, "label": shown[i]["label"]} for i, _ in series],
        "values": values,
    }


# ----- the showcase -------------------------------------------------------------------------------

SHOWCASE_CHOICES = 200


def showcase_choices(*, user: Any) -> dict[str, Any]:
    """What the showcase form offers: the newest checkpoints whose trainer plays games, of
    runs ``user`` may steer (the first player) and may see (the second), and each such
    trainer's built-in players."""
    playing = [t for t in sorted(available_trainers()) if trainer_plays_games(t)]

    def newest(runs: Any) -> list[dict[str, Any]]:
        checkpoints = (
            Checkpoint.objects.filter(run__in=runs, run__trainer__in=playing)
            .select_related("run")
            .order_by("-created_at", "-id")[:SHOWCASE_CHOICES]
        )
        return [
            {
                "id": c.pk,
                "label": f"{c.run.display_name} @ step {c.step} ({c.kind})",
                "opponent": f"checkpoint:{c.pk}",  # as the second player is named
            }
            for c in checkpoints
        ]

    return {
        # The first player's run keeps the game: one the user may steer (services.showcase).
        "own_checkpoints": newest(access.runs_steerable(user=user)),
        "checkpoints": newest(access.runs_visible(user=user)),
        "builtins": sorted({b for t in playing for b in get_trainer(t).builtin_opponents}),
    }


def showcase_for_viewer(*, user: Any, run_id: int, evaluation_id: int) -> dict[str, Any]:
    """A showcase (a one-game evaluation job) as its page polls it: its state, error, and once
    played its game (players, result, start SFEN, USI moves). ``NotFound`` unless ``user``
    may see both checkpoints' runs (the first is the route's run)."""
    evaluation = (
        Evaluation.objects.select_related("opponent_checkpoint")
        .filter(pk=evaluation_id, run_id=run_id, run__in=access.runs_visible(user=user))
        .first()
    )
    rival = evaluation.opponent_checkpoint if evaluation else None
    if evaluation is None or (rival is not None and not access.may_view_run(user, rival.run_id)):
        raise NotFound("no such showcase")
    record_ids = evaluation.data.get("game_records") or []
    record = GameRecord.objects.filter(pk__in=record_ids[:1], run_id=run_id).first()
    return {
        "id": evaluation.pk,
        "run_id": run_id,
        "state": evaluation.state,
        "error": evaluation.error,
        "opponent": evaluation.opponent,
        "game": None
        if record is None
        else {
            "id": record.pk,
            "black": record.black,
            "white": record.white,
            "result": record.result,
            "reason": record.reason,
            "plies": record.plies,
            "start_sfen": record.start_sfen,
            "moves": list(record.moves),
        },
    }
