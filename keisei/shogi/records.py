"""Game records: USI moves, the result, and KIF and CSA text from cshogi's exporters."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import cshogi
from cshogi import CSA, KIF

from keisei.shogi.env import (
    BLACK,
    CHECKMATE,
    MAX_PLIES,
    NYUGYOKU,
    ONGOING,
    PERPETUAL_CHECK,
    SENNICHITE,
    ShogiGame,
)

# How each way a game ends is written in CSA (special moves of CSA standard 3.0).
CSA_ENDINGS = {
    CHECKMATE: "%TORYO",  # the mated side resigns
    SENNICHITE: "%SENNICHITE",
    PERPETUAL_CHECK: "%OUTE_SENNICHITE",
    NYUGYOKU: "%KACHI",
    MAX_PLIES: "%JISHOGI",
    ONGOING: "%CHUDAN",
}


def result_text(game: ShogiGame) -> str:
    """``black_win``, ``white_win``, ``draw`` or ``unfinished``."""
    result = game.result
    if result.winner is not None:
        return "black_win" if result.winner == BLACK else "white_win"
    return "unfinished" if result.reason == ONGOING else "draw"


def kif_text(game: ShogiGame, names: tuple[str, str], started: datetime) -> str:
    exporter = KIF.Exporter()
    exporter.kifu = kifu = io.StringIO()
    exporter.prev_move = None
    exporter.move_number = 1
    handicap = None if game.start_sfen == cshogi.STARTING_SFEN else "sfen " + game.start_sfen
    exporter.header(list(names), starttime=started, handicap=handicap)
    for move in game.moves:
        exporter.move(move)
    reason = game.result.reason
    if reason == CHECKMATE:
        exporter.end("resign")
    elif reason == NYUGYOKU:
        exporter.end("win")
    elif reason in (SENNICHITE, PERPETUAL_CHECK):
        # KIF has no word for perpetual check; the loser shows in the record's result.
        exporter.end("sennichite")
    elif reason == MAX_PLIES:
        exporter.end("draw")
    return kifu.getvalue()


def csa_text(game: ShogiGame, names: tuple[str, str]) -> str:
    exporter = CSA.Exporter()
    exporter.f = text = io.StringIO()
    exporter.info(cshogi.Board(game.start_sfen), names=list(names), version="V3.0")
    for move in game.moves:
        exporter.move(move)
    exporter.endgame(CSA_ENDINGS[game.result.reason])
    return text.getvalue()


def game_record(
    game: ShogiGame, names: tuple[str, str], started: datetime | None = None
) -> dict[str, Any]:
    """A JSON-serialisable record of ``game`` (names: Black's, then White's)."""
    started = started or datetime.now(UTC)
    return {
        "sfen": game.start_sfen,
        "moves": game.usi_moves(),
        "plies": game.plies,
        "result": result_text(game),
        "reason": game.result.reason,
        "black": names[0],
        "white": names[1],
        "kif": kif_text(game, names, started),
        "csa": csa_text(game, names),
    }
