"""How close the PPO update at the peer's settings runs to what this CPU can compute (issue 12).

``bench/training.py`` finds the update is the limit at 4 passes. This asks whether a faster
update is there to be had, or whether the arithmetic itself is the wall:

- ``train_mflop_per_position`` / ``inference_mflop_per_position``: floating-point operations
  of one forward+backward pass (the update's) and of one forward (the rollout's), counted by
  ``torch.utils.flop_counter`` on the 4x64 net (convolutions and matrix products: what
  dominates; elementwise work is not counted);
- ``update_gflops_bf16`` / ``_fp32``: those operations over the measured time of a training
  pass in minibatches (the same pass as ``limit_update_positions_per_s`` in training.py);
- ``gemm_gflops_bf16`` / ``_fp32``: square matrix products (1024 and 2048) on the same
  threads, the better of the two; ``conv_gflops_bf16`` / ``_fp32``: the residual block's 3x3
  convolution alone, forward, at the minibatch's size; ``peak_gflops_bf16`` / ``_fp32``: the
  faster of those, the most this CPU was seen to compute in that precision;
- ``update_share_of_peak_bf16`` / ``_fp32``: the update's rate over that peak;
- with ``--profile``, ``profile_bf16``: the share of the bf16 training pass's CPU time taken
  by each of its costliest operators (torch's profiler, self time, 8 passes);
- ``max_positions_per_s_4pass_bf16`` / ``_fp32``: positions per second if 4 training passes
  and the rollout's inference all ran at that peak and nothing else took any time: a trainer
  of this network at these settings would have to out-compute the CPU's best kernel to beat
  it.

Prints one JSON object as its last line.

    .venv/bin/python bench/roofline.py            # about a minute
    .venv/bin/python bench/roofline.py --profile  # and where the bf16 pass's time goes
"""

from __future__ import annotations

import os

# Before torch loads: spinning OpenMP threads collapse on shared cores (see keisei/shogi).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from training import synthetic_minibatch, training_pass  # noqa: E402

from keisei.shogi.network import Precision, build_network  # noqa: E402
from keisei.shogi.trainer import ShogiPPOTrainer  # noqa: E402

PASSES = 4


def seconds_per_call(fn: Callable[[], object], seconds: float) -> float:
    fn()  # warm-up
    calls, started = 0, time.perf_counter()
    while calls < 3 or time.perf_counter() - started < seconds:
        fn()
        calls += 1
    return (time.perf_counter() - started) / calls


def gemm_gflops(dtype: torch.dtype, seconds: float) -> float:
    best = 0.0
    for size in (1024, 2048):
        a = torch.randn(size, size).to(dtype)
        b = torch.randn(size, size).to(dtype)
        best = max(best, 2 * size**3 / seconds_per_call(lambda a=a, b=b: a @ b, seconds) / 1e9)
    return best


def operator_shares(train_pass: Callable[[], None], passes: int = 8) -> dict[str, float]:
    """Each costly operator's share of the passes' CPU time (self time, torch's profiler)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(passes):
            train_pass()
    rows = [(e.key, e.self_cpu_time_total) for e in prof.key_averages()]
    total = sum(t for _, t in rows)
    ranked = sorted(rows, key=lambda row: -row[1])[:8]
    return {key: round(t / total, 3) for key, t in ranked}


def precision_figures(
    name: str,
    dtype: torch.dtype,
    config: Any,
    batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    train_flop: float,
    seconds: float,
    profile: bool = False,
) -> dict[str, Any]:
    """The update's rate and the kernels' in one precision."""
    mb = batch[0].shape[0]
    precision = Precision(name, "cpu")
    model = precision.prepare_model(
        build_network(
            config.blocks, config.channels, config.squeeze_excitation, config.value_hidden
        )
    )
    train_pass = training_pass(model, precision, batch)

    pass_s = seconds_per_call(train_pass, seconds) / mb
    shares = operator_shares(train_pass) if profile else {}
    conv = torch.nn.Conv2d(config.channels, config.channels, 3, padding=1).to(dtype)
    block_in = torch.randn(mb, config.channels, 9, 9).to(dtype)
    if name == "bf16":
        conv = conv.to(memory_format=torch.channels_last)
        block_in = block_in.contiguous(memory_format=torch.channels_last)
    conv_flop = 2 * mb * 81 * config.channels * config.channels * 9

    @torch.no_grad()
    def conv_forward() -> None:
        conv(block_in)

    gemm = gemm_gflops(dtype, seconds / 4)
    conv_rate = conv_flop / seconds_per_call(conv_forward, seconds / 2) / 1e9
    peak = max(gemm, conv_rate)
    return {
        **({f"profile_{name}": shares} if shares else {}),
        f"update_positions_per_s_{name}": round(1 / (pass_s * PASSES), 1),
        f"update_gflops_{name}": round(train_flop / pass_s / 1e9, 1),
        f"gemm_gflops_{name}": round(gemm, 1),
        f"conv_gflops_{name}": round(conv_rate, 1),
        f"peak_gflops_{name}": round(peak, 1),
        f"update_share_of_peak_{name}": round(train_flop / pass_s / 1e9 / peak, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--seconds", type=float, default=4.0, help="time per measurement")
    parser.add_argument(
        "--profile", action="store_true", help="where the bf16 training pass's time goes"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = ShogiPPOTrainer.parse_config(
        {
            **ShogiPPOTrainer.presets["quick"],
            "blocks": 4,
            "channels": 64,
            "update_epochs": PASSES,
            "target_kl": 0.0,
        }
    )
    mb = config.minibatch_size
    figures: dict[str, Any] = {
        "network": f"{config.blocks}x{config.channels}",
        "minibatch_size": mb,
        "passes": PASSES,
        "threads": torch.get_num_threads(),
    }
    batch = synthetic_minibatch(mb)
    x = batch[0]
    net = build_network(
        config.blocks, config.channels, config.squeeze_excitation, config.value_hidden
    )
    counted_pass = training_pass(net, Precision("fp32", "cpu"), batch)
    with FlopCounterMode(display=False) as counted:
        counted_pass()
    train_flop = counted.get_total_flops() / mb
    with torch.no_grad(), FlopCounterMode(display=False) as counted:
        net(x)
    infer_flop = counted.get_total_flops() / mb
    figures["train_mflop_per_position"] = round(train_flop / 1e6, 2)
    figures["inference_mflop_per_position"] = round(infer_flop / 1e6, 2)

    for name, dtype in (("bf16", torch.bfloat16), ("fp32", torch.float32)):
        figures.update(
            precision_figures(
                name,
                dtype,
                config,
                batch,
                train_flop,
                args.seconds,
                profile=args.profile and name == "bf16",
            )
        )
        figures[f"max_positions_per_s_4pass_{name}"] = round(
            figures[f"peak_gflops_{name}"] * 1e9 / (PASSES * train_flop + infer_flop), 1
        )
    figures["goal_positions_per_s_4pass_bf16"] = 820
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
