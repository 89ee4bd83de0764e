"""How fast is metric history at size? The metrics endpoint and the CSV export.

Starts a throwaway embedded PostgreSQL and Redis, migrates, writes one key of 1M points to one
run and of 10M points to another (``generate_series`` in SQL, so setup is quick; then their
rollups, as ``metrics_record`` would have kept them, with ``metrics_rollups_rebuild``), then asks
the real API (Django's test client: URL routing, token authentication, access check,
validation, the selector, JSON rendering) for each series at ``max_points=2000`` many times,
and exports the 1M series as CSV once, reading the stream to the end.

Prints one JSON object as its last line: ``p50_ms_1m``, ``p95_ms_1m``, ``p95_ms_10m``,
``csv_s_1m`` (goal: p95 <= 100 ms for 1M points), and the sizes used. ``--quick`` uses
200,000 and 1,000,000 points instead (the sizes are in the output).

    .venv/bin/python bench/history.py
    .venv/bin/python bench/history.py --quick      # under a minute
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from _stack import django_stack

KEY = "losses/policy_loss"
MAX_POINTS = 2000


def fill(run_id: int, points: int) -> float:
    """One key of ``points`` points (a noisy decaying loss with rare spikes); seconds taken."""
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO monitoring_metricpoint (run_id, key, step, value, wall_time) "
            "SELECT %s, %s, g, 1.0 / (1 + g / 1000.0) + random() * 0.05 "
            "  + CASE WHEN g %% 99991 = 0 THEN 5 ELSE 0 END, "
            "  timestamptz '2026-11-01 00:00:00+00' + g * interval '1 millisecond' "
            "FROM generate_series(1, %s) AS g",
            [run_id, KEY, points],
        )
        cursor.execute("ANALYZE monitoring_metricpoint")
    return time.perf_counter() - started


def build_rollups(run_id: int) -> float:
    """The rollups ``metrics_record`` would have kept, built from the points; seconds taken."""
    from django.db import connection

    from monitoring.services import metrics_rollups_rebuild

    started = time.perf_counter()
    metrics_rollups_rebuild(run_id=run_id)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE monitoring_metricrollup")
    return time.perf_counter() - started


def latencies(client, run_id: int, repeats: int) -> list[float]:
    url = f"/api/v1/runs/{run_id}/metrics/?keys={KEY}&max_points={MAX_POINTS}"
    for _ in range(3):  # warm: caches, plans, the connection
        client.get(url)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{url}: {response.status_code} {response.content[:200]!r}")
        series = response.json()["series"][KEY]
        if not series["downsampled"] or len(series["step"]) > MAX_POINTS:
            raise SystemExit(f"{url}: not downsampled to {MAX_POINTS}")
    return times


def p(values: list[float], q: float) -> float:
    return round(statistics.quantiles(values, n=100, method="inclusive")[q - 1], 1)


def measure(small: int, large: int, repeats: int) -> dict:
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    from runs.models import Run

    owner = get_user_model().objects.create_user("bench-history")
    token = Token.objects.create(user=owner)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    small_run = Run.objects.create(owner=owner, trainer="digits", config={})
    large_run = Run.objects.create(owner=owner, trainer="digits", config={})
    setup_s = fill(small_run.pk, small) + fill(large_run.pk, large)
    rollup_s = build_rollups(small_run.pk) + build_rollups(large_run.pk)

    large_ms = latencies(client, large_run.pk, max(5, repeats // 3))
    small_ms = latencies(client, small_run.pk, repeats)

    started = time.perf_counter()
    response = client.get(f"/api/v1/runs/{small_run.pk}/metrics.csv?keys={KEY}")
    size = lines = 0
    for chunk in response.streaming_content:
        size += len(chunk)
        lines += chunk.count(b"\n")
    csv_s = time.perf_counter() - started
    if lines != small + 1:
        raise SystemExit(f"CSV export has {lines} lines, expected {small + 1}")

    return {
        "p50_ms_1m": p(small_ms, 50),
        "p95_ms_1m": p(small_ms, 95),
        "p50_ms_10m": p(large_ms, 50),
        "p95_ms_10m": p(large_ms, 95),
        "csv_s_1m": round(csv_s, 2),
        "csv_mb_1m": round(size / 1e6, 1),
        "points_1m": small,
        "points_10m": large,
        "max_points": MAX_POINTS,
        "requests_1m": len(small_ms),
        "requests_10m": len(large_ms),
        "setup_s": round(setup_s, 1),
        "rollup_build_s": round(rollup_s, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a reduced run, under a minute")
    opts = parser.parse_args()
    small, large, repeats = (200_000, 1_000_000, 20) if opts.quick else (1_000_000, 10_000_000, 40)
    # Connections kept between requests, as Daphne keeps them (the default CONN_MAX_AGE).
    with django_stack({"DATABASE_CONN_MAX_AGE": "60"}):
        result = measure(small, large, repeats)
    result["quick"] = opts.quick
    print(json.dumps(result))


if __name__ == "__main__":
    main()
