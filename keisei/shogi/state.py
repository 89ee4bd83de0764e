"""RNG and optimizer state in forms ``torch.load(weights_only=True)`` accepts, and back."""

from __future__ import annotations

import json
import random
from typing import Any

import numpy as np
import torch

from keisei.interfaces import CheckpointError


def capture_rng(
    action_generator: torch.Generator, shuffle_rng: np.random.Generator
) -> dict[str, Any]:
    """Every random state training depends on (and the global ones, for completeness)."""
    np_state = np.random.get_state(legacy=True)
    assert isinstance(np_state, tuple)  # legacy=True always gives the tuple; numpy's stubs a union
    py_state = random.getstate()
    return {
        "actions": action_generator.get_state(),
        "shuffle": json.dumps(shuffle_rng.bit_generator.state),
        "torch": torch.get_rng_state(),
        "numpy": {
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "python": {"version": py_state[0], "state": list(py_state[1]), "gauss": py_state[2]},
    }


def restore_rng(
    rng: dict[str, Any],
    action_generator: torch.Generator,
    shuffle_rng: np.random.Generator,
    *,
    dry_run: bool = False,
) -> None:
    """Set the states from ``capture_rng``'s dict; with ``dry_run`` only check they parse
    (the global states are then left alone). Raises CheckpointError on a malformed dict."""
    try:
        shuffle_state = json.loads(rng["shuffle"])
        np_state = (
            "MT19937",
            rng["numpy"]["keys"].numpy().astype(np.uint32),
            int(rng["numpy"]["pos"]),
            int(rng["numpy"]["has_gauss"]),
            float(rng["numpy"]["cached_gaussian"]),
        )
        py_state = (
            int(rng["python"]["version"]),
            tuple(int(x) for x in rng["python"]["state"]),
            rng["python"]["gauss"],
        )
        generator = torch.Generator() if dry_run else action_generator
        generator.set_state(rng["actions"])
        if dry_run:
            np.random.default_rng().bit_generator.state = shuffle_state
            np.random.RandomState().set_state(np_state)
            random.Random().setstate(py_state)
            torch.Generator().set_state(rng["torch"])
            return
        shuffle_rng.bit_generator.state = shuffle_state
        torch.set_rng_state(rng["torch"])
        np.random.set_state(np_state)
        random.setstate(py_state)
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as exc:
        raise CheckpointError(f"the checkpoint's random states are damaged: {exc}") from exc


def validate_optimizer_state(state: dict[str, Any], model: torch.nn.Module) -> None:
    """Adam's moments must have the shapes of the parameters (load_state_dict does not check)."""
    params = list(model.parameters())
    for index, slot in state["state"].items():
        shape = params[int(index)].shape
        for name in ("exp_avg", "exp_avg_sq"):
            if name in slot and slot[name].shape != shape:
                raise ValueError(f"optimizer {name} of parameter {index} has the wrong shape")
