"""The rules of game end, the legal-move mask and the action mapping, on known positions."""

import cshogi
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from keisei.shogi.env import (
    BLACK,
    CHECKMATE,
    MAX_PLIES,
    NYUGYOKU,
    ONGOING,
    PERPETUAL_CHECK,
    SENNICHITE,
    WHITE,
    SelfPlayEnvs,
    ShogiGame,
    material_gain,
)
from keisei.shogi.evaluate import RandomPlayer
from keisei.shogi.features import (
    NUM_ACTIONS,
    LegalMoves,
    fill_observations,
    legal_moves_and_labels,
)
from keisei.shogi.material import GreedyPlayer
from keisei.shogi.ppo import sample_actions


def push_usi(game: ShogiGame, usi: str):
    return game.push(game.board.move_from_usi(usi))


def random_position(seed: int, plies: int) -> cshogi.Board:
    """A position reached by random legal play (stops early if the game ends)."""
    rng = np.random.default_rng(seed)
    game = ShogiGame(max_plies=10_000)
    for _ in range(plies):
        moves = list(game.board.legal_moves)
        if game.result.is_over or not moves:
            break
        game.push(moves[int(rng.integers(len(moves)))])
    return game.board


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), plies=st.integers(0, 200), logit_seed=st.integers(0, 999))
def test_sampled_move_is_always_legal(seed, plies, logit_seed):
    board = random_position(seed, plies)
    if board.is_game_over():
        return
    legal = LegalMoves(1)
    legal.fill([board])
    # Arbitrary (adversarial) logits: illegal labels may have the largest ones.
    logits = torch.randn(1, NUM_ACTIONS, generator=torch.Generator().manual_seed(logit_seed)) * 50
    for temperature in (1.0, 0.0, 5.0):
        action, logprob = sample_actions(
            logits, torch.from_numpy(legal.mask), torch.Generator().manual_seed(seed), temperature
        )
        move = legal.move(0, int(action))
        assert board.is_legal(move)
        assert torch.isfinite(logprob).all()
    # Labels name moves one to one: as many mask bits as legal moves.
    assert int(legal.mask.sum()) == len(list(board.legal_moves))


def test_observation_is_from_the_side_to_move():
    black = cshogi.Board()
    white = cshogi.Board("lnsgkgsnl/1r5b1/ppppppppp/9/9/9/PPPPPPPPP/1B5R1/LNSGKGSNL w - 1")
    obs = np.zeros((2, 119, 9, 9), dtype=np.float32)
    fill_observations([black, white], obs)
    # The starting position is symmetric: each side sees the same planes.
    np.testing.assert_array_equal(obs[0], obs[1])
    assert set(np.unique(obs)) <= {0.0, 1.0}


def test_checkmate_ends_the_game_and_the_mover_wins():
    game = ShogiGame(max_plies=100, sfen="8k/9/8P/9/9/9/9/9/K8 b G 1")
    result = push_usi(game, "G*1b")
    assert (result.reason, result.winner, result.mover_reward) == (CHECKMATE, BLACK, 1.0)
    assert result.is_terminated and not result.is_truncated


def test_non_mating_move_continues():
    game = ShogiGame(max_plies=100, sfen="8k/9/8P/9/9/9/9/9/K8 b G 1")
    assert push_usi(game, "G*3a").reason == ONGOING


def test_fourfold_repetition_is_a_draw_only_at_the_fourth_occurrence():
    game = ShogiGame(max_plies=1000)
    shuffle = ["5i4h", "5a4b", "4h5i", "4b5a"]
    results = [push_usi(game, u) for _ in range(3) for u in shuffle]
    # Start position seen at plies 0, 4, 8, 12: the 4th occurrence ends it, not the 2nd or 3rd.
    assert all(r.reason == ONGOING for r in results[:-1])
    assert (results[-1].reason, results[-1].winner, results[-1].mover_reward) == (
        SENNICHITE,
        None,
        0.0,
    )


def test_perpetual_check_loses_for_the_checking_side():
    # White king on 5a in check from the black rook on 5e; black keeps checking.
    game = ShogiGame(max_plies=1000, sfen="4k4/9/9/9/4R4/9/9/9/K8 w - 1")
    cycle = ["5a4a", "5e4e", "4a5a", "4e5e"]
    results = [push_usi(game, u) for _ in range(3) for u in cycle]
    assert all(r.reason == ONGOING for r in results[:-1])
    last = results[-1]
    assert (last.reason, last.winner, last.mover) == (PERPETUAL_CHECK, WHITE, BLACK)
    assert last.mover_reward == -1.0


def test_entering_king_declaration_wins():
    # Black's king sits in White's camp with ten pieces and 28 points: on its turn it declares.
    game = ShogiGame(max_plies=100, sfen="RBGGGG3/SSSS5/K8/9/9/9/9/9/8k w 10P 1")
    result = push_usi(game, "1i1h")
    assert (result.reason, result.winner, result.mover_reward) == (NYUGYOKU, BLACK, -1.0)


def test_entering_king_short_of_the_camp_is_not_a_win():
    game = ShogiGame(max_plies=100, sfen="RBGGGG3/SSSS5/9/K8/9/9/9/9/8k w 10P 1")
    assert push_usi(game, "1i1h").reason == ONGOING


def test_ply_cap_truncates_without_a_result():
    game = ShogiGame(max_plies=3)
    results = [push_usi(game, u) for u in ["7g7f", "3c3d", "2g2f"]]
    assert [r.reason for r in results] == [ONGOING, ONGOING, MAX_PLIES]
    assert results[-1].is_truncated and not results[-1].is_terminated
    assert results[-1].winner is None and results[-1].mover_reward == 0.0


def test_material_gain_counts_capture_and_promotion():
    board = cshogi.Board()
    for u in ["7g7f", "3c3d"]:
        board.push_usi(u)
    # Bishop takes bishop and promotes: 8 (board) + 8 (hand) + (10 - 8) promotion.
    assert material_gain(board.move_from_usi("8h2b+")) == 18.0
    assert material_gain(board.move_from_usi("2g2f")) == 0.0


def test_envs_restart_finished_games_and_report_them():
    envs = SelfPlayEnvs(num_envs=3, max_plies=2)
    rng = np.random.default_rng(0)
    finished_total = []
    for _ in range(4):
        labels = np.array([rng.choice(np.flatnonzero(row)) for row in envs.legal.mask])
        rewards, terminated, truncated, finished, final_obs, _ = envs.step(labels)
        finished_total += finished
        assert len(final_obs) == int(truncated.sum())
    # Every game hits the 2-ply cap twice in 4 plies and restarts from the start.
    assert len(finished_total) == 6
    assert all(f.reason == MAX_PLIES for f in finished_total)
    assert all(g.plies == 0 for g in envs.games)
    assert sorted(envs.game_ids) == [6, 7, 8]


def test_env_snapshot_round_trip_rebuilds_the_same_positions():
    envs = SelfPlayEnvs(num_envs=2, max_plies=50)
    rng = np.random.default_rng(1)
    for _ in range(7):
        labels = np.array([rng.choice(np.flatnonzero(row)) for row in envs.legal.mask])
        envs.step(labels)
    portable = SelfPlayEnvs.snapshot_to_portable(envs.snapshot())
    rebuilt = SelfPlayEnvs.from_portable(portable, num_envs=2, max_plies=50)
    assert [g.board.sfen() for g in rebuilt.games] == [g.board.sfen() for g in envs.games]
    np.testing.assert_array_equal(rebuilt.obs, envs.obs)
    np.testing.assert_array_equal(rebuilt.legal.mask, envs.legal.mask)


def random_labels(envs, rng):
    return np.array([rng.choice(np.flatnonzero(row)) for row in envs.legal.mask])


def test_against_fixed_players_every_position_is_the_learners_and_colours_alternate():
    players = {"random": RandomPlayer(3), "greedy": GreedyPlayer(4)}
    envs = SelfPlayEnvs(4, max_plies=9, opponents=[None, None, "random", "greedy"], players=players)
    rng = np.random.default_rng(2)
    colours = set()
    finished_total = []
    for _ in range(30):
        for i in (2, 3):
            assert envs.games[i].board.turn == envs.learner_colour(i)
            colours.add(envs.learner_colour(i))
        step = envs.step(random_labels(envs, rng))
        finished_total += step.finished
        # The 9th ply is Black's: the learner's own (its value then enters negated, as in
        # self-play) when it has Black, the opponent's reply (the learner's to move) when not.
        truncated = [f for f in step.finished if f.reason == MAX_PLIES]
        expected = [1.0 if f.learner == WHITE else -1.0 for f in truncated]
        assert step.final_signs.tolist() == expected
    assert colours == {BLACK, WHITE}
    against = [f for f in finished_total if f.opponent is not None]
    assert {f.opponent for f in against} == {"random", "greedy"}
    assert all(f.learner is not None for f in against)
    assert all(f.opponent is None and f.learner is None for f in finished_total if f.env < 2)
    np.testing.assert_array_equal(envs.next_signs, [-1.0, -1.0, 1.0, 1.0])


def test_the_learners_reward_counts_what_the_reply_wins_back():
    envs = SelfPlayEnvs(1, max_plies=100, opponents=["greedy"], players={"greedy": GreedyPlayer(0)})
    # The learner (Black in game 0) opens the bishops' diagonal; then any quiet move leaves
    # its bishop to the greedy reply 2b8h+ (8 on the board + 8 in hand + 2 for promoting).
    envs.games[0] = ShogiGame.replay(100, cshogi.STARTING_SFEN, ["7g7f", "3c3d"])
    envs.refresh()
    moves, labels = legal_moves_and_labels(envs.games[0].board)
    quiet = labels[moves.index(envs.games[0].board.move_from_usi("6i7h"))]
    step = envs.step(np.array([quiet]), shaping_coef=0.01)
    assert envs.games[0].usi_moves()[-1] == "2b8h+"
    assert step.rewards[0] == pytest.approx(-0.18)
    assert envs.games[0].board.turn == BLACK


def test_a_fixed_players_winning_reply_is_the_learners_loss():
    envs = SelfPlayEnvs(
        8, max_plies=512, opponents=["greedy"] * 8, players={"greedy": GreedyPlayer(1)}
    )
    rng = np.random.default_rng(5)
    for _ in range(2_000):  # a random mover is mated by the greedy player within this
        step = envs.step(random_labels(envs, rng))
        lost = [f for f in step.finished if f.winner is not None and f.winner != f.learner]
        if lost:
            assert step.rewards[lost[0].env] == -1.0
            assert step.terminated[lost[0].env]
            return
    pytest.fail("the greedy player never won")


def test_a_snapshot_restores_the_fixed_players_generators():
    def build():
        return SelfPlayEnvs(2, 60, [None, "random"], {"random": RandomPlayer(9)})

    envs = build()
    rng = np.random.default_rng(1)
    for _ in range(5):
        envs.step(random_labels(envs, rng))
    portable = SelfPlayEnvs.snapshot_to_portable(envs.snapshot())
    rebuilt = SelfPlayEnvs.from_portable(portable, 2, 60, *_opponents_of(build()))
    labels = random_labels(envs, rng)
    envs.step(labels)
    rebuilt.step(labels)
    assert rebuilt.games[1].usi_moves() == envs.games[1].usi_moves()
    with pytest.raises(ValueError, match="other opponents"):
        SelfPlayEnvs.from_portable(portable, 2, 60)
    flipped = {**portable, "learner_colours": [None, 1 - portable["learner_colours"][1]]}
    with pytest.raises(ValueError, match="a fixed player is to move"):
        SelfPlayEnvs.from_portable(flipped, 2, 60, *_opponents_of(build()))


def _opponents_of(envs):
    return envs.opponents, envs.players


def test_a_snapshot_from_before_fixed_players_loads_as_self_play():
    envs = SelfPlayEnvs(2, 60)
    envs.step(random_labels(envs, np.random.default_rng(3)))
    portable = SelfPlayEnvs.snapshot_to_portable(envs.snapshot())
    older = {k: portable[k] for k in ("games", "game_ids", "next_game_id")}
    rebuilt = SelfPlayEnvs.from_portable(older, 2, 60)
    assert [g.board.sfen() for g in rebuilt.games] == [g.board.sfen() for g in envs.games]
    assert rebuilt.opponents == [None, None]
    np.testing.assert_array_equal(rebuilt.next_signs, [-1.0, -1.0])


def test_fixed_players_brought_in_take_each_game_only_when_it_ends():
    envs = SelfPlayEnvs(
        4, 6, [None, None, "random", "random"], {"random": RandomPlayer(3)}, opponents_on=False
    )
    assert envs.opponents == [None] * 4 and all(g.plies == 0 for g in envs.games)
    np.testing.assert_array_equal(envs.next_signs, [-1.0] * 4)
    rng = np.random.default_rng(4)
    for _ in range(2):
        envs.step(random_labels(envs, rng))
    envs.bring_in_opponents()
    snapshot = SelfPlayEnvs.snapshot_to_portable(envs.snapshot())
    for _ in range(3):  # plies 3-5: the games in progress stay self-play
        assert not envs.step(random_labels(envs, rng)).finished
        assert envs.opponents == [None] * 4
    step = envs.step(random_labels(envs, rng))  # ply 6: every game reaches the cap
    assert [f.opponent for f in step.finished] == [None] * 4
    assert envs.opponents == [None, None, "random", "random"]
    assert envs.learner_colours == [None, None, BLACK, WHITE]
    np.testing.assert_array_equal(envs.next_signs, [-1.0, -1.0, 1.0, 1.0])
    assert [g.plies for g in envs.games] == [0, 0, 0, 1]  # the player opened as Black in game 3

    # Restored between the bring-in and the games' end, it goes on the same way.
    rebuilt = SelfPlayEnvs.from_portable(
        snapshot, 4, 6, [None, None, "random", "random"], {"random": RandomPlayer(0)}
    )
    assert rebuilt.opponents_on and rebuilt.opponents == [None] * 4
    with pytest.raises(ValueError, match="other opponents"):
        SelfPlayEnvs.from_portable(
            {**snapshot, "opponents": [None, None, "greedy", None]},
            4,
            6,
            [None, None, "random", "random"],
            {"random": RandomPlayer(0)},
        )
