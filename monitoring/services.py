"""Writes of what is observed: timeline events (numbered per run) and metric points (COPY)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from django.db import connection, transaction

from monitoring import blocks, live
from monitoring.models import (
    ROLLUP_COLUMNS,
    ROLLUP_SHIFTS,
    EventType,
    MetricRollup,
    RunEvent,
)

# One statement: bump the run's counter (its row lock orders concurrent writers until commit,
# so events become visible in seq order and a replay after N can never skip one) and insert.
_INSERT_EVENT_SQL = """
WITH next AS (
    INSERT INTO monitoring_runeventsequence (run_id, last_seq) VALUES (%(run)s, 1)
    ON CONFLICT (run_id) DO UPDATE SET last_seq = monitoring_runeventsequence.last_seq + 1
    RETURNING last_seq
)
INSERT INTO monitoring_runevent (run_id, seq, type, message, data, actor, created_at)
SELECT %(run)s, next.last_seq, %(type)s, %(message)s, %(data)s, %(actor)s, %(created_at)s FROM next
RETURNING id, seq
"""


def event_record(
    *,
    run_id: int,
    type: str,
    message: str,
    data: Mapping[str, Any] | None = None,
    actor: str = "",
    owner_id: int | None = None,
) -> RunEvent:
    """Store a durable event with the run's next ``seq`` and publish it once committed."""
    if type not in EventType.values:
        raise ValueError(f"unknown event type {type!r}")
    from psycopg.types.json import Jsonb

    created_at = dt.datetime.now(dt.UTC)
    payload = dict(data or {})
    with transaction.atomic(), connection.cursor() as cursor:
        params: dict[str, Any] = {
            "run": run_id,
            "type": type,
            "message": message,
            "data": Jsonb(payload),
            "actor": actor,
            "created_at": created_at,
        }
        cursor.execute(_INSERT_EVENT_SQL, params)
        event_id, seq = cursor.fetchone()
    event = RunEvent(
        id=event_id,
        run_id=run_id,
        seq=seq,
        type=type,
        message=message,
        data=payload,
        actor=actor,
        created_at=created_at,
    )
    live_data = {"message": message, "actor": actor, **payload}
    transaction.on_commit(
        lambda: live.publish_event(run_id, owner_id=owner_id, seq=seq, type_=type, data=live_data)
    )
    return event


MetricRow = tuple[str, int, float, dt.datetime]

# The advisory lock that makes one writer of a run's blocks at a time (until commit), so two
# writers never both append to a block or start one at the same step. The two-int4 form:
# a key space of its own, apart from the one-bigint keys of runs.locks.
_WRITER_LOCK = 0x6D657472  # "metr"


def _lock_writer(cursor: Any, run_id: int) -> None:
    """Wait for the run's writer lock, held until the transaction ends (ids past int4 share
    a lock with another run: harmless, they only wait for each other)."""
    cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_WRITER_LOCK, run_id % 2_147_483_647])


def metrics_record(*, run_id: int, points: Iterable[MetricRow]) -> int:
    """Store metric points in the run's blocks; a (key, step) the run already has is kept,
    not repeated. Rollups are folded in the same transaction.

    Non-finite values are stored as they are (PostgreSQL floats hold NaN and infinity): a
    diverging loss is a fact the user should see. Returns the number of new points.
    """
    series = blocks.series_of(points)
    if not series:
        return 0
    writes = blocks.BlockWrites()
    with transaction.atomic(), connection.cursor() as cursor:
        _lock_writer(cursor, run_id)
        cursor.execute(blocks.TAILS_SQL, {"run": run_id, "keys": list(series)})
        tails = {key: (first, last, count) for key, first, last, count in cursor.fetchall()}
        # Nearly every batch: each key's points all come after its last block (a live run
        # counts up). A batch that reaches back (a resume repeating steps, a retried flush)
        # reads the blocks it overlaps and merges, keeping the stored points.
        reaching_back: dict[str, list[int]] = {}
        for key, found in series.items():
            steps = sorted(found)
            tail = tails.get(key)
            if tail is not None and steps[0] <= tail[1]:
                reaching_back[key] = steps
            else:
                writes.after_tail(key, steps, found, None if tail is None else (tail[0], tail[2]))
        if reaching_back:
            keys = list(reaching_back)
            cursor.execute(
                blocks.OVERLAP_SQL,
                {
                    "run": run_id,
                    "keys": keys,
                    "lo": [reaching_back[key][0] for key in keys],
                    "hi": [reaching_back[key][-1] for key in keys],
                },
            )
            stored: dict[str, list[tuple[Any, ...]]] = {key: [] for key in keys}
            for key, *block in cursor.fetchall():
                stored[key].append(tuple(block))
            for key in keys:
                writes.merged(key, reaching_back[key], series[key], stored[key])
        writes.write(cursor, run_id)
        _rollups_merge(cursor, run_id, writes.new)
        return len(writes.new)


# ----- rollups --------------------------------------------------------------------------------
# A block aggregate: [first_step, first_value, last_step, last_value, min, max, count]. Min and
# max follow PostgreSQL's float order (NaN above every number), so a rollup says exactly what
# min()/max() over the raw points says.


def _rollup_level1(points: Iterable[tuple[str, int, float]]) -> dict[tuple[str, int], list[Any]]:
    """The finest level's blocks of new points, in one pass (the hot loop of ingest)."""
    shift = ROLLUP_SHIFTS[1]
    blocks: dict[tuple[str, int], list[Any]] = {}
    get = blocks.get
    for key, step, value in points:
        ident = (key, step >> shift)
        b = get(ident)
        if b is None:
            blocks[ident] = [step, value, step, value, value, value, 1]
            continue
        if step < b[0]:
            b[0], b[1] = step, value
        if step > b[2]:
            b[2], b[3] = step, value
        if value < b[4] or b[4] != b[4]:
            b[4] = value
        if value > b[5] or value != value:
            b[5] = value
        b[6] += 1
    return blocks


def _rollup_coarser(
    blocks: dict[tuple[str, int], list[Any]], shift: int
) -> dict[tuple[str, int], list[Any]]:
    """Blocks of the next level: ``shift`` bits more of the block number dropped."""
    coarse: dict[tuple[str, int], list[Any]] = {}
    for (key, block), a in blocks.items():
        ident = (key, block >> shift)
        b = coarse.get(ident)
        if b is None:
            coarse[ident] = list(a)
            continue
        if a[0] < b[0]:
            b[0], b[1] = a[0], a[1]
        if a[2] > b[2]:
            b[2], b[3] = a[2], a[3]
        if a[4] < b[4] or b[4] != b[4]:
            b[4] = a[4]
        if a[5] > b[5] or a[5] != a[5]:
            b[5] = a[5]
        b[6] += a[6]
    return coarse


_ROLLUP_TABLE = MetricRollup._meta.db_table

# One statement for every block of every level a batch touched. On a stored block, merge:
# the earlier first point, the later last point, the smaller min, the larger max (LEAST and
# GREATEST order NaN as min() and max() do), counts added. SET reads the old row (r).
_ROLLUP_MERGE_SQL = f"""
INSERT INTO {_ROLLUP_TABLE} AS r
    (run_id, key, level, block, first_step, first_value, last_step, last_value,
     min_value, max_value, count)
SELECT %(run)s, * FROM unnest(
    %(key)s::varchar[], %(level)s::int2[], %(block)s::int8[], %(first_step)s::int8[],
    %(first_value)s::float8[], %(last_step)s::int8[], %(last_value)s::float8[],
    %(min_value)s::float8[], %(max_value)s::float8[], %(count)s::int8[])
ON CONFLICT (run_id, key, level, block) DO UPDATE SET
    first_step = LEAST(r.first_step, EXCLUDED.first_step),
    first_value = CASE WHEN EXCLUDED.first_step < r.first_step
                       THEN EXCLUDED.first_value ELSE r.first_value END,
    last_step = GREATEST(r.last_step, EXCLUDED.last_step),
    last_value = CASE WHEN EXCLUDED.last_step > r.last_step
                      THEN EXCLUDED.last_value ELSE r.last_value END,
    min_value = LEAST(r.min_value, EXCLUDED.min_value),
    max_value = GREATEST(r.max_value, EXCLUDED.max_value),
    count = r.count + EXCLUDED.count
"""


def _rollups_merge(cursor: Any, run_id: int, new: list[tuple[str, int, float]]) -> None:
    """Fold points just inserted (and only those) into every rollup level."""
    if not new:
        return
    columns: dict[str, list[Any]] = {name: [] for name in ROLLUP_COLUMNS}
    blocks = _rollup_level1(new)
    levels = sorted(ROLLUP_SHIFTS)
    for level in levels:
        if level != levels[0]:
            blocks = _rollup_coarser(blocks, ROLLUP_SHIFTS[level] - ROLLUP_SHIFTS[level - 1])
        for (key, block), agg in blocks.items():
            columns["key"].append(key)
            columns["level"].append(level)
            columns["block"].append(block)
            columns["first_step"].append(agg[0])
            columns["first_value"].append(agg[1])
            columns["last_step"].append(agg[2])
            columns["last_value"].append(agg[3])
            columns["min_value"].append(agg[4])
            columns["max_value"].append(agg[5])
            columns["count"].append(agg[6])
    cursor.execute(_ROLLUP_MERGE_SQL, {"run": run_id, **columns})


# Rebuilds a run's rollups (or every run's) from the stored points, level by level: level 1
# from the points, each coarser level from the one below. For data written before rollups
# existed, or written around ``metrics_record`` (bulk SQL loads, the history bench). With
# ``from`` set, only the blocks holding steps >= ``from`` are rebuilt (at every level, the
# block of ``from`` and those after it), from the points and finer blocks that remain.
_RUN = "(%(run)s::bigint IS NULL OR run_id = %(run)s)"


def _from_block(column: str, shift: int) -> str:
    """``column`` (a block number at ``shift``) is the block of step ``from`` or a later one."""
    return f"(%(from)s::bigint IS NULL OR {column} >= %(from)s::bigint >> {shift})"


def _coarser(level: int) -> str:
    """A level ``level - 1`` block's number at ``level``."""
    return f"block >> {ROLLUP_SHIFTS[level] - ROLLUP_SHIFTS[level - 1]}"


ROLLUP_REBUILD_SQL = [
    *(
        f"DELETE FROM {_ROLLUP_TABLE} "
        f"WHERE level = {level} AND {_RUN} AND {_from_block('block', shift)}"
        for level, shift in sorted(ROLLUP_SHIFTS.items())
    ),
    f"""
INSERT INTO {_ROLLUP_TABLE}
    (run_id, key, level, block, first_step, first_value, last_step, last_value,
     min_value, max_value, count)
SELECT run_id, key, 1, p.step >> {ROLLUP_SHIFTS[1]}, min(p.step),
       (array_agg(p.value ORDER BY p.step))[1], max(p.step),
       (array_agg(p.value ORDER BY p.step DESC))[1], min(p.value), max(p.value), count(*)
FROM {blocks.BLOCK_TABLE} b
CROSS JOIN LATERAL unnest(b.steps, b.vals) AS p(step, value)
WHERE {_RUN}
  AND (%(from)s::bigint IS NULL
       OR b.last_step >= %(from)s::bigint >> {ROLLUP_SHIFTS[1]} << {ROLLUP_SHIFTS[1]})
  AND {_from_block(f"p.step >> {ROLLUP_SHIFTS[1]}", ROLLUP_SHIFTS[1])}
GROUP BY run_id, key, p.step >> {ROLLUP_SHIFTS[1]}
""",
    *(
        f"""
INSERT INTO {_ROLLUP_TABLE}
    (run_id, key, level, block, first_step, first_value, last_step, last_value,
     min_value, max_value, count)
SELECT run_id, key, {level}, {_coarser(level)},
       min(first_step), (array_agg(first_value ORDER BY first_step))[1],
       max(last_step), (array_agg(last_value ORDER BY last_step DESC))[1],
       min(min_value), max(max_value), sum(count)
FROM {_ROLLUP_TABLE}
WHERE level = {level - 1} AND {_RUN} AND {_from_block(_coarser(level), ROLLUP_SHIFTS[level])}
GROUP BY run_id, key, {_coarser(level)}
"""
        for level in sorted(ROLLUP_SHIFTS)[1:]
    ),
]


def metrics_rollups_rebuild(*, run_id: int | None = None, from_step: int | None = None) -> None:
    """Recompute the rollups of one run (or of every run) from its stored points; with
    ``from_step``, only the blocks that hold that step or later ones."""
    with transaction.atomic(), connection.cursor() as cursor:
        for statement in ROLLUP_REBUILD_SQL:
            cursor.execute(statement, {"run": run_id, "from": from_step})


# A resume cut: the blocks after ``step`` go, and the block holding it keeps its points up
# to ``step`` (its arrays are in step order, so a prefix). Each returns the points removed.
_CUT_SQL = [
    f"""
DELETE FROM {blocks.BLOCK_TABLE} WHERE run_id = %(run)s AND first_step > %(step)s
RETURNING cardinality(steps)
""",
    f"""
UPDATE {blocks.BLOCK_TABLE} AS b
SET steps = b.steps[1:t.kept], vals = b.vals[1:t.kept], wall_times = b.wall_times[1:t.kept],
    last_step = b.steps[t.kept]
FROM (
    SELECT key, first_step, cardinality(steps) AS total,
           (SELECT count(*) FROM unnest(steps) AS s(step) WHERE s.step <= %(step)s)::int AS kept
    FROM {blocks.BLOCK_TABLE}
    WHERE run_id = %(run)s AND first_step <= %(step)s AND last_step > %(step)s
) AS t
WHERE b.run_id = %(run)s AND b.key = t.key AND b.first_step = t.first_step
RETURNING t.total - t.kept
""",
]


def metrics_supersede_after(*, run_id: int, step: int) -> int:
    """Delete the run's points after ``step`` and correct the rollups they were in, in one
    transaction. For a run that resumes from its checkpoint at ``step``: the points a lost
    attempt wrote beyond it describe a trajectory that no longer exists, and the new attempt
    writes its own (``metrics_record`` keeps the first point of a step, so the old ones must
    go first). Returns the number of points deleted.
    """
    deleted = 0
    with transaction.atomic(), connection.cursor() as cursor:
        # The run's writer lock: a write still in flight from the lost attempt finishes
        # before the cut, or starts after it.
        _lock_writer(cursor, run_id)
        for statement in _CUT_SQL:
            cursor.execute(statement, {"run": run_id, "step": step})
            deleted += sum(removed for (removed,) in cursor.fetchall())
        if deleted:
            metrics_rollups_rebuild(run_id=run_id, from_step=step + 1)
    return deleted
