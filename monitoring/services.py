"""Writes of what is observed: timeline events (numbered per run) and metric points (COPY)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from django.db import connection, transaction

from monitoring import live
from monitoring.models import EventType, MetricPoint, RunEvent

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
        cursor.execute(
            _INSERT_EVENT_SQL,
            {
                "run": run_id,
                "type": type,
                "message": message,
                "data": Jsonb(payload),
                "actor": actor,
                "created_at": created_at,
            },
        )
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
            return len(rows)
        except UniqueViolation:
            pass
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS metric_stage "
            "(run_id bigint, key varchar(100), step bigint, value double precision, "
            "wall_time timestamptz) ON COMMIT DELETE ROWS"
        )
        copy_rows(cursor, f"COPY metric_stage {columns} FROM STDIN")
        cursor.execute(
            f"INSERT INTO {table} {columns} "
            "SELECT run_id, key, step, value, wall_time FROM metric_stage "
            "ON CONFLICT (run_id, key, step) DO NOTHING"
        )
        return cursor.rowcount
