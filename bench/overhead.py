"""What does watching cost training? shogi-ppo headless against a worker's real monitored path.

Both sides train the ``shogi-ppo`` ``quick`` preset for the same fixed budget with the same
seed, in this process, in pairs whose order alternates (headless first, then monitored first,
...) so both share the machine's noise and neither always runs second:

- headless: ``NullCallbacks`` and ``NullControl``, no board snapshots (``spectate`` off), as
  ``python -m keisei train`` runs;
- monitored: what ``runs.execution.run_execute`` gives a trainer on a worker. A Run queued with
  ``run_queue`` and claimed with ``run_claim_next`` (a real lease on a real row in the bench's
  own PostgreSQL), a real ``runs.leases.Heartbeat`` renewing it, ``RunCallbacks`` (metric
  points COPYed about once a second with their rollups, timeline events, progress written to
  the Run row once a second, live metrics, progress and boards (``spectate`` on) through the
  channel layer to a real Daphne) and ``CommandControl`` (the lease check at every poll, the
  commands' listener thread). ``--watchers N`` adds N WebSocket clients (a separate process,
  ``bench/fanout.py --watch``) watching the run; the default is none, because on a machine
  of 2 cores the clients and Daphne's fan-out to them take their CPU from training, which is
  a cost of where Daphne runs, not of the worker's path (production serves them elsewhere).

Throughput is positions over the wall time of ``train()`` (the callbacks' final flush
included). Prints one JSON object as its last line: ``ratio`` (the median over the pairs of
monitored/headless; goal >= 0.99), ``ratio_min``, ``ratio_max``, ``pair_ratios``,
``headless_positions_per_s`` and ``monitored_positions_per_s`` (medians). ``--quick`` trains
64 games with 16-ply rollouts and fewer pairs.

    .venv/bin/python bench/overhead.py              # 5 pairs, about 4-5 minutes when idle
    .venv/bin/python bench/overhead.py --quick      # about a minute
"""

from __future__ import annotations

import os

# Before torch loads: spinning OpenMP threads collapse on shared cores (see keisei/shogi).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _stack import bench_user, django_stack, worker_path  # noqa: E402

HERE = Path(__file__).resolve().parent
WORKER = "bench-overhead:1"


def train_once(config, callbacks, control) -> float:
    """Positions per second of one ``train()``, the callbacks' close included."""
    from keisei.shogi.trainer import ShogiPPOTrainer

    with tempfile.TemporaryDirectory() as workdir:
        trainer = ShogiPPOTrainer(
            config, workdir=Path(workdir), callbacks=callbacks, control=control
        )
        started = time.perf_counter()
        trainer.train()
        if hasattr(callbacks, "close"):
            closing = time.perf_counter()
            callbacks.close()
            callbacks.close_s = time.perf_counter() - closing
        elapsed = time.perf_counter() - started
    return config.total_steps / elapsed


def headless(config) -> float:
    from keisei.interfaces import NullCallbacks, NullControl

    return train_once(config, NullCallbacks(), NullControl())


def monitored(
    config, preset: dict, owner, token: str, ws_base: str, count: int
) -> tuple[float, dict]:
    """One training as a worker runs it: a claimed run, its lease, callbacks and control.

    The report also gives the seconds spent storing the final checkpoint and in the
    callbacks' close: once per run in production, but a visible share of a short training."""
    from runs import services
    from runs.execution import RunCallbacks
    from runs.models import RunStatus

    class TimedRunCallbacks(RunCallbacks):
        """RunCallbacks unchanged, with the time of each checkpoint it stores noted."""

        checkpoint_s = 0.0
        close_s = 0.0

        def on_checkpoint(self, info) -> None:
            started = time.perf_counter()
            super().on_checkpoint(info)
            self.checkpoint_s += time.perf_counter() - started

    services.run_queue(owner=owner, trainer="shogi-ppo", config=preset)
    run = services.run_claim_next(worker=WORKER)
    if run is None:
        raise SystemExit("the queued run could not be claimed")
    watchers = (
        start_watchers(os.environ.copy(), f"{ws_base}/ws/runs/{run.pk}/", token, count)
        if count
        else None
    )
    try:
        callbacks = TimedRunCallbacks(run, WORKER)
        with worker_path(run, callbacks, WORKER) as (_, control):
            speed = train_once(config, callbacks, control)
    finally:
        seen = stop_watchers(watchers) if watchers else {"connected": 0}
    services.run_finish(run_id=run.pk, worker=WORKER, status=RunStatus.COMPLETED)
    seen["end_s"] = callbacks.checkpoint_s + callbacks.close_s
    return speed, seen


def start_watchers(env: dict[str, str], url: str, token: str, count: int) -> subprocess.Popen:
    watchers = subprocess.Popen(
        [
            sys.executable,
            str(HERE / "fanout.py"),
            "--watch",
            str(count),
            "--url",
            url,
            "--tokens",
            token,
            "--seconds",
            "3600",
        ],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert watchers.stdout is not None
    line = watchers.stdout.readline().strip()
    if line != "ready":
        watchers.kill()
        raise SystemExit(f"the watching clients did not connect: {line!r}")
    return watchers


def stop_watchers(watchers: subprocess.Popen) -> dict:
    assert watchers.stdin is not None and watchers.stdout is not None
    watchers.stdin.close()
    tail = watchers.stdout.read().strip().splitlines()
    watchers.wait(60)
    return json.loads(tail[-1]) if tail else {"error": "no report"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer games, shorter rollouts")
    parser.add_argument("--pairs", type=int, help="headless/monitored pairs (default 5; quick 3)")
    parser.add_argument("--updates", type=int, help="PPO updates per training (default 2)")
    parser.add_argument(
        "--watchers", type=int, default=0, help="WebSocket clients watching the monitored run"
    )
    opts = parser.parse_args()
    pairs = opts.pairs or (3 if opts.quick else 5)
    updates = opts.updates or 2

    with django_stack() as env:
        import torch
        from fanout import start_daphne

        from keisei.shogi.trainer import ShogiPPOTrainer
        from monitoring.models import MetricPoint
        from runs.models import Run

        torch.set_num_threads(2)
        preset = {**ShogiPPOTrainer.presets["quick"], "checkpoint_every": 0, "seed": 1}
        if opts.quick:
            # Same network; fewer games and shorter rollouts, so a training takes seconds.
            preset.update(num_envs=64, num_steps=16, minibatch_size=512)
        base = ShogiPPOTrainer.parse_config(preset)
        budget = base.num_envs * base.num_steps * updates
        preset.update(total_steps=budget, spectate=True)
        headless_cfg = base.model_copy(update={"total_steps": budget, "spectate": False})
        monitored_cfg = base.model_copy(update={"total_steps": budget, "spectate": True})

        owner, token = bench_user("bench-overhead")
        daphne, ws_base = start_daphne(env)
        headless_speeds, monitored_speeds, seen = [], [], []
        try:
            headless(headless_cfg)  # warm-up: allocator, kernels, caches
            for pair in range(pairs):
                # Alternate which side goes first: a trend in the machine's load (a
                # neighbour's job starting) then favours neither side.
                order = ("headless", "monitored") if pair % 2 == 0 else ("monitored", "headless")
                for side in order:
                    if side == "headless":
                        headless_speeds.append(headless(headless_cfg))
                    else:
                        speed, watched = monitored(
                            monitored_cfg, preset, owner, token, ws_base, opts.watchers
                        )
                        monitored_speeds.append(speed)
                        seen.append(watched)
                print(
                    f"pair {pair + 1} ({order[0]} first): headless {headless_speeds[-1]:.1f}/s,"
                    f" monitored {monitored_speeds[-1]:.1f}/s",
                    file=sys.stderr,
                    flush=True,
                )
                daphne.ensure_alive()
        finally:
            daphne.stop()
        points = MetricPoint.objects.count()
        runs = Run.objects.filter(status="completed").count()

    # Medians: on shared cores one training can lose half its speed to a neighbour's job. The
    # ratio is the median of the pairs' monitored/headless ratios, each measured back to back.
    ratios = [m / h for h, m in zip(headless_speeds, monitored_speeds, strict=True)]
    print(
        json.dumps(
            {
                "ratio": round(statistics.median(ratios), 3),
                "ratio_min": round(min(ratios), 3),
                "ratio_max": round(max(ratios), 3),
                "pair_ratios": [round(r, 3) for r in ratios],
                "headless_positions_per_s": round(statistics.median(headless_speeds), 1),
                "monitored_positions_per_s": round(statistics.median(monitored_speeds), 1),
                "headless_rounds": [round(r, 1) for r in headless_speeds],
                "monitored_rounds": [round(r, 1) for r in monitored_speeds],
                "pairs": pairs,
                "positions_per_training": budget,
                "monitored_runs_completed": runs,
                "metric_points_stored": points,
                # The final checkpoint's storing plus the callbacks' close, per training:
                # a one-off per run, part of the monitored side's wall time.
                "monitored_end_s": round(statistics.median(s["end_s"] for s in seen), 3),
                "watchers_per_run": opts.watchers,
                "watchers": {
                    "connected": sum(s.get("connected", 0) for s in seen),
                    "failed": sum(s.get("failed", 0) for s in seen),
                    "closes": sum(s.get("closes", 0) for s in seen),
                    "messages": sum(s.get("messages", 0) for s in seen),
                },
                "quick": opts.quick,
            }
        )
    )


if __name__ == "__main__":
    main()
