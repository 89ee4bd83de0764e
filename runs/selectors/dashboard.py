"""The runs list as a dashboard: filters, sort, pages, ETA and sparklines."""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from django.core.paginator import Paginator
from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone

from monitoring import models as metric_models
from runs import access
from runs.filters import RunFilter
from runs.models import (
    Run,
    RunStatus,
)
from runs.selectors.runs import queue_positions

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

_BLOCKS = metric_models.MetricBlock._meta.db_table
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
        WHERE EXISTS (SELECT 1 FROM {_BLOCKS} b WHERE b.run_id = r.id AND b.key = k.key)
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
FROM chosen c JOIN {_BLOCKS} b ON b.run_id = c.run_id AND b.key = c.key
CROSS JOIN LATERAL unnest(b.steps, b.vals) AS p(step, value)
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
    resumed = attempt_start_progress(
        runs=[run for run in listed if run.status == RunStatus.RUNNING]
    )
    rows = []
    for run in listed:
        eta = run_eta_seconds(run, now=now, start_progress=resumed.get(run.pk, 0.0))
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


def run_eta_seconds(run: Run, *, now: dt.datetime, start_progress: float = 0.0) -> int | None:
    """Seconds until a running run completes at the pace of its current attempt: the time
    since it started (``started_at``, set at each claim) per share of progress made in it,
    times the share left. ``start_progress``: where the attempt began (a resumed run begins at
    its checkpoint's, ``attempt_start_progress``; counted from 0, its pace would read too fast).
    None unless it is running and has made progress in this attempt."""
    if run.status != RunStatus.RUNNING or run.started_at is None or not 0 < run.progress < 1:
        return None
    elapsed = (now - run.started_at).total_seconds()
    made = run.progress - start_progress
    if elapsed <= 0 or made <= 0:
        return None
    return round(elapsed * (1 - run.progress) / made)


def attempt_start_progress(*, runs: Sequence[Run]) -> dict[int, float]:
    """For each run whose current attempt resumed from a checkpoint, the progress it resumed
    at (the checkpoint's step over the run's total), from the "resuming" timeline event
    ``run_resume_from`` records; one query for all of ``runs``."""
    wanted = {run.pk: run for run in runs if run.total_steps}
    if not wanted:
        return {}
    latest = (
        metric_models.RunEvent.objects.filter(
            run_id__in=list(wanted),
            type=metric_models.EventType.LOG,
            data__has_key="superseded_points",
        )
        .order_by("run_id", "-seq")
        .distinct("run_id")
        .values_list("run_id", "data")
    )
    found = {}
    for run_id, data in latest:
        run = wanted[run_id]
        if data.get("attempt") == run.attempts and isinstance(data.get("step"), int):
            found[run_id] = min(1.0, data["step"] / run.total_steps)
    return found


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
