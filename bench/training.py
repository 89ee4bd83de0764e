"""Self-play training throughput of shogi-ppo, next to what cshogi plus the network allow.

Measured in one run, on the ``quick`` network and batch sizes:

- ``positions_per_s``: the real trainer (rollout with one batched inference per ply, GAE, the
  PPO passes), positions collected per second of training, after one warm-up update;
- ``env_random_positions_per_s``: the raw environment, uniformly random legal moves (the same
  ``SelfPlayEnvs`` stepping, observations and legal-move masks included);
- ``limit_positions_per_s``: per position, cshogi's features and legal-move labels, one batched
  inference, and ``update_epochs`` forward+backward passes in minibatches, timed separately and
  added up (no sampling, rewards, bookkeeping or Python glue);
- ``ratio``: limit / training (the goal is within 3x).

Those are the ``quick`` preset's figures: 2 PPO passes with KL early stopping, so an update may
do one pass. The Rust-engine Keisei's ~205 positions/s is at 4 passes on a 4x64 net, so the
default run also measures the peer's settings (``--no-peer`` leaves them out):

- ``positions_per_s_4pass_bf16`` and ``positions_per_s_4pass_fp32``: the 4x64 net, 4 passes,
  no early stop, positions over the wall time of the whole training loop after its first
  (warm-up) update: rollouts, GAE, the passes, the callbacks and every boundary between them;
- ``limit_positions_per_s_4pass_bf16`` (and ``_fp32``): the limit above at 4 passes;
- training and limit segments alternate ``--repeats`` times (3); each figure is the median.

Prints one JSON object as its last line. ``--quick`` measures fewer updates (under a minute).
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
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from keisei.interfaces import NullCallbacks, NullControl  # noqa: E402
from keisei.shogi.env import SelfPlayEnvs  # noqa: E402
from keisei.shogi.features import NUM_ACTIONS, NUM_FEATURES, LegalMoves, fill_observations  # noqa: E402
from keisei.shogi.network import Precision, build_network  # noqa: E402
from keisei.shogi.ppo import log_prob_and_entropy  # noqa: E402
from keisei.shogi.trainer import ShogiPPOTrainer  # noqa: E402


class Rates(NullCallbacks):
    def __init__(self) -> None:
        self.rates: list[float] = []

    def on_metrics(self, step: int, metrics: Mapping[str, float]) -> None:
        self.rates.append(metrics["time/positions_per_s"])


class PollTimes(NullControl):
    """Records when the trainer looks for commands (a command waits at most one gap)."""

    def __init__(self, rates: Rates) -> None:
        self.rates = rates
        self.gaps: list[float] = []
        self._last: float | None = None

    def poll(self) -> list:
        now = time.perf_counter()
        if self._last is not None and self.rates.rates:  # after the warm-up update
            self.gaps.append(now - self._last)
        self._last = now
        return []


def training_rate(config, updates: int) -> tuple[float, str, float]:
    """Positions/s of the trainer's updates after the first (warm-up) one, and the longest
    wait between two command polls."""
    callbacks = Rates()
    control = PollTimes(callbacks)
    config = config.model_copy(update={"total_steps": config.batch_size * (updates + 1)})
    with tempfile.TemporaryDirectory() as workdir:
        trainer = ShogiPPOTrainer(
            config, workdir=Path(workdir), callbacks=callbacks, control=control
        )
        trainer.train()
    measured = callbacks.rates[1:]
    # Harmonic mean: positions over total time.
    rate = len(measured) / sum(1.0 / r for r in measured)
    return rate, trainer.precision.name, max(control.gaps)


class WallClock(NullCallbacks):
    """Positions and wall time from the end of the first (warm-up) update to the end."""

    def __init__(self) -> None:
        self.first: tuple[int, float] | None = None

    def on_metrics(self, step: int, metrics: Mapping[str, float]) -> None:
        if self.first is None:
            self.first = (step, time.perf_counter())


def wall_clock_rate(config, updates: int) -> float:
    """Positions per second of wall time around the whole training loop (warm-up left out)."""
    callbacks = WallClock()
    config = config.model_copy(update={"total_steps": config.batch_size * (updates + 1)})
    with tempfile.TemporaryDirectory() as workdir:
        trainer = ShogiPPOTrainer(config, workdir=Path(workdir), callbacks=callbacks)
        trainer.train()
        ended = time.perf_counter()
    assert callbacks.first is not None, "no update finished"
    step, started = callbacks.first
    return (trainer.global_step - step) / (ended - started)


def peer_settings(config, *, updates: int, repeats: int, limit_seconds: float) -> dict[str, float]:
    """The 4x64 net at 4 passes without early stopping, bf16 and fp32; training and limit
    segments alternate so both see the same machine; medians of ``repeats``."""
    peer = config.model_copy(
        update={"blocks": 4, "channels": 64, "update_epochs": 4, "target_kl": 0.0}
    )
    figures: dict[str, float] = {}
    for precision in ("bf16", "fp32"):
        setting = peer.model_copy(update={"precision": precision})
        rates, limits = [], []
        for _ in range(repeats):
            rates.append(wall_clock_rate(setting, updates))
            limits.append(limit_rate(setting, precision, limit_seconds)["limit_positions_per_s"])
            print(
                f"4 passes {precision}: {rates[-1]:.0f} positions/s, limit {limits[-1]:.0f}",
                file=sys.stderr,
                flush=True,
            )
        figures[f"positions_per_s_4pass_{precision}"] = round(float(np.median(rates)), 1)
        figures[f"limit_positions_per_s_4pass_{precision}"] = round(float(np.median(limits)), 1)
    return figures


def random_env_rate(num_envs: int, max_plies: int, plies: int) -> float:
    envs = SelfPlayEnvs(num_envs, max_plies)
    rng = np.random.default_rng(0)
    started = time.perf_counter()
    for _ in range(plies):
        # A uniform legal label per game: argmax of random keys over the mask.
        keys = rng.random(envs.legal.mask.shape, dtype=np.float32) * envs.legal.mask
        envs.step(keys.argmax(1))
    return num_envs * plies / (time.perf_counter() - started)


def synthetic_minibatch(size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random feature planes, legal-move masks (about 4% of the labels legal) and a legal
    action a row: a minibatch shaped like the update's."""
    x = torch.randint(0, 2, (size, NUM_FEATURES, 9, 9)).float()
    mask = torch.rand(size, NUM_ACTIONS) < 0.04
    mask[:, 0] = True
    actions = (mask.float() * torch.rand(size, NUM_ACTIONS)).argmax(1)
    return x, mask, actions


def training_pass(
    model: torch.nn.Module,
    precision: Precision,
    batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
) -> Callable[[], None]:
    """One of the update's passes over ``batch``: forward, a PPO-shaped loss (the actions'
    log-probability, the value, the entropy), backward and an Adam step."""
    x, mask, actions = batch
    x_train = precision.prepare_input(x)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)

    def train_pass() -> None:
        model.train()
        with precision.autocast():
            logits, value = model(x_train)
        logprob, entropy = log_prob_and_entropy(logits, mask, actions)
        loss = -logprob.mean() + value.pow(2).mean() - 0.01 * entropy.mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return train_pass


def limit_rate(config, trainer_precision: str, seconds: float) -> dict[str, float]:
    """Seconds per position of each unavoidable part, measured on its own."""
    precision = Precision(trainer_precision, "cpu")
    # Positions from the middle of random games, so features and move counts are typical.
    envs = SelfPlayEnvs(config.num_envs, 10_000)
    rng = np.random.default_rng(1)
    for _ in range(40):
        keys = rng.random(envs.legal.mask.shape, dtype=np.float32) * envs.legal.mask
        envs.step(keys.argmax(1))
    boards = [g.board for g in envs.games]
    obs = np.zeros((len(boards), NUM_FEATURES, 9, 9), dtype=np.float32)
    legal = LegalMoves(len(boards))

    def timed(fn, per_call_positions: int) -> float:
        fn()  # warm-up
        calls, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            fn()
            calls += 1
        return (time.perf_counter() - started) / (calls * per_call_positions)

    def cshogi_part() -> None:
        fill_observations(boards, obs)
        legal.fill(boards)

    model = precision.prepare_model(
        build_network(
            config.blocks, config.channels, config.squeeze_excitation, config.value_hidden
        )
    )
    x_infer = precision.prepare_input(torch.from_numpy(obs))

    @torch.no_grad()
    def inference() -> None:
        model.eval()
        with precision.autocast():
            model(x_infer)

    mb = config.minibatch_size
    train_pass = training_pass(model, precision, synthetic_minibatch(mb))

    env_s = timed(cshogi_part, len(boards))
    infer_s = timed(inference, len(boards))
    train_s = timed(train_pass, mb) * config.update_epochs
    return {
        "limit_positions_per_s": 1.0 / (env_s + infer_s + train_s),
        "limit_cshogi_positions_per_s": 1.0 / env_s,
        "limit_inference_positions_per_s": 1.0 / infer_s,
        "limit_update_positions_per_s": 1.0 / train_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer updates (under a minute)")
    parser.add_argument("--updates", type=int, default=6, help="measured training updates")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (config threads)")
    parser.add_argument(
        "--repeats", type=int, default=3, help="alternations at the peer's settings"
    )
    parser.add_argument(
        "--no-peer", action="store_true", help="leave out the 4-pass figures (bf16 and fp32)"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = ShogiPPOTrainer.parse_config(
        {
            **ShogiPPOTrainer.presets["quick"],
            "spectate": False,
            "checkpoint_every": 0,
            "threads": args.threads,
        }
    )
    if args.quick:
        # Same network and minibatches; a shorter rollout so a few updates fit in a minute.
        config = config.model_copy(update={"num_steps": 8})
        args.updates, args.repeats = 2, 1
    training, precision, max_gap = training_rate(config, args.updates)
    env_random = random_env_rate(config.num_envs, config.max_plies, 20 if args.quick else 100)
    limits = limit_rate(config, precision, 2.0 if args.quick else 6.0)
    peer = (
        {}
        if args.no_peer
        else peer_settings(
            config,
            updates=args.updates,
            repeats=args.repeats,
            limit_seconds=2.0 if args.quick else 4.0,
        )
    )
    figures = {
        "positions_per_s": round(training, 1),
        "env_random_positions_per_s": round(env_random, 1),
        "limit_positions_per_s": round(limits["limit_positions_per_s"], 1),
        "ratio": round(limits["limit_positions_per_s"] / training, 3),
        **{k: round(v, 1) for k, v in limits.items() if k != "limit_positions_per_s"},
        "max_command_poll_gap_s": round(max_gap, 3),
        "precision": precision,
        "network": f"{config.blocks}x{config.channels}",
        "num_envs": config.num_envs,
        "num_steps": config.num_steps,
        "minibatch_size": config.minibatch_size,
        "update_epochs": config.update_epochs,
        "threads": torch.get_num_threads(),
        **peer,
        "peer_rust_keisei_positions_per_s": 205,  # its own published figure, 4 passes, 4x64
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
