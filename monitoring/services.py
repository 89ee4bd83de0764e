"""Writes of what is observed: timeline events (numbered per run) and metric points (COPY)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from django.db import connection, transaction

from monitoring import live
from monitoring.models import (
    ROLLUP_COLUMNS,
    ROLLUP_SHIFTS,
    EventType,
    MetricPoint,
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


def metrics_record(*, run_id: int, points: Iterable[MetricRow]) -> int:
    """Store metric points with COPY; a (key, step) the run already has is kept, not repeated.

    Non-finite values are stored as they are (PostgreSQL floats hold NaN and infinity): a
    diverging loss is a fact the user should see. Returns the number of new rows.
    """
    from psycopg.errors import UniqueViolation

    # A naive wall time is taken as UTC, as the text COPY into a UTC session used to read it.
    rows = [
        (run_id, key, int(step), float(value), wall if wall.tzinfo else wall.replace(tzinfo=dt.UTC))
        for key, step, value, wall in points
    ]
    if not rows:
        return 0

    def copy_rows(cursor: Any, statement: str) -> None:
        # Binary COPY: PostgreSQL parses no text (about 1.5x the rows/s of text COPY here).
        with cursor.copy(f"{statement} (FORMAT BINARY)") as copy:
            copy.set_types(["int8", "varchar", "int8", "float8", "timestamptz"])
            for row in rows:
                copy.write_row(row)

    table = MetricPoint._meta.db_table
    columns = "(run_id, key, step, value, wall_time)"
    with transaction.atomic(), connection.cursor() as cursor:
        # Fast path, nearly every batch: new points COPY straight into the table. A batch
        # with a point the run already has (a resume repeating steps, a retried flush) fails
        # on the unique index; its savepoint is rolled back and the slow path below keeps
        # the old point, as ON CONFLICT DO NOTHING does.
        try:
            with transaction.atomic():
                copy_rows(cursor, f"COPY {table} {columns} FROM STDIN")
            new = [(key, step, value) for _, key, step, value, _ in rows]
        except UniqueViolation:
            cursor.execute(
                "CREATE TEMP TABLE IF NOT EXISTS metric_stage "
                "(run_id bigint, key varchar(100), step bigint, value double precision, "
                "wall_time timestamptz) ON COMMIT DELETE ROWS"
            )
            copy_rows(cursor, f"COPY metric_stage {columns} FROM STDIN")
            # Only the rows actually inserted come back: a kept old point is not counted
            # again in the rollups.
            cursor.execute(
                f"INSERT INTO {table} {columns} "
                "SELECT run_id, key, step, value, wall_time FROM metric_stage "
                "ON CONFLICT (run_id, key, step) DO NOTHING RETURNING key, step, value"
            )
            new = cursor.fetchall()
        _rollups_merge(cursor, run_id, new)
        return len(new)


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
SELECT run_id, key, 1, step >> {ROLLUP_SHIFTS[1]}, min(step), (array_agg(value ORDER BY step))[1],
       max(step), (array_agg(value ORDER BY step DESC))[1], min(value), max(value), count(*)
FROM {MetricPoint._meta.db_table}
WHERE {_RUN} AND {_from_block(f"step >> {ROLLUP_SHIFTS[1]}", ROLLUP_SHIFTS[1])}
GROUP BY run_id, key, step >> {ROLLUP_SHIFTS[1]}
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


def metrics_supersede_after(*, run_id: int, step: int) -> int:
    """Delete the run's points after ``step`` and correct the rollups they were in, in one
    transaction. For a run that resumes from its checkpoint at ``step``: the points a lost
    attempt wrote beyond it describe a trajectory that no longer exists, and the new attempt
    writes its own (``metrics_record`` keeps the first point of a step, so the old ones must
    go first). Returns the number of points deleted.
    """
    with transaction.atomic():
        deleted, _ = MetricPoint.objects.filter(run_id=run_id, step__gt=step).delete()
        if deleted:
            metrics_rollups_rebuild(run_id=run_id, from_step=step + 1)
    return deleted
