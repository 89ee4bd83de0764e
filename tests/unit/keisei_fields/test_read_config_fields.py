"""Config fields as typed on a command line, read one way by the engine's CLI and the client."""

import pytest

from keisei_fields import read_config_fields


def test_overrides_win_over_the_file_and_parse_as_json_when_they_can(tmp_path):
    config = tmp_path / "run.toml"
    config.write_text('epochs = 2\nmode = "federated"\n')
    fields = read_config_fields(str(config), ["epochs=5", "name=first run", "lr=[1, 2]"])
    assert fields == {"epochs": 5, "mode": "federated", "name": "first run", "lr": [1, 2]}


def test_an_unreadable_file_or_a_bare_key_is_a_value_error(tmp_path):
    broken = tmp_path / "broken.toml"
    broken.write_text("epochs = \n")
    with pytest.raises(ValueError, match="cannot read config .*broken.toml"):
        read_config_fields(str(broken), None)
    with pytest.raises(ValueError, match="--set expects key=value, got 'epochs'"):
        read_config_fields(None, ["epochs"])
