"""Metric points in blocks: how a write lays points out, and the SQL that reads them back.

A block (``MetricBlock``) holds up to ``block_points(key)`` consecutive points of one key of
one run as parallel arrays in step order; the blocks of a (run, key) never overlap. A write
(``monitoring.services.metrics_record``) appends a batch's later points to the key's last
block until it is full, then starts new ones: a live run that flushes a few points a second
rewrites one small row per key, and a run's file holds full blocks behind it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from monitoring.models import MetricBlock, block_points

BLOCK_TABLE = MetricBlock._meta.db_table


def block_from(run: str, key: str, lo: str) -> str:
    """The lowest ``first_step`` a block holding steps >= ``lo`` can have: that of the last
    block starting at or before ``lo`` (one backward probe of the primary key), else ``lo``.

    With ``first_step BETWEEN block_from(...) AND hi`` a step range is one index range scan
    on (run_id, key, first_step), however long the series."""
    return f"""coalesce((
        SELECT c.first_step FROM {BLOCK_TABLE} c
        WHERE c.run_id = {run} AND c.key = {key} AND c.first_step <= {lo}
        ORDER BY c.first_step DESC LIMIT 1), {lo})"""


def points_sql(
    lo: str = "%(start)s",
    hi: str = "%(end)s",
    *,
    run: str = "%(run)s",
    key: str = "%(key)s",
) -> str:
    """A query of one series' points with ``lo <= step <= hi``, in step order: columns
    ``step``, ``value``, ``wall_time``. Arguments are SQL expressions.

    Blocks come in key order from the primary key and each block's points in array order,
    so PostgreSQL only sorts within a block (an incremental sort): a LIMIT reads the blocks
    it needs and stops. The arrays are unnested in a select list, which streams; in FROM,
    ``unnest`` would first copy each block's points into a tuple store."""
    return f"""
    SELECT p.step, p.value, p.wall_time
    FROM {BLOCK_TABLE} b
    CROSS JOIN LATERAL (
        SELECT unnest(b.steps) AS step, unnest(b.vals) AS value,
               unnest(b.wall_times) AS wall_time
    ) AS p
    WHERE b.run_id = {run} AND b.key = {key}
      AND b.first_step >= {block_from(run, key, lo)} AND b.first_step <= {hi}
      AND p.step >= {lo} AND p.step <= {hi}
    ORDER BY b.first_step, p.step"""


# ----- writes ---------------------------------------------------------------------------------

# The last block of each key of a batch: where its points go next.
TAILS_SQL = f"""
SELECT k.key, t.first_step, t.last_step, cardinality(t.steps)
FROM unnest(%(keys)s::varchar[]) AS k(key)
CROSS JOIN LATERAL (
    SELECT first_step, last_step, steps FROM {BLOCK_TABLE}
    WHERE run_id = %(run)s AND key = k.key ORDER BY first_step DESC LIMIT 1
) AS t
"""

# The stored blocks of each key that overlap [lo, hi] (the slow path: a batch with steps the
# series may already have).
OVERLAP_SQL = f"""
SELECT r.key, b.first_step, b.steps, b.vals, b.wall_times
FROM unnest(%(keys)s::varchar[], %(lo)s::int8[], %(hi)s::int8[]) AS r(key, lo, hi)
CROSS JOIN LATERAL (
    SELECT first_step, steps, vals, wall_times FROM {BLOCK_TABLE}
    WHERE run_id = %(run)s AND key = r.key
      AND first_step >= {block_from("%(run)s", "r.key", "r.lo")} AND first_step <= r.hi
      AND last_step >= r.lo
) AS b
"""

# Points appended to the last block of their key, one statement for every key of a batch
# (points as flat columns, grouped back by block). An append changes no indexed column, so
# PostgreSQL can write the new version on the same page (a HOT update).
APPEND_SQL = f"""
UPDATE {BLOCK_TABLE} AS b
SET steps = b.steps || a.steps, vals = b.vals || a.vals,
    wall_times = b.wall_times || a.wall_times, last_step = a.last_step
FROM (
    SELECT key, first_step, array_agg(step ORDER BY i) AS steps,
           array_agg(value ORDER BY i) AS vals, array_agg(wall_time ORDER BY i) AS wall_times,
           max(step) AS last_step
    FROM unnest(%(key)s::varchar[], %(first_step)s::int8[], %(step)s::int8[],
                %(value)s::float8[], %(wall_time)s::timestamptz[])
         WITH ORDINALITY AS u(key, first_step, step, value, wall_time, i)
    GROUP BY key, first_step
) AS a
WHERE b.run_id = %(run)s AND b.key = a.key AND b.first_step = a.first_step
"""

DELETE_SQL = f"""
DELETE FROM {BLOCK_TABLE}
WHERE run_id = %(run)s
  AND (key, first_step) IN (SELECT * FROM unnest(%(key)s::varchar[], %(first_step)s::int8[]))
"""

COPY_SQL = (
    f"COPY {BLOCK_TABLE} (run_id, key, first_step, last_step, steps, vals, wall_times) "
    "FROM STDIN (FORMAT BINARY)"
)
COPY_TYPES = ["int8", "varchar", "int8", "int8", "int8[]", "float8[]", "timestamptz[]"]

# A series' points of one batch: step -> (value, wall time).
Points = dict[int, tuple[float, dt.datetime]]


def series_of(points: Any) -> dict[str, Points]:
    """A batch's points by key, the first point of a (key, step) kept: a batch that repeats
    a step stores it once, as a unique index with ON CONFLICT DO NOTHING did. A naive wall
    time is taken as UTC."""
    series: dict[str, Points] = {}
    for key, step, value, wall in points:
        found = series.get(key)
        if found is None:
            found = series[key] = {}
        step = int(step)
        if step not in found:
            found[step] = (float(value), wall if wall.tzinfo else wall.replace(tzinfo=dt.UTC))
    return series


@dataclass
class BlockWrites:
    """What one batch does to a run's blocks, gathered key by key and written at once."""

    appends: dict[str, list[Any]] = field(
        default_factory=lambda: {c: [] for c in ("key", "first_step", "step", "value", "wall_time")}
    )
    deletes: dict[str, list[Any]] = field(default_factory=lambda: {"key": [], "first_step": []})
    blocks: list[tuple[Any, ...]] = field(default_factory=list)
    new: list[tuple[str, int, float]] = field(default_factory=list)

    def after_tail(
        self, key: str, steps: list[int], points: Points, tail: tuple[int, int] | None
    ) -> None:
        """``steps`` (sorted) all lie after the key's last block (``tail``: its first step
        and point count; None if the key has no block): fill that block, then new ones."""
        size = block_points(key)
        start = 0
        if tail is not None and tail[1] < size:
            start = min(len(steps), size - tail[1])
            appends = self.appends
            for step in steps[:start]:
                value, wall = points[step]
                appends["key"].append(key)
                appends["first_step"].append(tail[0])
                appends["step"].append(step)
                appends["value"].append(value)
                appends["wall_time"].append(wall)
        self._blocks(key, steps[start:], points, size)
        self.new.extend([(key, step, points[step][0]) for step in steps])

    def merged(
        self, key: str, steps: list[int], points: Points, stored: list[tuple[Any, ...]]
    ) -> None:
        """``steps`` (sorted) may repeat stored ones: ``stored`` are the key's blocks that
        overlap them, as (first_step, steps, values, wall times). A stored point is kept;
        the new ones are merged in and the blocks written again, so blocks stay disjoint."""
        kept: Points = {}
        for _, block_steps, values, walls in stored:
            kept.update(zip(block_steps, zip(values, walls, strict=True), strict=True))
        new = [step for step in steps if step not in kept]
        if not new:
            return
        for first_step, *_ in stored:
            self.deletes["key"].append(key)
            self.deletes["first_step"].append(first_step)
        for step in new:
            kept[step] = points[step]
        self._blocks(key, sorted(kept), kept, block_points(key))
        self.new.extend([(key, step, points[step][0]) for step in new])

    def _blocks(self, key: str, steps: list[int], points: Points, size: int) -> None:
        for at in range(0, len(steps), size):
            chunk = steps[at : at + size]
            pairs = [points[step] for step in chunk]
            self.blocks.append(
                (
                    key,
                    chunk[0],
                    chunk[-1],
                    chunk,
                    [value for value, _ in pairs],
                    [wall for _, wall in pairs],
                )
            )

    def write(self, cursor: Any, run_id: int) -> None:
        """Deletes, appends and new blocks, in that order (a merge replaces what it deletes)."""
        if self.deletes["key"]:
            cursor.execute(DELETE_SQL, {"run": run_id, **self.deletes})
        if self.appends["key"]:
            cursor.execute(APPEND_SQL, {"run": run_id, **self.appends})
        if self.blocks:
            # Binary COPY: PostgreSQL parses no text.
            with cursor.copy(COPY_SQL) as copy:
                copy.set_types(COPY_TYPES)
                for block in self.blocks:
                    copy.write_row((run_id, *block))
