"""A trainer's config schema lays out the run form: every field labelled and in a section."""

import pytest

from keisei.config_layout import form_layout
from keisei.registry import get_trainer


@pytest.mark.parametrize("trainer", ["digits", "shogi-ppo"])
def test_every_field_has_a_label_and_a_section(trainer):
    schema = get_trainer(trainer).config_schema()
    for name, spec in schema["properties"].items():
        assert spec.get("x-group") in schema["x-groups"], name
    # labels written for people, not pydantic's from the name ("Vf Coef")
    assert schema["properties"]["learning_rate"]["title"] == "Learning rate"


def test_the_shogi_form_folds_what_most_people_leave_alone():
    properties = get_trainer("shogi-ppo").config_schema()["properties"]
    assert properties["vf_coef"]["title"] == "Value loss weight"
    assert properties["vf_coef"]["x-advanced"] is True
    assert "x-advanced" not in properties["learning_rate"]


def test_an_advanced_field_outside_every_section_is_refused():
    with pytest.raises(ValueError, match="not in any section"):
        form_layout([("Main", {"a": "A"})], advanced=["b"])
