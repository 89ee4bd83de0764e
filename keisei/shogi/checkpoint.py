"""The checkpoint file: one ``torch.save`` dict, read back only with ``weights_only=True``.

Everything in it is tensors, numbers, strings, lists and dicts (RNG states included), so
loading never runs pickled code. A file is checked whole (marker, format version, keys, config)
before anything is handed to the trainer: a corrupt or foreign file raises ``CheckpointError``
(the engine-wide class of ``keisei.interfaces``, re-exported here).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from pydantic import ValidationError

from keisei.interfaces import CheckpointError
from keisei.shogi.config import ShogiPPOConfig
from keisei.shogi.network import PolicyValueNet, build_network
from keisei.trainer import atomic_torch_save

__all__ = [
    "CheckpointError",
    "checkpoint_config",
    "read_checkpoint",
    "read_network",
    "write_checkpoint",
]

MAGIC = "keisei.shogi-ppo"
FORMAT_VERSION = 1

REQUIRED_KEYS = {
    "magic": str,
    "format_version": int,
    "trainer": str,
    "kind": str,
    "config": dict,
    "global_step": int,
    "update": int,
    "model": dict,
    "optimizer": dict,
    "scheduler": dict,
    "rng": dict,
    "envs": dict,
    "counters": dict,
    "metrics": dict,
}


def write_checkpoint(state: dict[str, Any], path: Path) -> None:
    """Write ``state`` atomically (temporary file, fsync, rename)."""
    atomic_torch_save({"magic": MAGIC, "format_version": FORMAT_VERSION, **state}, path)


def read_checkpoint(path: Path) -> dict[str, Any]:
    """Read and validate a checkpoint into memory; nothing outside is touched."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as exc:
        raise CheckpointError(f"no checkpoint at {path}") from exc
    except Exception as exc:  # torch raises many types for a damaged or unsafe file
        raise CheckpointError(f"{path} is not a readable checkpoint: {exc}") from exc
    if not isinstance(state, dict) or state.get("magic") != MAGIC:
        raise CheckpointError(f"{path} is not a shogi-ppo checkpoint")
    if state.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format {state.get('format_version')!r}, "
            f"this version reads {FORMAT_VERSION}"
        )
    for key, kind in REQUIRED_KEYS.items():
        if not isinstance(state.get(key), kind):
            raise CheckpointError(f"{path} is corrupt: '{key}' is missing or not a {kind.__name__}")
    try:
        ShogiPPOConfig.model_validate(state["config"])
    except ValidationError as exc:
        raise CheckpointError(f"{path} holds an invalid config: {exc}") from exc
    return state


def checkpoint_config(state: dict[str, Any]) -> ShogiPPOConfig:
    return ShogiPPOConfig.model_validate(state["config"])


def read_network(path: Path) -> tuple[ShogiPPOConfig, PolicyValueNet]:
    """The config and the network (on the CPU) of the checkpoint at ``path``: what a player
    needs. Weights that do not fit the network the file's own config describes raise
    ``CheckpointError`` naming the file; the half-built network is dropped, never returned."""
    state = read_checkpoint(path)
    cfg = checkpoint_config(state)
    net = build_network(cfg.blocks, cfg.channels, cfg.squeeze_excitation, cfg.value_hidden)
    try:
        net.load_state_dict(state["model"])  # strict: every tensor present and the right shape
    except (RuntimeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise CheckpointError(f"{path} has a damaged network: {exc}") from exc
    return cfg, net
