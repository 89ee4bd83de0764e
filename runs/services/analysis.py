"""Analysis of positions for the portal: a checkpoint's value, best moves and policy per square.

The engine does the analysis (``Trainer.position_analyser``, for trainers that can
``ANALYSES_POSITIONS``); this module serves it from a web process without hurting it:

- a loaded network is kept per checkpoint (id and sha256) in a small LRU, so only the first
  request for a checkpoint reads its file;
- at most ``ANALYSIS_SLOTS`` analyses run at once per process (the rest wait up to
  ``ANALYSIS_WAIT_SECONDS``, then get a 503), each on one of as many long-lived worker threads
  with ``ANALYSIS_THREADS`` torch threads: the API views are sync views, run off Daphne's
  event loop, which never waits on the network;
- a whole game is analysed in batches, and its answer kept in the cache (records never change).
"""

from __future__ import annotations

import logging
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from django.core.cache import cache

from keisei.interfaces import Capability, CheckpointError, GameOpponent, PositionAnalyser
from keisei.registry import UnknownTrainer, get_trainer
from runs.models import Checkpoint, GameRecord, Run
from runs.selectors.analysis import analysis_checkpoint, game_record_checkpoint
from runs.services.checkpoints import checkpoint_fetch
from runs.services.errors import (
    ApplicationError,
    CheckpointUnusable,
    FieldsRefused,
    ServiceUnavailable,
)
from runs.trainers import trainer_plays_people

log = logging.getLogger(__name__)
T = TypeVar("T")

ANALYSIS_SLOTS = 2  # analyses at once per web process (the machine has 2 cores)
ANALYSIS_WAIT_SECONDS = 10.0  # a request waits this long for a slot, then gets a 503
ANALYSIS_THREADS = 1  # torch threads per analysis: two slots fill two cores
ANALYSERS_KEPT = 4  # loaded networks kept per process (a 4x64 net is a few MB)
GAME_BATCH = 256  # positions per network call when analysing a whole game
GAME_TOP_K = 3  # candidate moves kept per ply of a game
TOP_K_MAX = 20
GAME_CACHE_SECONDS = 24 * 3600

FILES = "123456789"
RANKS = "abcdefghi"


class AnalysisRejected(FieldsRefused):
    """A position, a checkpoint or a run that cannot be analysed; ``fields`` names which."""

    code = "analysis_rejected"


class NoCheckpointYet(ApplicationError):
    """The run has written no checkpoint yet: there is no network to ask."""

    code = "no_checkpoint"
    status = 409

    def __init__(self) -> None:
        message = "this run has no checkpoint yet: analysis starts with its first checkpoint"
        super().__init__(message, fields={"checkpoint": [message]})


class _Analysers:
    """Loaded networks by (checkpoint id, sha256), least recently used dropped first; a
    checkpoint asked for by several requests at once is loaded once."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._loaded: OrderedDict[tuple[int, str], PositionAnalyser] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[tuple[int, str], threading.Lock] = {}

    def get(self, checkpoint: Checkpoint) -> PositionAnalyser:
        key = (checkpoint.pk, checkpoint.sha256)
        with self._lock:
            if key in self._loaded:
                self._loaded.move_to_end(key)
                return self._loaded[key]
            loading = self._loading.setdefault(key, threading.Lock())
        with loading:
            with self._lock:
                if key in self._loaded:  # another request loaded it while this one waited
                    return self._loaded[key]
            analyser = _load(checkpoint)
            with self._lock:
                self._loaded[key] = analyser
                while len(self._loaded) > self.size:
                    self._loaded.popitem(last=False)
                self._loading.pop(key, None)
            return analyser

    def clear(self) -> None:
        with self._lock:
            self._loaded.clear()

    def __contains__(self, checkpoint: Checkpoint) -> bool:
        with self._lock:
            return (checkpoint.pk, checkpoint.sha256) in self._loaded


def _worker_start() -> None:
    import torch  # loaded with the trainer already; the count holds for this worker thread

    torch.set_num_threads(ANALYSIS_THREADS)


ANALYSERS = _Analysers(ANALYSERS_KEPT)
_SLOTS = threading.BoundedSemaphore(ANALYSIS_SLOTS)
# The network runs on these long-lived threads, never on a request's: Django gives each sync
# request a thread of its own, and torch's first call on a new thread sets up its thread pool
# again (through the API, bench/analysis.py --quick: p50 53 ms on request threads, 24 ms here).
_WORKERS = ThreadPoolExecutor(
    max_workers=ANALYSIS_SLOTS, thread_name_prefix="keisei-analysis", initializer=_worker_start
)


def _load(checkpoint: Checkpoint) -> PositionAnalyser:
    """The checkpoint's network, read from storage (hash checked) by its trainer's loader."""
    trainer_cls = get_trainer(checkpoint.run.trainer)
    with tempfile.TemporaryDirectory(prefix="keisei-analysis-") as folder:
        path = checkpoint_fetch(checkpoint, Path(folder))
        try:
            return trainer_cls.position_analyser(path, device="cpu")
        except CheckpointError as exc:
            raise CheckpointUnusable(
                f"checkpoint {checkpoint.pk} (step {checkpoint.step}) cannot be read: {exc}"
            ) from exc


def _run(checkpoint: Checkpoint, work: Callable[[PositionAnalyser], T]) -> T:
    """``work`` with the checkpoint's network, once one of the process's slots is free (a 503
    after waiting ANALYSIS_WAIT_SECONDS). A network not kept yet is loaded here, on the
    request's thread (it reads the database and storage); the network runs on a worker,
    idle since the slot is held, so it starts at once."""
    if not _SLOTS.acquire(timeout=ANALYSIS_WAIT_SECONDS):
        raise ServiceUnavailable("every analysis slot is busy: try again in a moment")
    try:
        analyser = ANALYSERS.get(checkpoint)
        return _WORKERS.submit(work, analyser).result()
    finally:
        _SLOTS.release()


def _trainer_of(run: Run) -> Any:
    """The run's trainer class, if it analyses positions; ``AnalysisRejected`` otherwise."""
    try:
        trainer_cls = get_trainer(run.trainer)
    except UnknownTrainer:
        trainer_cls = None
    if trainer_cls is None or not trainer_cls.can(Capability.ANALYSES_POSITIONS):
        raise AnalysisRejected({"run": [f"the {run.trainer} trainer does not analyse positions"]})
    return trainer_cls


def _checkpoint_of(run: Run, checkpoint_id: int | None) -> Checkpoint:
    checkpoint = analysis_checkpoint(run, checkpoint_id=checkpoint_id)
    if checkpoint is not None:
        return checkpoint
    if checkpoint_id is None:
        raise NoCheckpointYet()
    raise AnalysisRejected({"checkpoint": [f"run {run.pk} has no checkpoint {checkpoint_id}"]})


def checkpoint_summary(checkpoint: Checkpoint) -> dict[str, Any]:
    return {"id": checkpoint.pk, "step": checkpoint.step, "kind": checkpoint.kind}


def _black_win_probability(answer: dict[str, Any]) -> float:
    p = float(answer["win_probability"])
    return p if answer["side_to_move"] == "black" else 1.0 - p


def _policy_by_square(square_mass: Sequence[float]) -> dict[str, float]:
    """The engine's 81 masses (index (file - 1) * 9 + (rank - 1)) by USI square ("7f")."""
    return {
        f"{FILES[i // 9]}{RANKS[i % 9]}": round(float(mass), 6)
        for i, mass in enumerate(square_mass)
    }


def analysis_of_position(
    *, run: Run, sfen: str, checkpoint_id: int | None = None, top_k: int = 5
) -> dict[str, Any]:
    """What a checkpoint of ``run`` (its newest unless ``checkpoint_id``) makes of ``sfen``.

    ``AnalysisRejected`` naming ``sfen``, ``checkpoint``, ``top_k`` or ``run``;
    ``NoCheckpointYet`` (409) when the run has none; ``ServiceUnavailable`` when busy.
    """
    trainer_cls = _trainer_of(run)
    if not 1 <= top_k <= TOP_K_MAX:
        raise AnalysisRejected({"top_k": [f"must be from 1 to {TOP_K_MAX}"]})
    try:
        # Checked before any file is read: a bad position costs no load.
        trainer_cls.game_positions(sfen, [])
    except ValueError as exc:
        raise AnalysisRejected({"sfen": [str(exc)]}) from exc
    checkpoint = _checkpoint_of(run, checkpoint_id)
    answer = _run(checkpoint, lambda analyser: analyser.analyse([sfen], top_k=top_k)[0])
    return {
        "checkpoint": checkpoint_summary(checkpoint),
        "sfen": answer["sfen"],
        "side_to_move": answer["side_to_move"],
        "win_probability": answer["win_probability"],
        "black_win_probability": _black_win_probability(answer),
        "legal_moves": answer["legal_moves"],
        "top_moves": answer["top_moves"],
        "policy_by_square": _policy_by_square(answer["square_mass"]),
    }


def analysis_of_game(*, record: GameRecord, checkpoint_id: int | None = None) -> dict[str, Any]:
    """Every position of a stored game analysed by one checkpoint of its run: by default the
    one that played it (``game_record_checkpoint``). Per ply: the win probability of the side
    to move and of Black, and the top candidate moves. Kept in the cache, keyed by record,
    checkpoint and its sha256. A record whose moves turn illegal is analysed up to there
    (``complete`` is false)."""
    run = record.run
    trainer_cls = _trainer_of(run)
    if checkpoint_id is None:
        chosen = game_record_checkpoint(record)
        if chosen is None:
            raise NoCheckpointYet()
        checkpoint, why = chosen.checkpoint, chosen.why
    else:
        checkpoint, why = _checkpoint_of(run, checkpoint_id), "chosen"
    key = f"keisei:analysis:game:{record.pk}:{checkpoint.pk}:{checkpoint.sha256[:16]}"
    plies = _cache_get(key)
    if plies is None:
        try:
            positions = trainer_cls.game_positions(record.start_sfen, list(record.moves))
        except ValueError as exc:
            raise AnalysisRejected({"start_sfen": [str(exc)]}) from exc
        plies = _analyse_positions(checkpoint, positions)
        _cache_set(key, plies)
    return {
        "record": record.pk,
        "checkpoint": {**checkpoint_summary(checkpoint), "why": why},
        "complete": len(plies) == len(record.moves) + 1,
        "plies": plies,
    }


def opponent_use(*, checkpoint: Checkpoint, work: Callable[[GameOpponent], T]) -> T:
    """``work`` with the checkpoint's network as a person's opponent (the play app's moves),
    in the analyses' slots and LRU: bounded, on the analysis threads, off Daphne's loop.
    ``AnalysisRejected`` naming ``checkpoint`` if its trainer cannot play a person."""
    if not trainer_plays_people(checkpoint.run.trainer):
        raise AnalysisRejected(
            {"checkpoint": [f"the {checkpoint.run.trainer} trainer does not play games"]}
        )

    def play(analyser: PositionAnalyser) -> T:
        if not isinstance(analyser, GameOpponent):
            raise AnalysisRejected({"checkpoint": ["this checkpoint's network cannot play"]})
        return work(analyser)

    return _run(checkpoint, play)


def _analyse_positions(checkpoint: Checkpoint, positions: list[str]) -> list[dict[str, Any]]:
    return _run(checkpoint, lambda analyser: _analyse_batches(analyser, positions))


def _analyse_batches(analyser: PositionAnalyser, positions: list[str]) -> list[dict[str, Any]]:
    plies: list[dict[str, Any]] = []
    for start in range(0, len(positions), GAME_BATCH):
        batch = analyser.analyse(positions[start : start + GAME_BATCH], top_k=GAME_TOP_K)
        for answer in batch:
            plies.append(
                {
                    "ply": len(plies),
                    "sfen": answer["sfen"],
                    "side_to_move": answer["side_to_move"],
                    "win_probability": answer["win_probability"],
                    "black_win_probability": _black_win_probability(answer),
                    "top_moves": answer["top_moves"],
                }
            )
    return plies


def _cache_get(key: str) -> list[dict[str, Any]] | None:
    # The cache only saves work: if Redis cannot answer, the game is analysed again.
    try:
        value = cache.get(key)
    except Exception:
        log.warning("analysis cache unavailable", exc_info=True)
        return None
    return value if isinstance(value, list) else None


def _cache_set(key: str, plies: list[dict[str, Any]]) -> None:
    try:
        cache.set(key, plies, GAME_CACHE_SECONDS)
    except Exception:
        log.warning("analysis cache unavailable", exc_info=True)
