"""Reads of metric history at any size: downsampled series and run comparison.

A chart never gets a whole series. A range of at most ``max_points`` points is returned as it
is; a longer one is cut into at most ``max_points`` buckets of equal step width ``w``, aligned
to multiples of ``w`` (bucket ``b`` holds the steps ``b*w <= step < (b+1)*w`` that are also in
the range), and each bucket keeps its first and last point, its minimum and maximum (so a
spike survives) and its point count (the M4 idea: what a line chart would draw from the full
data). Buckets are computed in PostgreSQL, so no row of the series travels to Python:

- when ``w`` is at least a rollup block (64 steps), from ``MetricRollup`` blocks of the coarsest
  level whose block size divides ``w``, with finer levels and raw points for the partial blocks
  at the two ends of the range, so the answer is exactly that of the raw points but reads at
  most 7 blocks per bucket (levels are 8 times apart) plus at most 63 points and 7 blocks of
  each finer level at each end, whatever the series length;
- otherwise (short ranges) from the raw points, in one pass over the blocks of the range.

Raw points are read from their blocks (``monitoring.blocks``): a step range is one range scan
of the blocks' primary key, whatever the series length.

The full series as CSV is ``monitoring.history_csv``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connection

from monitoring import blocks
from monitoring.blocks import points_sql
from monitoring.errors import ApplicationError
from monitoring.models import ROLLUP_SHIFTS, MetricRollup

MAX_POINTS_DEFAULT = 1000
MAX_POINTS_MIN = 10
MAX_POINTS_MAX = 10_000

_BLOCKS = blocks.BLOCK_TABLE
_ROLLUP_TABLE = MetricRollup._meta.db_table

# The range's last step: the last block starting at or before ``end`` (one backward probe),
# its last step not after ``end``.
_LAST_STEP_SQL = f"""
(SELECT max(s.step)
 FROM (SELECT steps FROM {_BLOCKS}
       WHERE run_id = %(run)s AND key = %(key)s AND first_step <= %(end)s
       ORDER BY first_step DESC LIMIT 1) AS t
 CROSS JOIN LATERAL unnest(t.steps) AS s(step)
 WHERE s.step >= %(start)s AND s.step <= %(end)s)
"""

# The first max_points + 1 points of the range (the blocks that hold them), each row with how
# many there are and the range's last step. If there are no more than max_points, they are
# the answer and nothing is downsampled; otherwise only the first comes back, since the
# buckets need no more than it and the last step.
_HEAD_SQL = f"""
WITH head AS MATERIALIZED ({points_sql()} LIMIT %(limit)s)
SELECT step, value, (SELECT count(*) FROM head), {_LAST_STEP_SQL}
FROM head
WHERE (SELECT count(*) FROM head) < %(limit)s OR step = (SELECT min(step) FROM head)
ORDER BY step
"""

# The first and last step of the range.
_RANGE_SQL = f"""
SELECT (SELECT step FROM ({points_sql()} LIMIT 1) AS first), {_LAST_STEP_SQL}
"""

# Buckets of the raw points (short ranges: a bucket under 64 steps, so at most 63 points per
# bucket and at most 63 * max_points in all): one pass over the range's blocks, sorted once by
# (bucket, step), which both ordered aggregates share. Buckets are
# [first + b * width, first + (b + 1) * width) within [start, end], ``first`` a multiple of
# ``width``; empty ones do not appear.
_BUCKETS_SQL = f"""
SELECT min(step), (array_agg(value ORDER BY step))[1], max(step),
       (array_agg(value ORDER BY step))[count(*)::int], min(value), max(value), count(*)
FROM (
    SELECT unnest(b.steps) AS step, unnest(b.vals) AS value
    FROM {_BLOCKS} b
    WHERE b.run_id = %(run)s AND b.key = %(key)s
      AND b.first_step >= {blocks.block_from("%(run)s", "%(key)s", "%(start)s")}
      AND b.first_step <= %(end)s
) AS p
WHERE step >= %(start)s AND step <= %(end)s
GROUP BY (step - %(first)s) / %(width)s
ORDER BY (step - %(first)s) / %(width)s
"""

# Buckets from rollups. ``pieces`` cover [first step, last step] of the range exactly: raw
# points for the partial level-1 blocks at the two ends, then partial blocks of each level up
# to the chosen one, and whole blocks of the chosen level in the middle (each piece one index
# range scan: ``OFFSET 0`` keeps each subquery from being pulled up into a join, which on a
# large table let the planner scan the whole series once instead). Every piece lies inside
# one bucket (block sizes divide the width), so grouping pieces by bucket gives what grouping
# the raw points would. Pieces do not overlap, so the last piece by first step is also the
# last by last step: both ordered aggregates share one order, and PostgreSQL sorts the pieces
# once by (bucket, first step) instead of once per bucket and aggregate; buckets come out in
# step order without another sort.
_ROLLUP_BUCKETS_SQL = f"""
WITH pieces AS (
    SELECT p.step AS first_step, p.value AS first_value, p.step AS last_step,
           p.value AS last_value, p.value AS min_value, p.value AS max_value, 1::bigint AS points
    FROM unnest(%(raw_lo)s::int8[], %(raw_hi)s::int8[]) AS r(lo, hi)
    CROSS JOIN LATERAL ({points_sql("r.lo", "r.hi - 1")} OFFSET 0) AS p
    UNION ALL
    SELECT u.first_step, u.first_value, u.last_step, u.last_value, u.min_value, u.max_value,
           u.count
    FROM unnest(%(levels)s::int2[], %(block_lo)s::int8[], %(block_hi)s::int8[])
         AS r(level, lo, hi)
    CROSS JOIN LATERAL (
        SELECT * FROM {_ROLLUP_TABLE}
        WHERE run_id = %(run)s AND key = %(key)s AND level = r.level
          AND block >= r.lo AND block < r.hi
        OFFSET 0
    ) AS u
)
SELECT min(first_step), (array_agg(first_value ORDER BY first_step))[1],
       max(last_step), (array_agg(last_value ORDER BY first_step))[count(*)::int],
       min(min_value), max(max_value), sum(points)::bigint
FROM pieces
GROUP BY (first_step - %(origin)s) / %(width)s
ORDER BY (first_step - %(origin)s) / %(width)s
"""

# Every distinct key of a run without reading every block: a loose index scan (one probe per
# key) over the primary key (run_id, key, first_step), then each key's first block's first
# step and last block's last step (two more probes).
_KEYS_SQL = f"""
WITH RECURSIVE k(key) AS (
    (SELECT key FROM {_BLOCKS} WHERE run_id = %(run)s ORDER BY key LIMIT 1)
    UNION ALL
    SELECT (SELECT n.key FROM {_BLOCKS} n WHERE n.run_id = %(run)s AND n.key > k.key
            ORDER BY n.key LIMIT 1)
    FROM k WHERE k.key IS NOT NULL
)
SELECT k.key,
       (SELECT first_step FROM {_BLOCKS} WHERE run_id = %(run)s AND key = k.key
        ORDER BY first_step LIMIT 1),
       (SELECT last_step FROM {_BLOCKS} WHERE run_id = %(run)s AND key = k.key
        ORDER BY first_step DESC LIMIT 1)
FROM k WHERE k.key IS NOT NULL ORDER BY k.key
"""

STEP_MIN = -(2**63)
STEP_MAX = 2**63 - 1


@dataclass
class Series:
    """One key of one run over a step range, whole or in buckets (parallel lists).

    Whole: one entry per point, ``last_step == step``, ``min == max == value``, ``count`` 1.
    Bucketed: ``step``/``value`` is the bucket's first point, ``last_step``/``last`` its last,
    ``min``/``max`` its extremes and ``count`` how many points it holds.
    """

    downsampled: bool = False
    step: list[int] = field(default_factory=list)
    value: list[float] = field(default_factory=list)
    last_step: list[int] = field(default_factory=list)
    last: list[float] = field(default_factory=list)
    min: list[float] = field(default_factory=list)
    max: list[float] = field(default_factory=list)
    count: list[int] = field(default_factory=list)

    @property
    def points(self) -> int:
        """How many stored points the series stands for."""
        return sum(self.count)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: non-finite floats (NaN, ±inf) become ``None``, which JSON can carry."""
        return {
            "downsampled": self.downsampled,
            "points": self.points,
            "step": self.step,
            "value": _finite(self.value),
            "last_step": self.last_step,
            "last": _finite(self.last),
            "min": _finite(self.min),
            "max": _finite(self.max),
            "count": self.count,
        }


def _finite(values: list[float]) -> list[float | None]:
    isfinite = math.isfinite
    # A finite sum means every value is finite (NaN and infinities carry through a sum): one
    # pass in C for the common case. A sum that overflows only takes the long way.
    if isfinite(sum(values)):
        return list(values)
    return [v if v is not None and isfinite(v) else None for v in values]


def step_range(run_id: int, start: int | None, end: int | None) -> dict[str, Any]:
    """The query parameters of a run's steps from ``start`` to ``end`` (open ends: all)."""
    return {
        "run": run_id,
        "start": STEP_MIN if start is None else start,
        "end": STEP_MAX if end is None else end,
    }


def metric_series_downsampled(
    *,
    run_id: int,
    key: str,
    start: int | None = None,
    end: int | None = None,
    max_points: int = MAX_POINTS_DEFAULT,
) -> Series:
    """One key of one run between ``start`` and ``end`` (inclusive), in at most ``max_points``."""
    if not MAX_POINTS_MIN <= max_points <= MAX_POINTS_MAX:
        raise ValueError(f"max_points must be between {MAX_POINTS_MIN} and {MAX_POINTS_MAX}")
    params = {**step_range(run_id, start, end), "key": key, "limit": max_points + 1}
    with connection.cursor() as cursor:
        cursor.execute(_HEAD_SQL, params)
        head = cursor.fetchall()
        if not head or head[0][2] <= max_points:
            steps = [row[0] for row in head]
            values = [row[1] for row in head]
            return Series(
                downsampled=False,
                step=steps,
                value=values,
                last_step=steps,
                last=values,
                min=values,
                max=values,
                count=[1] * len(head),
            )
        first_step, _, _, last_step = head[0]
        width, level = bucket_plan(first_step, last_step, max_points)
        return _bucketed(cursor, params, first_step, last_step, width, level)


def series_in_buckets(
    *,
    run_id: int,
    key: str,
    start: int | None = None,
    end: int | None = None,
    width: int,
    level: int | None,
) -> Series:
    """The range in buckets of ``width`` steps aligned to multiples of ``width``, computed from
    rollup ``level`` (whose block size must divide ``width``) or from the raw points (None).

    Every level that can serve a width gives the same answer (tests hold them to it);
    ``metric_series_downsampled`` picks the width and the cheapest level (``bucket_plan``).
    """
    if level is not None and width % (1 << ROLLUP_SHIFTS[level]):
        raise ValueError(f"level {level} blocks do not divide a bucket of {width} steps")
    params = {**step_range(run_id, start, end), "key": key}
    with connection.cursor() as cursor:
        cursor.execute(_RANGE_SQL, params)
        first_step, last_step = cursor.fetchone()
        if first_step is None:
            return Series(downsampled=True)
        return _bucketed(cursor, params, first_step, last_step, width, level)


def _bucketed(
    cursor: Any,
    params: dict[str, Any],
    first_step: int,
    last_step: int,
    width: int,
    level: int | None,
) -> Series:
    """The buckets of [first_step, last_step] (the range's first and last stored points)."""
    origin = first_step // width * width
    if level is None:
        cursor.execute(
            _BUCKETS_SQL,
            {
                **params,
                "first": origin,
                "width": width,
                "buckets": last_step // width - first_step // width + 1,
            },
        )
    else:
        cursor.execute(
            _ROLLUP_BUCKETS_SQL,
            {
                **params,
                **rollup_pieces(first_step, last_step, level),
                "origin": origin,
                "width": width,
            },
        )
    rows = cursor.fetchall()
    if not rows:
        return Series(downsampled=True)
    # Rows to columns in C (zip), not one append per value.
    firsts, values, lasts, last_values, lows, highs, counts = (
        list(column) for column in zip(*rows, strict=True)
    )
    return Series(
        downsampled=True,
        step=firsts,
        value=values,
        last_step=lasts,
        last=last_values,
        min=lows,
        max=highs,
        count=counts,
    )


def bucket_width(first: int, last: int, max_points: int, unit: int) -> int:
    """A multiple of ``unit``, near the smallest, whose aligned windows over [first, last]
    number at most ``max_points``."""
    span = last - first + 1
    k = max(1, -(-span // (max_points * unit)))
    for _ in range(2):
        width = k * unit
        if last // width - first // width + 1 <= max_points:
            return width
        k += 1
    # Windows of at least span / (max_points - 1) steps: never more than max_points of them.
    return unit * max(1, -(-span // ((max_points - 1) * unit)))


def rollup_level(width: int) -> int | None:
    """The coarsest rollup level whose blocks fit in a bucket ``width`` steps wide, if any."""
    fitting = [level for level, shift in ROLLUP_SHIFTS.items() if 1 << shift <= width]
    return max(fitting) if fitting else None


def bucket_plan(first: int, last: int, max_points: int) -> tuple[int, int | None]:
    """The bucket width for [first, last] in at most ``max_points`` buckets, and the rollup
    level that serves it (None: the raw points).

    The smallest width that fits, rounded up to a multiple of the coarsest block no wider
    than it; then the coarsest level whose block divides the rounded width, so a request
    reads as few blocks per bucket as the width allows (500 steps -> 512: one level-2 block
    per bucket, not eight level-1 blocks).
    """
    width = bucket_width(first, last, max_points, 1)
    level = rollup_level(width)
    if level is None:
        return width, None
    width = bucket_width(first, last, max_points, 1 << ROLLUP_SHIFTS[level])
    while level + 1 in ROLLUP_SHIFTS and width % (1 << ROLLUP_SHIFTS[level + 1]) == 0:
        level += 1
    return width, level


def rollup_pieces(first: int, last: int, level: int) -> dict[str, list[int]]:
    """[first, last] as raw step ranges and block ranges, coarsest in the middle (half-open).

    Peels off, at each end, what lies before the next boundary of the level above: raw
    points up to a level-1 boundary, level-1 blocks up to a level-2 boundary, and so on, then
    whole blocks of ``level``. At most 63 raw points and 7 blocks of each finer level at each
    end.
    """
    shifts = {0: 0, **ROLLUP_SHIFTS}
    pieces: dict[str, list[int]] = {
        "raw_lo": [],
        "raw_hi": [],
        "levels": [],
        "block_lo": [],
        "block_hi": [],
    }

    def add(at: int, lo: int, hi: int) -> None:
        if lo >= hi:
            return
        if at == 0:
            pieces["raw_lo"].append(lo)
            pieces["raw_hi"].append(hi)
        else:
            pieces["levels"].append(at)
            pieces["block_lo"].append(lo >> shifts[at])
            pieces["block_hi"].append(hi >> shifts[at])

    lo, hi = first, last + 1
    for at in range(level):
        size_above = 1 << shifts[at + 1]
        left_end = min(hi, -(-lo // size_above) * size_above)
        add(at, lo, left_end)
        lo = left_end
        right_start = max(lo, hi // size_above * size_above)
        add(at, right_start, hi)
        hi = right_start
    add(level, lo, hi)
    return pieces


def metric_history(
    *,
    run_id: int,
    keys: Sequence[str],
    start: int | None = None,
    end: int | None = None,
    max_points: int = MAX_POINTS_DEFAULT,
) -> dict[str, Series]:
    """Several keys of one run, each downsampled on its own to at most ``max_points``."""
    return {
        key: metric_series_downsampled(
            run_id=run_id, key=key, start=start, end=end, max_points=max_points
        )
        for key in keys
    }


MAX_COMPARE_RUNS = 20  # runs on one chart: beyond that the lines are unreadable anyway


class CompareRefused(ApplicationError):
    """The runs asked for cannot be compared; the message says why (under ``runs``)."""

    code = "compare_refused"
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message, fields={"runs": [message]})


def compare_run_ids(items: Iterable[str]) -> list[int]:
    """The run ids to compare, in the order given and once each; ``CompareRefused`` for an
    item that is not an integer or for more than ``MAX_COMPARE_RUNS`` of them."""
    ids: list[int] = []
    for item in items:
        try:
            run_id = int(item)
        except ValueError:
            raise CompareRefused(f"runs must be integers (run ids, got {item!r})") from None
        if run_id not in ids:
            ids.append(run_id)
    if len(ids) > MAX_COMPARE_RUNS:
        raise CompareRefused(f"at most {MAX_COMPARE_RUNS} runs on one chart, got {len(ids)}")
    return ids


def metric_compare(
    *,
    run_ids: Sequence[int],
    key: str,
    start: int | None = None,
    end: int | None = None,
    max_points: int = MAX_POINTS_DEFAULT,
) -> dict[int, Series]:
    """One key across several runs, each downsampled on its own to at most ``max_points``."""
    return {
        run_id: metric_series_downsampled(
            run_id=run_id, key=key, start=start, end=end, max_points=max_points
        )
        for run_id in run_ids
    }


def metric_keys(*, run_id: int) -> list[dict[str, Any]]:
    """The keys a run has, each with its first and last step, in key order."""
    with connection.cursor() as cursor:
        cursor.execute(_KEYS_SQL, {"run": run_id})
        return [
            {"key": key, "first_step": first, "last_step": last}
            for key, first, last in cursor.fetchall()
        ]
