"""How fast does a checkpoint analyse a position? Latency of one, throughput of a batch.

A 4x64 network (the ``quick`` preset's) is written as a checkpoint, untrained (speed does not
depend on the weights), loaded once by ``keisei.shogi.analysis.Analyser`` on the CPU in fp32,
as the site loads players, and asked about positions from random self-play games:

- ``analysis_p95_ms``: one position per call (SFEN check, features, legal moves, the network,
  top-k and the 81-square mass), 95th percentile over the calls (goal <= 50 ms);
- ``analysis_positions_per_s``: positions per second when asked in batches of ``--batch``;
- ``load_ms``: reading and checking the checkpoint file once (not in the latency).

Prints one JSON object as its last line. ``--quick`` makes fewer calls.

    .venv/bin/python bench/analysis.py
    .venv/bin/python bench/analysis.py --quick
"""

from __future__ import annotations

import os

# Before torch loads: spinning OpenMP threads collapse on shared cores (see keisei/shogi).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import json
import random
import sys
import tempfile
import time
from pathlib import Path

import cshogi
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from keisei.shogi.analysis import Analyser  # noqa: E402
from keisei.shogi.trainer import ShogiPPOTrainer  # noqa: E402


def positions(count: int, seed: int) -> list[str]:
    """SFENs from random games, 0-120 plies in (never a finished position)."""
    rng = random.Random(seed)
    out: list[str] = []
    while len(out) < count:
        board = cshogi.Board()
        for _ in range(rng.randrange(121)):
            moves = list(board.legal_moves)
            if not moves:
                break
            board.push(rng.choice(moves))
        if list(board.legal_moves):
            out.append(board.sfen())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500, help="single-position calls")
    parser.add_argument("--batch", type=int, default=256, help="positions per batched call")
    parser.add_argument("--batches", type=int, default=20, help="batched calls")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="fewer calls (seconds)")
    args = parser.parse_args()
    if args.quick:
        args.calls, args.batches = 100, 4
    torch.set_num_threads(args.threads)

    preset = dict(ShogiPPOTrainer.presets["quick"])
    config = ShogiPPOTrainer.parse_config(
        {**preset, "num_envs": 8, "num_steps": 8, "minibatch_size": 64, "spectate": False}
    )
    with tempfile.TemporaryDirectory() as tmp:
        trainer = ShogiPPOTrainer(config, workdir=Path(tmp))
        path = trainer.save_checkpoint("manual").path
        started = time.perf_counter()
        analyser = Analyser(path)
        load_ms = (time.perf_counter() - started) * 1000

    sfens = positions(max(args.calls, args.batch), seed=1)
    analyser.analyse(sfens[:8])  # warm-up: first-call allocations
    latencies = []
    for sfen in sfens[: args.calls]:
        started = time.perf_counter()
        analyser.analyse([sfen], top_k=5)
        latencies.append((time.perf_counter() - started) * 1000)
    batch = sfens[: args.batch]
    started = time.perf_counter()
    for _ in range(args.batches):
        analyser.analyse(batch, top_k=5)
    throughput = args.batch * args.batches / (time.perf_counter() - started)
    print(
        json.dumps(
            {
                "analysis_p95_ms": round(float(np.percentile(latencies, 95)), 2),
                "analysis_p50_ms": round(float(np.percentile(latencies, 50)), 2),
                "analysis_positions_per_s": round(throughput, 1),
                "load_ms": round(load_ms, 1),
                "network": f"{config.blocks}x{config.channels}",
                "precision": analyser.precision.name,
                "calls": args.calls,
                "batch": args.batch,
                "threads": args.threads,
            }
        )
    )


if __name__ == "__main__":
    main()
