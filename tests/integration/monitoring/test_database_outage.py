"""PostgreSQL goes away in the middle of a run: training goes on, the reporter buffers and
retries, a checkpoint taken meanwhile waits with the timeline, and when the database is back
every key's series is whole and every checkpoint is stored."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from monitoring.models import EventType, MetricPoint
from runs import services
from runs.models import Run, RunStatus
from tests.support.outages import embedded_pgdata, pg_ctl, postgres_start, postgres_startup
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

EPOCHS = 16
CHECKPOINT_EVERY = 2


KEYS = ("losses/train_loss", "losses/val_loss", "charts/val_accuracy", "time/examples_per_s")


def test_run_survives_a_database_outage_without_losing_a_point(celery_worker, owner):
    """Seen to fail with the reporter dropping what it buffered when the database went away
    (``self._points = []`` added to ``Reporter._database_away``): the epochs reported during
    the outage were missing from every key's series."""
    pgdata = embedded_pgdata()
    run = services.run_queue(
        owner=owner,
        trainer="digits",
        config={"epochs": EPOCHS, "batch_size": 16, "checkpoint_every": CHECKPOINT_EVERY},
    )
    wait_for(
        lambda: MetricPoint.objects.filter(run=run).exists(),
        timeout=120,
        what="the first metric points",
    )
    connection.close()
    before_outage = max_step(run.pk)
    startup = postgres_startup(pgdata)
    # Files from before the stop, taken now: a run quick enough to end before the worker
    # noticed the outage still shows the checkpoints it wrote while the database was down.
    already = checkpoint_files(run.pk)
    pg_ctl(pgdata, "stop", "-m", "fast")
    try:
        wait_for(
            lambda: any("PostgreSQL unreachable" in line for line in celery_worker.output),
            timeout=60,
            what="the worker's reporter to notice the outage",
        )
        # Down until the trainer has written a checkpoint file it cannot record yet.
        taken_while_down = wait_for(
            lambda: checkpoint_files(run.pk) - already,
            timeout=120,
            what="a checkpoint taken while PostgreSQL is down",
        )
    except AssertionError as exc:  # what the worker was doing, to tell why
        raise AssertionError(
            f"{exc}; checkpoints before the stop: {sorted(already)}, now: "
            f"{sorted(checkpoint_files(run.pk))}; the worker said:\n{celery_worker.log_tail(60)}"
        ) from exc
    finally:
        postgres_start(pgdata, startup)
        connection.close()  # the test's own connection died with the server

    def finished():
        return Run.objects.get(pk=run.pk).status in (RunStatus.COMPLETED, RunStatus.FAILED)

    wait_for(finished, timeout=240, what="the run to finish after the outage")
    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED, run.error
    assert any("PostgreSQL is back" in line for line in celery_worker.output)
    # Every key's series is whole: each epoch the run reported, once, including those
    # reported while the database was away.
    assert run.step == EPOCHS
    for key in KEYS:
        steps = list(
            MetricPoint.objects.filter(run=run, key=key)
            .order_by("step")
            .values_list("step", flat=True)
        )
        assert steps == list(range(1, EPOCHS + 1)), key
    # Every checkpoint is on the timeline once, in order, with the row it became.
    events = list(run.events.filter(type=EventType.CHECKPOINT).order_by("seq"))
    assert [e.data["step"] for e in events] == [
        *range(CHECKPOINT_EVERY, EPOCHS, CHECKPOINT_EVERY),
        EPOCHS,
    ]
    assert all("checkpoint" in e.data for e in events)
    while_down = {int(name.split("epoch")[1][:4]) for name in taken_while_down}
    assert while_down <= {e.data["step"] for e in events}
    assert max(while_down) > before_outage  # epochs were reported while it was down
    # Retention keeps the last periodic ones and the final one.
    keep = settings.KEISEI_KEEP_PERIODIC_CHECKPOINTS
    periodic = list(range(CHECKPOINT_EVERY, EPOCHS, CHECKPOINT_EVERY))[-keep:]
    assert set(run.checkpoints.values_list("step", "kind")) == {
        *((step, "periodic") for step in periodic),
        (EPOCHS, "final"),
    }


def max_step(run_id: int) -> int:
    return max(MetricPoint.objects.filter(run_id=run_id).values_list("step", flat=True))


def checkpoint_files(run_id: int) -> set[str]:
    """Checkpoint files in the worker's work folder for this run."""
    return {p.name for p in Path(settings.KEISEI_WORK_DIR).glob(f"run-{run_id}-*/checkpoints/*.pt")}
