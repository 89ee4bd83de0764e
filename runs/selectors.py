"""Reads of runs: lists, snapshots, queue positions, artifacts, presets, the league, compare.

Who may see what is ``runs.access``'s to say; every read for a user starts there.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from django.conf import settings
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Count, F, Prefetch, Q, QuerySet, Sum, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from keisei.registry import UnknownTrainer, available_trainers, get_trainer
from monitoring import models as metric_models
from monitoring.errors import NotFound
from monitoring.history import compare_run_ids, metric_compare, metric_keys
from monitoring.models import RunEvent
from monitoring.selectors import event_as_message
from runs import access
from runs.filters import RunFilter
from runs.models import (
    ACTIVE_STATUSES,
    Checkpoint,
    Command,
    CommandState,
    Evaluation,
    GameRecord,
    LeagueEntry,
    LeagueMatch,
    Preset,
    Run,
    RunStatus,
)
from runs.services.matches import trainer_plays_games
from runs.services.quotas import quota_for

# The order in which queued runs are claimed (runs.services.lifecycle.run_claim_next).
CLAIM_ORDER = (F("priority").desc(), F("created_at").asc(), F("id").asc())
ACTIVE = (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.PAUSED)


# ----- runs -----------------------------------------------------------------------------------


def run_list_active(user: Any, limit: int = 100) -> list[dict[str, Any]]:
    """The queued, running and paused runs ``user`` may see, newest first (the dashboard)."""
    runs = access.runs_visible(user=user).filter(status__in=ACTIVE).order_by("-created_at", "-pk")
    positions = queue_positions()
    return [run_as_dict(run, queue_position=positions.get(run.pk)) for run in runs[:limit]]


def run_as_dict(run: Run, *, queue_position: int | None = None) -> dict[str, Any]:
    """A run as the live messages and the dashboard describe it."""
    return {
        "id": run.pk,
        "name": run.display_name,
        "trainer": run.trainer,
        "status": run.status,
        "step": run.step,
        "total": run.total_steps,
        "progress": run.progress,
        "error": run.error,
        "attempts": run.attempts,
        "queue_position": queue_position,
        "created_at": run.created_at.isoformat() if run.created_at else None,
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
    }


def run_snapshot(run_id: int) -> dict[str, Any] | None:
    """What a watcher needs to draw the run's header (for the WebSocket ``connected``)."""
    run = Run.objects.filter(pk=run_id).first()
    if run is None:
        return None
    return run_as_dict(run, queue_position=run_queue_position(run))


def queue_positions() -> dict[int, int]:
    """Every queued run's place in the queue (1 trains next), in one query: a row number over
    the queued runs in claim order. The queue is bounded (KEISEI_GLOBAL_MAX_QUEUED), so the
    whole map is small; filtering by id in SQL would number only the runs kept."""
    ranked = (
        Run.objects.filter(status=RunStatus.QUEUED)
        .annotate(position=Window(RowNumber(), order_by=list(CLAIM_ORDER)))
        .order_by(*CLAIM_ORDER)
        .values_list("pk", "position")
    )
    return dict(ranked[: settings.KEISEI_GLOBAL_MAX_QUEUED * 2])


def run_queue_position(run: Run) -> int | None:
    """One run's place in the queue (1 trains next); None when the run is not queued."""
    if run.status != RunStatus.QUEUED:
        return None
    ahead = Run.objects.filter(status=RunStatus.QUEUED).filter(
        Q(priority__gt=run.priority)
        | Q(priority=run.priority, created_at__lt=run.created_at)
        | Q(priority=run.priority, created_at=run.created_at, pk__lt=run.pk)
    )
    return ahead.count() + 1


# ----- what a run has -------------------------------------------------------------------------


def run_artifacts(run: Run) -> dict[str, Any]:
    """The run page's checkpoints, evaluations and games (newest first, a screenful each)."""
    return {
        "checkpoints": run.checkpoints.all()[:50],
        "evaluations": run.evaluations.all()[:20],
        "game_records": run.game_records.defer("kif", "csa", "moves")[:20],
    }


def run_commands_recent(run: Run, *, limit: int = 20) -> QuerySet[Command]:
    return run.commands.select_related("requested_by").order_by("-created_at")[:limit]


def run_commands(run: Run) -> QuerySet[Command]:
    return run.commands.all()


def run_checkpoints(run: Run) -> QuerySet[Checkpoint]:
    return run.checkpoints.all()


def run_checkpoint(run: Run, *, checkpoint_id: int) -> Checkpoint | None:
    """One of this run's checkpoints (a fork's starting point), or None."""
    return run.checkpoints.filter(pk=checkpoint_id).first()


def run_evaluations(run: Run, *, limit: int = 500) -> QuerySet[Evaluation]:
    return run.evaluations.select_related("requested_by")[:limit]


def commands_pending(*, run_id: int) -> list[Command]:
    """The commands a run's trainer has not picked up yet, oldest first."""
    return list(
        Command.objects.filter(run_id=run_id, state=CommandState.PENDING).order_by(
            "created_at", "id"
        )
    )


def checkpoint_to_resume(run: Run) -> Checkpoint | None:
    """The run's latest checkpoint, else the checkpoint a fork starts from."""
    latest = run.checkpoints.order_by("-step", "-id").first()
    return latest or run.start_checkpoint


def game_records_of(run: Run, *, source: str | None = None) -> QuerySet[GameRecord]:
    """A run's game records, newest first, without their moves and texts (a list)."""
    records = run.game_records.defer("moves", "kif", "csa")
    return records.filter(source=source) if source else records


# ----- presets --------------------------------------------------------------------------------


def preset_list_visible(*, user: Any, trainer: str | None = None) -> QuerySet[Preset]:
    """The user's own presets and every shared one (of ``trainer``, if named)."""
    presets = access.presets_visible(user=user)
    return presets.filter(trainer=trainer) if trainer else presets


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


# ----- compare --------------------------------------------------------------------------------


def runs_to_compare(*, user: Any, raw_ids: Iterable[str]) -> list[Run]:
    """The runs named by ``raw_ids`` (ids, or comma-separated lists of them), in that order
    and once each. ``CompareRefused`` for ids that are not integers or too many of them;
    ``NotFound`` if any is not one ``user`` may see (which, is not said)."""
    parts = [part.strip() for raw in raw_ids for part in raw.split(",")]
    ids = compare_run_ids(part for part in parts if part)
    return access.runs_for_viewer(user=user, run_ids=ids)


COMPARE_MAX_POINTS = 1000


def compare_chart(
    *, runs: list[Run], key: str, preferred: Sequence[str]
) -> tuple[list[str], dict[str, Any]]:
    """Every metric key of ``runs``, and the chart of one of them: ``key`` if they have it,
    else the first of ``preferred`` they have, else the first key; each run downsampled on
    its own to at most ``COMPARE_MAX_POINTS``."""
    keys = sorted({k["key"] for run in runs for k in metric_keys(run_id=run.pk)})
    if key not in keys:
        key = next((k for k in preferred if k in keys), keys[0] if keys else "")
    series = (
        metric_compare(run_ids=[r.pk for r in runs], key=key, max_points=COMPARE_MAX_POINTS)
        if key
        else {}
    )
    empty: dict[str, list[Any]] = {"step": [], "value": []}
    chart = {
        "key": key,
        "max_points": COMPARE_MAX_POINTS,
        "runs": [
            {"id": run.pk, "name": run.display_name, **_steps_and_values(series.get(run.pk), empty)}
            for run in runs
        ],
    }
    return keys, chart


def _steps_and_values(series: Any, empty: dict[str, list[Any]]) -> dict[str, list[Any]]:
    if series is None:
        return empty
    drawn = series.as_dict()  # non-finite values become None, as JSON needs
    return {"step": drawn["step"], "value": drawn["value"]}


# ----- trainers and the caller's own account --------------------------------------------------


def trainer_described(*, name: str) -> dict[str, Any]:
    """A trainer as a client needs it to queue a run: what it can do, its config's JSON
    Schema and its presets. ``NotFound`` for a name this installation does not know."""
    try:
        trainer = get_trainer(name)
    except UnknownTrainer:
        raise NotFound(f"no trainer {name!r}") from None
    return {
        "name": name,
        "description": trainer.description,
        "capabilities": sorted(str(capability) for capability in trainer.capabilities),
        "config_schema": trainer.config_schema(),
        "presets": {preset: dict(config) for preset, config in trainer.presets.items()},
    }


def trainers_described() -> list[dict[str, Any]]:
    """Every trainer this installation knows, by name."""
    return [trainer_described(name=name) for name in sorted(available_trainers())]


def user_quota_usage(*, user: Any) -> dict[str, Any]:
    """The caller's limits (their own or the site's defaults) and how much of them is used."""
    quota = quota_for(user.pk)
    counts = dict(
        Run.objects.filter(owner=user, status__in=(RunStatus.QUEUED, *ACTIVE_STATUSES))
        .order_by()  # no default ordering in the GROUP BY
        .values("status")
        .annotate(n=Count("pk"))
        .values_list("status", "n")
    )
    return {
        "username": user.get_username(),
        "is_staff": bool(user.is_staff),
        "quota": {"max_running": quota.max_running, "max_queued": quota.max_queued},
        "usage": {
            "running": sum(counts.get(status, 0) for status in ACTIVE_STATUSES),
            "queued": counts.get(RunStatus.QUEUED, 0),
        },
    }


# ----- the run page: configuration, timeline; the compare page's config diff -------------------


def _config_schema(trainer: str) -> dict[str, Any]:
    """The trainer's config JSON Schema, or an empty one for an unknown trainer."""
    try:
        return get_trainer(trainer).config_schema()
    except UnknownTrainer:
        return {}


def _config_fields(trainer: str) -> dict[str, dict[str, Any]]:
    """The trainer's config fields (JSON Schema properties)."""
    return dict(_config_schema(trainer).get("properties", {}))


def run_config_sections(run: Run) -> list[dict[str, Any]]:
    """The run's configuration in the sections the new-run form uses (the schema's ``x-group``,
    ``keisei.config_layout``), each field with its value, the trainer's default and whether it
    differs from it. Runs do not store the preset they were queued from, so the comparison is
    with the defaults only. Fields in no section (or stored but not in the schema): "Other"."""
    config = dict(run.config or {})
    schema = _config_schema(run.trainer)
    fields = dict(schema.get("properties", {}))
    sections: dict[str, list[dict[str, Any]]] = {title: [] for title in schema.get("x-groups", [])}
    for name in list(fields) + sorted(set(config) - set(fields)):
        prop = fields.get(name, {})
        has_default = "default" in prop
        section = sections.setdefault(prop.get("x-group", "Other"), [])
        section.append(
            {
                "name": name,
                "label": prop.get("title", name),
                "help": prop.get("description", ""),
                "value": config.get(name, prop.get("default")),
                "default": prop.get("default"),
                "has_default": has_default,
                "advanced": bool(prop.get("x-advanced")),
                "changed": name in config and (not has_default or config[name] != prop["default"]),
            }
        )
    return [
        {"title": t, "fields": f, "changed": sum(x["changed"] for x in f)}
        for t, f in sections.items()
        if f
    ]


def compare_config_diff(runs: Sequence[Run]) -> list[dict[str, Any]]:
    """The configuration fields whose values differ between ``runs`` (the trainer first), each
    run's value as it trains with it (a field it does not set: the trainer's default)."""
    effective = []
    labels: dict[str, str] = {}
    for run in runs:
        fields = _config_fields(run.trainer)
        values = {name: prop.get("default") for name, prop in fields.items()}
        values.update(run.config or {})
        values["trainer"] = run.trainer
        labels.update({name: prop.get("title", name) for name, prop in fields.items()})
        effective.append(values)
    names = ["trainer"] + sorted({n for v in effective for n in v} - {"trainer"})
    missing = object()
    rows = []
    for name in names:
        row = [v.get(name, missing) for v in effective]
        if len({repr(v) for v in row}) > 1:
            rows.append(
                {
                    "name": name,
                    "label": labels.get(name, name.replace("_", " ").capitalize()),
                    "values": ["—" if v is missing else v for v in row],
                }
            )
    return rows


TIMELINE_PAGE = 50


def run_timeline_page(
    run: Run, *, before_seq: int | None = None, limit: int = TIMELINE_PAGE
) -> dict[str, Any]:
    """The run's newest ``limit`` events before ``before_seq`` (all: the newest), newest first,
    as the WebSocket sends them; ``older`` is the seq to ask before next, or None at the start."""
    events = RunEvent.objects.filter(run_id=run.pk)
    if before_seq is not None:
        events = events.filter(seq__lt=before_seq)
    page = list(events.order_by("-seq")[: limit + 1])
    shown = page[:limit]
    return {
        "events": [event_as_message(e) for e in shown],
        "older": shown[-1].seq if len(page) > limit else None,
        "last_seq": page[0].seq if page and before_seq is None else None,
    }


# ----- the runs list as a dashboard -----------------------------------------------------------

# The sort keys the runs list offers (``?sort=name``, ``?sort=-progress``): each an order on
# the visible runs, ties broken by id so a page never repeats or skips a run.
DASHBOARD_SORTS: dict[str, tuple[str, ...]] = {
    "created": ("created_at", "pk"),
    "name": ("name", "pk"),
    "trainer": ("trainer", "pk"),
    "status": ("status", "pk"),
    "step": ("step", "pk"),
    "progress": ("progress", "pk"),
}
DASHBOARD_SORT_DEFAULT = "-created"
DASHBOARD_PAGE_SIZE = 25
# A date alone (the page's date inputs) is midnight UTC of that day for the API's filter.
_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")
# Points of a sparkline at most; the rollup level is the coarsest with at least SPARK_MIN
# blocks, so a level has at most 8 * SPARK_MIN of them (levels are 8 times apart).
SPARK_MIN_BLOCKS = 12

_POINTS = metric_models.MetricPoint._meta.db_table
_ROLLUPS = metric_models.MetricRollup._meta.db_table

# Each listed run's headline series in one query: the first of ``keys`` the run has (one index
# probe per key), then the coarsest rollup level spanning at least ``min_blocks`` blocks (two
# index probes per level), whose blocks' last values are the line; a run too short for any
# level gives its raw points (fewer than 64 * min_blocks steps).
_SPARKLINE_SQL = f"""
WITH head AS (
    SELECT r.id AS run_id, hk.key
    FROM unnest(%(runs)s::int8[]) AS r(id)
    CROSS JOIN LATERAL (
        SELECT k.key FROM unnest(%(keys)s::text[]) WITH ORDINALITY AS k(key, ord)
        WHERE EXISTS (SELECT 1 FROM {_POINTS} p WHERE p.run_id = r.id AND p.key = k.key)
        ORDER BY k.ord LIMIT 1
    ) AS hk
),
chosen AS (
    SELECT h.run_id, h.key, (
        SELECT l.level FROM unnest(%(levels)s::int2[]) AS l(level)
        WHERE (SELECT max(u.block) - min(u.block) + 1 FROM {_ROLLUPS} u
               WHERE u.run_id = h.run_id AND u.key = h.key AND u.level = l.level)
              >= %(min_blocks)s
        ORDER BY l.level DESC LIMIT 1
    ) AS level
    FROM head h
)
SELECT c.run_id, c.key, u.last_step, u.last_value
FROM chosen c JOIN {_ROLLUPS} u
  ON u.run_id = c.run_id AND u.key = c.key AND u.level = c.level
UNION ALL
SELECT c.run_id, c.key, p.step, p.value
FROM chosen c JOIN {_POINTS} p ON p.run_id = c.run_id AND p.key = c.key
WHERE c.level IS NULL
ORDER BY 1, 3
"""


@dataclass(frozen=True)
class Sparkline:
    """A run's headline metric over its steps, for a tiny inline SVG (``points`` in a
    100 x 24 box, y growing downwards)."""

    key: str
    points: str
    first: float
    last: float


@dataclass(frozen=True)
class DashboardRow:
    """One run of the runs list with what its row shows beside the run's own fields."""

    run: Run
    queue_position: int | None
    eta_seconds: int | None
    eta_at: dt.datetime | None
    sparkline: Sparkline | None


@dataclass
class Dashboard:
    """One page of the runs list (``page``; its runs as ``rows``), the filters' refusals by
    field, the filters as given and the sort."""

    page: Any  # django.core.paginator.Page
    rows: list[DashboardRow]
    errors: dict[str, list[str]]
    sort: str
    filters: dict[str, str]


def run_dashboard(
    *,
    user: Any,
    query: Mapping[str, str],
    headline_keys: Sequence[str],
    page_size: int = DASHBOARD_PAGE_SIZE,
) -> Dashboard:
    """The runs list with the API's filters (``runs.filters.RunFilter``, so page and API
    cannot drift), a sort from ``DASHBOARD_SORTS`` and one page. A refused filter or sort
    lists nothing and names its field in ``errors``."""
    filters = {name: query.get(name, "") for name in RunFilter.base_filters}
    data = dict(filters)
    for name in ("created_after", "created_before"):
        if _DATE_ONLY.fullmatch(data[name].strip()):
            data[name] = f"{data[name].strip()}T00:00:00+00:00"
    # RunFilter asks its request who is filtering (owner is for staff only).
    filterset = RunFilter(
        data, queryset=access.runs_visible(user=user), request=SimpleNamespace(user=user)
    )
    errors: dict[str, list[str]] = {}
    sort = query.get("sort") or DASHBOARD_SORT_DEFAULT
    if sort.removeprefix("-") not in DASHBOARD_SORTS:
        errors["sort"] = [f"one of {', '.join(sorted(DASHBOARD_SORTS))}, optionally after '-'"]
    runs: QuerySet[Run] = filterset.qs if filterset.is_valid() else Run.objects.none()
    errors.update({name: list(reasons) for name, reasons in filterset.errors.items()})
    if errors:
        runs = Run.objects.none()
    else:
        columns = DASHBOARD_SORTS[sort.removeprefix("-")]
        runs = runs.order_by(*(f"-{c}" if sort.startswith("-") else c for c in columns))
    page = Paginator(runs, page_size).get_page(query.get("page"))
    listed: list[Run] = list(page.object_list)
    positions = queue_positions()
    lines = sparklines(run_ids=[run.pk for run in listed], keys=headline_keys)
    now = timezone.now()
    rows = []
    for run in listed:
        eta = run_eta_seconds(run, now=now)
        rows.append(
            DashboardRow(
                run=run,
                queue_position=positions.get(run.pk),
                eta_seconds=eta,
                eta_at=None if eta is None else now + dt.timedelta(seconds=eta),
                sparkline=lines.get(run.pk),
            )
        )
    return Dashboard(page=page, rows=rows, errors=errors, sort=sort, filters=filters)


def run_eta_seconds(run: Run, *, now: dt.datetime) -> int | None:
    """Seconds until a running run completes at the pace of its current attempt: the time
    since it started (``started_at``, set at each claim) per share of progress, times the
    share left. None unless it is running with some progress. An attempt that resumed from a
    checkpoint began with that checkpoint's progress, so its pace reads too fast at first."""
    if run.status != RunStatus.RUNNING or run.started_at is None or not 0 < run.progress < 1:
        return None
    elapsed = (now - run.started_at).total_seconds()
    if elapsed <= 0:
        return None
    return round(elapsed * (1 - run.progress) / run.progress)


def sparklines(*, run_ids: Sequence[int], keys: Sequence[str]) -> dict[int, Sparkline]:
    """Each run's headline metric (the first of ``keys`` it reports) as a sparkline, for all
    ``run_ids`` in one query (``_SPARKLINE_SQL``); runs with none of the keys are left out."""
    if not run_ids or not keys:
        return {}
    series: dict[int, tuple[str, list[tuple[int, float]]]] = {}
    with connection.cursor() as cursor:
        cursor.execute(
            _SPARKLINE_SQL,
            {
                "runs": list(run_ids),
                "keys": list(keys),
                "levels": sorted(metric_models.ROLLUP_SHIFTS),
                "min_blocks": SPARK_MIN_BLOCKS,
            },
        )
        for run_id, key, step, value in cursor.fetchall():
            series.setdefault(run_id, (key, []))[1].append((step, value))
    return {run_id: _sparkline(key, points) for run_id, (key, points) in series.items()}


def _sparkline(key: str, points: list[tuple[int, float]]) -> Sparkline:
    finite = [(s, v) for s, v in points if math.isfinite(v)]
    if len(finite) > 2 * 8 * SPARK_MIN_BLOCKS:  # raw points of a short run: thin them
        stride = math.ceil(len(finite) / (8 * SPARK_MIN_BLOCKS))
        finite = finite[::stride] + ([finite[-1]] if (len(finite) - 1) % stride else [])
    if not finite:
        return Sparkline(key, "", math.nan, math.nan)
    steps = [s for s, _ in finite]
    values = [v for _, v in finite]
    lo, hi = min(values), max(values)
    s0, s1 = steps[0], steps[-1]
    xs = [100 * (s - s0) / (s1 - s0) if s1 > s0 else 50 for s in steps]
    ys = [22 - 20 * (v - lo) / (hi - lo) if hi > lo else 12 for v in values]
    drawn = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys, strict=True))
    return Sparkline(key, drawn, values[0], values[-1])


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
    """What the showcase form offers: the newest checkpoints of runs ``user`` may see whose
    trainer plays games, and each such trainer's built-in players."""
    playing = [t for t in sorted(available_trainers()) if trainer_plays_games(t)]
    checkpoints = (
        Checkpoint.objects.filter(run__in=access.runs_visible(user=user), run__trainer__in=playing)
        .select_related("run")
        .order_by("-created_at", "-id")[:SHOWCASE_CHOICES]
    )
    return {
        "checkpoints": [
            {
                "id": c.pk,
                "label": f"{c.run.display_name} @ step {c.step} ({c.kind})",
                "opponent": f"checkpoint:{c.pk}",  # as the second player is named
            }
            for c in checkpoints
        ],
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
