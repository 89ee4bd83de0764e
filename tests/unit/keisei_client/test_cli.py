"""The ``keisei`` command line where no portal is needed: parsing, entry points, exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from keisei_client.cli import main
from keisei_client.exits import Exit

# Nothing listens on the discard port of the loopback: a refused connection, at once.
NOWHERE = "http://127.0.0.1:9"
SCRIPTS = Path(sys.executable).parent


@pytest.fixture(autouse=True)
def no_stored_login(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    for name in ("KEISEI_URL", "KEISEI_TOKEN", "KEISEI_PASSWORD"):
        monkeypatch.delenv(name, raising=False)


def test_without_a_token_the_client_says_how_to_log_in(capsys):
    assert main(["--url", NOWHERE, "runs"]) == Exit.NOT_AUTHENTICATED
    assert capsys.readouterr().err == (
        f"error: not logged in to {NOWHERE}\n  run: keisei login URL (or set KEISEI_TOKEN)\n"
    )


def test_a_malformed_field_is_a_usage_error_before_anything_is_sent(monkeypatch, capsys):
    monkeypatch.setenv("KEISEI_TOKEN", "t")
    code = main(["--url", NOWHERE, "submit", "--trainer", "digits", "--set", "epochs"])
    assert code == Exit.USAGE
    assert "--set expects key=value, got 'epochs'" in capsys.readouterr().err


def test_a_run_id_must_be_a_positive_number(monkeypatch, capsys):
    monkeypatch.setenv("KEISEI_TOKEN", "t")
    assert main(["--url", NOWHERE, "show", "seven"]) == Exit.USAGE
    assert "'seven' is not a valid integer" in capsys.readouterr().err


def test_an_unknown_command_is_a_usage_error(capsys):
    assert main(["dance"]) == Exit.USAGE
    assert "No such command 'dance'" in capsys.readouterr().err


def test_an_unreachable_portal_is_named_with_its_own_exit_code(monkeypatch, capsys):
    monkeypatch.setenv("KEISEI_TOKEN", "t")
    assert main(["--url", NOWHERE, "show", "1"]) == Exit.UNAVAILABLE
    assert capsys.readouterr().err.startswith(f"error: cannot reach {NOWHERE}")


def test_login_reads_the_password_from_the_environment_and_never_prompts(monkeypatch, capsys):
    monkeypatch.setenv("KEISEI_PASSWORD", "pw")
    code = main(["login", NOWHERE, "--username", "olivia"])
    assert code == Exit.UNAVAILABLE  # it got as far as asking the portal, without a prompt
    assert "Password" not in capsys.readouterr().out


def test_every_command_of_the_issue_is_there_with_json():
    from keisei_client.cli import keisei

    wanted = {"login", "logout", "submit", "runs", "show", "watch", "stop", "pause", "resume"}
    wanted |= {"save", "sample", "evaluate", "download", "games", "game", "compare", "tokens", "me"}
    wanted |= {"edit", "requeue", "delete", "cancel", "trainers", "metrics", "events"}
    assert wanted <= set(keisei.commands)
    for name in wanted:
        options = {
            opt for param in keisei.commands[name].params for opt in getattr(param, "opts", [])
        }
        assert "--json" in options, name


def test_the_console_script_and_python_dash_m_run_the_client():
    for command in (
        [str(SCRIPTS / "keisei"), "--help"],
        [sys.executable, "-m", "keisei_client", "--help"],
    ):
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and "submit" in done.stdout and "download" in done.stdout


def test_the_engines_trainer_is_keisei_train_and_python_dash_m_keisei():
    for command in (
        [str(SCRIPTS / "keisei-train"), "--help"],
        [sys.executable, "-m", "keisei", "--help"],
    ):
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and "train" in done.stdout
    remote = subprocess.run(
        [sys.executable, "-m", "keisei", "remote", "list"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert remote.returncode == 2 and "invalid choice: 'remote'" in remote.stderr


BLOCKED = "django rest_framework channels celery torch pydantic keisei keisei_site runs monitoring"


def test_the_client_runs_where_neither_the_site_nor_the_engine_is_installed(tmp_path):
    # Every import of the site, the engine or their libraries fails, as on a laptop that has
    # only the client: every command module is still imported and a command still runs.
    program = f"""
import sys
class Absent:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {BLOCKED.split()!r}:
            raise ImportError("not installed: " + name)
sys.meta_path.insert(0, Absent())
from keisei_client.cli import main
sys.exit(main(["--url", "{NOWHERE}", "submit", "--trainer", "digits", "--set", "epochs=3"]))
"""
    env = {"PATH": "/usr/bin:/bin", "XDG_CONFIG_HOME": str(tmp_path), "KEISEI_TOKEN": "t"}
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, env=env
    )
    assert done.returncode == Exit.UNAVAILABLE, done.stderr
    assert f"cannot reach {NOWHERE}" in done.stderr
