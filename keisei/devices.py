"""Where a run asks to train: ``auto``, ``cpu`` or ``cuda``, a field trainers' configs share.

A config that declares ``device`` lets the portal place the run: ``cuda`` runs go only to
GPU workers, ``cpu`` runs only to CPU workers, ``auto`` to either (docs/operations.md,
"Workers"). The headless CLI honours it too: ``auto`` is a GPU when one is present.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

Device = Literal["auto", "cpu", "cuda"]
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")
AUTO = "auto"

DEVICE_DESCRIPTION = (
    "Where the run trains. cuda: only on a GPU worker (it waits in the queue until one is "
    "free); cpu: only on a CPU worker; auto: a GPU worker when the site has one, else a CPU one"
)


def device_field() -> Any:
    """The ``device`` field, as every trainer config that can be placed declares it."""
    return Field(AUTO, description=DEVICE_DESCRIPTION)


def config_device(config: Any) -> str | None:
    """The device a parsed config names, or None for ``auto`` (or a config without one):
    the caller then picks (``keisei.trainer.default_device``, or the worker's own)."""
    device = getattr(config, "device", AUTO)
    return None if device == AUTO else str(device)
