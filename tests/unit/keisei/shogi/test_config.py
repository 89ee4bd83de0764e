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
