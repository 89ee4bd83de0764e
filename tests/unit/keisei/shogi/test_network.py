"""The network's arithmetic under bf16 autocast stays in bf16 between its convolutions."""

from __future__ import annotations

import torch

from keisei.shogi.features import NUM_FEATURES
from keisei.shogi.network import Precision, build_network


def test_a_bf16_forward_keeps_the_residual_tower_in_bf16():
    precision = Precision("bf16", "cpu")
    model = precision.prepare_model(build_network(2, 16, False, 32))
    for block in model.blocks:
        torch.nn.init.constant_(block.gate, 0.5)  # an open gate, as after some training
    seen = []
    for block in model.blocks:
        block.register_forward_hook(lambda _m, _i, out: seen.append(out.dtype))
    with precision.autocast():
        logits, value = model(precision.prepare_input(torch.rand(4, NUM_FEATURES, 9, 9)))
    # An fp32 block output means every element-wise op after it ran in fp32 and the next
    # convolution converted its input back: a quarter of the update's time on this CPU.
    assert seen == [torch.bfloat16, torch.bfloat16]
    assert logits.dtype == value.dtype == torch.float32  # the heads hand fp32 to the losses
