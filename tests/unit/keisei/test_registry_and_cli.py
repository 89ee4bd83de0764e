"""Trainers by name, and the headless command line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from keisei.registry import UnknownTrainer, available_trainers, get_trainer


def test_builtin_trainers_are_registered():
    assert {"digits", "shogi-ppo"} <= set(available_trainers())
    assert get_trainer("digits").name == "digits"


def test_unknown_trainer_names_the_known_ones():
    with pytest.raises(UnknownTrainer, match="unknown trainer 'go'.*digits"):
        get_trainer("go")


def run_cli(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "keisei", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


def test_headless_training_from_a_toml_file(tmp_path):
    config = tmp_path / "digits.toml"
    config.write_text("epochs = 2\nbatch_size = 128\n")
    done = run_cli(
        "train",
        "--trainer",
        "digits",
        "--config",
        str(config),
        "--json",
        "--workdir",
        str(tmp_path / "work"),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert [m["step"] for m in lines if m["type"] == "metrics"] == [1, 2]
    assert any(m["type"] == "checkpoint" and m["kind"] == "final" for m in lines)
    assert done.stdout.rstrip().endswith("[done] completed")


def test_headless_refuses_a_bad_config_with_the_field(tmp_path):
    done = run_cli("train", "--trainer", "digits", "--set", "epochs=0", cwd=tmp_path)
    assert done.returncode != 0
    assert "epochs: Input should be greater than or equal to 1" in done.stderr


def test_schema_command_prints_json_schema(tmp_path):
    done = run_cli("schema", "--trainer", "digits", cwd=tmp_path)
    schema = json.loads(done.stdout)
    assert schema["properties"]["epochs"]["minimum"] == 1


def test_config_errors_name_each_field_and_word_whole_config_errors_for_people():
    from pydantic import ValidationError

    from keisei.trainer import config_errors

    trainer = get_trainer("shogi-ppo")
    with pytest.raises(ValidationError) as bad_field:
        trainer.parse_config({"num_envs": 0})
    assert list(config_errors(bad_field.value)) == ["num_envs"]
    with pytest.raises(ValidationError) as bad_whole:
        trainer.parse_config({"num_envs": 8, "num_steps": 8, "minibatch_size": 1024})
    errors = config_errors(bad_whole.value)
    assert list(errors) == [""]
    assert errors[""][0].startswith("minibatch_size (1024) exceeds the rollout")
