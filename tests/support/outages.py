"""Stopping and starting the session's embedded Redis and PostgreSQL, as an operator would."""

from __future__ import annotations

import os
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from keisei_site.embedded import EmbeddedRedis
from tests.support.waiting import wait_for


@dataclass
class StoppedRedis:
    """A Redis that was shut down, with what it takes to start it again the same way."""

    command: list[str]
    dump: Path

    def start(self) -> None:
        # Its own session, like the launcher's: the launcher stops it by its PID file at exit.
        subprocess.Popen(self.command, start_new_session=True)
        wait_for(redis_answers, timeout=30, what="the restarted Redis to answer")
        self.dump.unlink(missing_ok=True)  # loaded; a later session must start empty


def redis_client() -> redis.Redis:
    return redis.Redis.from_url(os.environ["REDIS_URL"], socket_timeout=2)


def redis_answers() -> bool:
    try:
        return bool(redis_client().ping())
    except redis.RedisError:
        return False


def drop_connections_to_this_database() -> int:
    """Close every client connection to the session's Redis database but our own, as a Redis
    restart does; how many. Only this database's: the machine's own Redis (the external pass)
    serves others too, whose connections are none of the tests' business."""
    admin = redis_client()
    ours = admin.client_id()
    db = admin.connection_pool.connection_kwargs.get("db", 0)
    others = [
        c["id"]
        for c in admin.client_list()
        if int(c["db"]) == db and int(c["id"]) != ours and c.get("flags", "") != "M"
    ]
    return sum(bool(admin.client_kill_filter(_id=client)) for client in others)


def embedded_redis_dir() -> Path:
    return Path(os.environ.get("KEISEI_VAR_DIR", "")) / "redis"


def embedded_redis_pid() -> int:
    pid_file = embedded_redis_dir() / "redis.pid"
    if not os.environ.get("KEISEI_EMBEDDED") or not pid_file.exists():
        pytest.skip(
            "needs the launcher's embedded Redis, which this test stops and starts; against "
            "the machine's own Redis (REDIS_URL set) it never stops that server"
        )
    return int(pid_file.read_text().strip())


def stop_embedded_redis() -> StoppedRedis:
    """Shut Redis down, saving first, so the session's queues outlive the restart (a Redis
    configured without persistence would come back empty; the live path keeps no state in it)."""
    pid = embedded_redis_pid()
    # The test launcher's Redis keeps nothing on disk; SHUTDOWN SAVE still writes its data
    # where the same command line loads it back.
    command = EmbeddedRedis(embedded_redis_dir(), persistent=False).command()
    try:
        redis_client().shutdown(save=True)
    except redis.ConnectionError:
        pass  # the server closes the connection as it goes
    wait_for(lambda: not running(pid), timeout=30, what="Redis to exit")
    return StoppedRedis(command, embedded_redis_dir() / "dump.rdb")


def running(pid: int) -> bool:
    """Alive and not a zombie (the launcher, its parent, reaps it only when it stops)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def embedded_pgdata() -> Path:
    pgdata = Path(os.environ.get("KEISEI_VAR_DIR", "")) / "pgdata"
    if not os.environ.get("KEISEI_EMBEDDED") or not (pgdata / "postmaster.opts").exists():
        pytest.skip(
            "needs the launcher's embedded PostgreSQL, which this test stops and starts; "
            "against the machine's own PostgreSQL (DATABASE_URL set) it never stops that server"
        )
    return pgdata


def pg_ctl(pgdata: Path, *args: str, timeout: float = 60) -> None:
    """Run pg_ctl on the embedded server, as the user it runs as."""
    opts = shlex.split((pgdata / "postmaster.opts").read_text())
    binary = Path(opts[0]).parent / "pg_ctl"
    user = "pgserver" if os.geteuid() == 0 else None
    subprocess.run(
        [str(binary), "-w", "-D", str(pgdata), *args],
        check=True,
        user=user,
        capture_output=True,
        timeout=timeout,
    )


def postgres_start(pgdata: Path, startup: str) -> None:
    """Start it again with the options it was started with (``postgres_startup``); its
    output goes to a log file, so the postmaster holds no pipe of ours."""
    pg_ctl(pgdata, "start", "-o", startup, "-l", str(pgdata / "log"))


def postgres_restart(pgdata: Path) -> None:
    """Stop it and start it again with the options it was started with (pg_ctl keeps them):
    its shared buffers start empty. Its output goes to a log file, as ``postgres_start``'s."""
    pg_ctl(pgdata, "restart", "-m", "fast", "-l", str(pgdata / "log"), timeout=120)


def postgres_startup(pgdata: Path) -> str:
    opts = shlex.split((pgdata / "postmaster.opts").read_text())[1:]
    return " ".join(shlex.quote(a) for a in opts)
