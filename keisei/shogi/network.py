"""The residual policy/value network and the arithmetic it runs in.

No batch normalisation: its batch statistics would make the rollout's forward (one batch of
games) and the update's (shuffled minibatches) disagree, which pollutes the PPO ratio. Instead
each residual branch is scaled by a learned gate that starts at zero (ReZero), so the deep net
starts as a shallow one and trains stably without normalisation.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from functools import cache

import torch
from torch import nn
from torch.nn import functional as F

from keisei.shogi.features import MOVE_DIRECTIONS, NUM_FEATURES


class SqueezeExcitation(nn.Module):
    """Channel gates from the block's global average (Hu et al., 2018)."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        self.fc1 = nn.Linear(channels, max(channels // reduction, 4))
        self.fc2 = nn.Linear(max(channels // reduction, 4), channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = torch.sigmoid(self.fc2(F.relu(self.fc1(x.mean((2, 3))))))  # [B, C]
        return x * gate[:, :, None, None]


class ResidualBlock(nn.Module):
    """conv3x3 - ReLU - conv3x3 (- SE), added to the input through a zero-initialised gate."""

    def __init__(self, channels: int, squeeze_excitation: bool) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.se = SqueezeExcitation(channels) if squeeze_excitation else None
        self.gate = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv2(F.relu(self.conv1(x)))
        if self.se is not None:
            y = self.se(y)
        # The gate in the branch's dtype: a one-element fp32 tensor would promote the whole
        # bf16 branch (and the sum, and the next block's input) to fp32 under autocast.
        return F.relu(x + self.gate.to(y.dtype) * y)


class PolicyValueNet(nn.Module):
    """119 feature planes -> (logits over the 2187 move labels, value in [-1, 1]).

    The policy head is a 1x1 convolution to 27 direction planes, flattened so that logit
    ``direction * 81 + square`` lines up with the move label. The value is the expected outcome
    for the side to move.
    """

    def __init__(
        self, blocks: int, channels: int, squeeze_excitation: bool, value_hidden: int
    ) -> None:
        super().__init__()
        self.stem = nn.Conv2d(NUM_FEATURES, channels, 3, padding=1)
        self.blocks = nn.Sequential(
            *[ResidualBlock(channels, squeeze_excitation) for _ in range(blocks)]
        )
        self.policy_conv = nn.Conv2d(channels, channels, 1)
        self.policy_out = nn.Conv2d(channels, MOVE_DIRECTIONS, 1)
        self.value_conv = nn.Conv2d(channels, 4, 1)
        self.value_fc = nn.Linear(4 * 81, value_hidden)
        self.value_out = nn.Linear(value_hidden, 1)
        # Small initial logits and values: a near-uniform policy over legal moves to start.
        nn.init.normal_(self.policy_out.weight, std=0.01)
        assert self.policy_out.bias is not None  # a Conv2d's bias is optional; this one has it
        nn.init.zeros_(self.policy_out.bias)
        nn.init.normal_(self.value_out.weight, std=0.01)
        nn.init.zeros_(self.value_out.bias)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.blocks(F.relu(self.stem(x)))  # [B, C, 9, 9]
        logits = self.policy_out(F.relu(self.policy_conv(x))).flatten(1)  # [B, 2187]
        v = F.relu(self.value_conv(x)).flatten(1)  # [B, 324]
        value = torch.tanh(self.value_out(F.relu(self.value_fc(v)))).squeeze(1)  # [B]
        return logits.float(), value.float()


def build_network(
    blocks: int, channels: int, squeeze_excitation: bool, value_hidden: int
) -> PolicyValueNet:
    return PolicyValueNet(blocks, channels, squeeze_excitation, value_hidden)


@cache
def cpu_has_bf16() -> bool:
    """Whether the CPU has native bf16 matrix units (AMX or AVX512-BF16)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"amx_bf16", "avx512_bf16"})
    except OSError:
        pass
    return False


def resolve_precision(precision: str, device: str) -> str:
    """``auto`` -> ``bf16`` where the hardware runs it natively, else ``fp32``."""
    if precision != "auto":
        return precision
    if device.startswith("cuda"):
        # Older GPUs without bf16 get fp16 autocast with loss scaling (see ppo_update).
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "bf16" if cpu_has_bf16() else "fp32"


class Precision:
    """Autocast and memory layout for the network: bf16 + channels-last, or plain fp32."""

    def __init__(self, precision: str, device: str) -> None:
        self.name = resolve_precision(precision, device)
        self.device = device
        self.device_type = "cuda" if device.startswith("cuda") else "cpu"
        # channels-last is what lets oneDNN's bf16 convolutions use AMX on the CPU (and tensor
        # cores on a GPU).
        self.channels_last = self.name in ("bf16", "fp16")

    def prepare_model(self, model: nn.Module) -> nn.Module:
        model = model.to(self.device)
        if self.channels_last:
            # Module.to accepts memory_format; torch's overloads do not declare it.
            model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        return model

    def prepare_input(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, dtype=torch.float32, non_blocking=True)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        if self.name in ("bf16", "fp16"):
            dtype = torch.bfloat16 if self.name == "bf16" else torch.float16
            with torch.autocast(self.device_type, dtype=dtype):
                yield
        else:
            yield
