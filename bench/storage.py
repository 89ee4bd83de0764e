"""How many bytes does one stored metric point cost, and how fast do 4 writers store them?

Starts a throwaway embedded PostgreSQL and Redis, migrates, then:

- writes N points for one run through ``monitoring.services.metrics_record`` (the reporter's
  path: COPY plus the rollups, in batches of 20,000 = 10 keys x 2,000 steps) and measures
  ``pg_total_relation_size`` (heap, indexes, TOAST, free-space and visibility maps) of the
  metric-point and rollup tables before and after, after a VACUUM so the maps are counted;
- then 4 processes write their own runs' points through the same path at once.

Prints one JSON object as its last line: ``bytes_per_point`` (goal <= 60; MLflow's is about
370) with its parts (``heap``, ``indexes``, ``rollups``), and ``points_per_s_4_writers``.

    .venv/bin/python bench/storage.py
    .venv/bin/python bench/storage.py --quick      # under a minute
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import time

from _stack import django_stack
from ingest import STEPS_PER_BATCH, make_batches

WRITERS = 4


def sizes() -> dict[str, int]:
    """Bytes on disk of the point table (heap and indexes apart) and the rollup table."""
    from django.db import connection

    from monitoring.models import MetricPoint, MetricRollup

    points, rollups = MetricPoint._meta.db_table, MetricRollup._meta.db_table
    with connection.cursor() as cursor:
        for table in (points, rollups):
            cursor.execute(f"VACUUM ANALYZE {table}")  # the maps exist, as in a live table
        cursor.execute(
            "SELECT pg_table_size(%s), pg_indexes_size(%s), pg_total_relation_size(%s)",
            [points, points, rollups],
        )
        heap, indexes, rollup = cursor.fetchone()
    return {"heap": heap, "indexes": indexes, "rollups": rollup}


def index_sizes() -> dict[str, int]:
    from django.db import connection

    from monitoring.models import MetricPoint

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexrelname, pg_relation_size(indexrelid) FROM pg_stat_user_indexes "
            "WHERE relname = %s",
            [MetricPoint._meta.db_table],
        )
        return dict(cursor.fetchall())


def new_run(owner, name: str):
    from runs.models import Run

    return Run.objects.create(owner=owner, trainer="digits", config={}, name=name)


def measure_size(batch_count: int) -> dict:
    from django.contrib.auth import get_user_model

    from monitoring.services import metrics_record

    owner = get_user_model().objects.create_user("bench-storage")
    warm = new_run(owner, "warm")
    metrics_record(run_id=warm.pk, points=make_batches(1)[0][:100])
    before = sizes()
    run = new_run(owner, "measured")
    points = 0
    for batch in make_batches(batch_count):
        points += metrics_record(run_id=run.pk, points=batch)
    after = sizes()
    grown = {part: after[part] - before[part] for part in after}
    indexes = index_sizes()
    # What the indexes hold packed: a run appends to one range per key, in the middle of the
    # unique index, and B-tree pages that split there stay about half full.
    reindex()
    packed = sizes()["indexes"] - before["indexes"]
    return {
        "bytes_per_point": round(sum(grown.values()) / points, 1),
        "heap_bytes_per_point": round(grown["heap"] / points, 1),
        "index_bytes_per_point": round(grown["indexes"] / points, 1),
        "rollup_bytes_per_point": round(grown["rollups"] / points, 1),
        "index_bytes_per_point_reindexed": round(packed / points, 1),
        "index_bytes": indexes,
        "points": points,
    }


def reindex() -> None:
    from django.db import connection

    from monitoring.models import MetricPoint

    with connection.cursor() as cursor:
        cursor.execute(f"REINDEX TABLE {MetricPoint._meta.db_table}")


def _write(run_id: int, batch_count: int, ready, start, done) -> None:
    """One writer process: its own connection, its run's batches, after the common start."""
    from django.db import connection

    from monitoring.services import metrics_record

    batches = make_batches(batch_count)
    connection.ensure_connection()
    ready.put(run_id)
    start.wait()
    written = sum(metrics_record(run_id=run_id, points=batch) for batch in batches)
    connection.close()
    done.put(written)


def measure_writers(batch_count: int) -> dict:
    from django.contrib.auth import get_user_model
    from django.db import connections

    owner = get_user_model().objects.create_user("bench-writers")
    runs = [new_run(owner, f"writer-{i}") for i in range(WRITERS)]
    connections.close_all()  # a forked child must not share the parent's socket
    context = multiprocessing.get_context("fork")
    ready, done, start = context.Queue(), context.Queue(), context.Event()
    workers = [
        context.Process(target=_write, args=(run.pk, batch_count, ready, start, done))
        for run in runs
    ]
    for worker in workers:
        worker.start()
    for _ in workers:
        ready.get(timeout=120)  # batches made and connected: only the writing is timed
    t0 = time.perf_counter()
    start.set()
    written = sum(done.get(timeout=1800) for _ in workers)
    elapsed = time.perf_counter() - t0
    for worker in workers:
        worker.join(timeout=60)
    expected = WRITERS * batch_count * STEPS_PER_BATCH * 10
    if written != expected:
        raise SystemExit(f"lost points: {WRITERS} writers stored {written} of {expected}")
    return {
        "points_per_s_4_writers": round(written / elapsed),
        "writers": WRITERS,
        "writer_points": written,
        "writers_s": round(elapsed, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a reduced run, under a minute")
    parser.add_argument("--batches", type=int, help="batches of 20,000 points (default 50)")
    opts = parser.parse_args()
    batch_count = opts.batches or (10 if opts.quick else 50)
    with django_stack():
        result = measure_size(batch_count)
        result.update(measure_writers(max(1, batch_count // 2)))
    result["batch_points"] = STEPS_PER_BATCH * 10
    result["quick"] = opts.quick
    print(json.dumps(result))


if __name__ == "__main__":
    main()
