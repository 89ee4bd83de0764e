"""Analysis of a position by a checkpoint: value, top moves, policy mass per square."""

import math
import re
import subprocess
import sys
from pathlib import Path

import cshogi
import pytest

from keisei import CheckpointError
from keisei.interfaces import Capability
from keisei.shogi.analysis import Analyser, check_sfen
from keisei.shogi.trainer import ShogiPPOTrainer
from tests.support.shogi import train_tiny_shogi


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return train_tiny_shogi(tmp_path_factory.mktemp("tiny-analysis"))[-1].path


def test_the_start_position_is_analysed(checkpoint):
    assert ShogiPPOTrainer.can(Capability.ANALYSES_POSITIONS)
    result = ShogiPPOTrainer.analyse_position(checkpoint, cshogi.STARTING_SFEN, top_k=3)
    assert result["side_to_move"] == "black" and result["legal_moves"] == 30
    assert 0.0 <= result["win_probability"] <= 1.0
    assert result["win_probability"] == pytest.approx((result["value"] + 1) / 2)
    top = result["top_moves"]
    assert len(top) == 3
    legal = {cshogi.move_to_usi(m) for m in cshogi.Board().legal_moves}
    assert all(m["usi"] in legal for m in top)
    assert [m["probability"] for m in top] == sorted((m["probability"] for m in top), reverse=True)
    mass = result["square_mass"]
    assert len(mass) == 81 and math.isclose(sum(mass), 1.0, abs_tol=1e-5)
    # Black's first moves land on ranks b-h only, never on rank a or i, nor on White's camp.
    assert all(mass[f * 9 + r] == 0.0 for f in range(9) for r in (0, 1, 2, 8))
    # Each top move's probability is inside the mass of its destination square.
    for move in top:
        square = (int(move["usi"][2]) - 1) * 9 + "abcdefghi".index(move["usi"][3])
        assert mass[square] >= move["probability"] - 1e-9


def test_a_batch_answers_like_single_positions(checkpoint):
    sfens = [cshogi.STARTING_SFEN, "4k4/9/9/9/4r4/9/9/4R4/4K4 w - 1"]
    analyser = Analyser(checkpoint)
    batch = analyser.analyse(sfens, top_k=2)
    for sfen, answer in zip(sfens, batch, strict=True):
        alone = analyser.analyse([sfen], top_k=2)[0]
        assert alone["top_moves"][0]["usi"] == answer["top_moves"][0]["usi"]
        assert alone["value"] == pytest.approx(answer["value"], abs=1e-5)
    assert batch[1]["side_to_move"] == "white"


def test_a_mated_side_has_no_moves_and_no_mass(checkpoint):
    mated = "7nk/7pG/8P/9/9/9/9/9/K8 w - 1"  # the gold on 1b, held by the pawn on 1c
    result = ShogiPPOTrainer.analyse_position(checkpoint, mated)
    assert result["legal_moves"] == 0 and result["top_moves"] == []
    assert sum(result["square_mass"]) == 0.0


@pytest.mark.parametrize(
    "sfen, reason",
    [
        ("garbage", "expected"),
        ("4k4/9/9/9/9/9/9/9/4K4 x - 1", "side to move"),
        ("4k4/9/9/9/9/9/9/9/4K3 b - 1", "rank 9 has 8 squares"),
        ("4k4/9/9/9/9/9/9/9/4+K4 b - 1", "unexpected 'K'"),
        ("9/9/9/9/9/9/9/9/9 b - 1", "one king"),
        ("4k4/9/9/9/9/9/9/9/4K4 b 19P 1", "more than 18 of piece P"),
        ("4k4/4R4/9/9/9/9/9/9/4K4 b - 1", "consistent"),
        ("4k4/9/9/9/9/9/9/9/4K4 b X 1", "in hand"),
    ],
)
def test_a_bad_sfen_is_a_value_error_naming_it(checkpoint, sfen, reason):
    with pytest.raises(ValueError, match=re.escape(f"bad SFEN {sfen!r}") + ".*" + reason):
        ShogiPPOTrainer.analyse_position(checkpoint, sfen)


def test_a_sfen_that_aborts_cshogi_is_refused_before_cshogi_sees_it():
    # cshogi terminates the process on this string; check_sfen must refuse it first.
    code = (
        "from keisei.shogi.analysis import check_sfen\n"
        "try:\n    check_sfen('4k4/9/9/9/9/9/9/9/4K4 x - 1')\n"
        "except ValueError:\n    print('refused')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0 and done.stdout.strip() == "refused", done.stderr
    assert check_sfen("sfen " + cshogi.STARTING_SFEN).sfen() == cshogi.STARTING_SFEN


def test_an_unusable_checkpoint_is_a_checkpoint_error(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="bad.pt"):
        ShogiPPOTrainer.analyse_position(bad, cshogi.STARTING_SFEN)


def test_a_loaded_analyser_answers_as_the_one_shot_analysis(checkpoint):
    analyser = ShogiPPOTrainer.position_analyser(checkpoint)
    again = analyser.analyse([cshogi.STARTING_SFEN], top_k=3)[0]
    once = ShogiPPOTrainer.analyse_position(checkpoint, cshogi.STARTING_SFEN, top_k=3)
    assert again["top_moves"] == once["top_moves"]
    assert again["value"] == pytest.approx(once["value"], abs=1e-6)


def test_a_games_positions_stop_before_the_first_illegal_move():
    moves = ["7g7f", "3c3d", "8h2b+", "3a2b", "B*5e"]
    positions = ShogiPPOTrainer.game_positions("startpos", moves)
    assert len(positions) == 6 and positions[0] == cshogi.STARTING_SFEN
    board = cshogi.Board()
    for move in moves:
        board.push_usi(move)
    assert positions[-1] == board.sfen()
    # "7g7f+" promotes a pawn outside the zone: cshogi's own is_legal lets it through.
    for bad in ("7g7f+", "7g7e", "P*5e", "5i5g", "x", ""):
        assert ShogiPPOTrainer.game_positions("", [bad, "3c3d"]) == positions[:1], bad
    with pytest.raises(ValueError, match="bad SFEN 'nonsense'"):
        ShogiPPOTrainer.game_positions("nonsense", [])
