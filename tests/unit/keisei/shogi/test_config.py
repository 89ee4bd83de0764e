"""The config refuses what is out of bounds, naming the field; presets are valid."""

import pytest
from pydantic import ValidationError

from keisei.shogi.config import PRESETS, ShogiPPOConfig
from keisei.shogi.trainer import ShogiPPOTrainer


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("num_envs", 0),
        ("gamma", 1.5),
        ("learning_rate", 0.0),
        ("blocks", 1000),
        ("precision", "fp8"),
        ("threads", 0),
        ("shaping_coef", -0.1),
    ],
)
def test_out_of_bounds_field_is_refused_by_name(field, value):
    with pytest.raises(ValidationError) as excinfo:
        ShogiPPOTrainer.parse_config({field: value})
    assert [e["loc"] for e in excinfo.value.errors()] == [(field,)]


def test_unknown_field_is_refused():
    with pytest.raises(ValidationError) as excinfo:
        ShogiPPOConfig.model_validate({"num_env": 4})
    assert excinfo.value.errors()[0]["loc"] == ("num_env",)


def test_minibatch_larger_than_rollout_is_refused():
    with pytest.raises(ValidationError, match="minibatch_size"):
        ShogiPPOConfig(num_envs=2, num_steps=4, minibatch_size=16)


def test_presets_validate_and_schema_describes_every_field():
    for preset in PRESETS.values():
        ShogiPPOTrainer.parse_config(preset)
    schema = ShogiPPOTrainer.config_schema()
    assert schema["additionalProperties"] is False
    for name, prop in schema["properties"].items():
        assert prop.get("description"), name
    assert ShogiPPOTrainer.name == "shogi-ppo"


def test_opponent_shares_place_the_fixed_players_last_and_may_not_exceed_one():
    config = ShogiPPOConfig(
        num_envs=8, minibatch_size=8, train_vs_greedy=0.25, train_vs_two_ply=0.5
    )
    assert config.training_opponents() == [None, None, "greedy", "greedy"] + ["two_ply"] * 4
    assert ShogiPPOConfig(num_envs=3, minibatch_size=8).training_opponents() == [None] * 3
    odd = ShogiPPOConfig(num_envs=3, minibatch_size=8, train_vs_random=0.5, train_vs_greedy=0.5)
    assert len(odd.training_opponents()) == 3 and None not in odd.training_opponents()
    with pytest.raises(ValidationError, match="train_vs_greedy.*exceeds 1"):
        ShogiPPOConfig(train_vs_random=0.5, train_vs_greedy=0.4, train_vs_two_ply=0.2)
    # Past selves share the games with the fixed players, after them.
    mixed = ShogiPPOConfig(num_envs=8, minibatch_size=8, train_vs_greedy=0.25, train_vs_past=0.5)
    assert mixed.training_opponents() == [None, None, "greedy", "greedy"] + ["past"] * 4
    with pytest.raises(ValidationError, match="train_vs_past.*exceeds 1"):
        ShogiPPOConfig(train_vs_random=0.5, train_vs_past=0.6)
