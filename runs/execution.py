"""Running a claimed run on a worker: the trainer, its callbacks, its control, its lease.

``run_execute`` is what the ``train_next_run`` task calls. It never raises for a trainer's
failure: the run ends ``failed`` with the error and a ``log`` event, and the worker goes on.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import shutil
import signal
import threading
import time
import traceback
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection

from keisei.interfaces import CheckpointInfo, CommandRequest, RunOutcome
from keisei.registry import get_trainer
from monitoring import live
from monitoring.log_context import run_context
from monitoring.models import EventType
from monitoring.reporter import (
    PendingEvent,
    RecordFailed,
    Reporter,
    Throttle,
    database_unavailable,
)
from monitoring.worker_stats import current_run
from runs import placement, selectors, services
from runs.command_wakeups import CommandListener
from runs.leases import Heartbeat, LeaseLost, worker_id
from runs.models import Checkpoint, Command, GameSource, Run, RunStatus
from runs.selectors.arena import run_rating
from runs.services.arena import ArenaFeed
from runs.services.checkpoints import CheckpointNotStored
from runs.services.matches import CHECKPOINT_PREFIX
from runs.watchdog import Liveness, Watchdog

log = logging.getLogger(__name__)

SHUTDOWN_COMMAND_ID = "worker-shutdown"
ARENA_RATING_SECONDS = 300.0
SELF_PLAY_EVENT = "selfplay"  # a sampled self-play game (shogi-ppo's record_selfplay_every)
# Set when this worker process is asked to stop (SIGTERM): the run checkpoints and goes back
# to the queue, to resume on any worker, instead of holding the shutdown up for hours.
shutdown_requested = threading.Event()


@contextlib.contextmanager
def sigterm_hands_back() -> Iterator[None]:
    """While training, SIGTERM asks for a graceful hand-back of the run, not a dead process.

    Installed per run, not at pool start: billiard resets the pool process's signal handlers
    after Celery's ``worker_process_init``. Signals can only be set from the main thread.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, lambda *_: shutdown_requested.set())
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


PROGRESS_WRITE_SECONDS = 1.0


class RunCallbacks(Reporter):
    """The monitoring reporter, plus what belongs to the run: status, progress, checkpoints."""

    def __init__(self, run: Run, worker: str) -> None:
        super().__init__(run_id=run.pk, owner_id=run.owner_id, actor=f"worker:{worker}")
        self.worker = worker
        # Every call from the trainer (and every poll of its control) says it is not hung.
        self.liveness = Liveness()
        self._progress_throttle = Throttle(PROGRESS_WRITE_SECONDS)
        self._last_progress: tuple[int, int] | None = None
        # The event of the last sample, evaluation or checkpoint: a command that asked for it
        # is finished after it is written, with the ids of its rows.
        self.last_pending: PendingEvent | None = None
        # The arena's feed of the self-play board (made with the first board).
        self._arena: ArenaFeed | None = None
        self._arena_rated = 0.0
        self._owner_id = run.owner_id
        self._run_name = run.display_name

    def on_status(self, status: str, message: str = "") -> None:
        self.liveness.mark()
        if status in (RunStatus.PAUSED, RunStatus.RUNNING):
            services.run_set_paused(
                run_id=self.run_id, worker=self.worker, paused=status == RunStatus.PAUSED
            )
        if message:
            super().on_status(status, message)

    def on_event(self, kind: str, message: str, data: Mapping[str, Any] | None = None) -> None:
        """Sample games and evaluations become rows of their own; the timeline links to them.

        The rows are written with the event, in its turn: while PostgreSQL is away they wait
        with it and training goes on."""
        self.liveness.mark()
        payload = dict(data or {})
        summary, record = payload, None
        if kind in (EventType.SAMPLE, SELF_PLAY_EVENT) and "moves" in payload:
            source = GameSource.SAMPLE if kind == EventType.SAMPLE else GameSource.SELF_PLAY

            def record() -> dict[str, int]:
                stored = services.game_record_store(
                    run_id=self.run_id, record=payload, source=source
                )
                return {"game_record": stored.pk}

            # The timeline keeps the summary; the KIF/CSA text lives in the record.
            summary = without_game_text(payload)
        elif kind == EventType.EVALUATION and {"wins", "draws", "losses"} <= payload.keys():

            def record() -> dict[str, int]:
                stored = services.evaluation_store(run_id=self.run_id, result=payload)
                return {"evaluation": stored.pk}

        pending = self.queue_event(kind, message, summary, record=record)
        self.last_pending = pending

    def on_progress(self, step: int, total: int) -> None:
        self.liveness.mark()
        super().on_progress(step, total)
        self._last_progress = (step, total)
        if self._progress_throttle.ready():
            self.write_progress()

    def on_metrics(self, step: int, metrics: Mapping[str, float]) -> None:
        self.liveness.mark()
        super().on_metrics(step, metrics)

    def on_board(self, snapshot: Mapping[str, Any]) -> None:
        self.liveness.mark()
        super().on_board(snapshot)
        self.arena_feed()(snapshot)

    def arena_feed(self) -> ArenaFeed:
        """The arena's feed of this run's self-play (one a second), its rating read again
        every ``ARENA_RATING_SECONDS`` (a league round may have moved it)."""
        now = time.monotonic()
        feed = self._arena
        if feed is None or now - self._arena_rated > ARENA_RATING_SECONDS:
            rating = feed.ratings[0] if feed is not None else None
            try:
                rating = run_rating(run_id=self.run_id)
            except Exception as exc:  # PostgreSQL away: the last rating known; training goes on
                if not database_unavailable(exc):
                    raise
                connection.close()
            name = f"self-play of {self._run_name}"
            if feed is None:
                feed = self._arena = ArenaFeed(
                    run_id=self.run_id,
                    owner_id=self._owner_id,
                    game=live.arena_selfplay_game(self.run_id),
                    source=GameSource.SELF_PLAY,
                    title=self._run_name,
                    players=(name, name),
                    ratings=(rating, rating),
                )
            feed.ratings = (rating, rating)
            self._arena_rated = now
        return feed

    def on_live(self, kind: str, data: Mapping[str, Any]) -> None:
        self.liveness.mark()
        super().on_live(kind, data)

    def write_progress(self) -> None:
        if self._last_progress is not None:
            step, total = self._last_progress
            try:
                services.run_record_progress(
                    run_id=self.run_id, worker=self.worker, step=step, total=total
                )
            except Exception as exc:  # a later write catches up; training goes on
                if not database_unavailable(exc):
                    raise
                connection.close()

    def on_checkpoint(self, info: CheckpointInfo) -> None:
        """Store the file and its row in the event's turn, after the points reported before
        it (a resume from it then continues a series with no gap). While PostgreSQL is away
        it waits with the timeline; the file stays in the work folder until then.

        A file the artifact store refuses (full, unwritable) leaves no row and no partial
        file; the timeline says why and training goes on: the next checkpoint tries again."""
        self.liveness.mark()

        def record() -> dict[str, Any]:
            try:
                checkpoint = services.checkpoint_record(run_id=self.run_id, info=info)
            except CheckpointNotStored as exc:
                log.warning("run %s: %s", self.run_id, exc)
                raise RecordFailed(
                    f"{info.kind} checkpoint at step {info.step} not stored: {exc}; training "
                    "goes on and the next checkpoint tries again",
                    {"not_stored": True, "error": str(exc)},
                ) from exc
            services.league_consider(checkpoint)  # best and final shogi-ppo checkpoints enter
            return {
                "checkpoint": checkpoint.pk,
                "kind": checkpoint.kind,
                "size": checkpoint.size,
                "sha256": checkpoint.sha256,
            }

        pending = self.queue_event(
            EventType.CHECKPOINT,
            f"{info.kind} checkpoint at step {info.step}",
            {
                "step": info.step,
                "kind": info.kind,
                "metrics": {k: float(v) for k, v in info.metrics.items()},
            },
            record=record,
            points_first=True,
        )
        self.last_pending = pending
        self.liveness.mark()  # storing a large file is the store's time, not the trainer's

    def close(self, *, wait_seconds: float = 60.0) -> None:
        self.write_progress()
        super().close(wait_seconds=wait_seconds)


class CommandControl:
    """``keisei.Control`` over the Command table. A ``CommandListener`` thread hears of new
    commands (PostgreSQL NOTIFY) and queues them; ``poll``, called by the trainer between
    steps, only drains that queue, so polling often costs training nothing. Use it as a
    context manager: the listener runs while the run trains."""

    def __init__(
        self, run_id: int, lease: Heartbeat, workdir: Path, callbacks: RunCallbacks
    ) -> None:
        self.run_id = run_id
        self.lease = lease
        self.workdir = workdir
        self.callbacks = callbacks
        self.listener = CommandListener(run_id)
        self._shutdown_sent = False
        self._named_opponents: dict[str, str] = {}  # command id -> checkpoint:<id> as asked

    def __enter__(self) -> CommandControl:
        self.listener.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.listener.__exit__(*exc)

    def poll(self) -> list[CommandRequest]:
        self.callbacks.liveness.mark()
        self.lease.check()  # another worker holds the run now: stop training at once
        if shutdown_requested.is_set() and not self._shutdown_sent:
            self._shutdown_sent = True
            return [CommandRequest(id=SHUTDOWN_COMMAND_ID, kind="stop")]
        self.listener.fetch_if_stale()
        requests = []
        for command in _drain(self.listener.commands):
            try:
                params = self._resolve(str(command.pk), command.params)
            except services.CheckpointUnusable as exc:
                services.command_finish(command_id=command.pk, ok=False, error=str(exc))
                continue
            requests.append(CommandRequest(id=str(command.pk), kind=command.kind, params=params))
        return requests

    def _resolve(self, command_id: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """An opponent named ``checkpoint:<id>`` (checked when the command was asked) becomes
        a local file: the trainer never sees a path a user typed."""
        params = dict(params)
        opponent = params.get("opponent")
        if isinstance(opponent, str) and opponent.startswith(CHECKPOINT_PREFIX):
            checkpoint = Checkpoint.objects.get(pk=int(opponent.removeprefix(CHECKPOINT_PREFIX)))
            params["opponent"] = str(
                services.checkpoint_fetch(checkpoint, self.workdir / "opponents")
            )
            self._named_opponents[command_id] = opponent
        return params

    def acknowledge(self, command: CommandRequest) -> None:
        if command.id != SHUTDOWN_COMMAND_ID:
            services.command_acknowledge(command_id=int(command.id))

    def complete(self, command: CommandRequest, result: Mapping[str, Any] | None = None) -> None:
        """Finish the command after the rows it produced are written (at once, or when
        PostgreSQL is back): whoever asked then finds its game, evaluation or checkpoint."""
        if command.id == SHUTDOWN_COMMAND_ID:
            return
        result = dict(result or {})
        # The sample's game or the saved checkpoint was reported just before this call.
        produced, self.callbacks.last_pending = self.callbacks.last_pending, None
        if command.kind == "evaluate" and {"wins", "draws", "losses"} <= result.keys():
            # A match asked for by a person is on the timeline and in the table, like the
            # trainer's own periodic ones, under the name the person gave (not a file path).
            result["opponent"] = self._named_opponents.pop(command.id, result.get("opponent"))
            self.callbacks.on_event(
                EventType.EVALUATION,
                f"vs {result['opponent']}: {result['wins']}/"
                f"{result['draws']}/{result['losses']} (W/D/L)",
                result,
            )
            produced = self.callbacks.last_pending
        elif command.kind == "sample":
            result = without_game_text(result)
        elif command.kind != "save":
            produced = None
        command_id = int(command.id)

        def finish() -> None:
            stored = produced.stored if produced is not None else {}
            if command.kind == "save" and stored.get("not_stored"):
                # Whoever asked must not believe there is a checkpoint to download or use.
                services.command_finish(
                    command_id=command_id,
                    ok=False,
                    error=f"the checkpoint was not stored: {stored['error']}",
                )
            else:
                services.command_finish(command_id=command_id, ok=True, result={**result, **stored})

        self.callbacks.queue_action(finish)

    def fail(self, command: CommandRequest, error: str) -> None:
        if command.id != SHUTDOWN_COMMAND_ID:
            services.command_finish(command_id=int(command.id), ok=False, error=error)


def _drain(commands: queue.SimpleQueue[Command]) -> list[Command]:
    drained = []
    while True:
        try:
            drained.append(commands.get_nowait())
        except queue.Empty:
            return drained


def run_execute(*, woken_by: int | None = None, worker: str | None = None) -> str:
    """Claim the run that should train next and train it; 'idle' if there is none.

    Never raises for the trainer's sake: a failure ends the run ``failed`` with the error.
    """
    worker = worker or worker_id()
    run = services.run_claim_next(worker=worker)
    if run is None:
        log.info("woken for run %s, but no queued run can start now", woken_by)
        return "idle"
    with run_context(run.pk):  # every log line about this run names it (LOG_FORMAT=json)
        return _train_claimed(run, worker)


def _train_claimed(run: Run, worker: str) -> str:
    """Train the run ``worker`` has just claimed, to its end; the outcome's name."""
    workdir = Path(settings.KEISEI_WORK_DIR) / f"run-{run.pk}-{worker.replace(':', '-')}"
    callbacks = RunCallbacks(run, worker)
    status, error = RunStatus.FAILED, ""
    started = time.monotonic()
    try:
        with (
            sigterm_hands_back(),
            current_run(run.pk),
            Heartbeat(
                lambda: services.run_heartbeat(run_id=run.pk, worker=worker),
                name=f"lease-run-{run.pk}",
            ) as heartbeat,
            CommandControl(run.pk, heartbeat, workdir, callbacks) as control,
        ):
            resume_from = _fetch_resume_checkpoint(run, workdir, worker)
            with Watchdog(
                callbacks.liveness,
                seconds=settings.KEISEI_HANG_SECONDS,
                on_hang=lambda idle: _end_hung_attempt(run.pk, worker, workdir, idle),
                name=f"watchdog-run-{run.pk}",
            ):
                trainer_cls = get_trainer(run.trainer)
                trainer = trainer_cls(
                    trainer_cls.parse_config(run.config),
                    workdir=workdir,
                    callbacks=callbacks,
                    control=control,
                    # The worker's device, not the host's: a CPU worker on a GPU host
                    # leaves the GPUs to the GPU workers (docs/operations.md, "Workers").
                    device=placement.worker_device(settings.KEISEI_WORKER_GPUS),
                )
                outcome = trainer.train(resume_from=resume_from)
            status = RunStatus.COMPLETED if outcome == RunOutcome.COMPLETED else RunStatus.STOPPED
    except LeaseLost as exc:
        log.warning("%s", exc)
        _close_quietly(callbacks, run.pk)
        shutil.rmtree(workdir, ignore_errors=True)
        return "lease-lost"
    except services.CheckpointUnusable as exc:
        error = f"cannot resume: {exc}"
        _safe_log_event(callbacks, error, {})
    except MemoryError as exc:
        # The allocation that failed is gone with the frames that held it; the process lives.
        error = out_of_memory(exc)
        log.error("run %s: %s", run.pk, error)
        _safe_log_event(callbacks, f"training failed: {error}", {"out_of_memory": True})
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        log.exception("run %s failed", run.pk)
        _safe_log_event(
            callbacks, f"training failed: {error}", {"traceback": traceback.format_exc(limit=20)}
        )
    _close_quietly(callbacks, run.pk)
    if status == RunStatus.STOPPED and shutdown_requested.is_set():
        # Stopped for the worker's shutdown, not by a person: back to the queue.
        services.run_release(run_id=run.pk, worker=worker, reason="its worker is shutting down")
        shutil.rmtree(workdir, ignore_errors=True)
        return "released"
    services.run_finish(run_id=run.pk, worker=worker, status=status, error=error)
    log.info("run %s %s in %.1fs", run.pk, status, time.monotonic() - started)
    shutil.rmtree(workdir, ignore_errors=True)
    return str(status)


def out_of_memory(exc: BaseException) -> str:
    """The reason a run that ran out of memory fails with (a ``MemoryError``)."""
    detail = f" ({exc})" if str(exc) else ""
    return (
        f"out of memory: an allocation failed{detail} (MemoryError); the run needs less "
        "memory than this worker has (a smaller batch or network), or a bigger worker"
    )


def _end_hung_attempt(run_id: int, worker: str, workdir: Path, idle: float) -> None:
    """Called from the watchdog's thread: fail the run with the reason, then end this
    process. A thread stuck in a C call or a lock cannot be interrupted from Python, so the
    pool process goes and Celery starts a fresh one, which takes the next run. The worker's
    main process sees the loss (``runs.worker_lost``) and finds nothing left to hand back:
    the run is already failed and its lease cleared."""
    limit = settings.KEISEI_HANG_SECONDS
    error = (
        f"no progress for {limit} s: the trainer reported nothing and polled for no command "
        f"for {idle:.0f} s (KEISEI_HANG_SECONDS={limit}); it was ended"
    )
    log.error("run %s: %s; ending this worker process (pid %s)", run_id, error, os.getpid())
    try:
        services.run_finish(run_id=run_id, worker=worker, status=RunStatus.FAILED, error=error)
        live.publisher().flush(timeout=5.0)  # the page hears of it before the process goes
    except Exception:
        # PostgreSQL is away: the main process hands the run back when it sees this process
        # go (an attempt counted), or the lease reaper does.
        log.exception("run %s: the hang could not be recorded", run_id)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        logging.shutdown()  # the log line above reaches the worker's log
        os.kill(os.getpid(), signal.SIGKILL)


def without_game_text(record: Mapping[str, Any]) -> dict[str, Any]:
    """A game record's summary: the moves and KIF/CSA text live in its GameRecord row."""
    return {k: v for k, v in record.items() if k not in ("kif", "csa", "moves")}


def _fetch_resume_checkpoint(run: Run, workdir: Path, worker: str) -> Path | None:
    checkpoint = selectors.checkpoint_to_resume(run)
    if checkpoint is None:
        return None
    path = services.checkpoint_fetch(checkpoint, workdir / "resume")
    # Before the trainer reports anything: points after the checkpoint are recomputed.
    services.run_resume_from(run_id=run.pk, worker=worker, checkpoint=checkpoint)
    return path


def _close_quietly(callbacks: RunCallbacks, run_id: int) -> None:
    try:
        callbacks.close()
    except Exception:
        log.exception("run %s: the last metrics could not be written", run_id)


def _safe_log_event(callbacks: RunCallbacks, message: str, data: dict[str, Any]) -> None:
    try:
        callbacks.on_event(EventType.LOG, message, data)
    except Exception:
        log.exception("could not record the failure event")
