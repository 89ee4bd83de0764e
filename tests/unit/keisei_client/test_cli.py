"""The portal's client, where no portal is needed: its refusals, its parsing, its entry points."""

from __future__ import annotations

import subprocess
import sys

import pytest

from keisei_client.cli import main
from keisei_client.portal import run_status

# Nothing listens on the discard port of the loopback: a refused connection, at once.
NOWHERE = "http://127.0.0.1:9"


def test_without_a_token_the_client_says_where_it_goes(monkeypatch):
    monkeypatch.delenv("KEISEI_TOKEN", raising=False)
    with pytest.raises(SystemExit, match="set KEISEI_TOKEN"):
        main(["--url", NOWHERE, "list"])


def test_a_malformed_field_is_refused_before_anything_is_sent(monkeypatch):
    monkeypatch.setenv("KEISEI_TOKEN", "t")
    with pytest.raises(SystemExit, match="--set expects key=value, got 'epochs'"):
        main(["--url", NOWHERE, "queue", "--trainer", "digits", "--set", "epochs"])


def test_an_unreachable_portal_is_named(monkeypatch):
    monkeypatch.setenv("KEISEI_TOKEN", "t")
    with pytest.raises(SystemExit, match="cannot reach http://127.0.0.1:9"):
        main(["--url", NOWHERE, "show", "1"])


def test_live_messages_tell_the_run_status_from_snapshots_and_status_changes():
    assert run_status({"type": "connected", "data": {"run": {"status": "running"}}}) == "running"
    assert run_status({"type": "connected", "data": {"run": None}}) is None
    assert run_status({"type": "status", "data": {"status": "completed"}}) == "completed"
    assert run_status({"type": "metrics", "data": {"status": "completed"}}) is None


def test_python_dash_m_runs_the_client():
    done = subprocess.run(
        [sys.executable, "-m", "keisei_client", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and "queue" in done.stdout


def test_the_engines_command_line_has_no_portal_client():
    done = subprocess.run(
        [sys.executable, "-m", "keisei", "remote", "list"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "invalid choice: 'remote'" in done.stderr


def test_a_refusal_is_printed_as_its_message_and_fields():
    from keisei_client.portal import refusal_text

    body = (
        '{"error": {"code": "config_invalid", "message": "config.epochs: must be at least 1",'
        ' "fields": {"config.epochs": ["must be at least 1"]}}, "detail": "x"}'
    )
    assert refusal_text(body) == "config.epochs: must be at least 1"
    named = '{"error": {"message": "cannot pause", "fields": {"kind": ["queued"]}}}'
    assert refusal_text(named) == "cannot pause\n  kind: queued"
    assert refusal_text("<html>bad gateway</html>\n") == "<html>bad gateway</html>"


def test_a_stopped_run_is_finished_for_watch():
    from keisei_client.portal import FINISHED

    assert {"completed", "failed", "stopped", "cancelled"} <= FINISHED
