"""How fast a training run answers commands: acknowledgement and completion of `save`.

A real Celery worker trains a long `digits` run on embedded PostgreSQL and Redis; commands go
in through the same service the page and the API use. Prints one JSON line:
``ack_p50_ms``, ``ack_p95_ms`` (request to acknowledged), ``done_p95_ms`` (request to done, a
checkpoint written and stored). Goal: acknowledgement within 1 s while training.
"""

from __future__ import annotations

import argparse
import json

from _stack import django_stack, percentile


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 commands instead of 40")
    parser.add_argument("--commands", type=int, default=40)
    args = parser.parse_args()
    count = 10 if args.quick else args.commands

    with django_stack() as env:
        from django.contrib.auth import get_user_model

        from runs import services
        from runs.models import Command, Run, RunStatus
        from tests.support.servers import start_celery_worker
        from tests.support.waiting import wait_for

        worker = start_celery_worker(env, "bench-worker")
        try:
            user = get_user_model().objects.create_user("bench", password="x-bench-password")
            run = services.run_queue(
                owner=user, trainer="digits", config={"epochs": 500, "batch_size": 8}
            )
            wait_for(
                lambda: Run.objects.filter(
                    pk=run.pk, status=RunStatus.RUNNING, step__gt=0
                ).exists(),
                timeout=120,
                what="the run to train",
            )
            acks, dones = [], []
            for _ in range(count):
                command = services.command_request(run=run, user=user, kind="save")
                wait_for(
                    lambda c=command: Command.objects.filter(pk=c.pk, state="done").exists(),
                    timeout=30,
                    what="the save to finish",
                    interval=0.01,
                )
                command.refresh_from_db()
                acks.append((command.acknowledged_at - command.created_at).total_seconds() * 1000)
                dones.append((command.finished_at - command.created_at).total_seconds() * 1000)
            services.command_request(run=run, user=user, kind="stop")
            wait_for(
                lambda: Run.objects.filter(pk=run.pk, status=RunStatus.STOPPED).exists(),
                timeout=60,
                what="the run to stop",
            )
        finally:
            worker.stop()
    print(
        json.dumps(
            {
                "commands": count,
                "ack_p50_ms": round(percentile(acks, 50), 1),
                "ack_p95_ms": round(percentile(acks, 95), 1),
                "done_p95_ms": round(percentile(dones, 95), 1),
            }
        )
    )


if __name__ == "__main__":
    main()
