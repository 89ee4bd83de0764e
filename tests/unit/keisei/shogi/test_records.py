"""Game records: KIF and CSA written by cshogi's exporters, parsed back by cshogi's parsers."""

from datetime import UTC, datetime

from cshogi import CSA, KIF, move_to_usi

from keisei.shogi.env import ShogiGame
from keisei.shogi.evaluate import RandomPlayer, play_game
from keisei.shogi.records import game_record


def test_kif_and_csa_round_trip_through_cshogi_parsers():
    game = play_game(RandomPlayer(3), RandomPlayer(4), max_plies=60)
    record = game_record(game, ("alice", "bob"), started=datetime(2026, 1, 1, tzinfo=UTC))
    assert record["plies"] == len(record["moves"]) == game.plies

    kif = KIF.Parser.parse_str(record["kif"])
    assert [move_to_usi(m) for m in kif.moves] == record["moves"]
    assert kif.names == ["alice", "bob"]

    csa = CSA.Parser.parse_str(record["csa"])[0]
    assert [move_to_usi(m) for m in csa.moves] == record["moves"]
    assert csa.names == ["alice", "bob"]


def test_checkmate_record_names_the_winner():
    game = ShogiGame(max_plies=10, sfen="8k/9/8P/9/9/9/9/9/K8 b G 1")
    game.push(game.board.move_from_usi("G*1b"))
    record = game_record(game, ("a", "b"))
    assert (record["result"], record["reason"]) == ("black_win", "checkmate")
    csa = CSA.Parser.parse_str(record["csa"])[0]
    assert csa.sfen.split()[0] == "8k/9/8P/9/9/9/9/9/K8"
    assert [move_to_usi(m) for m in csa.moves] == ["G*1b"]
    assert "%TORYO" in record["csa"]
