"""The rules' side of playing a checkpoint (keisei.shogi.play and Analyser.play_turn): every
refused move says why, the network answers greedily or sampled, the game ends by the engine's
rules or resignation, and its record is written in KIF and CSA."""

from __future__ import annotations

from pathlib import Path

import cshogi
import pytest

from keisei.interfaces import GameOpponent, MoveRefused
from keisei.shogi.analysis import Analyser
from keisei.shogi.play import game_record_of, game_replay, game_state, move_push, move_refusal
from play.services import PlayRejected, play_temperature
from tests.support.shogi import TINY_SHOGI, train_tiny_shogi

START = cshogi.STARTING_SFEN


def board(sfen: str = START, moves: tuple[str, ...] = ()) -> cshogi.Board:
    return game_replay(sfen, list(moves), max_plies=320).board


@pytest.mark.parametrize(
    ("sfen", "usi", "reason"),
    [
        (START, "7g7f", None),
        (START, "7g7e", "the pawn on 7g cannot move to 7e"),
        (START, "5e5d", "there is no piece on 5e"),
        (START, "3c3d", "the piece on 3c is not yours"),
        (START, "9i9g", "9g holds your own piece"),
        (START, "7g7f+", "the pawn cannot promote moving from 7g to 7f"),
        (START, "P*5e", "you have no pawn in hand"),
        (START, "hello", "not a move in USI notation (e.g. 7g7f, 8h2b+, P*5e)"),
        (START, "", "not a move in USI notation (e.g. 7g7f, 8h2b+, P*5e)"),
        ("4k4/P8/9/9/9/9/9/9/4K4 b - 1", "9b9a", "the pawn must promote on 9a"),
        ("4k4/9/9/9/9/9/4P4/9/4K4 b P 1", "P*5e", "an unpromoted pawn on file 5 (nifu)"),
        ("4k4/9/9/9/9/9/4P4/9/4K4 b P 1", "P*1a", "a pawn dropped on 1a could never move"),
        ("4k4/9/9/9/4r4/9/4G4/9/4K4 b - 1", "5g6g", "it leaves your king in check"),
        (
            "4k4/9/9/9/4r4/9/9/9/P3K4 b - 1",
            "9i9h",
            "your king is in check and this does not answer it",
        ),
        ("4k4/9/9/9/4r4/9/9/9/P3K4 b - 1", "9i9f", "the pawn on 9i cannot move to 9f"),
        ("4k4/9/9/9/4r4/9/9/9/L3K4 b - 1", "9i9b", "your king is in check and this does not"),
        ("4k4/9/9/9/4r4/9/9/9/B3K4 b - 1", "9i6f", "your king is in check and this does not"),
        ("4k4/9/9/9/4r4/9/9/9/B3K4 b - 1", "9i9h", "the bishop on 9i cannot move to 9h"),
        ("8k/6S2/7G1/9/9/9/9/9/4K4 b P 1", "P*1b", "may not give checkmate (uchifuzume)"),
        ("8k/6S2/7G1/9/9/9/9/9/4K4 b P 1", "2c2b", None),
    ],
)
def test_a_refused_move_says_why(sfen, usi, reason):
    got = move_refusal(board(sfen), usi)
    if reason is None:
        assert got is None
    else:
        assert got is not None and reason in got, got


def test_a_refused_push_names_the_move_and_changes_nothing():
    game = game_replay("startpos", ["7g7f"], max_plies=320)
    with pytest.raises(MoveRefused, match=r"^3c3e is not legal here: the pawn on 3c cannot"):
        move_push(game, "3c3e")
    assert game.usi_moves() == ["7g7f"] and game_state(game)["side_to_move"] == "white"


def test_the_state_lists_the_legal_moves_until_the_end():
    state = game_state(game_replay("startpos", [], max_plies=320))
    assert len(state["legal_moves"]) == 30 and not state["over"] and state["last_move"] is None
    game = game_replay("4k4/9/4P4/9/9/9/9/9/4K4 b G 1", [], max_plies=320)
    move_push(game, "G*5b")  # protected by the pawn: mate
    state = game_state(game)
    assert state["over"] and state["legal_moves"] == [] and state["last_move"] == "G*5b"
    assert (state["reason"], state["result"]) == ("checkmate", "black_win")
    with pytest.raises(MoveRefused, match="the game is over"):
        move_push(game, "5a4a")


def test_a_resignation_is_written_as_one_in_kif_and_csa():
    game = game_replay("startpos", ["7g7f", "3c3d"], max_plies=320)
    record = game_record_of(game, names=("user:olivia", "checkpoint:3"), resigned="black")
    assert record["result"] == "white_win" and record["reason"] == "resignation"
    assert record["plies"] == 2 and record["moves"] == ["7g7f", "3c3d"]
    assert "投了" in record["kif"] and "後手の勝ち" in record["kif"]
    assert "先手：user:olivia" in record["kif"] and record["csa"].rstrip().endswith("%TORYO")
    # Only the side to move resigns (what 投了 and %TORYO mean).
    with pytest.raises(ValueError, match="side to move"):
        game_record_of(
            game_replay("startpos", ["7g7f"], max_plies=320), names=("a", "b"), resigned="black"
        )
    with pytest.raises(ValueError, match="not over"):
        game_record_of(game_replay("startpos", [], max_plies=320), names=("a", "b"))


@pytest.mark.parametrize("raw", ["0", "0.04", "5.5", "hot", "nan", "inf", True])
def test_a_temperature_out_of_bounds_is_refused_by_name(raw):
    with pytest.raises(PlayRejected) as refused:
        play_temperature(raw)
    assert list(refused.value.fields) == ["temperature"]


def test_a_temperature_in_bounds_is_taken():
    assert (
        play_temperature("") == 1.0
        and play_temperature("0.05") == 0.05
        and play_temperature(5) == 5.0
    )


@pytest.fixture(scope="module")
def analyser(tmp_path_factory) -> Analyser:
    path: Path = train_tiny_shogi(tmp_path_factory.mktemp("tiny-play"))[-1].path
    return Analyser(path)


def test_the_network_answers_greedily_with_its_likeliest_move(analyser):
    assert isinstance(analyser, GameOpponent)
    turn = analyser.play_turn("startpos", [], "7g7f", temperature=0.0, seed=1)
    assert turn["moves"][0] == "7g7f" and len(turn["moves"]) == 2
    after = game_replay("startpos", ["7g7f"], max_plies=320).board.sfen()
    likeliest = analyser.analyse([after], top_k=1)[0]["top_moves"][0]["usi"]
    assert turn["model_move"] == likeliest == turn["moves"][1]
    assert turn["state"]["side_to_move"] == "black" and turn["state"]["ply"] == 2
    analysis = turn["analysis"]
    assert 0 <= analysis["win_probability"] <= 1 and len(analysis["top_moves"]) == 5
    assert all(m["usi"] in turn["state"]["legal_moves"] for m in analysis["top_moves"])


def test_sampled_answers_follow_the_seed(analyser):
    def answers(seed: int) -> list[str]:
        return [
            analyser.play_turn("startpos", [], None, temperature=5.0, seed=seed + i)["model_move"]
            for i in range(12)
        ]

    first = answers(100)
    assert answers(100) == first  # the same seed, the same moves
    assert len(set(first)) > 1  # a hot temperature spreads them


def test_a_refused_move_is_not_answered(analyser):
    with pytest.raises(MoveRefused, match="7g7e is not legal here"):
        analyser.play_turn("startpos", [], "7g7e", temperature=0.0, seed=1)


def test_the_ply_cap_ends_the_game_and_its_record_says_so(analyser):
    moves: list[str] = []
    turn = None
    for _ in range(TINY_SHOGI["max_plies"]):
        state = analyser.game_state("startpos", moves)
        if state["over"]:
            break
        # The person plays the network's own favourite too: a game that reaches the cap.
        mine = analyser.analyse([state["sfen"]], top_k=1)[0]["top_moves"][0]["usi"]
        turn = analyser.play_turn("startpos", moves, mine, temperature=0.0, seed=0)
        moves = turn["moves"]
    assert turn is not None and turn["state"]["over"]
    assert turn["analysis"] is None and turn["state"]["legal_moves"] == []
    if turn["state"]["reason"] == "max_plies":
        assert len(moves) == TINY_SHOGI["max_plies"] and turn["state"]["result"] == "draw"
    record = analyser.game_record("startpos", moves, names=("user:a", "checkpoint:1"))
    assert record["reason"] == turn["state"]["reason"] and record["plies"] == len(moves)
    assert record["kif"] and record["csa"]
