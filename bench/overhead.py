"""What does watching cost training? shogi-ppo headless against the full live path on.

Both sides train the ``shogi-ppo`` ``quick`` preset for the same fixed budget with the same
seed, in this process, alternating (headless, monitored, headless, monitored, ...) so both
share the machine's noise:

- headless: ``NullCallbacks``, no board snapshots (``spectate`` off), as ``python -m keisei
  train`` runs;
- monitored: the worker-side reporter (``monitoring.reporter.Reporter`` on a Run row made here,
  as ``runs.execution.RunCallbacks`` uses it): metric points COPYed to PostgreSQL about once a
  second (with their rollups), timeline events, live metrics, progress and board snapshots
  (``spectate`` on) published through the channel layer to a real Daphne, with 50 WebSocket
  clients (a separate process, ``bench/fanout.py --watch``) watching the run.

Throughput is positions over the wall time of ``train()`` (the reporter's final flush
included). Prints one JSON object as its last line: ``headless_positions_per_s``,
``monitored_positions_per_s`` (each the median of its rounds), ``ratio`` (the median of the
rounds' monitored/headless ratios; goal >= 0.97). ``--quick`` trains 64 games instead of 256.

    .venv/bin/python bench/overhead.py
    .venv/bin/python bench/overhead.py --quick      # under a minute or two
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

from _stack import bench_user, django_stack  # noqa: E402

HERE = Path(__file__).resolve().parent
WATCHERS = 50


def train_once(config, callbacks) -> float:
    """Positions per second of one ``train()`` with ``callbacks``."""
    from keisei.interfaces import NullControl
    from keisei.shogi.trainer import ShogiPPOTrainer

    with tempfile.TemporaryDirectory() as workdir:
        trainer = ShogiPPOTrainer(
            config, workdir=Path(workdir), callbacks=callbacks, control=NullControl()
        )
        started = time.perf_counter()
        trainer.train()
        if hasattr(callbacks, "close"):
            callbacks.close()
        elapsed = time.perf_counter() - started
    return config.total_steps / elapsed


def start_watchers(env: dict[str, str], url: str, token: str) -> subprocess.Popen:
    watchers = subprocess.Popen(
        [
            sys.executable,
            str(HERE / "fanout.py"),
            "--watch",
            str(WATCHERS),
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer games, shorter rollouts")
    parser.add_argument("--rounds", type=int, help="headless/monitored pairs (default 4)")
    parser.add_argument("--updates", type=int, default=3, help="PPO updates per training")
    opts = parser.parse_args()
    rounds = opts.rounds or 4

    with django_stack() as env:
        import torch
        from fanout import start_daphne

        from keisei.interfaces import NullCallbacks
        from keisei.shogi.trainer import ShogiPPOTrainer
        from monitoring.reporter import Reporter
        from runs.models import Run

        torch.set_num_threads(2)
        preset = {**ShogiPPOTrainer.presets["quick"], "checkpoint_every": 0, "seed": 1}
        if opts.quick:
            # Same network; fewer games and shorter rollouts, so a round takes seconds.
            preset.update(num_envs=64, num_steps=16, minibatch_size=512)
        base = ShogiPPOTrainer.parse_config(preset)
        budget = base.num_envs * base.num_steps * opts.updates
        headless_cfg = base.model_copy(update={"total_steps": budget, "spectate": False})
        monitored_cfg = base.model_copy(update={"total_steps": budget, "spectate": True})

        owner, token = bench_user("bench-overhead")
        run = Run.objects.create(owner=owner, trainer="shogi-ppo", config=preset)
        daphne, ws_base = start_daphne(env)
        watchers = start_watchers(env, f"{ws_base}/ws/runs/{run.pk}/", token)
        headless, monitored = [], []
        try:
            train_once(headless_cfg, NullCallbacks())  # warm-up: allocator, kernels, caches
            for _ in range(rounds):
                headless.append(train_once(headless_cfg, NullCallbacks()))
                reporter = Reporter(run_id=run.pk, owner_id=owner.pk, actor="worker:bench")
                monitored.append(train_once(monitored_cfg, reporter))
                print(
                    f"round: headless {headless[-1]:.1f}/s, monitored {monitored[-1]:.1f}/s",
                    file=sys.stderr,
                    flush=True,
                )
                daphne.ensure_alive()
        finally:
            assert watchers.stdin is not None and watchers.stdout is not None
            watchers.stdin.close()
            tail = watchers.stdout.read().strip().splitlines()
            watchers.wait(60)
            seen = json.loads(tail[-1]) if tail else {"error": "no report"}
            daphne.stop()
        from monitoring.models import MetricPoint

        points = MetricPoint.objects.filter(run=run).count()

    # Medians: on shared cores one round can lose half its speed to a neighbour's job. The
    # ratio is the median of each round's monitored/headless pair, measured back to back.
    h, m = statistics.median(headless), statistics.median(monitored)
    pairs = [mon / head for head, mon in zip(headless, monitored, strict=True)]
    print(
        json.dumps(
            {
                "headless_positions_per_s": round(h, 1),
                "monitored_positions_per_s": round(m, 1),
                "ratio": round(statistics.median(pairs), 3),
                "pair_ratios": [round(r, 3) for r in pairs],
                "headless_rounds": [round(r, 1) for r in headless],
                "monitored_rounds": [round(r, 1) for r in monitored],
                "positions_per_training": budget,
                "metric_points_stored": points,
                "watchers": seen,
                "quick": opts.quick,
            }
        )
    )


if __name__ == "__main__":
    main()
