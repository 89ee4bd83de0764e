"""The launcher starts one CPU training worker and one worker per declared GPU."""

from __future__ import annotations

import pytest

from keisei_site.launcher import training_workers, worker_gpus


def _queues(args: list[str]) -> str:
    return args[args.index("-Q") + 1]


def _concurrency(args: list[str]) -> str:
    return args[args.index("-c") + 1]


def test_without_gpus_one_cpu_worker_takes_training_and_short_jobs():
    workers = training_workers({"CELERY_CONCURRENCY": "3"})
    assert [name for name, _, _ in workers] == ["worker"]
    _, args, env = workers[0]
    assert _queues(args) == "training,default"
    assert _concurrency(args) == "3"
    assert env["KEISEI_WORKER_GPUS"] == "0"
    assert "CUDA_VISIBLE_DEVICES" not in env  # no GPUs declared: nothing to hide


def test_each_gpu_gets_its_own_single_slot_worker_that_sees_only_it():
    workers = training_workers({"KEISEI_WORKER_GPUS": "2"})
    assert [name for name, _, _ in workers] == ["worker", "gpu0", "gpu1"]
    cpu_env = workers[0][2]
    assert cpu_env["CUDA_VISIBLE_DEVICES"] == ""  # CPU runs stay off the GPUs
    assert cpu_env["KEISEI_WORKER_GPUS"] == "0"
    for index, (name, args, env) in enumerate(workers[1:]):
        assert _queues(args) == "training-gpu"
        assert _concurrency(args) == "1"
        assert args[args.index("-n") + 1] == f"{name}@%h"
        assert env["CUDA_VISIBLE_DEVICES"] == str(index)
        assert env["KEISEI_WORKER_GPUS"] == "1"


@pytest.mark.parametrize("raw", ["-1", "two", "65", "1.5"])
def test_a_bad_gpu_count_is_refused_naming_the_variable(raw):
    with pytest.raises(ValueError, match="KEISEI_WORKER_GPUS"):
        worker_gpus({"KEISEI_WORKER_GPUS": raw})


def test_no_gpu_count_means_none():
    assert worker_gpus({}) == 0
