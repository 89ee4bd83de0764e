"""How fast does the portal answer a person's move on the play page?

A 4x64 network (the ``quick`` preset's) is written as a checkpoint, untrained (speed does not
depend on the weights), and recorded for a run on embedded PostgreSQL and Redis; one Daphne
serves the API as ``make run`` starts it. A client then plays games over HTTP, one request at
a time, as the page does: ``POST /api/v1/play/`` to start, then ``POST .../move/`` with a
random legal move of the position (seeded), the ply it saw; each answer carries the network's
move and the analysis of the next position (value and top 5 moves), which the page shows. A
game that ends is followed by a new one.

- ``move_p95_ms`` / ``move_p50_ms``: a move's answer, 95th percentile and median (goal for
  the p95 <= 200 ms): the person's move checked, the network's chosen (greedy, or sampled at
  ``--temperature`` with ``--mode sampled``), the analysis, the compare-and-swap store;
- ``get_p50_ms``: the reference, ``GET`` of the same game (the request path, no engine);
- ``engine_turn_p50_ms`` / ``engine_turn_p95_ms``: the engine's turn alone, in process
  (100 turns, one torch thread), before the portal's phase;
- ``first_ms``: starting the first game (the checkpoint fetched, hash checked and loaded);
- ``moves``, ``games``; ``load_avg_1m`` at the end (the machine is shared: say how busy).

Prints one JSON object as its last line. ``--quick`` plays fewer moves.

    .venv/bin/python bench/play.py
    .venv/bin/python bench/play.py --quick
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
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from keisei.shogi.trainer import ShogiPPOTrainer  # noqa: E402


def untrained_checkpoint(folder: Path) -> tuple[Path, str]:
    """The quick preset's network, untrained, written by the engine's checkpoint writer."""
    preset = dict(ShogiPPOTrainer.presets["quick"])
    config = ShogiPPOTrainer.parse_config(
        {**preset, "num_envs": 8, "num_steps": 8, "minibatch_size": 64, "spectate": False}
    )
    trainer = ShogiPPOTrainer(config, workdir=folder)
    return trainer.save_checkpoint("manual").path, f"{config.blocks}x{config.channels}"


def engine_turns(path: Path, turns: int, temperature: float, seed: int) -> list[float]:
    """The engine alone, in this process, one torch thread as the site's analysis slots: a
    whole turn (the person's random legal move checked, the network's answer, the analysis
    of the next position), in milliseconds, after a warm-up."""
    import torch

    from keisei.shogi.analysis import Analyser

    torch.set_num_threads(1)
    analyser = Analyser(path)
    rng = random.Random(seed)
    moves: list[str] = []
    timings: list[float] = []
    for turn in range(turns + 10):
        state = analyser.game_state("startpos", moves)
        if state["over"]:
            moves, state = [], analyser.game_state("startpos", [])
        move = rng.choice(state["legal_moves"])
        started = time.perf_counter()
        answer = analyser.play_turn("startpos", moves, move, temperature=temperature, seed=turn)
        if turn >= 10:  # the first calls allocate
            timings.append((time.perf_counter() - started) * 1000)
        moves = answer["moves"]
    return timings


def play(moves: int, mode: str, temperature: float, seed: int) -> dict:
    from _stack import bench_user, django_stack, percentile
    from api import web

    from keisei.interfaces import CheckpointInfo

    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="keisei-bench-play-") as folder:
        path, network = untrained_checkpoint(Path(folder))
        engine = engine_turns(path, 100, temperature if mode == "sampled" else 0.0, seed)
        with django_stack() as env:
            from runs import services
            from runs.models import Run, RunStatus

            owner, token = bench_user("play-bench")
            run = Run.objects.create(
                owner=owner, trainer="shogi-ppo", config={}, status=RunStatus.COMPLETED
            )
            checkpoint = services.checkpoint_record(
                run_id=run.pk, info=CheckpointInfo(path=path, step=1, kind="manual")
            )
            with web(env, 1) as base:

                def post(url: str, body: dict) -> tuple[dict, float]:
                    request = urllib.request.Request(
                        base + url,
                        data=json.dumps(body).encode(),
                        method="POST",
                        headers={
                            "Authorization": f"Token {token}",
                            "Content-Type": "application/json",
                        },
                    )
                    started = time.perf_counter()
                    with urllib.request.urlopen(request, timeout=120) as response:
                        answer = json.loads(response.read())
                    return answer, (time.perf_counter() - started) * 1000

                def get(url: str) -> float:
                    request = urllib.request.Request(
                        base + url, headers={"Authorization": f"Token {token}"}
                    )
                    started = time.perf_counter()
                    with urllib.request.urlopen(request, timeout=120) as response:
                        response.read()
                    return (time.perf_counter() - started) * 1000

                start = {"checkpoint": checkpoint.pk, "mode": mode, "temperature": temperature}
                game, first_ms = post("/api/v1/play/", start)
                games, latencies, analysed = 1, [], 0
                while len(latencies) < moves:
                    if game["status"] != "active":
                        game, _ = post("/api/v1/play/", start)
                        games += 1
                    move = rng.choice(game["state"]["legal_moves"])
                    body = {"move": move, "ply": game["ply"]}
                    game, elapsed = post(f"/api/v1/play/{game['id']}/move/", body)
                    latencies.append(elapsed)
                    analysed += game["analysis"] is not None
                # The reference: the same game read back (the request path without the engine).
                reads = [get(f"/api/v1/play/{game['id']}/") for _ in range(max(20, moves // 3))]
    return {
        "move_p95_ms": round(percentile(latencies, 95), 1),
        "move_p50_ms": round(percentile(latencies, 50), 1),
        "get_p50_ms": round(percentile(reads, 50), 1),
        "engine_turn_p50_ms": round(percentile(engine, 50), 2),
        "engine_turn_p95_ms": round(percentile(engine, 95), 2),
        "moves": len(latencies),
        "analysed": analysed,
        "games": games,
        "first_ms": round(first_ms, 1),
        "network": network,
        "mode": mode,
        "temperature": temperature if mode == "sampled" else 0.0,
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=300, help="moves played through the API")
    parser.add_argument("--mode", choices=["greedy", "sampled"], default="greedy")
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="fewer moves (under a minute)")
    args = parser.parse_args()
    moves = 60 if args.quick else args.moves
    print(json.dumps(play(moves, args.mode, args.temperature, args.seed)))


if __name__ == "__main__":
    main()
