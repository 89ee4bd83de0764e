"""What a checkpoint thinks of a position: value, best moves, and where its policy points.

For the board views and for playing against a checkpoint: given a position (SFEN), the value
head's verdict as a win probability for the side to move, the top-k legal moves with their
policy probabilities, and the policy mass per destination square (81 numbers, for a heatmap).

A SFEN is checked here before cshogi sees it: cshogi's parser aborts the whole process
(``std::terminate``) on some malformed strings, which no ``try`` can catch.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cshogi
import numpy as np
import torch

from keisei.shogi.checkpoint import read_network
from keisei.shogi.features import NUM_FEATURES, LegalMoves, fill_observations
from keisei.shogi.network import Precision
from keisei.shogi.ppo import masked_logits, sample_actions

# How many of each piece a set holds (board and hands together), by unpromoted letter.
PIECE_TOTALS = {"P": 18, "L": 4, "N": 4, "S": 4, "G": 4, "B": 2, "R": 2, "K": 2}
_PROMOTABLE = set("PLNSBR")
_HAND = re.compile(r"(\d*)([PLNSGBRplnsgbr])")


class _Refused(Exception):
    """What is wrong with a SFEN (check_sfen adds the SFEN itself)."""


def check_sfen(sfen: str) -> cshogi.Board:
    """The board of ``sfen``; ValueError naming the SFEN and what is wrong with it.

    Accepts ``<board> <b|w> <hands> [<move number>]`` (optionally prefixed ``sfen``) with nine
    ranks of nine squares, at most a set's worth of each piece, one king per side, and a
    position cshogi finds consistent (the side that just moved is not in check).
    """
    try:
        normalised = _checked_fields(sfen)
    except _Refused as exc:
        raise ValueError(f"bad SFEN {sfen!r}: {exc}") from None
    board = cshogi.Board()
    board.set_sfen(normalised)
    if not board.is_ok():
        raise ValueError(
            f"bad SFEN {sfen!r}: not a consistent position (is the side that just moved in check?)"
        )
    return board


def _checked_fields(sfen: object) -> str:
    """The SFEN rebuilt from fields that passed every check; _Refused says which did not."""
    if not isinstance(sfen, str):
        raise _Refused("not a string")
    parts = sfen.split()
    if parts[:1] == ["sfen"]:
        parts = parts[1:]
    if len(parts) not in (3, 4):
        raise _Refused("expected '<board> <b|w> <hands> [<move number>]'")
    board, side, hands = parts[:3]
    number = parts[3] if len(parts) == 4 else "1"
    if not (number.isdigit() and 0 < int(number) < 10_000):
        raise _Refused("the move number must be a positive integer")
    if side not in ("b", "w"):
        raise _Refused("the side to move must be 'b' or 'w'")
    counts = _board_pieces(board) + _hand_pieces(hands)
    for piece, total in PIECE_TOTALS.items():
        if counts[piece] + counts[piece.lower()] > total:
            raise _Refused(f"more than {total} of piece {piece}")
    if counts["K"] != 1 or counts["k"] != 1:
        raise _Refused("each side needs exactly one king")
    return " ".join([board, side, hands, number])


def _board_pieces(board: str) -> Counter[str]:
    counts: Counter[str] = Counter()
    ranks = board.split("/")
    if len(ranks) != 9:
        raise _Refused(f"{len(ranks)} ranks instead of 9")
    for number, rank in enumerate(ranks, start=1):
        squares, promoted = 0, False
        for char in rank:
            if char.isdigit() and char != "0" and not promoted:
                squares += int(char)
            elif char == "+" and not promoted:
                promoted = True
            elif char.upper() in PIECE_TOTALS and (not promoted or char.upper() in _PROMOTABLE):
                counts[char] += 1
                squares, promoted = squares + 1, False
            else:
                raise _Refused(f"rank {number} has an unexpected {char!r}")
        if squares != 9 or promoted:
            raise _Refused(f"rank {number} has {squares} squares instead of 9")
    return counts


def _hand_pieces(hands: str) -> Counter[str]:
    counts: Counter[str] = Counter()
    if hands == "-":
        return counts
    if _HAND.sub("", hands):
        raise _Refused(f"unreadable pieces in hand {hands!r}")
    for count, piece in _HAND.findall(hands):
        counts[piece] += int(count or 1)
    return counts


class Analyser:
    """A checkpoint's network, loaded once, that analyses positions in batches.

    ``CheckpointError`` for an unusable file (from ``read_network``). fp32 on the CPU unless
    a device is named, as players do: analysis runs beside training.
    """

    def __init__(self, checkpoint: Path, *, device: str | None = None) -> None:
        cfg, net = read_network(Path(checkpoint))
        self.max_plies = cfg.max_plies  # the ply cap of a game played against it
        device = device or "cpu"
        self.precision = Precision(cfg.precision if device.startswith("cuda") else "fp32", device)
        self.model = self.precision.prepare_model(net).eval()

    @torch.no_grad()
    def analyse(self, sfens: Sequence[str], *, top_k: int = 5) -> list[dict[str, Any]]:
        """One analysis per SFEN (all checked before the network runs), in one batch."""
        if top_k < 1:
            raise ValueError("top_k must be at least 1")
        boards = [check_sfen(sfen) for sfen in sfens]
        obs = np.zeros((len(boards), NUM_FEATURES, 9, 9), dtype=np.float32)
        fill_observations(boards, obs)
        legal = LegalMoves(len(boards))
        legal.fill(boards)
        mask = torch.from_numpy(legal.mask)
        with self.precision.autocast():
            logits, values = self.model(self.precision.prepare_input(torch.from_numpy(obs)))
        probs = torch.softmax(masked_logits(logits.float().cpu(), mask), dim=1).numpy()
        probs[~legal.mask] = 0.0  # a mated side has no legal move: no mass anywhere
        values = values.float().cpu().numpy()
        return [
            self._one(board, probs[i], float(values[i]), legal, i, top_k)
            for i, board in enumerate(boards)
        ]

    @torch.no_grad()
    def choose_move(
        self, board: cshogi.Board, *, temperature: float, seed: int
    ) -> tuple[str, float]:
        """The network's move on ``board`` (which has a legal move), sampled at
        ``temperature`` (0: its likeliest move) with a generator seeded by ``seed``, and the
        move's probability under the policy at temperature 1."""
        obs = np.zeros((1, NUM_FEATURES, 9, 9), dtype=np.float32)
        fill_observations([board], obs)
        legal = LegalMoves(1)
        legal.fill([board])
        with self.precision.autocast():
            logits, _ = self.model(self.precision.prepare_input(torch.from_numpy(obs)))
        generator = torch.Generator().manual_seed(seed)
        actions, log_probs = sample_actions(
            logits.float().cpu(), torch.from_numpy(legal.mask), generator, temperature
        )
        move = legal.move(0, int(actions[0]))
        return cshogi.move_to_usi(move), float(log_probs[0].exp())

    # ----- playing a person (keisei.interfaces.GameOpponent) ---------------------------------

    def play_turn(
        self,
        start_sfen: str,
        moves: Sequence[str],
        move: str | None,
        *,
        temperature: float,
        seed: int,
        top_k: int = 5,
    ) -> dict[str, Any]:
        """The person's ``move``, then the network's answer and the analysis of the position
        the person then faces (``GameOpponent.play_turn``)."""
        from keisei.shogi import play  # it imports check_sfen from here

        game = play.game_replay(start_sfen, moves, max_plies=self.max_plies)
        if move is not None:
            play.move_push(game, move)
        model_move, probability = None, None
        if not game.result.is_over:
            model_move, probability = self.choose_move(
                game.board, temperature=temperature, seed=seed
            )
            game.push(game.board.move_from_usi(model_move))
        analysis = None
        if not game.result.is_over:
            answer = self.analyse([game.board.sfen()], top_k=top_k)[0]
            analysis = {k: answer[k] for k in ("value", "win_probability", "top_moves")}
        return {
            "moves": game.usi_moves(),
            "model_move": model_move,
            "model_probability": probability,
            "state": play.game_state(game),
            "analysis": analysis,
        }

    def game_state(self, start_sfen: str, moves: Sequence[str]) -> dict[str, Any]:
        from keisei.shogi import play

        return play.game_state(play.game_replay(start_sfen, moves, max_plies=self.max_plies))

    def game_record(
        self,
        start_sfen: str,
        moves: Sequence[str],
        *,
        names: tuple[str, str],
        resigned: str | None = None,
    ) -> dict[str, Any]:
        from keisei.shogi import play

        game = play.game_replay(start_sfen, moves, max_plies=self.max_plies)
        return play.game_record_of(game, names=names, resigned=resigned)

    @staticmethod
    def _one(
        board: cshogi.Board,
        probs: np.ndarray,
        value: float,
        legal: LegalMoves,
        i: int,
        top_k: int,
    ) -> dict[str, Any]:
        labels = np.flatnonzero(legal.mask[i])
        square_mass = np.zeros(81, dtype=np.float64)
        moves = []
        for label in labels:
            move = legal.move(i, int(label))
            square_mass[cshogi.move_to(move)] += probs[label]
            moves.append((float(probs[label]), cshogi.move_to_usi(move)))
        moves.sort(key=lambda pm: (-pm[0], pm[1]))
        return {
            "sfen": board.sfen(),
            "side_to_move": "black" if board.turn == cshogi.BLACK else "white",
            "value": value,
            "win_probability": (value + 1.0) / 2.0,
            "legal_moves": len(moves),
            "top_moves": [{"usi": usi, "probability": p} for p, usi in moves[:top_k]],
            "square_mass": [float(m) for m in square_mass],
        }


def game_positions(start_sfen: str, moves: Sequence[str]) -> list[str]:
    """The SFEN before the first move and after each of ``moves`` (USI), stopping before the
    first move that is not legal in its position; ``ValueError`` naming a bad start SFEN.
    ``"startpos"`` or an empty start is the standard opening."""
    board = check_sfen(start_sfen if start_sfen not in ("", "startpos") else cshogi.STARTING_SFEN)
    positions = [board.sfen()]
    for usi in moves:
        # Checked against the generated moves: cshogi's is_legal accepts "7g7f+" (a pawn
        # promoting outside the zone) from move_from_usi.
        move = board.move_from_usi(usi) if isinstance(usi, str) and 4 <= len(usi) <= 5 else 0
        if not move or move not in set(board.legal_moves):
            break
        board.push(move)
        positions.append(board.sfen())
    return positions


def analyse_position(
    checkpoint: Path, sfen: str, *, top_k: int = 5, device: str | None = None
) -> dict[str, Any]:
    """``Analyser(checkpoint).analyse([sfen])[0]``: the SFEN is checked before the file is
    read, so a bad position costs no load."""
    check_sfen(sfen)
    return Analyser(checkpoint, device=device).analyse([sfen], top_k=top_k)[0]
