"""Waiting on runs, and checking their timelines, in integration tests."""

from __future__ import annotations

from collections import Counter

from monitoring.models import EventType
from runs.models import Run, RunStatus
from tests.support.waiting import wait_for


def wait_run_finished(run: Run, *, timeout: float, what: str) -> Run:
    """Refresh ``run`` until it has completed or failed; fail the test after ``timeout`` s."""

    def finished() -> bool:
        run.refresh_from_db()
        return run.status in (RunStatus.COMPLETED, RunStatus.FAILED)

    wait_for(finished, timeout=timeout, what=what)
    return run


def assert_one_checkpoint_per_step_and_kind(run: Run) -> None:
    """Retention prunes old periodic rows, so the timeline, which keeps every checkpoint's
    event, is counted as well as the rows."""
    recorded = Counter(
        (e.data["step"], e.data["kind"]) for e in run.events.filter(type=EventType.CHECKPOINT)
    )
    assert recorded and max(recorded.values()) == 1, recorded
    rows = Counter(run.checkpoints.values_list("step", "kind"))
    assert rows and max(rows.values()) == 1, rows


def running_run(owner, *, worker: str = "host:1") -> Run:
    """A run as a worker holds it: running, with a live lease (no trainer behind it)."""
    from django.utils import timezone

    from runs.leases import lease_expiry

    return Run.objects.create(
        owner=owner,
        trainer="digits",
        config={},
        status=RunStatus.RUNNING,
        started_at=timezone.now(),
        lease_owner=worker,
        lease_expires_at=lease_expiry(),
        attempts=1,
    )


def rollup_rows(run: Run) -> list[tuple]:
    """Every rollup row of ``run``, in key, level and block order."""
    from monitoring.models import ROLLUP_COLUMNS, MetricRollup

    return list(
        MetricRollup.objects.filter(run=run)
        .order_by("key", "level", "block")
        .values_list(*ROLLUP_COLUMNS)
    )
