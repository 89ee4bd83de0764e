"""How many bytes does one stored metric point cost, and how fast do 4 writers store them?

Starts a throwaway embedded PostgreSQL and Redis, migrates, then:

- writes N points for one run through ``monitoring.services.metrics_record`` (the reporter's
  path: the blocks plus the rollups, in batches of 20,000 = 10 keys x 2,000 steps, the
  reporter's cap) and measures the sizes (heap with its TOAST, free-space and visibility maps;
  indexes; the rollup table whole) of the metric-block and rollup tables before and after,
  after a plain VACUUM so the maps are counted and the dead space it leaves stays counted;
- the same for a live run that flushes one step (10 points) at a time, as a slow trainer's
  reporter does once a second: each flush appends to the open block of every key (an UPDATE
  that leaves the old row dead), with a VACUUM every 60 flushes, as autovacuum visits these
  tables once a minute (migration 0008), so this is the file as a live run leaves it, the
  space dead rows left counted;
- then 4 processes write their own runs' points in 20,000-point batches at once.

Prints one JSON object as its last line: ``bytes_per_point`` (goal <= 60; MLflow's is about
370), the larger of the batched and the live figure (``bytes_per_point_batched``,
``bytes_per_point_live``, each with its parts: ``heap``, ``indexes``, ``rollups``), and
``points_per_s_4_writers``.

    .venv/bin/python bench/storage.py
    .venv/bin/python bench/storage.py --quick      # under a minute
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import time

from _stack import django_stack
from ingest import KEYS, STEPS_PER_BATCH, make_batches

WRITERS = 4
# The live run flushes once a second; autovacuum visits the block and rollup tables once a
# naptime (a minute) when a few hundred rows are dead (migration 0008's table settings): a
# VACUUM every 60 flushes is that, on the bench's compressed clock.
AUTOVACUUM_FLUSHES = 60


def vacuum() -> None:
    """A plain VACUUM of the block and rollup tables (what autovacuum does)."""
    from django.db import connection

    from monitoring.models import MetricBlock, MetricRollup

    with connection.cursor() as cursor:
        for model in (MetricBlock, MetricRollup):
            cursor.execute(f"VACUUM {model._meta.db_table}")


def sizes() -> dict[str, int]:
    """Bytes on disk of the block table (heap and indexes apart) and the rollup table."""
    from django.db import connection

    from monitoring.models import MetricBlock, MetricRollup

    points, rollups = MetricBlock._meta.db_table, MetricRollup._meta.db_table
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

    from monitoring.models import MetricBlock

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexrelname, pg_relation_size(indexrelid) FROM pg_stat_user_indexes "
            "WHERE relname = %s",
            [MetricBlock._meta.db_table],
        )
        return dict(cursor.fetchall())


def per_point(grown: dict[str, int], points: int, suffix: str) -> dict[str, float]:
    return {
        f"bytes_per_point_{suffix}": round(sum(grown.values()) / points, 1),
        f"heap_bytes_per_point_{suffix}": round(grown["heap"] / points, 1),
        f"index_bytes_per_point_{suffix}": round(grown["indexes"] / points, 1),
        f"rollup_bytes_per_point_{suffix}": round(grown["rollups"] / points, 1),
    }


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
    return {**per_point(grown, points, "batched"), "index_bytes": index_sizes(), "points": points}


def measure_live(steps: int) -> dict:
    """One run that flushes one step of its 10 keys at a time (``steps`` flushes)."""
    from django.contrib.auth import get_user_model

    from monitoring.services import metrics_record

    owner = get_user_model().objects.create_user("bench-storage-live")
    before = sizes()
    run = new_run(owner, "live")
    # make_batches lists each step's 10 keys together: one step is 10 consecutive rows.
    rows = [row for batch in make_batches(-(-steps // STEPS_PER_BATCH)) for row in batch]
    flushes = [rows[at : at + len(KEYS)] for at in range(0, steps * len(KEYS), len(KEYS))]
    points = 0
    elapsed = 0.0
    for at, flush in enumerate(flushes, start=1):
        t0 = time.perf_counter()
        points += metrics_record(run_id=run.pk, points=flush)
        elapsed += time.perf_counter() - t0
        if at % AUTOVACUUM_FLUSHES == 0:
            vacuum()
    grown = {part: after - before[part] for part, after in sizes().items()}
    return {
        **per_point(grown, points, "live"),
        "live_points": points,
        "live_flush_ms": round(elapsed / len(flushes) * 1000, 2),
    }


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
    parser.add_argument("--live-steps", type=int, help="one-step flushes (default 10,000)")
    opts = parser.parse_args()
    batch_count = opts.batches or (10 if opts.quick else 50)
    live_steps = opts.live_steps or (2_000 if opts.quick else 10_000)
    with django_stack():
        result = measure_size(batch_count)
        result.update(measure_live(live_steps))
        result.update(measure_writers(max(1, batch_count // 2)))
    result["bytes_per_point"] = max(
        result["bytes_per_point_batched"], result["bytes_per_point_live"]
    )
    result["batch_points"] = STEPS_PER_BATCH * 10
    result["quick"] = opts.quick
    print(json.dumps(result))


if __name__ == "__main__":
    main()
