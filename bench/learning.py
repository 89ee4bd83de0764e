"""How fast does shogi-ppo learn? Win rates against the random, greedy and 2-ply players.

Trains from scratch with the ``quick`` preset and, every ``--every`` minutes of training time,
asks the running trainer to ``evaluate`` against each built-in player (``random``, ``greedy``:
1-ply material, ``two_ply``: 2-ply material minimax) through the ordinary command path. The
time spent evaluating is not counted in the training budget. Each curve point is ``--games``
games per opponent; the last one, at the end of the budget, ``--final-games`` (200). Colours
alternate; draws and games cut by the ply cap count as not won.

The preset's budget (2M positions) would end a long run early on a fast machine (about 37
minutes at 900 positions a second), so unless ``--set total_steps=N`` names one, the budget is
raised to ``--minutes`` at ``CEILING_POSITIONS_PER_S``, a rate two cores do not reach: the
clock, not the budget, ends the run, and the learning rate (linear to zero over the budget)
falls less far in a long run than in the preset's own. A run that still ends on its budget
before the last mark says so (``budget_ended_at_minutes``), and its final figures are taken
at the budget's end, at the training minute it ended (the curve's last point).

Prints one JSON object as its last line: ``minutes``, ``win_rate_vs_random``,
``win_rate_vs_greedy``, ``win_rate_vs_two_ply`` (at the end of the budget: the median over the
seeds), ``worst`` (the worst seed's, per opponent), ``curve`` ([minutes, {opponent: median win
rate}] pairs), ``seeds`` (each seed's curve, final figures, positions, budget and evaluations).

    .venv/bin/python bench/learning.py                    # one seed, 15 minutes
    .venv/bin/python bench/learning.py --minutes 60       # the 2-ply goal
    .venv/bin/python bench/learning.py --seeds 3          # median and worst of seeds 0, 1, 2
    .venv/bin/python bench/learning.py --quick            # under two minutes: the plumbing
    .venv/bin/python bench/learning.py --anchors 400      # the league anchors against each other

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

from keisei.interfaces import CommandRequest, NullCallbacks, RunOutcome  # noqa: E402
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


OPPONENTS = ("random", "greedy", "two_ply")


class EvaluationSchedule:
    """A ``Control`` that asks, at each mark, for one evaluation per opponent, and a stop after
    the last mark. The time from the first question of a mark to its last answer is taken off
    the training clock."""

    def __init__(
        self, marks: list[float], games: int, final_games: int, clock: TrainingClock
    ) -> None:
        self.marks = list(marks)
        self.games = games
        self.final_games = final_games
        self.clock = clock
        self.results: list[dict[str, Any]] = []
        self._waiting: dict[str, tuple[float, str]] = {}  # command id -> (mark, opponent)
        self._mark_started = 0.0
        self._stop_sent = False

    def poll(self) -> list[CommandRequest]:
        if self._waiting:
            return []
        if self.marks and self.clock.minutes() >= self.marks[0]:
            mark = self.marks.pop(0)
            return self._ask(mark, self.games if self.marks else self.final_games)
        if not self.marks and not self._stop_sent:
            self._stop_sent = True
            return [CommandRequest(id="stop", kind="stop")]
        return []

    def acknowledge(self, command: CommandRequest) -> None:
        pass

    def complete(self, command: CommandRequest, result: Mapping[str, Any] | None = None) -> None:
        if command.id not in self._waiting or result is None:
            return
        mark, opponent = self._waiting.pop(command.id)
        if not self._waiting:
            self.clock.excluded += time.perf_counter() - self._mark_started
        self.results.append({"minutes": mark, "opponent": opponent, **result})
        print(
            f"[{mark:5.1f} min] vs {opponent}: win rate {result['win_rate']:.2f} "
            f"(W{result['wins']} D{result['draws']} L{result['losses']} of {result['games']}, "
            f"wins by {result['win_reasons']}, step {result['step']})",
            flush=True,
        )

    def evaluate_at_end(self, trainer: ShogiPPOTrainer) -> None:
        """The budget ended the run before its last mark: the final figures (``final_games``
        each) are taken at the budget's end, marked with the training minutes it took."""
        if not self.marks:
            return
        self.marks = []
        # A mark's questions the run ended before answering are replaced by these.
        for command in self._ask(round(self.clock.minutes(), 2), self.final_games):
            self.complete(command, trainer.handle_command(command))

    def _ask(self, mark: float, games: int) -> list[CommandRequest]:
        """One evaluation per opponent at ``mark``, awaited from now."""
        self._mark_started = time.perf_counter()
        commands = [
            CommandRequest(
                id=f"eval-{mark}-{opponent}",
                kind="evaluate",
                params={"opponent": opponent, "games": games, "seed": 1234},
            )
            for opponent in OPPONENTS
        ]
        self._waiting = {c.id: (mark, c.params["opponent"]) for c in commands}
        return commands

    def fail(self, command: CommandRequest, error: str) -> None:
        raise RuntimeError(f"command {command.kind} failed: {error}")

    def curve(self) -> list[list[Any]]:
        points: dict[float, dict[str, float]] = {}
        for r in self.results:
            points.setdefault(r["minutes"], {})[r["opponent"]] = r["win_rate"]
        return [[minutes, rates] for minutes, rates in sorted(points.items())]


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


EVALUATION_KEYS = (
    "minutes",
    "opponent",
    "games",
    "wins",
    "draws",
    "losses",
    "elo",
    "step",
    "win_reasons",
    "loss_reasons",
    "mean_plies",
)


# Positions a second above what two cores train the quick preset at (about 900 seen): the
# default budget of a run of ``--minutes`` (see the module's docstring).
CEILING_POSITIONS_PER_S = 2_000


def train_one_seed(
    args: argparse.Namespace, seed: int, overrides: dict[str, Any]
) -> dict[str, Any]:
    preset = ShogiPPOTrainer.presets["quick"]
    by_clock = int(args.minutes * 60 * CEILING_POSITIONS_PER_S)
    budget = max(ShogiPPOTrainer.parse_config(preset).total_steps, by_clock)
    config = ShogiPPOTrainer.parse_config(
        {**preset, "total_steps": budget, **overrides, "seed": seed}
    )
    marks = [round(args.every * i, 3) for i in range(1, int(args.minutes / args.every + 1e-9) + 1)]
    if not marks or marks[-1] < args.minutes:
        marks.append(args.minutes)
    clock = TrainingClock()
    control = EvaluationSchedule(marks, args.games, args.final_games, clock)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(args.workdir) / f"seed{seed}" if args.workdir else Path(tmp)
        trainer = ShogiPPOTrainer(
            config, workdir=workdir, callbacks=ProgressPrinter(), control=control
        )
        outcome = trainer.train()
        if outcome == RunOutcome.COMPLETED:
            control.evaluate_at_end(trainer)
    curve = control.curve()
    return {
        "seed": seed,
        "final": curve[-1][1] if curve else {},
        "curve": curve,
        "positions": trainer.global_step,
        "budget": config.total_steps,
        # Completed (not stopped after the last mark): the budget ran out first.
        "budget_ended_at_minutes": (
            round(clock.minutes(), 2) if outcome == RunOutcome.COMPLETED else None
        ),
        "evaluations": [{k: r[k] for k in EVALUATION_KEYS} for r in control.results],
    }


def median_and_worst(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    middle = len(ordered) // 2
    median = ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
    return round(median, 4), ordered[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=15.0, help="training-time budget")
    parser.add_argument("--every", type=float, default=5.0, help="minutes between evaluations")
    parser.add_argument("--games", type=int, default=100, help="games per opponent per point")
    parser.add_argument(
        "--final-games", type=int, default=200, help="games per opponent at the end"
    )
    parser.add_argument("--seeds", type=int, default=1, help="seeds 0..N-1, one after another")
    parser.add_argument("--quick", action="store_true", help="a reduced run (about two minutes)")
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
        args.minutes, args.every, args.games, args.final_games = 0.5, 0.25, 10, 20

    overrides: dict[str, Any] = {"spectate": False, "checkpoint_every": 0}
    for item in args.set:
        key, _, value = item.partition("=")
        overrides[key] = json.loads(value)
    seeds = [train_one_seed(args, seed, overrides) for seed in range(args.seeds)]

    figures: dict[str, Any] = {"minutes": args.minutes}
    worst: dict[str, float] = {}
    for opponent in OPPONENTS:
        finals = [s["final"][opponent] for s in seeds if opponent in s["final"]]
        median, worst[opponent] = median_and_worst(finals) if finals else (None, None)
        figures[f"win_rate_vs_{opponent}"] = median
    curve = []
    for index, (minutes, _) in enumerate(seeds[0]["curve"]):
        curve.append(
            [
                minutes,
                {
                    opponent: median_and_worst([s["curve"][index][1][opponent] for s in seeds])[0]
                    for opponent in OPPONENTS
                },
            ]
        )
    figures.update(
        {
            "worst": worst,
            "curve": curve,
            "games_per_point": args.games,
            "final_games": args.final_games,
            "evaluation_time_in_budget": False,
            "config": overrides,
            "seeds": seeds,
        }
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
