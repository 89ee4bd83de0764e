"""Players from checkpoint files, and matches that keep their games, on a tiny network."""

from pathlib import Path

import cshogi
import pytest
import torch

from keisei import CheckpointError, MatchOutcome, get_trainer
from keisei.shogi.env import ShogiGame
from keisei.shogi.players import player_from_checkpoint
from keisei.shogi.trainer import ShogiPPOTrainer
from tests.support.shogi import train_tiny_shogi


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> list[Path]:
    """Two checkpoints of a tiny run (after one and two updates), written by the trainer."""
    infos = train_tiny_shogi(tmp_path_factory.mktemp("tiny-run"))
    paths = sorted({info.path for info in infos if info.path.exists()})
    assert len(paths) >= 2, infos
    return paths


def test_a_checkpoint_plays_legal_moves(checkpoints):
    player = player_from_checkpoint(checkpoints[0], temperature=1.0, seed=1)
    game = ShogiGame(max_plies=10)
    while not game.result.is_over:
        move = player.choose([game])[0]
        assert game.board.is_legal(move)
        game.push(move)
    assert game.plies == 10 or game.result.is_terminated


def test_match_against_random_counts_every_game_and_keeps_the_first_records(checkpoints):
    outcome = ShogiPPOTrainer.play_checkpoints(
        checkpoints[-1],
        "random",
        games=4,
        max_plies=16,
        seed=3,
        record_games=3,
        names=("ck", "random"),
    )
    result, records = outcome.result, outcome.records
    assert result["wins"] + result["draws"] + result["losses"] == result["games"] == 4
    assert result["elo_low"] <= result["elo"] <= result["elo_high"]
    assert len(records) == 3
    # Colours alternate: the agent is Black in game 0 and White in game 1.
    assert (records[0]["black"], records[0]["white"]) == ("ck", "random")
    assert (records[1]["black"], records[1]["white"]) == ("random", "ck")
    for record in records:
        board = cshogi.Board(record["sfen"])
        for usi in record["moves"]:
            move = board.move_from_usi(usi)
            assert board.is_legal(move), usi
            board.push(move)
        assert record["plies"] == len(record["moves"]) <= 16


def test_match_between_two_checkpoints_is_reproducible_from_its_seed(checkpoints):
    def play():
        outcome = ShogiPPOTrainer.play_checkpoints(
            checkpoints[-1], checkpoints[0], games=2, max_plies=12, seed=5, record_games=2
        )
        return outcome.result, [r["moves"] for r in outcome.records]

    assert play() == play()


def test_max_plies_defaults_to_the_runs_own_cap(checkpoints):
    outcome = ShogiPPOTrainer.play_checkpoints(
        checkpoints[0], "random", games=2, max_plies=None, seed=1, record_games=2
    )
    assert all(r["plies"] <= 24 for r in outcome.records)  # TINY_SHOGI's max_plies
    assert outcome.result["games"] == 2


def test_a_corrupt_file_is_refused(tmp_path, checkpoints):
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(checkpoints[0].read_bytes()[:500])
    with pytest.raises(CheckpointError):
        player_from_checkpoint(corrupt, temperature=1.0, seed=1)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(CheckpointError, match="not a shogi-ppo checkpoint"):
        ShogiPPOTrainer.play_checkpoints(foreign, "random", games=2, max_plies=8, seed=1)
    # A good agent against a corrupt opponent fails before a move is played.
    with pytest.raises(CheckpointError):
        ShogiPPOTrainer.play_checkpoints(checkpoints[0], corrupt, games=2, max_plies=8, seed=1)


def test_weights_that_do_not_fit_the_network_are_refused(tmp_path, checkpoints):
    state = torch.load(checkpoints[0], map_location="cpu", weights_only=True)
    name = next(iter(state["model"]))
    state["model"][name] = torch.zeros(1)
    damaged = tmp_path / "damaged.pt"
    torch.save(state, damaged)
    with pytest.raises(CheckpointError, match="damaged network"):
        player_from_checkpoint(damaged, temperature=0.0, seed=1)


def test_shogi_ppo_plays_two_checkpoints_and_returns_records(checkpoints):
    outcome = get_trainer("shogi-ppo").play_checkpoints(
        checkpoints[-1], checkpoints[0], games=3, max_plies=12, seed=2, record_games=2
    )
    assert isinstance(outcome, MatchOutcome)
    result = outcome.result
    assert set(result) >= {"games", "wins", "draws", "losses", "elo", "win_reasons"}
    assert result["games"] == result["wins"] + result["draws"] + result["losses"] == 3
    assert [(r["black"], r["white"]) for r in outcome.records] == [
        ("agent", "opponent"),
        ("opponent", "agent"),
    ]


def without_model(source: Path, target: Path) -> Path:
    state = torch.load(source, map_location="cpu", weights_only=True)
    del state["model"]
    torch.save(state, target)
    return target


def test_a_checkpoint_without_a_model_is_a_checkpoint_error_naming_the_file(tmp_path, checkpoints):
    bad = without_model(checkpoints[0], tmp_path / "no-model.pt")
    shogi = get_trainer("shogi-ppo")
    with pytest.raises(CheckpointError, match="no-model.pt.*'model'"):
        shogi.play_checkpoints(bad, "random", games=2, max_plies=8, seed=1)
    with pytest.raises(CheckpointError, match="no-model.pt.*'model'"):
        shogi.play_checkpoints(checkpoints[0], bad, games=2, max_plies=8, seed=1)


def test_an_unknown_builtin_opponent_or_no_games_is_a_value_error(checkpoints):
    shogi = get_trainer("shogi-ppo")
    with pytest.raises(ValueError, match="unknown built-in opponent 'gnugo'.*random"):
        shogi.play_checkpoints(checkpoints[0], "gnugo", games=2, max_plies=8, seed=1)
    with pytest.raises(ValueError, match="games must be at least 1"):
        shogi.play_checkpoints(checkpoints[0], "random", games=0, max_plies=8, seed=1)


@pytest.mark.parametrize("opponent", ["greedy", "two_ply"])
def test_a_checkpoint_plays_the_material_players_by_name(checkpoints, opponent):
    outcome = ShogiPPOTrainer.play_checkpoints(
        checkpoints[-1], opponent, games=2, max_plies=40, seed=5, record_games=1
    )
    assert outcome.result["games"] == 2
    assert outcome.records[0]["white"] == "opponent"
