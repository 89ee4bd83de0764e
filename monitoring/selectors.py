"""Reads of what is observed: latest metrics, series, timeline events, the system overview."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.db import connection
from django.db.models import Max

from monitoring import access, blocks, queues, worker_registry, worker_store
from monitoring.models import RunEvent


def metrics_latest(*, run_id: int) -> dict[str, dict[str, float]]:
    """The last point of every key of a run: ``{key: {"step", "value"}}``.

    A skip scan on the blocks' primary key (run, key, first_step): one probe for each next
    key, one for each key's last block, whose last point is the key's. ``DISTINCT ON (key)``
    over every point read the whole run instead, on every load of the run page: seconds for
    a large run (bench/pages.py, docs/benchmarks.md)."""
    table = blocks.BLOCK_TABLE
    sql = f"""
        WITH RECURSIVE keys(key) AS (
            (SELECT key FROM {table} WHERE run_id = %(run)s ORDER BY key LIMIT 1)
            UNION ALL
            SELECT (SELECT b.key FROM {table} b
                    WHERE b.run_id = %(run)s AND b.key > keys.key ORDER BY b.key LIMIT 1)
            FROM keys WHERE keys.key IS NOT NULL
        )
        SELECT keys.key, last.last_step, last.vals[cardinality(last.vals)] FROM keys
        CROSS JOIN LATERAL (
            SELECT last_step, vals FROM {table} b
            WHERE b.run_id = %(run)s AND b.key = keys.key ORDER BY b.first_step DESC LIMIT 1
        ) AS last
        WHERE keys.key IS NOT NULL
    """  # the table name is the model's own, never input
    with connection.cursor() as cursor:
        cursor.execute(sql, {"run": run_id})
        rows = cursor.fetchall()
    return {key: {"step": step, "value": value} for key, step, value in rows}


# The values of some keys at one step: per key, the one block whose range holds the step (a
# backward probe of the primary key), and the step's place in it.
_VALUES_AT_SQL = f"""
SELECT k.key, p.value
FROM unnest(%(keys)s::varchar[]) AS k(key)
CROSS JOIN LATERAL (
    SELECT steps, vals FROM {blocks.BLOCK_TABLE}
    WHERE run_id = %(run)s AND key = k.key AND first_step <= %(step)s
    ORDER BY first_step DESC LIMIT 1
) AS b
CROSS JOIN LATERAL unnest(b.steps, b.vals) AS p(step, value)
WHERE p.step = %(step)s
"""


def metric_values_at(*, run_id: int, keys: Sequence[str], step: int) -> dict[str, float]:
    """The value of each of ``keys`` the run has at ``step`` (keys without one left out)."""
    with connection.cursor() as cursor:
        cursor.execute(_VALUES_AT_SQL, {"run": run_id, "keys": list(keys), "step": step})
        return dict(cursor.fetchall())


def events_after(*, run_id: int, after_seq: int, limit: int = 1000) -> list[RunEvent]:
    return list(RunEvent.objects.filter(run_id=run_id, seq__gt=after_seq).order_by("seq")[:limit])


def events_last_seq(*, run_id: int) -> int:
    return RunEvent.objects.filter(run_id=run_id).aggregate(m=Max("seq"))["m"] or 0


def event_as_message(event: RunEvent) -> dict[str, Any]:
    """A stored event in the live message shape, for replay."""
    return {
        "type": event.type,
        "run": event.run_id,
        "seq": event.seq,
        "ts": event.created_at.timestamp(),
        "data": {"message": event.message, "actor": event.actor, **event.data},
    }


def strip_run(stats: dict[str, Any], *, visible: bool) -> dict[str, Any]:
    """``stats`` as someone sees it: the current run is named only to people who may see it
    (``busy`` still says the worker is training)."""
    if stats.get("run") is None or visible:
        return stats
    return {**stats, "run": None}


def system_overview(
    *, user: Any, may_view: Callable[[Any, int], bool] | None = None
) -> dict[str, Any]:
    """What ``GET /api/v1/system/`` and the system page show ``user``: the registered
    workers (``nodes``: names, hosts, capabilities, queues), every worker process's latest
    statistics, the reporting interval and the queue depths."""
    may_view = may_view or access.user_may_view_run
    answers: dict[int, bool] = {}

    def visible(run_id: int) -> bool:
        if run_id not in answers:
            answers[run_id] = may_view(user, run_id)
        return answers[run_id]

    workers = [
        strip_run(stats, visible=stats.get("run") is not None and visible(int(stats["run"])))
        for stats in worker_store.workers_latest()
    ]
    return {
        "interval": worker_store.interval_seconds(),
        "nodes": worker_registry.nodes_list(),
        "workers": workers,
        "queues": queues.queue_depths(),
    }


def events_page(*, run_id: int, after_seq: int, limit: int) -> dict[str, Any]:
    """The events after ``after_seq``, at most ``limit``, as the WebSocket sends them, with
    the run's highest seq and whether more follow (one row more is read to know)."""
    events = events_after(run_id=run_id, after_seq=after_seq, limit=limit + 1)
    return {
        "results": [event_as_message(event) for event in events[:limit]],
        "last_seq": events_last_seq(run_id=run_id),
        "has_more": len(events) > limit,
    }
