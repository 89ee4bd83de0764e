"""Game records and evaluations reported by a trainer, stored as rows of their own."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runs.models import Checkpoint, Evaluation, GameRecord, GameSource

RECORD_TEXT_LIMIT = 2_000_000  # KIF/CSA of a 10,000-ply game stays far below this


def game_record_store(
    *,
    run_id: int,
    record: Mapping[str, Any],
    source: str = GameSource.SAMPLE,
    checkpoint_id: int | None = None,
) -> GameRecord:
    """Store a trainer's game record (keys as ``keisei.shogi.records.game_record`` makes).

    ``checkpoint_id``: the checkpoint that played it, where the caller knows (evaluation jobs
    and league matches play a checkpoint file). Without one (a trainer's sample and self-play
    games, played by the live network at ``step``), the run's latest checkpoint at or before
    that step is named: the stored weights nearest to the ones that played, and the ones a
    resume would restart from. None if the run had stored none by then.
    """
    moves = [str(m) for m in record.get("moves", [])]
    step = int(record.get("step", 0))
    if checkpoint_id is None:
        checkpoint_id = checkpoint_at_step(run_id=run_id, step=step)
    return GameRecord.objects.create(
        run_id=run_id,
        source=source,
        step=step,
        checkpoint_id=checkpoint_id,
        black=str(record.get("black", ""))[:200],
        white=str(record.get("white", ""))[:200],
        result=str(record.get("result", "unfinished"))[:16],
        reason=str(record.get("reason", ""))[:32],
        plies=int(record.get("plies", len(moves))),
        start_sfen=str(record.get("sfen", ""))[:200],
        moves=moves,
        kif=str(record.get("kif", ""))[:RECORD_TEXT_LIMIT],
        csa=str(record.get("csa", ""))[:RECORD_TEXT_LIMIT],
    )


def checkpoint_at_step(*, run_id: int, step: int) -> int | None:
    """The id of the run's latest checkpoint at or before ``step`` (the (run, -step) index)."""
    return (
        Checkpoint.objects.filter(run_id=run_id, step__lte=step)
        .order_by("-step", "-id")
        .values_list("pk", flat=True)
        .first()
    )


def evaluation_store(*, run_id: int, result: Mapping[str, Any]) -> Evaluation:
    """Store a match result (W/D/L, win rate, Elo and its 95% interval)."""

    def number(key: str) -> float | None:
        value = result.get(key)
        return float(value) if isinstance(value, int | float) else None

    return Evaluation.objects.create(
        run_id=run_id,
        step=int(result.get("step", 0)),
        opponent=str(result.get("opponent", ""))[:300],
        games=int(result["games"]),
        wins=int(result["wins"]),
        draws=int(result["draws"]),
        losses=int(result["losses"]),
        win_rate=float(result["win_rate"]),
        elo=number("elo"),
        elo_low=number("elo_low"),
        elo_high=number("elo_high"),
        data={k: v for k, v in result.items() if isinstance(v, int | float | str)},
    )
