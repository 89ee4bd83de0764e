"""``make run``'s launcher serves the site from several Daphne processes on one socket, each
answering, and stops them all on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.support.servers import free_port
from tests.support.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
# The launcher on the session's servers: the machine's own ones in the external pass.
pytestmark = pytest.mark.servers
PROCESSES = 2


class Output:
    """The launcher's output lines, read as they come."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.lines: list[str] = []
        threading.Thread(target=self._read, args=(process,), daemon=True).start()

    def _read(self, process: subprocess.Popen) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self.lines.append(line.rstrip("\n"))

    def has(self, text: str) -> bool:
        return any(text in line for line in list(self.lines))

    def served_by(self, name: str) -> bool:
        return any(line.startswith(name) and '"GET /healthz"' in line for line in list(self.lines))


@pytest.fixture
def launcher(tmp_path):
    port = free_port()
    env = dict(os.environ)
    # The session's PostgreSQL and Redis (their main databases, not the test database).
    env.update(KEISEI_VAR_DIR=str(tmp_path), PORT=str(port), KEISEI_WEB_PROCESSES=str(PROCESSES))
    process = subprocess.Popen(
        [sys.executable, "-m", "keisei_site.launcher", "run"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    output = Output(process)
    try:
        yield process, output, f"http://127.0.0.1:{port}"
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _healthz(base: str) -> int:
    with urllib.request.urlopen(f"{base}/healthz", timeout=30) as response:
        return response.status


def test_every_web_process_answers_and_all_stop(launcher):
    process, output, base = launcher
    wait_for(
        lambda: output.has("Keisei Site is up") or process.poll() is not None,
        timeout=240,
        what="the launcher to say the site is up",
    )
    assert process.poll() is None, "\n".join(output.lines[-40:])

    names = [f"daphne{i + 1}" for i in range(PROCESSES)]
    with ThreadPoolExecutor(max_workers=16) as pool:

        def all_served() -> bool:
            assert set(pool.map(_healthz, [base] * 32)) == {200}
            return all(output.served_by(name) for name in names)

        wait_for(all_served, timeout=60, what=f"each of {names} to answer a request")

    process.send_signal(signal.SIGTERM)
    assert process.wait(60) == 0, "\n".join(output.lines[-40:])
    with pytest.raises(OSError):
        _healthz(base)
