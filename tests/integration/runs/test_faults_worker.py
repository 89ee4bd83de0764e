"""Faults beyond a killed worker, over a real Celery worker: a trainer that hangs, one that
runs out of memory, a pool process the OOM killer takes, an artifact store that is full.
After each, the same worker trains the next run to completion."""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from monitoring.models import MetricPoint, RunEvent
from runs import services
from runs.models import Checkpoint, Command, CommandState, Run, RunStatus
from runs.services.checkpoints import file_sha256
from tests.support.full_store import FULL_FILE_VARIABLE, store_fails_next
from tests.support.runs import wait_run_finished
from tests.support.servers import ServerProcess, start_celery_worker, worker_holding
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

# Small, so a hang is seen in seconds; the trainers here report many times a second.
HANG_SECONDS = 5


@dataclass
class FaultWorker:
    worker: ServerProcess
    full_file: Path  # how many of the store's next writes fail
    media_root: Path  # the store's own folder, new for each session: run ids repeat


@pytest.fixture(scope="module")
def fault_worker(_worker_slots, servers_env, tmp_path_factory):
    """One worker alone (the session's are stopped, so we know who trains), with a short
    hang limit, one attempt per run, and an artifact store that can be made full."""
    for slot in _worker_slots.values():
        slot.stop()
    store = tmp_path_factory.mktemp("store")
    full_file, media_root = store / "full-writes", store / "media"
    env = {
        **servers_env,
        "DJANGO_SETTINGS_MODULE": "tests.support.full_store_settings",
        FULL_FILE_VARIABLE: str(full_file),
        "MEDIA_ROOT": str(media_root),
        "KEISEI_HANG_SECONDS": str(HANG_SECONDS),
        "KEISEI_MAX_ATTEMPTS": "1",
    }
    worker = start_celery_worker(env, "worker-faults")
    yield FaultWorker(worker, full_file, media_root)
    worker.stop()


def test_a_paused_run_is_not_taken_for_a_hung_one(fault_worker, owner, staff):
    """A paused trainer reports nothing for as long as it stays paused, but it polls. Seen
    to fail with the poll not marking the trainer alive: the run failed 'no progress' while
    paused."""
    # Ten seconds of steps: still training when the pause comes.
    run = services.run_queue(
        owner=owner, trainer="counting", config={"steps": 200, "step_seconds": 0.05}
    )
    wait_for(
        lambda: MetricPoint.objects.filter(run=run).exists(),
        timeout=60,
        what="the run to train a step",
    )
    services.command_request(run=run, user=owner, kind="pause")
    wait_for(
        lambda: Run.objects.filter(pk=run.pk, status=RunStatus.PAUSED).exists(),
        timeout=30,
        what="the run to pause",
    )
    # What is proven is an absence, so time must pass: twice the hang limit, paused.
    paused_until = time.monotonic() + 2 * HANG_SECONDS
    wait_for(
        lambda: (
            time.monotonic() > paused_until
            or not Run.objects.filter(pk=run.pk, status=RunStatus.PAUSED).exists()
        ),
        timeout=3 * HANG_SECONDS,
        what="twice the hang limit to pass",
    )
    run.refresh_from_db()
    assert (run.status, run.error) == (RunStatus.PAUSED, "")
    services.command_request(run=run, user=owner, kind="resume")
    wait_run_finished(run, timeout=60, what="the resumed run to finish")
    assert (run.status, run.error) == (RunStatus.COMPLETED, "")


def pid_that_trained(run: Run) -> int:
    """The pool process that claimed ``run`` (its ``running`` event's actor, worker:host:pid)."""
    event = RunEvent.objects.get(run=run, type="status", data__status="running")
    return int(event.actor.rsplit(":", 1)[1])


def process_gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] == "Z"  # exited, not yet reaped
    except FileNotFoundError:
        return True


def assert_worker_trains_next_run(worker: ServerProcess, owner) -> Run:
    """A run queued now completes on the same worker (its main process lived on)."""
    worker.ensure_alive()
    run = services.run_queue(owner=owner, trainer="counting", config={"steps": 3})
    wait_run_finished(run, timeout=60, what="the next run to finish")
    assert (run.status, run.error) == (RunStatus.COMPLETED, "")
    # Trained by a pool process of this worker (the run took less time than a poll here).
    assert worker_holding(f"host:{pid_that_trained(run)}", [worker]) is worker
    return run


def test_a_hung_trainer_fails_with_the_reason_and_the_worker_trains_the_next_run(
    fault_worker, owner
):
    """Seen to fail with the watchdog's limit in ``run_execute`` made a million seconds:
    the run stayed running (its heartbeat renewed the lease) until the wait timed out."""
    worker = fault_worker.worker
    run = services.run_queue(owner=owner, trainer="hanging", config={"steps": 5, "hang_at": 2})
    wait_run_finished(run, timeout=HANG_SECONDS + 60, what="the hung run to be ended")

    assert run.status == RunStatus.FAILED
    assert run.error.startswith(f"no progress for {HANG_SECONDS} s"), run.error
    assert (run.lease_owner, run.lease_expires_at) == ("", None)  # the lease is not held
    ended = RunEvent.objects.get(run=run, type="status", data__status="failed")
    assert ended.message.startswith(f"run failed: no progress for {HANG_SECONDS} s")
    # It hung at step 2. (Step 1's point may not be stored: points are written about once
    # a second, and it was buffered in the process that was ended.)
    assert not MetricPoint.objects.filter(run=run, step__gte=2).exists()
    # The stuck process is gone (a thread cannot be interrupted) and Celery replaced it.
    hung = pid_that_trained(run)
    wait_for(lambda: process_gone(hung), timeout=30, what=f"the hung process {hung} to end")

    following = assert_worker_trains_next_run(worker, owner)
    assert pid_that_trained(following) != hung


def test_a_trainer_out_of_memory_fails_with_the_reason_and_the_worker_goes_on(fault_worker, owner):
    """Seen to fail with the ``MemoryError`` branch of ``run_execute`` removed: the error was
    the bare 'MemoryError: '."""
    worker = fault_worker.worker
    run = services.run_queue(owner=owner, trainer="memory-hog", config={"steps": 4, "hog_at": 2})
    wait_run_finished(run, timeout=60, what="the run to run out of memory")

    assert run.status == RunStatus.FAILED
    assert run.error.startswith("out of memory: an allocation failed"), run.error
    logged = RunEvent.objects.get(run=run, type="log", data__out_of_memory=True)
    assert logged.message.startswith("training failed: out of memory")

    following = assert_worker_trains_next_run(worker, owner)
    # The process that ran out of memory lived on (its allocations were freed) and trains.
    assert pid_that_trained(following) == pid_that_trained(run)


def test_a_pool_process_the_oom_killer_takes_is_named_in_the_reason(fault_worker, owner):
    """The kernel's OOM killer sends SIGKILL; the worker's main process sees which signal
    ended its child and says so. Seen to fail with ``lost_cause`` returning nothing."""
    worker = fault_worker.worker
    run = services.run_queue(owner=owner, trainer="hanging", config={"steps": 5, "hang_at": 1})
    # The watchdog would end this hang after HANG_SECONDS; the kill comes first, at the
    # first sign of the run being held, and only the kill's reason is accepted below.
    held = wait_for(
        lambda: Run.objects.filter(pk=run.pk).exclude(lease_owner="").first(),
        timeout=60,
        what="the run to be claimed",
    )
    os.kill(int(held.lease_owner.rsplit(":", 1)[1]), signal.SIGKILL)
    wait_run_finished(run, timeout=60, what="the run to be given up")

    assert run.status == RunStatus.FAILED  # one attempt allowed in this worker
    assert run.error == (
        f"the worker's process {held.lease_owner} was lost (killed by signal 9 (SIGKILL): "
        "the kernel's OOM killer does this when memory runs out (see the kernel log), as "
        "does a kill -9); gave up after 1 attempts"
    )
    assert_worker_trains_next_run(worker, owner)


def test_a_stored_copy_that_is_not_the_file_is_never_recorded(fault_worker, owner):
    """The store keeps half the file and says nothing: the read-back sha256 catches it. Seen
    to fail with the comparison of the stored copy's hash taken out of
    ``checkpoint_record``: the half file was recorded as the step 1 checkpoint."""
    full_file, media_root = fault_worker.full_file, fault_worker.media_root
    store_fails_next(full_file, writes=1, how="short")
    run = services.run_queue(
        owner=owner, trainer="counting", config={"steps": 2, "checkpoint_every": 1}
    )
    wait_run_finished(run, timeout=60, what="the run to finish")

    assert (run.status, run.error) == (RunStatus.COMPLETED, "")
    skipped = RunEvent.objects.get(run=run, type="log", data__not_stored=True)
    assert skipped.data["step"] == 1
    assert "the stored copy of counting-step1-periodic.ckpt has sha256" in skipped.message
    rows = list(Checkpoint.objects.filter(run=run))
    assert [c.step for c in rows] == [2]
    assert stored_files(media_root, run) == {rows[0].file.name}


def test_a_save_the_full_store_refuses_fails_the_command_and_the_next_save_works(
    fault_worker, owner
):
    """Seen to fail with the ``save`` branch of ``CommandControl.complete`` removed: the
    command was done, with no checkpoint behind it."""
    store_fails_next(fault_worker.full_file, writes=1, how="full")
    # Fifty seconds of steps, ended by a stop: still training when the saves come.
    run = services.run_queue(
        owner=owner, trainer="counting", config={"steps": 1000, "step_seconds": 0.05}
    )
    wait_for(
        lambda: MetricPoint.objects.filter(run=run).exists(),
        timeout=60,
        what="the run to train a step",
    )

    def save() -> Command:
        command = services.command_request(run=run, user=owner, kind="save")
        finished = (CommandState.DONE, CommandState.FAILED)
        return wait_for(
            lambda: Command.objects.filter(pk=command.pk, state__in=finished).first(),
            timeout=30,
            what="the save to be answered",
        )

    refused = save()
    assert refused.state == CommandState.FAILED
    assert refused.error.startswith(
        "the checkpoint was not stored: the artifact store refused the file: [Errno 28]"
    ), refused.error
    assert not Checkpoint.objects.filter(run=run).exists()

    saved = save()
    assert saved.state == CommandState.DONE, saved.error
    assert Checkpoint.objects.get(run=run, kind="manual").pk == saved.result["checkpoint"]
    services.command_request(run=run, user=owner, kind="stop")
    wait_for(
        lambda: Run.objects.filter(pk=run.pk, status=RunStatus.STOPPED).exists(),
        timeout=60,
        what="the run to stop",
    )


def stored_files(media_root: Path, run: Run) -> set[str]:
    folder = media_root / f"runs/{run.pk}/checkpoints"
    return {f"runs/{run.pk}/checkpoints/{p.name}" for p in folder.iterdir()}


def test_a_full_artifact_store_skips_checkpoints_cleanly_until_space_is_back(fault_worker, owner):
    """The store refuses the first two checkpoints, half-writing each. Seen to fail: with the
    partial file's deletion removed from ``checkpoint_record`` (two half files stayed in the
    store), and with ``RecordFailed`` not caught by the reporter (the run failed with
    ``OSError``)."""
    full_file, media_root = fault_worker.full_file, fault_worker.media_root
    store_fails_next(full_file, writes=2, how="full")
    run = services.run_queue(
        owner=owner, trainer="counting", config={"steps": 5, "checkpoint_every": 1}
    )
    wait_run_finished(run, timeout=60, what="the run to finish")

    assert (run.status, run.error) == (RunStatus.COMPLETED, "")  # training went on
    skipped = RunEvent.objects.filter(run=run, type="log", data__not_stored=True).order_by("seq")
    assert [e.data["step"] for e in skipped] == [1, 2]
    assert skipped[0].message.startswith(
        "periodic checkpoint at step 1 not stored: the artifact store refused the file: "
        "[Errno 28] No space left on device"
    ), skipped[0].message
    assert "the next checkpoint tries again" in skipped[0].message
    # Space came back: every later checkpoint is stored, whole, with its row.
    stored = RunEvent.objects.filter(run=run, type="checkpoint").order_by("seq")
    assert [e.data["step"] for e in stored] == [3, 4, 5]
    rows = list(Checkpoint.objects.filter(run=run).order_by("step"))
    assert [c.step for c in rows] == [3, 4, 5]
    for checkpoint in rows:
        assert checkpoint.sha256 == file_sha256(media_root / checkpoint.file.name)
    # Nothing half-written is left in the store for anyone to download or resume from.
    assert stored_files(media_root, run) == {c.file.name for c in rows}
    assert full_file.read_text() == "full 0"
