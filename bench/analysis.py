"""How fast does a checkpoint analyse a position? Latency of one, throughput of a batch.

A 4x64 network (the ``quick`` preset's) is written as a checkpoint, untrained (speed does not
depend on the weights), loaded once by ``keisei.shogi.analysis.Analyser`` on the CPU in fp32,
as the site loads players, and asked about positions from random self-play games:

- ``analysis_p95_ms``: one position per call (SFEN check, features, legal moves, the network,
  top-k and the 81-square mass), 95th percentile over the calls (goal <= 50 ms);
- ``analysis_positions_per_s``: positions per second when asked in batches of ``--batch``;
- ``load_ms``: reading and checking the checkpoint file once (not in the latency).

Then the portal's path (skipped with ``--no-portal``): the same checkpoint recorded for a run
on embedded PostgreSQL and Redis, one Daphne serving the API, requests over HTTP one at a time:

- ``api_analysis_first_ms``: the first ``GET /api/v1/runs/<id>/analysis/`` (the checkpoint is
  fetched from storage, hash checked and loaded, then kept);
- ``api_analysis_p95_ms``: later requests for other positions (the kept network, 1 torch
  thread as the site runs it, plus access, validation and JSON), 95th percentile;
- ``api_game_analysis_ms`` / ``api_game_analysis_cached_ms``: a whole stored game of
  ``api_game_plies`` plies (``.../games/<gid>/analysis/``), first and again from the cache.

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


def random_game(plies: int, seed: int) -> list[str]:
    """The USI moves of a random game of at most ``plies`` plies."""
    rng = random.Random(seed)
    board = cshogi.Board()
    moves: list[str] = []
    while len(moves) < plies:
        legal = list(board.legal_moves)
        if not legal:
            break
        move = rng.choice(legal)
        moves.append(cshogi.move_to_usi(move))
        board.push(move)
    return moves


def portal_figures(checkpoint: Path, sfens: list[str], calls: int, plies: int) -> dict:
    """The API's answers over HTTP through one Daphne (see the module's docstring)."""
    import urllib.parse
    import urllib.request

    from _stack import bench_user, django_stack, percentile
    from api import web

    from keisei.interfaces import CheckpointInfo

    with django_stack() as env:
        from runs import services
        from runs.models import GameRecord, Run, RunStatus

        owner, token = bench_user("analysis-bench")
        run = Run.objects.create(
            owner=owner, trainer="shogi-ppo", config={}, status=RunStatus.COMPLETED
        )
        services.checkpoint_record(
            run_id=run.pk, info=CheckpointInfo(path=checkpoint, step=1, kind="manual")
        )
        moves = random_game(plies, seed=2)
        record = GameRecord.objects.create(
            run=run,
            source="sample",
            black="a",
            white="b",
            result="unfinished",
            plies=len(moves),
            start_sfen=cshogi.STARTING_SFEN,
            moves=moves,
        )
        with web(env, 1) as base:

            def timed(path: str) -> float:
                request = urllib.request.Request(
                    base + path, headers={"Authorization": f"Token {token}"}
                )
                started = time.perf_counter()
                with urllib.request.urlopen(request, timeout=120) as response:
                    assert response.status == 200, response.status
                    response.read()
                return (time.perf_counter() - started) * 1000

            def position(sfen: str) -> str:
                query = urllib.parse.urlencode({"sfen": sfen, "top_k": 5})
                return f"/api/v1/runs/{run.pk}/analysis/?{query}"

            first = timed(position(sfens[0]))
            latencies = [timed(position(sfen)) for sfen in sfens[1 : calls + 1]]
            game = f"/api/v1/runs/{run.pk}/games/{record.pk}/analysis/"
            game_ms = timed(game)
            cached_ms = timed(game)
    return {
        "api_analysis_first_ms": round(first, 1),
        "api_analysis_p95_ms": round(percentile(latencies, 95), 2),
        "api_analysis_p50_ms": round(percentile(latencies, 50), 2),
        "api_calls": len(latencies),
        "api_game_analysis_ms": round(game_ms, 1),
        "api_game_analysis_cached_ms": round(cached_ms, 1),
        "api_game_plies": len(moves),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500, help="single-position calls")
    parser.add_argument("--batch", type=int, default=256, help="positions per batched call")
    parser.add_argument("--batches", type=int, default=20, help="batched calls")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="fewer calls (seconds)")
    parser.add_argument(
        "--no-portal", action="store_true", help="the engine alone: no server, no API figures"
    )
    args = parser.parse_args()
    if args.quick:
        args.calls, args.batches = 100, 4
    torch.set_num_threads(args.threads)

    preset = dict(ShogiPPOTrainer.presets["quick"])
    config = ShogiPPOTrainer.parse_config(
        {**preset, "num_envs": 8, "num_steps": 8, "minibatch_size": 64, "spectate": False}
    )
    workdir = tempfile.TemporaryDirectory()
    trainer = ShogiPPOTrainer(config, workdir=Path(workdir.name))
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
    portal = {}
    if not args.no_portal:
        portal = portal_figures(path, sfens, args.calls, plies=120 if args.quick else 256)
    workdir.cleanup()
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
                **portal,
            }
        )
    )


if __name__ == "__main__":
    main()
