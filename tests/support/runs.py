"""Waiting on runs in integration tests."""

from __future__ import annotations

from runs.models import Run, RunStatus
from tests.support.waiting import wait_for


def wait_run_finished(run: Run, *, timeout: float, what: str) -> Run:
    """Refresh ``run`` until it has completed or failed; fail the test after ``timeout`` s."""

    def finished() -> bool:
        run.refresh_from_db()
        return run.status in (RunStatus.COMPLETED, RunStatus.FAILED)

    wait_for(finished, timeout=timeout, what=what)
    return run
