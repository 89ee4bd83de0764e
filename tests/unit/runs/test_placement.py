"""Placement rules, one function at a time (the claim itself is tested on PostgreSQL in
tests/integration/runs/test_placement.py)."""

from __future__ import annotations

import pytest

from runs.placement import Capacity, queue_for, run_device, waiting_for, worker_device


@pytest.mark.parametrize(
    ("config", "device"),
    [
        ({"device": "cuda"}, "cuda"),
        ({"device": "cpu"}, "cpu"),
        ({"device": "auto"}, "auto"),
        ({}, "auto"),  # a trainer whose config has no device field
        ({"device": "tpu"}, "auto"),  # never stored (validated), but never a crash either
    ],
)
def test_run_device(config, device):
    assert run_device(config) == device


def test_cuda_and_cpu_runs_have_their_own_queue():
    assert queue_for("cuda", gpu_online=False) == "training-gpu"
    assert queue_for("cpu", gpu_online=True) == "training"


def test_auto_runs_wake_gpu_workers_only_while_one_is_online():
    assert queue_for("auto", gpu_online=True) == "training-gpu"
    assert queue_for("auto", gpu_online=False) == "training"


def test_a_worker_trains_on_its_gpu_or_its_cpu():
    assert worker_device(0) == "cpu"
    assert worker_device(1) == "cuda"


def test_a_cuda_run_says_it_waits_for_a_gpu_worker_when_none_is_online():
    reason = waiting_for("cuda", Capacity(cpu=True, gpu=False))
    assert reason is not None and "GPU worker" in reason
    assert waiting_for("cuda", Capacity(cpu=False, gpu=True)) is None


def test_cpu_and_auto_runs_wait_only_without_a_worker_that_may_train_them():
    assert waiting_for("cpu", Capacity(cpu=True, gpu=False)) is None
    assert "CPU worker" in (waiting_for("cpu", Capacity(cpu=False, gpu=True)) or "")
    assert waiting_for("auto", Capacity(cpu=False, gpu=True)) is None
    assert waiting_for("auto", Capacity(cpu=True, gpu=False)) is None
    assert "training worker" in (waiting_for("auto", Capacity(cpu=False, gpu=False)) or "")
