"""Worker placement: which workers may train a run, which queue wakes them, why a run waits.

A run's config asks for a device (``keisei.devices``; a config without the field is
``auto``). A worker declares its GPUs (``KEISEI_WORKER_GPUS``; one process per GPU):

- ``cuda`` runs go to ``training-gpu`` and only GPU workers claim them;
- ``cpu`` runs go to ``training`` and only CPU workers claim them;
- ``auto`` runs are woken on ``training-gpu`` while a GPU worker is online (the registry),
  else on ``training``; either kind of worker may claim one. A GPU worker takes a ``cuda``
  run before an ``auto`` one, so GPUs go first to the runs that need them.

The broker queue only wakes a worker; the claim (``services.run_claim_next``) filters by what
the claiming worker can run, so a wake-up that reaches the wrong worker trains nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db.models import Case, Q, Value, When

from keisei.devices import AUTO, DEVICES
from monitoring import worker_registry
from monitoring.queues import TRAINING_GPU_QUEUE, TRAINING_QUEUE

CPU, CUDA = "cpu", "cuda"


def run_device(config: Mapping[str, Any]) -> str:
    """The device a run's config asks for: ``auto``, ``cpu`` or ``cuda``."""
    device = config.get("device", AUTO) if isinstance(config, Mapping) else AUTO
    return device if device in DEVICES else AUTO


def worker_device(gpus: int) -> str:
    """What a worker trains on: its GPU when it declares one (``CUDA_VISIBLE_DEVICES`` picks
    which), else the CPU. Passed to the trainer, so an ``auto`` run follows its worker."""
    return CUDA if gpus > 0 else CPU


def claimable(gpus: int) -> Q:
    """The runs a worker with ``gpus`` GPUs may claim (a filter on ``Run``)."""
    own = CUDA if gpus > 0 else CPU
    return Q(config__device__in=[own, AUTO]) | ~Q(config__has_key="device")


def claim_preference(gpus: int) -> Any:
    """An expression to order a worker's candidates by before priority: a GPU worker takes
    ``cuda`` runs before ``auto`` ones; a CPU worker has no preference."""
    if gpus == 0:
        return Value(0)
    return Case(When(config__device=CUDA, then=Value(0)), default=Value(1))


def queue_for(device: str, *, gpu_online: bool | None = None) -> str:
    """The training queue whose workers a run on ``device`` should wake."""
    if device == CUDA:
        return TRAINING_GPU_QUEUE
    if device == CPU:
        return TRAINING_QUEUE
    if gpu_online is None:
        gpu_online = worker_registry.gpu_nodes_online()
    return TRAINING_GPU_QUEUE if gpu_online else TRAINING_QUEUE


@dataclass(frozen=True)
class Capacity:
    """Which kinds of training worker are online now (read once for a list of runs)."""

    cpu: bool
    gpu: bool

    @classmethod
    def now(cls) -> Capacity:
        """One query: a CPU worker consumes ``training``, a GPU worker ``training-gpu``."""
        online = worker_registry.nodes_online().filter(
            Q(gpus=0, queues__contains=[TRAINING_QUEUE])
            | Q(gpus__gt=0, queues__contains=[TRAINING_GPU_QUEUE])
        )
        kinds = {gpus > 0 for gpus in online.values_list("gpus", flat=True)}
        return cls(cpu=False in kinds, gpu=True in kinds)


def waiting_for(device: str, capacity: Capacity) -> str | None:
    """Why a queued run on ``device`` cannot start whatever its place: no worker online that
    may train it. None when one is (it then waits only for its turn and a free slot)."""
    if device == CUDA and not capacity.gpu:
        return (
            "a GPU worker: none is online (this run asks for cuda; GPU workers are started "
            "with KEISEI_WORKER_GPUS)"
        )
    if device == CPU and not capacity.cpu:
        return "a CPU worker: none is online (this run asks for cpu)"
    if device == AUTO and not (capacity.cpu or capacity.gpu):
        return "a training worker: none is online"
    return None
