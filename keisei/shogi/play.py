"""A person's game against a checkpoint (the portal's play page): the rules' side of it.

A game is kept by the caller as its start and its USI moves; every turn replays it here
(cshogi makes that microseconds), so nothing of a game lives in a process between requests.
A person's move is checked against the generated legal moves, and a refused one is told why
in words (``move_refusal``): "the pawn on 7g cannot move to 7e", not just "illegal". The end
rules are ``ShogiGame``'s (mate, sennichite and perpetual check, entering king, the ply cap),
plus resignation, which only a person does here. Records are written by ``records``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import cshogi

from keisei.interfaces import MoveRefused
from keisei.shogi.analysis import check_sfen
from keisei.shogi.env import BLACK, CHECKMATE, ONGOING, MoveResult, ShogiGame
from keisei.shogi.records import csa_text, kif_text, result_text

RESIGNATION = "resignation"
USI_MOVE = re.compile(r"^(?:[1-9][a-i][1-9][a-i]\+?|[PLNSGBR]\*[1-9][a-i])$")
FILES, RANKS = "123456789", "abcdefghi"
# By cshogi piece type (piece & 15); index 0 is an empty square.
PIECE_NAMES = (
    "",
    "pawn",
    "lance",
    "knight",
    "silver",
    "bishop",
    "rook",
    "gold",
    "king",
    "tokin",
    "promoted lance",
    "promoted knight",
    "promoted silver",
    "horse",
    "dragon",
)
# A drop's letter -> (its name, its index in cshogi's ``pieces_in_hand`` lists).
HAND = {
    "P": ("pawn", 0),
    "L": ("lance", 1),
    "N": ("knight", 2),
    "S": ("silver", 3),
    "B": ("bishop", 5),
    "R": ("rook", 6),
    "G": ("gold", 4),
}
START_WORDS = ("", "startpos")


def square_index(square: str) -> int:
    """cshogi's index of a USI square ("7g"): (file - 1) * 9 + (rank - 1)."""
    return FILES.index(square[0]) * 9 + RANKS.index(square[1])


def game_replay(start_sfen: str, moves: Sequence[str], *, max_plies: int) -> ShogiGame:
    """The game from its start and moves; ``ValueError`` for a bad start or a move the rules
    refuse (a stored game that no longer replays is damaged, not the person's mistake)."""
    sfen = cshogi.STARTING_SFEN if start_sfen in START_WORDS else check_sfen(start_sfen).sfen()
    return ShogiGame.replay(max_plies, sfen, list(moves))


def move_refusal(board: cshogi.Board, usi: object) -> str | None:
    """None if ``usi`` is a legal move on ``board``; otherwise why not, for a person."""
    if not isinstance(usi, str) or not USI_MOVE.match(usi):
        return "not a move in USI notation (e.g. 7g7f, 8h2b+, P*5e)"
    legal = {cshogi.move_to_usi(m) for m in board.legal_moves}
    if usi in legal:
        return None
    if not legal:
        return "the game is over: there is no legal move"
    reason = _drop_refusal(board, usi) if usi[1] == "*" else _board_move_refusal(board, usi, legal)
    if reason is not None:
        return reason
    # What is left moves a piece the way it moves, to a square it may reach: it is the king.
    if board.is_check():
        return "your king is in check and this does not answer it"
    if usi.startswith("P*"):  # a drop cannot uncover the king: the pawn mates
        return "a pawn drop may not give checkmate (uchifuzume)"
    return "it leaves your king in check"


def _owner(piece: int) -> int:
    return int(cshogi.BLACK if piece < 16 else cshogi.WHITE)


def _drop_refusal(board: cshogi.Board, usi: str) -> str | None:
    name, index = HAND[usi[0]]
    to = usi[2:4]
    if board.pieces_in_hand[board.turn][index] == 0:
        return f"you have no {name} in hand"
    if board.piece(square_index(to)):
        return f"{to} is occupied"
    rank = RANKS.index(to[1]) if board.turn == BLACK else 8 - RANKS.index(to[1])
    if (usi[0] in "PL" and rank == 0) or (usi[0] == "N" and rank <= 1):
        return f"a {name} dropped on {to} could never move"
    if usi[0] == "P":
        own_pawn = cshogi.BPAWN if board.turn == BLACK else cshogi.WPAWN
        column = FILES.index(to[0]) * 9
        if any(board.piece(column + r) == own_pawn for r in range(9)):
            return f"you already have an unpromoted pawn on file {to[0]} (nifu)"
    return None


def _board_move_refusal(board: cshogi.Board, usi: str, legal: set[str]) -> str | None:
    origin, to = usi[:2], usi[2:4]
    piece = board.piece(square_index(origin))
    if not piece:
        return f"there is no piece on {origin}"
    if _owner(piece) != board.turn:
        return f"the piece on {origin} is not yours"
    name = PIECE_NAMES[piece & 15]
    target = board.piece(square_index(to))
    if target and _owner(target) == board.turn:
        return f"{to} holds your own piece"
    if usi.endswith("+") and usi[:4] in legal:
        return f"the {name} cannot promote moving from {origin} to {to}"
    if not usi.endswith("+") and usi + "+" in legal:
        return f"the {name} must promote on {to}: it could never move again"
    pseudo = {cshogi.move_to_usi(m) for m in board.pseudo_legal_moves}
    # In check, cshogi generates only evasions: the piece's own moves are asked of _reaches.
    if usi not in pseudo and not (board.is_check() and _reaches(board, origin, to, piece)):
        return f"the {name} on {origin} cannot move to {to}"
    return None


_STEPS = {  # (file, rank) steps of Black's pieces by type; rank -1 is forward (towards a)
    "pawn": [(0, -1)],
    "knight": [(-1, -2), (1, -2)],
    "silver": [(-1, -1), (0, -1), (1, -1), (-1, 1), (1, 1)],
    "gold": [(-1, -1), (0, -1), (1, -1), (-1, 0), (1, 0), (0, 1)],
    "king": [(f, r) for f in (-1, 0, 1) for r in (-1, 0, 1) if f or r],
    "orthogonal": [(0, -1), (0, 1), (-1, 0), (1, 0)],
    "diagonal": [(-1, -1), (1, -1), (-1, 1), (1, 1)],
    "lance": [(0, -1)],
}
# By piece type: (step sets, slide sets).
_MOVES: dict[int, tuple[tuple[str, ...], tuple[str, ...]]] = {
    1: (("pawn",), ()),
    2: ((), ("lance",)),
    3: (("knight",), ()),
    4: (("silver",), ()),
    5: ((), ("diagonal",)),
    6: ((), ("orthogonal",)),
    7: (("gold",), ()),
    8: (("king",), ()),
    9: (("gold",), ()),
    10: (("gold",), ()),
    11: (("gold",), ()),
    12: (("gold",), ()),
    13: (("orthogonal",), ("diagonal",)),
    14: (("diagonal",), ("orthogonal",)),
}


def _reaches(board: cshogi.Board, origin: str, to: str, piece: int) -> bool:
    """Whether ``piece`` on ``origin`` moves to ``to`` by its own moves (over empty squares),
    whatever its king's plight."""
    side = 1 if _owner(piece) == cshogi.BLACK else -1
    f0, r0 = FILES.index(origin[0]), RANKS.index(origin[1])
    target = (FILES.index(to[0]), RANKS.index(to[1]))
    steps, slides = _MOVES[piece & 15]
    for name in steps:
        if any((f0 + df, r0 + dr * side) == target for df, dr in _STEPS[name]):
            return True
    for name in slides:
        for df, dr in _STEPS[name]:
            f, r = f0 + df, r0 + dr * side
            while 0 <= f < 9 and 0 <= r < 9:
                if (f, r) == target:
                    return True
                if board.piece(f * 9 + r):
                    break
                f, r = f + df, r + dr * side
    return False


def move_push(game: ShogiGame, usi: str) -> MoveResult:
    """Play a person's move; ``MoveRefused`` saying why the rules refuse it."""
    if game.result.is_over:
        raise MoveRefused(f"{usi} is not legal here: the game is over ({game.result.reason})")
    reason = move_refusal(game.board, usi)
    if reason is not None:
        raise MoveRefused(f"{usi} is not legal here: {reason}")
    return game.push(game.board.move_from_usi(usi))


def game_state(game: ShogiGame) -> dict[str, Any]:
    """Where a game stands, for a person: the position, whose move, the legal moves (none
    once over) and, once over, the result and why."""
    board = game.board
    usi = game.usi_moves()
    over = game.result.is_over
    return {
        "sfen": board.sfen(),
        "ply": game.plies,
        "last_move": usi[-1] if usi else None,
        "side_to_move": "black" if board.turn == BLACK else "white",
        "in_check": bool(board.is_check()),
        "legal_moves": [] if over else sorted(cshogi.move_to_usi(m) for m in board.legal_moves),
        "over": over,
        "reason": "" if not over else game.result.reason,
        "result": "" if not over else result_text(game),
    }


def game_record_of(
    game: ShogiGame,
    *,
    names: tuple[str, str],
    resigned: str | None = None,
    started: datetime | None = None,
) -> dict[str, Any]:
    """The record of a finished game (keys as ``records.game_record``); ``resigned`` names
    the side that resigned ("black" or "white"), if one did.

    KIF and CSA write a resignation as they write a mate (the mated side resigns: 投了,
    %TORYO), so the writers are given the game as if mated and the record keeps the reason.
    ``ValueError`` for a game not over, or a resignation by the side not to move."""
    reason = game.result.reason
    if resigned is not None:
        if resigned not in ("black", "white"):
            raise ValueError(f"resigned must be 'black' or 'white', not {resigned!r}")
        loser = cshogi.BLACK if resigned == "black" else cshogi.WHITE
        # KIF and CSA mean by 投了 / %TORYO that the side to move resigned.
        if game.result.is_over or loser != game.board.turn:
            raise ValueError("only the side to move may resign, in a game not over")
        game.result = MoveResult(CHECKMATE, 1 - loser, loser)
        reason = RESIGNATION
    elif reason == ONGOING:
        raise ValueError("the game is not over")
    started = started or datetime.now(UTC)
    return {
        "sfen": game.start_sfen,
        "moves": game.usi_moves(),
        "plies": game.plies,
        "result": result_text(game),
        "reason": reason,
        "black": names[0],
        "white": names[1],
        "kif": kif_text(game, names, started),
        "csa": csa_text(game, names),
    }
