"""Prometheus metrics of the whole site, computed when ``/metrics`` is scraped.

A host runs several Daphne processes and Celery workers; a counter kept in one process's memory
would answer differently depending on which process the scrape reached. So every figure here
is read at scrape time from where the truth is shared: run states and the latest metric points
from PostgreSQL, queue depths from the broker, WebSocket connections from the connection caps'
Redis sets, each worker's live-message and reporter figures from its latest statistics (Redis,
``worker_store``), and lease expiries from a Redis counter the reaper adds to. Any process's
``/metrics`` answers the same. A source that cannot be read is left out of the answer and
``keisei_metrics_source_up{source}`` says 0 for it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from monitoring.worker_store import redis_client

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
POSITIONS_KEY = "time/positions_per_s"
RUNNING = "running"


def _prefix() -> str:
    from django.conf import settings

    return str(settings.CACHES["default"].get("KEY_PREFIX") or "keisei")


def _lease_expiries_key() -> str:
    return f"{_prefix()}:metrics:lease_expiries"


def lease_expiries_add(*, kind: str, count: int) -> None:
    """Count ``count`` leases of ``kind`` (run, evaluation job) taken back on expiry.

    Never raises: the reaper's work matters more than its tally. The counter lives in Redis,
    so it restarts at zero with an empty Redis (Prometheus reads that as a counter reset).
    """
    try:
        redis_client().hincrby(_lease_expiries_key(), kind, count)
    except Exception:
        log.warning("could not count %d lease expiries", count, exc_info=True)


# ----- the figures, one reader per source ------------------------------------------------------


def _run_model() -> Any:
    from django.apps import apps

    return apps.get_model("runs", "Run")  # by name: monitoring never imports runs


def runs_by_status() -> dict[str, int]:
    """How many runs are in each status (every status named, zeros included)."""
    from django.db.models import Count

    run = _run_model()
    counts = dict.fromkeys((value for value, _ in run._meta.get_field("status").choices), 0)
    for row in run.objects.values("status").annotate(n=Count("pk")).order_by():
        counts[row["status"]] = row["n"]
    return counts


def positions_per_second() -> dict[int, float]:
    """Each running run's latest ``time/positions_per_s`` point, by run id."""
    from django.db import connection

    from monitoring.blocks import BLOCK_TABLE

    running = list(_run_model().objects.filter(status=RUNNING).values_list("pk", flat=True))
    if not running:
        return {}
    # Each run's last block of the key (one backward probe of the blocks' primary key per
    # run), and its last value.
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT r.id, b.vals[cardinality(b.vals)]
            FROM unnest(%(runs)s::int8[]) AS r(id)
            CROSS JOIN LATERAL (
                SELECT vals FROM {BLOCK_TABLE}
                WHERE run_id = r.id AND key = %(key)s ORDER BY first_step DESC LIMIT 1
            ) AS b
            """,
            {"runs": running, "key": POSITIONS_KEY},
        )
        return dict(cursor.fetchall())


def websocket_connections(now: float | None = None) -> int:
    """Open WebSocket connections over every Daphne process: the members of the per-user
    connection sets (``connection_caps``) whose lease has not run out."""
    now = time.time() if now is None else now
    client = redis_client()
    total = 0
    for key in client.scan_iter(match=f"{_prefix()}:ws:user:*", count=500):
        total += client.zcount(key, now, "+inf")
    return total


def lease_expiries() -> dict[str, int]:
    raw = redis_client().hgetall(_lease_expiries_key())
    return {kind.decode(): int(count) for kind, count in raw.items()}


def worker_figures() -> list[dict[str, Any]]:
    """Each worker process that is not lost: its live-message and reporter figures."""
    from monitoring import worker_store

    return [w for w in worker_store.workers_latest() if not w.get("lost")]


# ----- the collector ----------------------------------------------------------------------------


def _gauge(name: str, doc: str, labels: list[str], samples: Iterable[tuple[list[str], float]]):
    family = GaugeMetricFamily(name, doc, labels=labels)
    for values, value in samples:
        family.add_metric(values, value)
    return family


def _counter(name: str, doc: str, labels: list[str], samples: Iterable[tuple[list[str], float]]):
    family = CounterMetricFamily(name, doc, labels=labels)
    for values, value in samples:
        family.add_metric(values, value)
    return family


def _runs() -> list[Metric]:
    return [
        _gauge(
            "keisei_runs",
            "Runs in each status.",
            ["status"],
            (([status], n) for status, n in runs_by_status().items()),
        ),
        _gauge(
            "keisei_run_positions_per_second",
            "Each running run's latest time/positions_per_s metric point.",
            ["run"],
            (([str(run)], value) for run, value in sorted(positions_per_second().items())),
        ),
    ]


def _queues() -> list[Metric]:
    from monitoring.queues import queue_depths

    depths = queue_depths()
    if any(depth is None for depth in depths.values()):
        raise ConnectionError("the broker did not answer")
    return [
        _gauge(
            "keisei_queue_messages",
            "Messages waiting in each Celery queue.",
            ["queue"],
            (([queue], depth or 0) for queue, depth in depths.items()),
        )
    ]


def _redis_figures() -> list[Metric]:
    return [
        _gauge(
            "keisei_websocket_connections",
            "Open WebSocket connections over every web process.",
            [],
            [([], websocket_connections())],
        ),
        _counter(
            "keisei_lease_expiries",
            "Leases taken back by the reaper because their worker stopped renewing them.",
            ["kind"],
            (([kind], n) for kind, n in sorted(lease_expiries().items())),
        ),
    ]


def _workers() -> list[Metric]:
    workers = worker_figures()

    def each(figure: Callable[[dict[str, Any]], Any]) -> list[tuple[list[str], float]]:
        samples = []
        for worker in workers:
            value = figure(worker)
            if value is not None:
                samples.append(([str(worker.get("worker_id"))], float(value)))
        return samples

    live = lambda w: w.get("live") or {}  # noqa: E731
    return [
        _gauge(
            "keisei_live_messages_backlog",
            "Live messages waiting in a worker process's publisher.",
            ["worker"],
            each(lambda w: live(w).get("backlog")),
        ),
        _counter(
            "keisei_live_messages_dropped",
            "Live (transient) messages a worker process's publisher dropped.",
            ["worker"],
            each(lambda w: live(w).get("dropped")),
        ),
        _gauge(
            "keisei_reporter_backlog",
            "Durable rows (metric points, events) a worker's reporter holds for PostgreSQL.",
            ["worker"],
            each(lambda w: w.get("reporter_backlog")),
        ),
    ]


SOURCES: dict[str, Callable[[], list[Metric]]] = {
    "database": _runs,
    "broker": _queues,
    "redis": _redis_figures,
    "workers": _workers,
}


class SiteCollector:
    """Reads every source at scrape time; a failing source is reported, not fatal."""

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "keisei_metrics_source_up",
            "1 if the source was read for this scrape.",
            labels=["source"],
        )
        for name, read in SOURCES.items():
            try:
                families = read()
            except Exception:
                log.warning("metrics source %s unavailable", name, exc_info=True)
                up.add_metric([name], 0)
                continue
            up.add_metric([name], 1)
            yield from families
        yield up


def exposition() -> bytes:
    """The metrics in Prometheus's text format."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SiteCollector())
    return generate_latest(registry)
