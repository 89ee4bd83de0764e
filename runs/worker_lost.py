"""A training pool process that dies (SIGKILL, OOM) hands its run back at once.

The worker's main process learns of the death at once: billiard reports ``WorkerLostError``
for the job the child held, to that job's ``Request.on_failure`` in the main process. No
Celery signal carries it: with ``acks_late`` and ``reject_on_worker_lost`` the message is
requeued, and ``task_failure`` is sent only for a failure that is not requeued;
``task_revoked`` is not sent, and ``worker_process_shutdown`` runs in the child, which a
SIGKILL never lets run (checked with a worker whose every signal was logged). So the hook is
Celery's documented one: a custom request class for the task.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from billiard.einfo import ExceptionWithTraceback  # type: ignore[attr-defined]  # not in its stubs
from billiard.exceptions import WorkerLostError
from celery import Task
from celery.worker.request import Request
from django.db import close_old_connections, connection

from runs import services
from runs.leases import worker_id

log = logging.getLogger(__name__)


class HandBackOnWorkerLost(Request):
    """``train_next_run``'s request: when its pool process is lost, the runs that process
    held go back to the queue before Celery requeues the message, so the redelivery (or the
    service's own wake-up) finds them queued."""

    def on_failure(
        self, exc_info: Any, send_failed_event: bool = True, return_ok: bool = False
    ) -> None:
        exc = exc_info.exception
        if isinstance(exc, ExceptionWithTraceback):
            exc = exc.exc
        if isinstance(exc, WorkerLostError) and self.worker_pid:
            hand_back_runs_of(int(self.worker_pid), cause=lost_cause(str(exc)))
        super().on_failure(exc_info, send_failed_event, return_ok)


class TrainingTask(Task):
    """The base of ``train_next_run``: its requests hand a lost process's run back."""

    Request = "runs.worker_lost:HandBackOnWorkerLost"  # Celery resolves it by name


# billiard's words for the loss: "Worker exited prematurely: signal 9 (SIGKILL) Job: 3."
_HOW_IT_EXITED = re.compile(r"exited prematurely: (?P<how>.+?) Job:")


def lost_cause(message: str) -> str:
    """What is known of how a pool process died, from billiard's ``WorkerLostError``.

    The parent sees only the signal or exit code. A SIGKILL nobody asked for is most often the
    kernel's OOM killer (the machine ran out of memory); the kernel log says for sure.
    """
    match = _HOW_IT_EXITED.search(message)
    if match is None:
        return ""
    how = match["how"]
    if "SIGKILL" in how:
        return (
            f"killed by {how}: the kernel's OOM killer does this when memory runs out "
            "(see the kernel log), as does a kill -9"
        )
    return f"it died with {how}"


def hand_back_runs_of(pid: int, *, cause: str = "") -> None:
    """Hand back what pool process ``pid`` of this host held; never raise into Celery's
    pool (the lease reaper is the backstop)."""
    close_old_connections()
    try:
        taken = services.run_worker_process_lost(worker=worker_id(pid), cause=cause)
        if taken:
            log.warning("pool process %s was lost: runs %s handed back", pid, taken)
    except Exception:
        log.exception("pool process %s was lost; its runs wait for the lease reaper", pid)
    finally:
        connection.close()  # the main process keeps no connection between such rare events
