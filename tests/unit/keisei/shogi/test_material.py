"""The material players on hand-made positions, and their order of strength."""

import cshogi
import numpy as np

from keisei.shogi.env import ShogiGame
from keisei.shogi.evaluate import play_match
from keisei.shogi.material import GreedyPlayer, TwoPlyPlayer, material_gains
from keisei.shogi.players import BUILTIN_OPPONENTS, builtin_player
from keisei.shogi.trainer import ShogiPPOTrainer

# Black's rook on 5h can take White's undefended rook on 5e.
FREE_ROOK = "4k4/9/9/9/4r4/9/9/4R4/4K4 b - 1"
# Black's rook can take the pawn on 5c (and promote), but the gold on 5b takes the dragon back.
DEFENDED_PAWN = "4k4/4g4/4p4/9/9/9/9/4R4/4K4 b - 1"


def usi(game: ShogiGame, player) -> str:
    return cshogi.move_to_usi(player.choose([game])[0])


def test_material_gain_counts_the_capture_twice_and_the_promotion():
    board = cshogi.Board(DEFENDED_PAWN)
    moves = {cshogi.move_to_usi(m): m for m in board.legal_moves}
    gains = material_gains(np.array([moves["5h5c"], moves["5h5c+"], moves["5h5d"]]))
    # The pawn leaves White's board (1) and enters Black's hand (1); the dragon adds 12 - 10.
    assert gains.tolist() == [2.0, 4.0, 0.0]


def test_greedy_takes_the_free_rook():
    for seed in range(5):
        assert usi(ShogiGame(256, FREE_ROOK), GreedyPlayer(seed)) == "5h5e"
        assert usi(ShogiGame(256, FREE_ROOK), TwoPlyPlayer(seed)) == "5h5e"


def test_greedy_takes_a_defended_pawn_and_the_searcher_does_not():
    for seed in range(5):
        # 1 ply: pawn plus promotion (+4) is the best balance it sees.
        assert usi(ShogiGame(256, DEFENDED_PAWN), GreedyPlayer(seed)) == "5h5c+"
        # 2 plies: the gold takes the rook back (-22, or -20 unpromoted), and 5d loses the rook
        # to the pawn, so the searcher keeps its rook out of reach.
        assert usi(ShogiGame(256, DEFENDED_PAWN), TwoPlyPlayer(seed))[2:4] not in ("5c", "5d")


def test_both_play_a_mate_in_one_before_any_material():
    # White's king on 1a, boxed in by its own knight and pawn: the gold drop on 1b (held by the
    # pawn on 1c) mates, while the rook could take a free silver on 5e.
    sfen = "7nk/7p1/8P/9/4s4/9/9/4R4/K8 b G 1"
    for player in (GreedyPlayer(0), TwoPlyPlayer(0)):
        game = ShogiGame(256, sfen)
        game.push(player.choose([game])[0])
        assert game.result.reason == "checkmate"


def test_ties_are_broken_at_random_by_seed():
    # At the start nothing can be captured: every move ties on material.
    for cls in (GreedyPlayer, TwoPlyPlayer):
        chosen = {usi(ShogiGame(256), cls(seed)) for seed in range(8)}
        assert len(chosen) > 1, cls
        assert usi(ShogiGame(256), cls(3)) == usi(ShogiGame(256), cls(3))


def test_random_is_weaker_than_greedy_which_is_weaker_than_two_ply():
    for strong, weak in (("greedy", "random"), ("two_ply", "greedy")):
        result = play_match(builtin_player(strong, 1), builtin_player(weak, 2), 10, 256).result
        assert result.wins >= 8 and result.losses <= 1, (strong, weak, result)


def test_the_trainer_offers_them_by_name():
    assert {"random", "greedy", "two_ply"} <= ShogiPPOTrainer.builtin_opponents
    assert ShogiPPOTrainer.builtin_opponents == BUILTIN_OPPONENTS
    assert set(ShogiPPOTrainer.anchor_ratings) == {"random", "greedy", "two_ply"}
    ratings = ShogiPPOTrainer.anchor_ratings
    assert ratings["random"] < ratings["greedy"] < ratings["two_ply"]
