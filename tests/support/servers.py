"""Real servers for integration tests: a Celery worker and Daphne, against the test database."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from keisei_site.launcher import celery_beat_args, celery_worker_args, daphne_args
from monitoring.queues import CPU_WORKER_QUEUES, QUEUES
from tests.support.waiting import wait_for

BASE_DIR = Path(__file__).resolve().parents[2]


def database_url_for(name: str) -> str:
    """The session's DATABASE_URL, pointed at database ``name`` (pytest's test database)."""
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path=f"/{name}"))


def server_env(database_name: str) -> dict[str, str]:
    env = dict(os.environ)
    env["DATABASE_URL"] = database_url_for(database_name)
    env["DATABASE_CONN_MAX_AGE"] = "0"  # idle workers hold no connection across test flushes
    env["PYTHONUNBUFFERED"] = "1"
    return env


def purge_queues() -> None:
    """Empty the Celery queues before the session's first worker starts.

    The embedded Redis starts empty; the machine's own broker (the external pass) keeps what a
    killed earlier pass left, and its workers would take those tasks for this session's."""
    from celery import current_app
    from kombu.exceptions import ChannelError

    from monitoring.queues import is_missing_queue

    with current_app.connection_for_write() as conn:
        for queue in QUEUES:
            channel: Any = conn.channel()  # RabbitMQ closes a channel on a missing queue
            try:
                channel.queue_purge(queue)
            except ChannelError as error:
                if not is_missing_queue(error):
                    raise
            finally:
                channel.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class ServerProcess:
    """A child process whose last output lines are kept for failure messages."""

    name: str
    args: list[str]
    env: dict[str, str]
    process: subprocess.Popen | None = None
    output: deque = field(default_factory=lambda: deque(maxlen=200))

    def start(self) -> ServerProcess:
        self.process = subprocess.Popen(
            self.args,
            cwd=BASE_DIR,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        threading.Thread(target=self._pump, daemon=True).start()
        return self

    def _pump(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line.rstrip())
            if os.environ.get("KEISEI_TEST_SERVER_LOGS"):
                print(f"[{self.name}] {line}", end="", file=sys.stderr)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(list(self.output)[-lines:])

    def ensure_alive(self) -> None:
        if not self.alive():
            raise AssertionError(f"{self.name} exited:\n{self.log_tail()}")

    def stop(self, timeout: float = 20.0) -> None:
        if not self.alive():
            return
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)  # pool processes too (own session)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def start_celery_worker(
    env: dict[str, str],
    name: str = "test-worker",
    *,
    queues: tuple[str, ...] = CPU_WORKER_QUEUES,
    host: str | None = None,
) -> ServerProcess:
    """A worker as `make run` starts its CPU worker (or on ``queues``), as node
    ``name@host`` (``host``: this machine's name unless given, e.g. a farm test's)."""
    # The same command line as `make run`'s worker, minus the start-up chatter between workers.
    args = celery_worker_args(name, ",".join(queues), "1") + [
        "--without-mingle",
        "--without-gossip",
    ]
    if host is not None:
        args[args.index("-n") + 1] = f"{name}@{host}"
    worker = ServerProcess(name, args, env).start()
    wait_for(
        lambda: worker.ensure_alive() or "ready." in "\n".join(worker.output),
        timeout=60,
        what=f"the Celery worker {name} to be ready",
    )
    return worker


def start_celery_beat(env: dict[str, str], directory: Path) -> ServerProcess:
    beat = ServerProcess("beat", celery_beat_args(directory / "celerybeat-schedule"), env).start()
    wait_for(
        lambda: beat.ensure_alive() or "beat: Starting..." in "\n".join(beat.output),
        timeout=60,
        what="Celery beat to start",
    )
    return beat


def start_daphne(env: dict[str, str]) -> tuple[ServerProcess, str]:
    port = free_port()
    daphne = ServerProcess("daphne", daphne_args("127.0.0.1", str(port)), env).start()
    base = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        daphne.ensure_alive()
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    wait_for(healthy, timeout=60, what="Daphne to answer /healthz")
    return daphne, base


def worker_holding(lease_owner: str, workers: list[ServerProcess]) -> ServerProcess:
    """The Celery worker among ``workers`` whose prefork child holds a lease ("host:pid")."""
    pid = int(lease_owner.rsplit(":", 1)[1])
    for worker in workers:
        if worker.process is not None and _parent_of(pid) == worker.process.pid:
            return worker
    raise AssertionError(f"no worker of {[w.name for w in workers]} holds {lease_owner}")


def _parent_of(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return int(fh.read().rsplit(")", 1)[1].split()[1])
    except OSError:
        return None
