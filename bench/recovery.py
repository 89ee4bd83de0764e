"""How long a shogi-ppo run waits to train again after the process training it is SIGKILLed,
at the default lease settings (``KEISEI_LEASE_SECONDS`` 60, ``KEISEI_REAPER_SECONDS`` 15).

The shape of ``make run``, on embedded PostgreSQL and Redis: two training workers (queues
``training`` and ``default``, one slot each), a short-jobs worker (``default``) and beat. A
shogi-ppo run trains until it has a periodic checkpoint, then:

- **pool process killed** (SIGKILL of the worker's prefork child, as an OOM kill does): the
  worker's main process hands the run back at once (``runs.worker_lost``);
- **whole worker killed** (SIGKILL of the worker's process group, as when a host vanishes):
  only beat's lease reaper can hand it back, once the lease has run out.

Each figure is the time from the SIGKILL to the run's ``running`` status event of its next
attempt (it is claimed and resumes from its checkpoint); ``*_first_point_s`` is the time to
its first metric point after the resume. Prints one JSON object as its last line:
``recovery_s_child_killed`` (goal <= 30 s), ``recovery_s_worker_killed``,
``first_point_s_child_killed``, ``first_point_s_worker_killed``.

    .venv/bin/python bench/recovery.py            # the quick preset's network; about 3 minutes
    .venv/bin/python bench/recovery.py --quick    # a tiny network; the whole-worker case still
                                                  # waits out the 60 s lease: about 2 minutes
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import time
from pathlib import Path

from _stack import django_stack

TINY = {
    "num_envs": 4,
    "num_steps": 8,
    "max_plies": 24,
    "blocks": 1,
    "channels": 8,
    "value_hidden": 8,
    "minibatch_size": 16,
    "checkpoint_every": 2,
    "precision": "fp32",
    "threads": 1,
    "spectate": False,
}


def kill_and_time(run, workers, *, whole_worker: bool) -> tuple[float, float]:
    """SIGKILL what trains ``run``; seconds until its next attempt runs, and until its first
    metric point after the resume."""
    from monitoring.models import MetricPoint, RunEvent
    from runs.models import Checkpoint, Run, RunStatus
    from tests.support.servers import worker_holding
    from tests.support.waiting import wait_for

    wait_for(
        lambda: Checkpoint.objects.filter(run=run).exists(),
        timeout=600,
        what="a checkpoint to resume from",
    )
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING, run.status
    attempt = run.attempts
    holder = worker_holding(run.lease_owner, workers)
    killed_at = time.time()
    if whole_worker:
        os.killpg(holder.process.pid, signal.SIGKILL)
        holder.process.wait(10)
    else:
        os.kill(int(run.lease_owner.rsplit(":", 1)[1]), signal.SIGKILL)
    restarted = wait_for(
        lambda: RunEvent.objects.filter(
            run=run, type="status", data__status="running", data__attempt=attempt + 1
        ).first(),
        timeout=600,
        what="the run to train again",
        interval=0.05,
    )
    first_point = wait_for(
        lambda: (
            MetricPoint.objects.filter(run=run, wall_time__gt=restarted.created_at)
            .order_by("wall_time")
            .first()
        ),
        timeout=600,
        what="a metric point after the resume",
        interval=0.05,
    )
    assert Run.objects.get(pk=run.pk).attempts == attempt + 1
    return (
        restarted.created_at.timestamp() - killed_at,
        first_point.wall_time.timestamp() - killed_at,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tiny network, not quick's")
    args = parser.parse_args()

    with django_stack() as env:
        from django.conf import settings
        from django.contrib.auth import get_user_model

        from keisei.shogi.config import PRESETS
        from keisei_site.launcher import celery_worker_args
        from monitoring.queues import DEFAULT_QUEUE, QUEUES
        from runs import services
        from tests.support.servers import ServerProcess, start_celery_beat, start_celery_worker

        lease, reaper = settings.KEISEI_LEASE_SECONDS, settings.KEISEI_REAPER_SECONDS
        config = {
            **(TINY if args.quick else {**PRESETS["quick"], "checkpoint_every": 1}),
            "total_steps": 10_000_000_000,  # trains throughout; stopped at the end
        }
        workers = [start_celery_worker(env, name) for name in ("bench-train-a", "bench-train-b")]
        started: list[ServerProcess] = list(workers)
        try:
            shortjobs = ServerProcess(
                "shortjobs", celery_worker_args("bench-short", DEFAULT_QUEUE, "1"), env
            ).start()
            started.append(shortjobs)
            beat = start_celery_beat(env, Path(env["KEISEI_VAR_DIR"]))
            started.append(beat)
            user = get_user_model().objects.create_user("bench", password="x-bench-password")
            run = services.run_queue(owner=user, trainer="shogi-ppo", config=config)
            child, child_point = kill_and_time(run, workers, whole_worker=False)
            whole, whole_point = kill_and_time(run, workers, whole_worker=True)
            services.command_request(run=run, user=user, kind="stop")
        finally:
            for process in started:
                process.stop()
    print(
        json.dumps(
            {
                "recovery_s_child_killed": round(child, 2),
                "recovery_s_worker_killed": round(whole, 2),
                "first_point_s_child_killed": round(child_point, 2),
                "first_point_s_worker_killed": round(whole_point, 2),
                "lease_s": lease,
                "reaper_s": reaper,
                "queues": list(QUEUES),
                "quick": args.quick,
            }
        )
    )


if __name__ == "__main__":
    main()
