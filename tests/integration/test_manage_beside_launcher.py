"""``manage.py shell`` started by hand beside a running launcher finds its servers and key,
as README says, with nothing set in the environment."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
# What the launcher gives its children: a process started by hand has none of it.
LAUNCHER_VARIABLES = ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "KEISEI_EMBEDDED")


@pytest.fixture
def bare_env(tmp_path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in LAUNCHER_VARIABLES}
    # A short folder: a unix socket path over 107 bytes is cut short (STACK-NOTES).
    env["KEISEI_VAR_DIR"] = str(tmp_path)
    return env


def test_manage_shell_beside_a_running_launcher(bare_env, tmp_path):
    launcher = subprocess.Popen(
        [sys.executable, "-m", "keisei_site.launcher", "services"],
        cwd=ROOT,
        env=bare_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for(
            lambda: (tmp_path / "embedded.env").exists() or launcher.poll() is not None,
            timeout=60,
            what="the launcher to write embedded.env",
        )
        assert launcher.poll() is None, "the launcher exited"
        assert (tmp_path / "embedded.env").stat().st_mode & 0o077 == 0  # ours alone
        shell = subprocess.run(
            [
                sys.executable,
                "manage.py",
                "shell",
                "-c",
                "from django.db import connection; connection.ensure_connection(); "
                "print('connected to', connection.vendor)",
            ],
            cwd=ROOT,
            env=bare_env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert shell.returncode == 0, shell.stderr[-2000:]
        assert "connected to postgresql" in shell.stdout
    finally:
        launcher.send_signal(signal.SIGTERM)
        launcher.wait(60)
