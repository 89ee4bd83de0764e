"""Observation planes and move labels, both from the side to move's point of view.

Observation: cshogi's dlshogi features, 119 planes of 9x9 (0/1 values), rotated so the side to
move always plays "up" the board:

- planes 0-61 (``FEATURES1``): for each side (own first, then the opponent's), 14 planes with
  the squares each piece type occupies, 14 planes with the squares each piece type attacks, and
  3 planes counting attackers of each square (>= 1, >= 2, >= 3);
- planes 62-118 (``FEATURES2``): pieces in hand for each side as unary counts (pawn 8 planes,
  lance/knight/silver/gold 4 each, bishop/rook 2 each: 28 per side), then one plane that is all
  ones when the side to move is in check.

Action: dlshogi's move label ``direction * 81 + to_square`` over 27 "directions" (10 board
directions, the same 10 with promotion, 7 drop piece types), 2187 labels in all, with squares
rotated for White. Labels of the legal moves of a position are unique, so a label names a move.
"""

from __future__ import annotations

from collections.abc import Sequence

import cshogi
import numpy as np
from cshogi import dlshogi

FEATURES1 = dlshogi.FEATURES1_NUM  # 62
NUM_FEATURES = dlshogi.FEATURES1_NUM + dlshogi.FEATURES2_NUM  # 119
MOVE_DIRECTIONS = 27
NUM_ACTIONS = MOVE_DIRECTIONS * 81  # 2187

_make_move_label = dlshogi.make_move_label


def fill_observations(boards: Sequence[cshogi.Board], out: np.ndarray) -> None:
    """Write the planes of every board into ``out`` ([len(boards), 119, 9, 9] float32)."""
    for i, board in enumerate(boards):
        board._dlshogi_make_input_features(out[i, :FEATURES1], out[i, FEATURES1:])


def legal_moves_and_labels(board: cshogi.Board) -> tuple[list[int], list[int]]:
    """The legal moves of ``board`` and their labels, in the same order."""
    moves = list(board.legal_moves)
    color = board.turn
    return moves, [_make_move_label(m, color) for m in moves]


class LegalMoves:
    """Legal moves of a batch of boards: a mask over labels and the label -> move lookup."""

    def __init__(self, num_boards: int) -> None:
        self.mask = np.zeros((num_boards, NUM_ACTIONS), dtype=np.bool_)  # [N, 2187]
        self._label_to_move: list[dict[int, int]] = [{} for _ in range(num_boards)]

    def fill(self, boards: Sequence[cshogi.Board]) -> None:
        """Rebuild the mask and the lookup for ``boards`` (in index order)."""
        self.mask[:] = False
        for i, board in enumerate(boards):
            self.fill_one(i, board)

    def fill_one(self, i: int, board: cshogi.Board) -> None:
        moves, labels = legal_moves_and_labels(board)
        self.mask[i, labels] = True
        self._label_to_move[i] = dict(zip(labels, moves, strict=True))

    def move(self, i: int, label: int) -> int:
        """The cshogi move of board ``i`` that ``label`` names; KeyError if it is not legal."""
        return self._label_to_move[i][label]
