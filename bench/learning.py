"""How fast does shogi-ppo learn? Win rate against the random mover after a wall-time budget.

Trains from scratch with the ``quick`` preset and, every ``--every`` minutes of training time,
asks the running trainer to ``evaluate`` against the random legal mover through the ordinary
command path (time spent evaluating is excluded from the training clock). Prints one JSON
object as its last line: ``minutes``, ``win_rate_vs_random`` (at the end of the budget),
``curve`` ([minutes, win rate] pairs) and the evaluation details.

    .venv/bin/python bench/learning.py --minutes 20
    .venv/bin/python bench/learning.py --quick      # under a minute: the plumbing, not the goal
    .venv/bin/python bench/learning.py --anchors 400  # the league anchors against each other

``--anchors N`` trains nothing: it plays the built-in players against each other (greedy vs
random, two_ply vs greedy, N games each, colours alternating, 256-ply cap) and prints their
scores and Elo differences, the measurement behind the league's fixed anchor ratings.
"""

from __future__ import annotations

import os

# Before torch loads: spinning OpenMP threads collapse on shared cores (see keisei/shogi).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import json
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from keisei.interfaces import CommandRequest, NullCallbacks  # noqa: E402
from keisei.shogi.evaluate import play_match  # noqa: E402
from keisei.shogi.players import builtin_player  # noqa: E402
from keisei.shogi.trainer import ShogiPPOTrainer  # noqa: E402


class TrainingClock:
    """Wall time since the start, minus the time the trainer spent answering our commands."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.excluded = 0.0

    def minutes(self) -> float:
        return (time.perf_counter() - self.started - self.excluded) / 60.0


class EvaluationSchedule:
    """A ``Control`` that asks for an evaluation at each mark and a stop after the last one."""

    def __init__(self, marks: list[float], games: int, clock: TrainingClock) -> None:
        self.marks = list(marks)
        self.games = games
        self.clock = clock
        self.results: list[dict[str, Any]] = []
        self._asked_at: dict[str, tuple[float, float]] = {}
        self._stop_sent = False

    def poll(self) -> list[CommandRequest]:
        minutes = self.clock.minutes()
        if self.marks and minutes >= self.marks[0]:
            mark = self.marks.pop(0)
            command = CommandRequest(
                id=f"eval-{mark}",
                kind="evaluate",
                params={"opponent": "random", "games": self.games, "seed": 1234},
            )
            self._asked_at[command.id] = (mark, time.perf_counter())
            return [command]
        if not self.marks and not self._stop_sent:
            self._stop_sent = True
            return [CommandRequest(id="stop", kind="stop")]
        return []

    def acknowledge(self, command: CommandRequest) -> None:
        pass

    def complete(self, command: CommandRequest, result: Mapping[str, Any] | None = None) -> None:
        if command.id in self._asked_at and result is not None:
            mark, asked = self._asked_at.pop(command.id)
            took = time.perf_counter() - asked
            self.clock.excluded += took
            self.results.append({"minutes": mark, "eval_seconds": round(took, 1), **result})
            print(
                f"[{mark:5.1f} min] win rate vs random {result['win_rate']:.2f} "
                f"(W{result['wins']} D{result['draws']} L{result['losses']}, "
                f"wins by {result['win_reasons']}, step {result['step']})",
                flush=True,
            )

    def fail(self, command: CommandRequest, error: str) -> None:
        raise RuntimeError(f"command {command.kind} failed: {error}")


class ProgressPrinter(NullCallbacks):
    def on_metrics(self, step: int, metrics: Mapping[str, float]) -> None:
        keys = ("losses/approx_kl", "losses/explained_variance", "charts/mean_game_length")
        shown = " ".join(f"{k.split('/')[1]}={metrics[k]:.3g}" for k in keys if k in metrics)
        print(f"step {step} {shown} pos/s={metrics['time/positions_per_s']:.0f}", flush=True)


def anchor_figures(games: int) -> dict[str, Any]:
    """Each built-in player against the one below it: W/D/L, score and Elo difference."""
    figures: dict[str, Any] = {"anchor_games": games}
    for strong, weak in (("greedy", "random"), ("two_ply", "greedy")):
        started = time.perf_counter()
        match = play_match(builtin_player(strong, 11), builtin_player(weak, 12), games, 256)
        result = match.result
        figures[f"anchor_{strong}_vs_{weak}"] = {
            "wins": result.wins,
            "draws": result.draws,
            "losses": result.losses,
            "score": result.score,
            "elo": round(result.elo, 1),
            "seconds": round(time.perf_counter() - started, 1),
        }
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=20.0, help="training-time budget")
    parser.add_argument("--every", type=float, default=2.0, help="minutes between evaluations")
    parser.add_argument("--games", type=int, default=100, help="games per evaluation")
    parser.add_argument("--quick", action="store_true", help="a reduced run (under a minute)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--workdir", help="keep checkpoints here (default: a temporary folder)")
    parser.add_argument(
        "--anchors", type=int, metavar="GAMES", help="only play the built-in players' matches"
    )
    args = parser.parse_args()
    if args.anchors:
        print(json.dumps(anchor_figures(args.anchors)))
        return
    if args.quick:
        args.minutes, args.every, args.games = 0.5, 0.25, 20

    overrides: dict[str, Any] = {"seed": args.seed, "spectate": False, "checkpoint_every": 0}
    for item in args.set:
        key, _, value = item.partition("=")
        overrides[key] = json.loads(value)
    config = ShogiPPOTrainer.parse_config({**ShogiPPOTrainer.presets["quick"], **overrides})
    marks = [round(args.every * i, 3) for i in range(1, int(args.minutes / args.every + 1e-9) + 1)]
    if not marks or marks[-1] < args.minutes:
        marks.append(args.minutes)

    clock = TrainingClock()
    control = EvaluationSchedule(marks, args.games, clock)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = ShogiPPOTrainer(
            config,
            workdir=Path(args.workdir or tmp),
            callbacks=ProgressPrinter(),
            control=control,
        )
        trainer.train()
    curve = [[r["minutes"], r["win_rate"]] for r in control.results]
    print(
        json.dumps(
            {
                "minutes": args.minutes,
                "win_rate_vs_random": curve[-1][1] if curve else None,
                "curve": curve,
                "games_per_point": args.games,
                "positions": trainer.global_step,
                "config": overrides,
                "evaluations": [
                    {
                        k: r[k]
                        for k in (
                            "minutes",
                            "wins",
                            "draws",
                            "losses",
                            "elo",
                            "step",
                            "win_reasons",
                            "loss_reasons",
                            "mean_plies",
                        )
                    }
                    for r in control.results
                ],
            }
        )
    )


if __name__ == "__main__":
    main()
