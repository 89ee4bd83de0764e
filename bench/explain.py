"""Is a run's explanation and the game a chart's click opens as fast on a long run as on a
short one? (issue 17, parts 2 and 5: "bounded rows, so it is fast on a long run")

A throwaway embedded PostgreSQL and Redis. Two shogi-ppo runs, side by side in the same
sitting: a short one (10,000 points of ``losses/entropy`` and of ``losses/value_loss``, 100
stored games) and a long one (1,000,000 points of each, written in SQL as ``bench/history.py``
does, with their rollups; 100,000 stored games), each with a few evaluations, an alert and a
league entry. Measured in process, warm (after one call each):

- ``runs.selectors.explain.run_explanation`` (everything the run page's "What happened" card
  reads), 20 calls per run: median and p95 ms;
- ``runs.selectors.games.game_record_nearest`` at 200 random steps per run: median and p95 ms.

Prints one JSON object as its last line: ``explain_ms_short``, ``explain_ms_long`` (medians),
their ratio ``explain_ratio`` (goal: near 1, no growth with the run's length), the same for
``nearest_*``, p95s and setup times. ``--quick``: 200,000 points and 20,000 games in the
long run.

    .venv/bin/python bench/explain.py            # a few minutes, most of it setup
    .venv/bin/python bench/explain.py --quick    # about a minute
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time

from _stack import bench_user, django_stack, percentile
from history import fill

KEYS = ("losses/entropy", "losses/value_loss")
CALLS, PROBES = 20, 200


def build(owner, *, points: int, games: int):
    from django.core.files.base import ContentFile
    from django.db import connection

    from monitoring.services import event_record, metrics_rollups_rebuild
    from runs.models import Checkpoint, Evaluation, GameRecord, LeagueEntry, Run

    run = Run.objects.create(owner=owner, trainer="shogi-ppo", config={})
    for key in KEYS:
        fill(run.pk, key, points)
    metrics_rollups_rebuild(run_id=run.pk)
    checkpoint = Checkpoint(run=run, step=points, kind="best", size=1, sha256="0" * 64)
    checkpoint.file.save("bench.pt", ContentFile(b"x"))
    LeagueEntry.objects.create(checkpoint=checkpoint, rating=1200.0, games=4)
    for step, wins in ((points // 4, 3), (points // 2, 7)):
        Evaluation.objects.create(
            run=run,
            step=step,
            opponent="random",
            games=8,
            wins=wins,
            losses=8 - wins,
            win_rate=wins / 8,
            checkpoint=checkpoint,
            elo=100.0,
        )
    event_record(
        run_id=run.pk,
        type="alert",
        message="bench",
        data={"rule": "bench", "key": KEYS[0], "step": points // 3},
    )
    spacing = max(1, points // games)
    GameRecord.objects.bulk_create(
        GameRecord(
            run=run,
            source="sample",
            step=i * spacing,
            black="a",
            white="b",
            result="draw",
            plies=0,
            start_sfen="startpos",
        )
        for i in range(games)
    )
    with connection.cursor() as cursor:
        for table in ("monitoring_metricblock", "monitoring_metricrollup", "runs_gamerecord"):
            cursor.execute(f"ANALYZE {table}")
    return run


def timed(call) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def measure(long_points: int, long_games: int) -> dict:
    from runs.selectors.explain import run_explanation
    from runs.selectors.games import game_record_nearest

    owner, _ = bench_user("bench-explain")
    started = time.perf_counter()
    short = build(owner, points=10_000, games=100)
    long = build(owner, points=long_points, games=long_games)
    setup_s = time.perf_counter() - started
    rng = random.Random(17)
    figures: dict[str, float] = {}
    for name, run, points in (("short", short, 10_000), ("long", long, long_points)):
        told = run_explanation(run=run)  # warm
        if not told["anchors"] or told["best"] is None or not told["alerts"]:
            raise SystemExit(f"the {name} run's explanation is missing items: {told}")
        explain = [timed(lambda run=run: run_explanation(run=run)) for _ in range(CALLS)]
        steps = [rng.randrange(points) for _ in range(PROBES)]
        nearest = [timed(lambda run=run, s=s: game_record_nearest(run=run, step=s)) for s in steps]
        figures[f"explain_ms_{name}"] = round(statistics.median(explain), 2)
        figures[f"explain_p95_ms_{name}"] = round(percentile(explain, 95), 2)
        figures[f"nearest_ms_{name}"] = round(statistics.median(nearest), 3)
        figures[f"nearest_p95_ms_{name}"] = round(percentile(nearest, 95), 3)
    medians = {k: v for k, v in figures.items() if isinstance(v, float)}
    for what in ("explain", "nearest"):
        ratio = medians[f"{what}_ms_long"] / medians[f"{what}_ms_short"]
        figures[f"{what}_ratio"] = round(ratio, 2)
    return {
        **figures,
        "points_per_key_short": 10_000,
        "points_per_key_long": long_points,
        "games_short": 100,
        "games_long": long_games,
        "setup_s": round(setup_s, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a shorter long run")
    opts = parser.parse_args()
    points, games = (200_000, 20_000) if opts.quick else (1_000_000, 100_000)
    with django_stack():
        result = measure(points, games)
    result["quick"] = opts.quick
    print(json.dumps(result))


if __name__ == "__main__":
    main()
