"""Reads of metric history at any size: downsampled series, run comparison, CSV export.

A chart never gets a whole series. A range of at most ``max_points`` points is returned as it
is; a longer one is cut into at most ``max_points`` buckets of equal step width, and each
bucket keeps its first and last point, its minimum and maximum (so a spike survives) and its
point count (the M4 idea: what a line chart would draw from the full data). The buckets are
computed in PostgreSQL, one index range scan of ``metric_point_run_key_step`` per bucket, so
no row of the series travels to Python. The CSV export streams the full series with
``COPY ... TO STDOUT`` and never holds the file in memory.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connection

from monitoring.models import MetricPoint

MAX_POINTS_DEFAULT = 1000
MAX_POINTS_MIN = 10
MAX_POINTS_MAX = 10_000

_TABLE = MetricPoint._meta.db_table

# The first max_points + 1 points of the range: if there are no more than max_points, this
# is the answer and nothing is downsampled (one short index range scan).
_HEAD_SQL = f"""
SELECT step, value FROM {_TABLE}
WHERE run_id = %(run)s AND key = %(key)s AND step >= %(start)s AND step <= %(end)s
ORDER BY step LIMIT %(limit)s
"""

# The last step of the range: one index probe (PostgreSQL turns max() into a backward scan).
_LAST_STEP_SQL = f"""
SELECT max(step) FROM {_TABLE}
WHERE run_id = %(run)s AND key = %(key)s AND step >= %(start)s AND step <= %(end)s
"""

# One aggregate per bucket over an index range scan (run_id, key, step): the plan cannot
# fall back to the run_id index and a sort, whatever the statistics say. Buckets are
# [first + b * width, first + (b + 1) * width); empty ones are dropped. The first and last
# values are two index probes per bucket.
_BUCKETS_SQL = f"""
SELECT agg.first_step,
       (SELECT f.value FROM {_TABLE} f
         WHERE f.run_id = %(run)s AND f.key = %(key)s AND f.step = agg.first_step),
       agg.last_step,
       (SELECT l.value FROM {_TABLE} l
         WHERE l.run_id = %(run)s AND l.key = %(key)s AND l.step = agg.last_step),
       agg.min_value, agg.max_value, agg.points
FROM generate_series(0, %(buckets)s - 1) AS b
CROSS JOIN LATERAL (
    SELECT min(p.step) AS first_step, max(p.step) AS last_step,
           min(p.value) AS min_value, max(p.value) AS max_value, count(*) AS points
    FROM {_TABLE} p
    WHERE p.run_id = %(run)s AND p.key = %(key)s
      AND p.step >= %(first)s + b * %(width)s
      AND p.step < %(first)s + (b + 1) * %(width)s
      AND p.step <= %(end)s
) AS agg
WHERE agg.points > 0
ORDER BY b
"""

# Every distinct key of a run without reading every row: a loose index scan (one probe per
# key) over (run_id, key, step), then each key's first and last step (two more probes).
_KEYS_SQL = f"""
WITH RECURSIVE k(key) AS (
    (SELECT key FROM {_TABLE} WHERE run_id = %(run)s ORDER BY key LIMIT 1)
    UNION ALL
    SELECT (SELECT n.key FROM {_TABLE} n WHERE n.run_id = %(run)s AND n.key > k.key
            ORDER BY n.key LIMIT 1)
    FROM k WHERE k.key IS NOT NULL
)
SELECT k.key,
       (SELECT min(step) FROM {_TABLE} WHERE run_id = %(run)s AND key = k.key),
       (SELECT max(step) FROM {_TABLE} WHERE run_id = %(run)s AND key = k.key)
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
    return [v if v is not None and isfinite(v) else None for v in values]


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
    params: dict[str, Any] = {
        "run": run_id,
        "key": key,
        "start": STEP_MIN if start is None else start,
        "end": STEP_MAX if end is None else end,
        "limit": max_points + 1,
    }
    with connection.cursor() as cursor:
        cursor.execute(_HEAD_SQL, params)
        head = cursor.fetchall()
        if len(head) <= max_points:
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
        cursor.execute(_LAST_STEP_SQL, params)
        (last_step,) = cursor.fetchone()
        first_step = head[0][0]
        # Width so that ceil(span / width) <= max_points; the last bucket may be narrower.
        span = last_step - first_step + 1
        width = -(-span // max_points)
        buckets = -(-span // width)
        cursor.execute(
            _BUCKETS_SQL, {**params, "first": first_step, "width": width, "buckets": buckets}
        )
        rows = cursor.fetchall()
    series = Series(downsampled=True)
    for first, first_value, last, last_value, low, high, count in rows:
        series.step.append(first)
        series.value.append(first_value)
        series.last_step.append(last)
        series.last.append(last_value)
        series.min.append(low)
        series.max.append(high)
        series.count.append(count)
    return series


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


CSV_HEADER = "key,step,value,wall_time"


def metric_csv_chunks(
    *,
    run_id: int,
    keys: Sequence[str] | None = None,
    start: int | None = None,
    end: int | None = None,
) -> Iterator[bytes]:
    """The full series as CSV (``key,step,value,wall_time``, ordered by key then step), in chunks.

    PostgreSQL writes the CSV itself (``COPY (SELECT ...) TO STDOUT``) and the chunks are
    passed on as they arrive, so memory stays flat whatever the size. Values keep full
    precision (``NaN`` and ``Infinity`` as PostgreSQL spells them); times are ISO 8601 UTC.
    """
    conditions = ["run_id = %(run)s"]
    params: dict[str, Any] = {"run": run_id}
    if keys:
        conditions.append("key = ANY(%(keys)s)")
        params["keys"] = list(keys)
    if start is not None:
        conditions.append("step >= %(start)s")
        params["start"] = start
    if end is not None:
        conditions.append("step <= %(end)s")
        params["end"] = end
    statement = (
        "COPY (SELECT key, step, value, "
        """to_char(wall_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') """
        f"FROM {_TABLE} WHERE {' AND '.join(conditions)} ORDER BY key, step) "
        "TO STDOUT WITH (FORMAT csv)"
    )
    yield (CSV_HEADER + "\n").encode()
    connection.ensure_connection()
    # The raw psycopg cursor: Django's wrapper has no copy(). Parameters are bound client-side
    # by psycopg (COPY takes no server-side parameters).
    with connection.connection.cursor() as cursor, cursor.copy(statement, params) as copy:
        buffer = bytearray()
        for block in copy:
            buffer += block
            # PostgreSQL sends one row per block; pass on ~64 KiB at a time instead.
            if len(buffer) >= 65536:
                yield bytes(buffer)
                buffer.clear()
        if buffer:
            yield bytes(buffer)
