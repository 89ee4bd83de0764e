"""Checkpoints: a round trip restores everything; corrupt or foreign files are refused whole."""

import pytest
import torch

from keisei.interfaces import RunOutcome
from keisei.shogi.checkpoint import CheckpointError
from keisei.shogi.trainer import ShogiPPOTrainer


def trained(tmp_path, tiny_config, make_callbacks, **overrides):
    callbacks = make_callbacks()
    trainer = ShogiPPOTrainer(
        tiny_config(total_steps=64, **overrides), workdir=tmp_path, callbacks=callbacks
    )
    assert trainer.train() == RunOutcome.COMPLETED
    return trainer, callbacks.checkpoints[-1]


def assert_same_state(a: ShogiPPOTrainer, b: ShogiPPOTrainer) -> None:
    for (name, x), (_, y) in zip(
        a.model.state_dict().items(), b.model.state_dict().items(), strict=True
    ):
        assert torch.equal(x, y), name
    assert (a.global_step, a.update, a.counters) == (b.global_step, b.update, b.counters)
    assert [g.board.sfen() for g in a.envs.games] == [g.board.sfen() for g in b.envs.games]
    assert torch.equal(a.action_generator.get_state(), b.action_generator.get_state())
    assert a.shuffle_rng.bit_generator.state == b.shuffle_rng.bit_generator.state
    assert a.optimizer.state_dict()["state"].keys() == b.optimizer.state_dict()["state"].keys()
    assert a.scheduler.state_dict()["last_epoch"] == b.scheduler.state_dict()["last_epoch"]


def test_round_trip_restores_the_full_state(tmp_path, tiny_config, make_callbacks):
    trainer, info = trained(tmp_path, tiny_config, make_callbacks)
    assert info.kind == "final" and info.step == 64 and info.path.exists()
    fresh = ShogiPPOTrainer(tiny_config(total_steps=64), workdir=tmp_path / "b")
    fresh.load_checkpoint(info.path)
    assert_same_state(trainer, fresh)


@pytest.mark.parametrize("damage", ["truncated", "garbage", "foreign", "wrong_version", "no_model"])
def test_damaged_or_foreign_checkpoint_is_refused_and_nothing_changes(
    tmp_path, tiny_config, make_callbacks, damage
):
    _, info = trained(tmp_path, tiny_config, make_callbacks)
    bad = tmp_path / "bad.pt"
    if damage == "truncated":
        bad.write_bytes(info.path.read_bytes()[:2000])
    elif damage == "garbage":
        bad.write_bytes(b"\x00not a checkpoint" * 100)
    else:
        state = torch.load(info.path, weights_only=True)
        if damage == "foreign":
            state = {"format": "keisei.digits/1", "model": state["model"]}
        elif damage == "wrong_version":
            state["format_version"] = 99
        else:
            del state["model"]
        torch.save(state, bad)
    victim = ShogiPPOTrainer(tiny_config(total_steps=64), workdir=tmp_path / "v")
    before = {k: v.clone() for k, v in victim.model.state_dict().items()}
    with pytest.raises(CheckpointError):
        victim.load_checkpoint(bad)
    assert victim.global_step == 0
    for k, v in victim.model.state_dict().items():
        assert torch.equal(v, before[k])


def test_checkpoint_of_another_network_shape_is_refused(tmp_path, tiny_config, make_callbacks):
    _, info = trained(tmp_path, tiny_config, make_callbacks)
    other = ShogiPPOTrainer(tiny_config(total_steps=64, channels=16), workdir=tmp_path / "o")
    with pytest.raises(CheckpointError, match="network"):
        other.load_checkpoint(info.path)
    assert other.global_step == 0
