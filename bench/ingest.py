"""How fast do metric points reach PostgreSQL through the project's own writer?

Starts a throwaway embedded PostgreSQL and Redis, migrates, then writes the same batches
twice, alternating batch by batch so both sides share the machine's noise:

- through ``monitoring.services.metrics_record``, rollups included (what the reporter
  calls about once a second: here 20,000 points per batch, the reporter's cap, i.e. 10 keys
  x 2,000 steps);
- as a raw binary ``COPY ... FROM STDIN`` of the same points into the same table (same
  index, same foreign key) for another run, grouped by key into full blocks in Python: the
  least any writer of these blocks does, the physical limit of this machine.

Prints one JSON object as its last line: ``points_per_s``, ``raw_copy_points_per_s``,
``ratio`` (goal: >= 0.5 and >= 100,000 points/s), and the sizes used.

    .venv/bin/python bench/ingest.py
    .venv/bin/python bench/ingest.py --quick      # under a minute
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time

from _stack import django_stack

KEYS = [
    "losses/policy_loss",
    "losses/value_loss",
    "losses/entropy",
    "losses/approx_kl",
    "losses/clip_fraction",
    "charts/win_rate",
    "charts/episode_length",
    "charts/learning_rate",
    "time/positions_per_s",
    "time/update_s",
]
STEPS_PER_BATCH = 2_000  # x 10 keys = 20,000 points: the reporter's FLUSH_POINTS


def make_batches(count: int) -> list[list[tuple[str, int, float, dt.datetime]]]:
    start = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    batches = []
    for b in range(count):
        wall = start + dt.timedelta(seconds=b)
        first = b * STEPS_PER_BATCH
        batches.append(
            [
                (key, step, ((step * 7919 + k) % 10007) / 10007.0, wall)
                for step in range(first, first + STEPS_PER_BATCH)
                for k, key in enumerate(KEYS)
            ]
        )
    return batches


def raw_copy(run_id: int, batch) -> None:
    """The reference: the batch as full blocks of each key, one COPY, one transaction."""
    from django.db import connection, transaction

    from monitoring.blocks import COPY_SQL, COPY_TYPES
    from monitoring.models import block_points

    by_key: dict[str, tuple[list, list, list]] = {}
    for key, step, value, wall in batch:
        steps, values, walls = by_key.setdefault(key, ([], [], []))
        steps.append(step)
        values.append(value)
        walls.append(wall)
    with transaction.atomic(), connection.cursor() as cursor, cursor.copy(COPY_SQL) as cp:
        cp.set_types(COPY_TYPES)
        for key, (steps, values, walls) in by_key.items():
            size = block_points(key)
            for at in range(0, len(steps), size):
                chunk = steps[at : at + size]
                cp.write_row(
                    (
                        run_id,
                        key,
                        chunk[0],
                        chunk[-1],
                        chunk,
                        values[at : at + size],
                        walls[at : at + size],
                    )
                )


def measure(batch_count: int) -> dict:
    from django.contrib.auth import get_user_model

    from monitoring.models import MetricPoint
    from monitoring.services import metrics_record
    from runs.models import Run

    owner = get_user_model().objects.create_user("bench-ingest")
    writer_run = Run.objects.create(owner=owner, trainer="digits", config={})
    raw_run = Run.objects.create(owner=owner, trainer="digits", config={})
    warm_run = Run.objects.create(owner=owner, trainer="digits", config={})
    batches = make_batches(batch_count)
    # Warm both paths (temp table, plans, connection) outside the clock.
    metrics_record(run_id=warm_run.pk, points=batches[0][:100])
    raw_copy(warm_run.pk, [(k, s + 10**9, v, w) for k, s, v, w in batches[0][:100]])

    writer_s = raw_s = 0.0
    written = 0
    for batch in batches:
        t0 = time.perf_counter()
        written += metrics_record(run_id=writer_run.pk, points=batch)
        t1 = time.perf_counter()
        raw_copy(raw_run.pk, batch)
        t2 = time.perf_counter()
        writer_s += t1 - t0
        raw_s += t2 - t1
    points = sum(len(b) for b in batches)
    if written != points or MetricPoint.objects.filter(run=raw_run).count() != points:
        raise SystemExit(f"lost points: wrote {written} of {points}")
    # Every new point is in the rollups, once.
    from monitoring.models import MetricRollup

    top = MetricRollup.objects.filter(run=writer_run, level=3).values_list("count", flat=True)
    if sum(top) != points:
        raise SystemExit(f"rollups count {sum(top)} points of {points}")
    # ON CONFLICT semantics still hold: a repeated batch adds nothing.
    repeated = metrics_record(run_id=writer_run.pk, points=batches[0])
    if repeated != 0:
        raise SystemExit(f"a repeated batch added {repeated} rows")
    return {
        "points_per_s": round(points / writer_s),
        "raw_copy_points_per_s": round(points / raw_s),
        "ratio": round(raw_s / writer_s, 3),
        "points": points,
        "batch_points": len(batches[0]),
        "batches": len(batches),
        "writer_s": round(writer_s, 3),
        "raw_copy_s": round(raw_s, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a reduced run, under a minute")
    parser.add_argument("--batches", type=int, help="batches of 20,000 points (default 100)")
    opts = parser.parse_args()
    batch_count = opts.batches or (20 if opts.quick else 100)
    with django_stack():
        result = measure(batch_count)
    result["quick"] = opts.quick
    print(json.dumps(result))


if __name__ == "__main__":
    main()
