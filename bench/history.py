"""How fast is metric history at size, over HTTP? The metrics endpoint and the CSV export.

A throwaway embedded PostgreSQL and Redis; series written in bulk in SQL (full blocks of
``generate_series`` points, then the rollups ``metrics_record`` would have kept, rebuilt with
``metrics_rollups_rebuild``, so setup stays bounded at 10M points): 6 series of 1M points (3
keys on each of 2 runs) and one of 10M points (a third run). Then PostgreSQL is restarted
(``pg_ctl restart``: its shared buffers are empty) and a real Daphne is started (a fresh
process with its pool of database connections, as in production). Every request
goes over HTTP/1.1 (a kept-alive connection, ``Authorization: Token <key>``) to
``GET /api/v1/runs/<id>/metrics/?keys=<key>&max_points=2000``: routing, token
authentication, the access check, the selector, JSON.

- cold: one request for a small unrelated series first (Daphne's code paths and its database
  connection are then warm, nothing of the measured series is), then the first request ever of
  each 1M series, then of the 10M series. PostgreSQL's buffers are empty; the operating
  system's page cache is not (dropping it needs root and would hit everyone on the machine),
  so cold here means "never read by PostgreSQL since it started", not "read from disk".
- warm: the 1M series requested round-robin (40 rounds: 240 requests), the 10M series 40
  times.
- CSV: the full export of one 1M series (``/metrics.csv``), streamed over HTTP and read to the
  end (its line count checked).

Prints one JSON object as its last line: ``p95_ms_1m`` (goal <= 20 ms), ``p95_ms_10m`` (goal
<= 50 ms), ``p95_ms_1m_cold``, ``csv_s_1m`` (goal <= 1 s), medians, sizes and setup times.
``--quick`` uses series of 200,000 points and 1,000,000 points, and its keys are named for
those sizes (``p95_ms_200k``, ``p95_ms_200k_cold``, ``p95_ms_1m``, ``csv_s_200k``).

    .venv/bin/python bench/history.py              # about 3-4 minutes, most of it setup
    .venv/bin/python bench/history.py --quick      # about a minute
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import time
from pathlib import Path
from urllib.parse import urlsplit

from _stack import bench_user, django_stack, percentile

KEYS = ("losses/policy_loss", "losses/value_loss", "charts/win_rate")
SMALL_RUNS = 2  # with KEYS: 6 series of the small size, each requested cold once
MAX_POINTS = 2000


def label(points: int) -> str:
    """1000000 -> '1m', 200000 -> '200k': figure names say the size they were measured at."""
    if points % 1_000_000 == 0:
        return f"{points // 1_000_000}m"
    return f"{points // 1000}k"


def fill(run_id: int, key: str, points: int) -> None:
    """One series of ``points`` points (a noisy decaying loss with rare spikes), in SQL, as
    full blocks (what ``metrics_record`` leaves), built one block at a time."""
    from django.db import connection

    from monitoring.blocks import BLOCK_TABLE
    from monitoring.models import block_points

    size = block_points(key)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {BLOCK_TABLE} "
            "(run_id, key, first_step, last_step, steps, vals, wall_times) "
            "SELECT %(run)s, %(key)s, b.first, b.last, a.steps, a.vals, a.wall_times "
            "FROM generate_series(0, (%(points)s - 1) / %(size)s) AS n "
            "CROSS JOIN LATERAL (SELECT n * %(size)s + 1 AS first, "
            "  least((n + 1) * %(size)s, %(points)s) AS last) AS b "
            "CROSS JOIN LATERAL ("
            "  SELECT array_agg(g ORDER BY g) AS steps, "
            "    array_agg(1.0 / (1 + g / 1000.0) + random() * 0.05 "
            "      + CASE WHEN g %% 99991 = 0 THEN 5 ELSE 0 END ORDER BY g) AS vals, "
            "    array_agg(timestamptz '2026-11-01 00:00:00+00' + g * interval '1 millisecond' "
            "      ORDER BY g) AS wall_times "
            "  FROM generate_series(b.first, b.last) AS g) AS a",
            {"run": run_id, "key": key, "points": points, "size": size},
        )


def restart_postgres() -> float:
    """``pg_ctl restart`` on the bench's embedded server: its shared buffers start empty.
    Seconds taken."""
    from django.db import connections

    from tests.support.outages import postgres_restart

    connections.close_all()
    started = time.perf_counter()
    postgres_restart(Path(os.environ["KEISEI_VAR_DIR"]) / "pgdata")
    return time.perf_counter() - started


class Client:
    """HTTP/1.1 to Daphne on one kept-alive connection, as a browser or the keisei CLI."""

    def __init__(self, base: str, token: str) -> None:
        parts = urlsplit(base)
        self.host, self.port = parts.hostname, parts.port
        self.headers = {"Authorization": f"Token {token}"}
        self.connection = http.client.HTTPConnection(self.host, self.port, timeout=60)

    def series_ms(self, run_id: int, key: str) -> float:
        """One downsampled series request, checked; milliseconds to the last byte."""
        path = f"/api/v1/runs/{run_id}/metrics/?keys={key}&max_points={MAX_POINTS}"
        started = time.perf_counter()
        self.connection.request("GET", path, headers=self.headers)
        response = self.connection.getresponse()
        body = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        if response.status != 200:
            raise SystemExit(f"{path}: {response.status} {body[:200]!r}")
        series = json.loads(body)["series"][key]
        if not series["downsampled"] or len(series["step"]) > MAX_POINTS:
            raise SystemExit(f"{path}: not downsampled to {MAX_POINTS}")
        return elapsed

    def csv(self, run_id: int, key: str) -> tuple[float, int, int]:
        """The whole series as CSV, read as it streams: (seconds, bytes, lines)."""
        started = time.perf_counter()
        self.connection.request(
            "GET", f"/api/v1/runs/{run_id}/metrics.csv?keys={key}", headers=self.headers
        )
        response = self.connection.getresponse()
        size = lines = 0
        while chunk := response.read(1 << 16):
            size += len(chunk)
            lines += chunk.count(b"\n")
        elapsed = time.perf_counter() - started
        if response.status != 200:
            raise SystemExit(f"CSV export: {response.status}")
        return elapsed, size, lines


def measure(small: int, large: int, rounds: int, env: dict[str, str]) -> dict:
    from django.db import connection
    from fanout import start_daphne

    from monitoring.services import metrics_rollups_rebuild
    from runs.models import Run

    owner, token = bench_user("bench-history")
    small_runs = [
        Run.objects.create(owner=owner, trainer="shogi-ppo", config={}) for _ in range(SMALL_RUNS)
    ]
    large_run = Run.objects.create(owner=owner, trainer="shogi-ppo", config={})
    probe_run = Run.objects.create(owner=owner, trainer="shogi-ppo", config={})
    series = [(run.pk, key) for run in small_runs for key in KEYS]

    started = time.perf_counter()
    for run_id, key in series:
        fill(run_id, key, small)
    fill(large_run.pk, KEYS[0], large)
    fill(probe_run.pk, KEYS[0], 20_000)  # the warm-up request's series
    setup_s = time.perf_counter() - started
    started = time.perf_counter()
    for run in (*small_runs, large_run, probe_run):
        metrics_rollups_rebuild(run_id=run.pk)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE monitoring_metricblock")
        cursor.execute("ANALYZE monitoring_metricrollup")
    rollup_s = time.perf_counter() - started
    restart_s = restart_postgres()

    s, lg = label(small), label(large)
    daphne, ws_base = start_daphne(env)
    try:
        client = Client(ws_base.replace("ws://", "http://"), token)
        client.series_ms(probe_run.pk, KEYS[0])  # Daphne's code and connection warm, not data
        cold = [client.series_ms(run_id, key) for run_id, key in series]
        cold_large = client.series_ms(large_run.pk, KEYS[0])
        warm: list[float] = []
        for _ in range(rounds):
            warm += [client.series_ms(run_id, key) for run_id, key in series]
        warm_large = [client.series_ms(large_run.pk, KEYS[0]) for _ in range(rounds)]
        csv_s, csv_bytes, lines = client.csv(small_runs[0].pk, KEYS[0])
        if lines != small + 1:
            raise SystemExit(f"CSV export has {lines} lines, expected {small + 1}")
        daphne.ensure_alive()
    finally:
        daphne.stop()

    return {
        f"p50_ms_{s}": round(percentile(warm, 50), 1),
        f"p95_ms_{s}": round(percentile(warm, 95), 1),
        f"p50_ms_{lg}": round(percentile(warm_large, 50), 1),
        f"p95_ms_{lg}": round(percentile(warm_large, 95), 1),
        f"p50_ms_{s}_cold": round(percentile(cold, 50), 1),
        f"p95_ms_{s}_cold": round(percentile(cold, 95), 1),
        f"ms_{lg}_cold": round(cold_large, 1),
        f"cold_ms_{s}": [round(ms, 1) for ms in cold],
        f"csv_s_{s}": round(csv_s, 2),
        f"csv_mb_{s}": round(csv_bytes / 1e6, 1),
        "series_small": len(series),
        "points_small": small,
        "points_large": large,
        "max_points": MAX_POINTS,
        f"requests_{s}": len(warm),
        f"requests_{lg}": len(warm_large),
        "setup_s": round(setup_s, 1),
        "rollup_build_s": round(rollup_s, 1),
        "postgres_restart_s": round(restart_s, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller series, fewer requests")
    opts = parser.parse_args()
    small, large, rounds = (200_000, 1_000_000, 10) if opts.quick else (1_000_000, 10_000_000, 40)
    with django_stack() as env:
        result = measure(small, large, rounds, env)
    result["quick"] = opts.quick
    print(json.dumps(result))


if __name__ == "__main__":
    main()
