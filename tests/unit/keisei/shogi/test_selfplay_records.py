"""A sampled share of self-play games is reported as full game records."""

from __future__ import annotations

import cshogi

from keisei.shogi.trainer import ShogiPPOTrainer


def test_every_nth_finished_self_play_game_is_reported(tmp_path, tiny_config, make_callbacks):
    callbacks = make_callbacks()
    config = tiny_config(record_selfplay_every=2, max_plies=12)
    ShogiPPOTrainer(config, workdir=tmp_path, callbacks=callbacks).train()
    games = [data for kind, _, data in callbacks.events if kind == "selfplay"]
    assert games, "no self-play game was reported"
    assert all(g["game"] % 2 == 0 for g in games)
    for record in games:
        board = cshogi.Board(record["sfen"])
        for usi in record["moves"]:
            move = board.move_from_usi(usi)
            assert board.is_legal(move)
            board.push(move)
        assert record["plies"] == len(record["moves"]) and record["kif"] and record["csa"]


def test_recording_can_be_turned_off(tmp_path, tiny_config, make_callbacks):
    callbacks = make_callbacks()
    ShogiPPOTrainer(
        tiny_config(record_selfplay_every=0, max_plies=12), workdir=tmp_path, callbacks=callbacks
    ).train()
    assert not [kind for kind, _, _ in callbacks.events if kind == "selfplay"]
