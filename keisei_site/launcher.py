"""The supervisor behind ``make run`` and ``make test``.

``run``: start the embedded servers the environment does not name, prepare the database and
static files, then run Daphne, a Celery worker and Celery beat, each logging with its name, until
Ctrl-C stops them all (children first, then the servers). ``test``: the same servers (under
``var/test``), then pytest. ``services``: only the servers, for working by hand.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import http.client
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from keisei_site.embedded import EmbeddedServices, start_services
from monitoring.queues import CPU_WORKER_QUEUES, DEFAULT_QUEUE, TRAINING_GPU_QUEUE

BASE_DIR = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
# Seconds a child gets to exit on SIGTERM before SIGKILL (a worker finishes its checkpoint).
GRACE_SECONDS = 20.0
PYTEST_NO_TESTS = 5

_print_lock = threading.Lock()


def say(name: str, text: str) -> None:
    with _print_lock:
        print(f"{name:<9}| {text}", flush=True)


@dataclass
class Child:
    name: str
    process: subprocess.Popen


def spawn(
    name: str, args: Sequence[str], env: dict[str, str], pass_fds: Sequence[int] = ()
) -> Child:
    """Start a child in its own session (so Ctrl-C reaches only us) with prefixed output."""
    process = subprocess.Popen(
        list(args),
        cwd=BASE_DIR,
        env=env,
        pass_fds=tuple(pass_fds),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        text=True,
        bufsize=1,
    )

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            say(name, line.rstrip("\n"))

    threading.Thread(target=pump, name=f"log-{name}", daemon=True).start()
    return Child(name, process)


def stop_children(children: list[Child]) -> None:
    """SIGTERM every child, wait for each within the grace period, SIGKILL what remains."""
    for child in children:
        if child.process.poll() is None:
            # The whole group: a Celery pool process hands its run back when it gets SIGTERM.
            try:
                os.killpg(child.process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + GRACE_SECONDS
    for child in children:
        try:
            child.process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            say("launcher", f"{child.name} did not stop in {GRACE_SECONDS:.0f}s; killing it")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.process.pid, signal.SIGKILL)
            child.process.wait()


def base_env(var_dir: Path, services: EmbeddedServices, *, test: bool) -> dict[str, str]:
    env = dict(os.environ)
    env.update(services.env)
    env["KEISEI_VAR_DIR"] = str(var_dir)
    env.setdefault("DJANGO_SETTINGS_MODULE", "keisei_site.settings")
    env.setdefault("PYTHONUNBUFFERED", "1")
    if services.postgres or services.redis:
        env["KEISEI_EMBEDDED"] = "1"
    if test:
        # Threads of the test process must not keep connections to the test database open.
        env.setdefault("DATABASE_CONN_MAX_AGE", "0")
        # The tests' Daphne answers on 127.0.0.1 with the machine's own servers too (outside
        # the embedded mode the settings allow no host by default).
        env.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost")
        if not services.redis:
            # The machine's own Redis outlives a pass, as PostgreSQL does; Django tests in a
            # database of their own (test_<name>), these in a key prefix of their own: run ids
            # start at 1 again each pass, and a live board left by an earlier pass under the
            # same id would be read as this one's.
            env.setdefault("KEISEI_REDIS_PREFIX", f"keisei-test-{secrets.token_hex(6)}")
    if not env.get("SECRET_KEY") and (env.get("KEISEI_EMBEDDED") or test):
        env["SECRET_KEY"] = local_secret_key(var_dir)
    return env


def local_secret_key(var_dir: Path) -> str:
    """A per-checkout key for the embedded mode, kept so sessions survive a restart."""
    path = var_dir / "secret_key"
    if not path.exists():
        var_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


def write_embedded_env(var_dir: Path, env: dict[str, str]) -> Path:
    """Let processes started by hand (``manage.py shell``) find the running servers, and the
    checkout's secret key (settings refuse to start without one). Readable by us alone."""
    path = var_dir / "embedded.env"
    keys = ("DATABASE_URL", "REDIS_URL", "KEISEI_EMBEDDED", "SECRET_KEY")
    path.unlink(missing_ok=True)
    # Created 0600, not chmod-ed after: the key is never readable by others, even briefly.
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as fh:
        fh.write("".join(f"{k}={env[k]}\n" for k in keys if k in env))
    return path


def manage(env: dict[str, str], *args: str) -> None:
    """Run one ``manage.py`` command to the end, its output prefixed like the servers'."""
    child = spawn(args[0], [PYTHON, "manage.py", *args], env)
    code = child.process.wait()
    if code != 0:
        raise subprocess.CalledProcessError(code, ["manage.py", *args])


def prepare(env: dict[str, str]) -> None:
    manage(env, "migrate", "--noinput", "-v", "1")
    manage(env, "collectstatic", "--noinput", "-v", "0")
    manage(env, "ensure_admin")


# Daphne's own limit on a client's WebSocket message (its default is 1 MiB). Over it, Daphne's
# WebSocket library drops the connection without a close frame (the client sees 1006); under
# it, the consumer answers anything over its 64 KiB with an error and closes with 4009. So it
# sits well above the consumer's limit, and stays bounded (a message is buffered whole).
WEBSOCKET_MAX_MESSAGE_BYTES = 4 * 1024 * 1024
# Daphne drops a WebSocket handshake that takes longer than this, with no answer at all (its
# default is 5 s). A consumer's connect waits for the database (who may watch the run) on one
# shared thread, which a busy machine can hold up for seconds: a client should get its answer.
WEBSOCKET_CONNECT_TIMEOUT_SECONDS = 30


def daphne_args(host: str, port: str, *, fd: int | None = None) -> list[str]:
    """Daphne's command line for ``make run`` and the tests (``docker/`` gives the same limits).

    With ``fd``, Daphne serves a listening socket it inherits instead of binding its own.
    """
    size = str(WEBSOCKET_MAX_MESSAGE_BYTES)
    listen = ("--fd", str(fd)) if fd is not None else ("-b", host, "-p", port)
    return [
        *(PYTHON, "-m", "daphne", *listen),
        *("--websocket-max-message-size", size, "--websocket-max-frame-size", size),
        *("--websocket_connect_timeout", str(WEBSOCKET_CONNECT_TIMEOUT_SECONDS)),
        "keisei_site.asgi:application",
    ]


def web_processes(env: dict[str, str]) -> int:
    """How many Daphne processes serve the site: ``KEISEI_WEB_PROCESSES``, else one per core.

    One Python process answers on one core at a time (the GIL); a second process on a second
    core doubles what the API sustains (bench/api.py).
    """
    raw = env.get("KEISEI_WEB_PROCESSES", "")
    if not raw:
        return max(1, min(os.cpu_count() or 1, 8))
    if not raw.isdigit() or not 1 <= int(raw) <= 64:
        raise ValueError(f"KEISEI_WEB_PROCESSES must be a number from 1 to 64, got {raw!r}")
    return int(raw)


def listening_socket(host: str, port: int) -> socket.socket:
    """One socket the Daphne processes share: the kernel hands each connection to one of them."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


def spawn_web(host: str, port: str, env: dict[str, str]) -> tuple[list[Child], socket.socket]:
    """``web_processes`` Daphnes on one shared socket (kept open by us until they stop)."""
    count = web_processes(env)
    sock = listening_socket(host, int(port))
    fd = sock.fileno()
    children = [
        spawn(
            f"daphne{i + 1}" if count > 1 else "daphne", daphne_args(host, port, fd=fd), env, [fd]
        )
        for i in range(count)
    ]
    return children, sock


def celery_worker_args(name: str, queues: str, concurrency: str) -> list[str]:
    return [
        PYTHON,
        "-m",
        "celery",
        "-A",
        "keisei_site",
        "worker",
        "-Q",
        queues,
        "-c",
        concurrency,
        "-n",
        f"{name}@%h",
        "--loglevel",
        "INFO",
    ]


def worker_gpus(env: dict[str, str]) -> int:
    """How many GPU workers to start: ``KEISEI_WORKER_GPUS``, else 0.

    Not detected: asking torch costs the launcher an import of a second or more, and a CPU
    build of torch could not use a GPU it found anyway. A GPU host says how many it has.
    """
    raw = env.get("KEISEI_WORKER_GPUS", "")
    if not raw:
        return 0
    if not raw.isdigit() or not 0 <= int(raw) <= 64:
        raise ValueError(f"KEISEI_WORKER_GPUS must be a number from 0 to 64, got {raw!r}")
    return int(raw)


def training_workers(env: dict[str, str]) -> list[tuple[str, list[str], dict[str, str]]]:
    """(name, command line, environment) of each training worker ``make run`` starts.

    The CPU worker takes ``training`` (and short jobs) with ``CELERY_CONCURRENCY`` slots;
    each GPU gets a worker of its own on ``training-gpu``, one slot, that GPU alone visible
    (``CUDA_VISIBLE_DEVICES``), so no two runs share a GPU. With GPUs, the CPU worker sees
    none: its runs stay off the GPUs' memory.
    """
    gpus = worker_gpus(env)
    cpu_env = {**env, "KEISEI_WORKER_GPUS": "0"}
    if gpus:
        cpu_env["CUDA_VISIBLE_DEVICES"] = ""
    concurrency = env.get("CELERY_CONCURRENCY", "1")
    workers = [
        ("worker", celery_worker_args("worker", ",".join(CPU_WORKER_QUEUES), concurrency), cpu_env)
    ]
    for index in range(gpus):
        name = f"gpu{index}"
        gpu_env = {**env, "KEISEI_WORKER_GPUS": "1", "CUDA_VISIBLE_DEVICES": str(index)}
        workers.append((name, celery_worker_args(name, TRAINING_GPU_QUEUE, "1"), gpu_env))
    return workers


def celery_beat_args(schedule: Path) -> list[str]:
    return [
        PYTHON,
        "-m",
        "celery",
        "-A",
        "keisei_site",
        "beat",
        "--loglevel",
        "INFO",
        "--schedule",
        str(schedule),
    ]


def wait_for_web(host: str, port: int, web: list[Child], stopping: threading.Event) -> bool:
    """True once Daphne answers HTTP (so the URL printed works when it is printed). The shared
    socket accepts connections before any Daphne serves it: an answer is the sign."""
    deadline = time.monotonic() + 60
    address = "localhost" if host in ("0.0.0.0", "::") else host
    while time.monotonic() < deadline and not stopping.is_set():
        if any(child.process.poll() is not None for child in web):
            return False
        connection = http.client.HTTPConnection(address, port, timeout=2)
        try:
            connection.request("GET", "/healthz")
            connection.getresponse().read()
            return True
        except (OSError, http.client.HTTPException):
            pass
        finally:
            connection.close()
        stopping.wait(0.2)
    return False


def serve(env: dict[str, str], var_dir: Path) -> int:
    host = env.get("HOST", "127.0.0.1")
    port = env.get("PORT", "8000")
    if not port.isdigit() or not 0 < int(port) < 65536:
        say("launcher", f"PORT must be a port number (1-65535), got {port!r}")
        return 2
    try:
        workers = training_workers(env)
    except ValueError as exc:
        say("launcher", str(exc))
        return 2
    try:
        web, web_socket = spawn_web(host, port, env)
    except (ValueError, OSError) as exc:
        say("launcher", f"cannot serve on {host}:{port}: {exc}")
        return 2
    children = [
        *web,
        *(spawn(name, args, worker_env) for name, args, worker_env in workers),
        # Short jobs (the lease reaper, evaluations) must not wait behind a long training run.
        spawn("shortjobs", celery_worker_args("shortjobs", DEFAULT_QUEUE, "1"), env),
        spawn("beat", celery_beat_args(var_dir / "celerybeat-schedule"), env),
    ]
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    if wait_for_web(host, int(port), web, stopping):
        say("launcher", f"Keisei Site is up: http://{host}:{port}/  (Ctrl-C stops everything)")
    exit_code = 0
    while not stopping.wait(0.5):
        dead = [c for c in children if c.process.poll() is not None]
        if dead:
            say("launcher", f"{dead[0].name} exited with {dead[0].process.returncode}; stopping")
            exit_code = 1
            break
    say("launcher", "stopping Daphne, the worker and beat")
    stop_children(children)
    web_socket.close()
    return exit_code


def run_tests(env: dict[str, str], pytest_args: list[str]) -> int:
    result = subprocess.run([PYTHON, "-m", "pytest", *pytest_args], cwd=BASE_DIR, env=env)
    if result.returncode == PYTEST_NO_TESTS:
        say("launcher", "pytest collected no tests: that is a failure, not a pass")
        return 1
    return result.returncode


EXTERNAL_SERVER_VARIABLES = ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL")


def external_servers(environ: dict[str, str] | os._Environ[str]) -> dict[str, str]:
    """The servers the environment names (the machine's own), not the embedded ones."""
    return {name: environ[name] for name in EXTERNAL_SERVER_VARIABLES if environ.get(name)}


def lock_external_servers(servers: dict[str, str]) -> object | None:
    """One test pass at a time on the same external servers: a second would drop the first's
    test database (pytest-django recreates it) and its workers would take the first's tasks
    from the shared queues. The lock is machine-wide, keyed by the servers' URLs."""
    key = hashlib.sha256(repr(sorted(servers.items())).encode()).hexdigest()[:16]
    handle = open(Path(tempfile.gettempdir()) / f"keisei-test-{key}.lock", "a+")  # noqa: SIM115
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


def ensure_database() -> None:
    """Create the database an external ``DATABASE_URL`` names if it is missing (test mode: the
    tests that start ``run`` migrate it; pytest-django makes its own ``test_<name>`` beside)."""
    import psycopg
    from psycopg import sql

    from keisei_site.env import database

    name = str(database("DATABASE_URL")["NAME"])  # checked, its errors naming the variable
    # The server's maintenance database, reached with the URL's host, user and options.
    with psycopg.connect(os.environ["DATABASE_URL"], dbname="postgres", autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            return
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def forget_test_keys(env: dict[str, str]) -> None:
    """Delete the keys a test pass left in the machine's own Redis under its own prefix
    (``base_env``): cached boards, channel groups, counters. A prefix the user chose is theirs,
    and a pass on the embedded Redis has none of its own (that server goes with the pass)."""
    prefix = env.get("KEISEI_REDIS_PREFIX", "")
    if not prefix.startswith("keisei-test-"):
        return
    import redis

    try:
        client = redis.Redis.from_url(env["REDIS_URL"], socket_timeout=10)
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        for start in range(0, len(keys), 1000):
            client.delete(*keys[start : start + 1000])
    except redis.RedisError as exc:  # the pass's result stands; the keys expire or stay
        say("launcher", f"could not delete the test keys {prefix}* from Redis: {exc}")
        return
    say("launcher", f"deleted {len(keys)} test keys {prefix}* from Redis")


def lock_var_dir(var_dir: Path) -> object | None:
    """One launcher per data folder: a second would stop the first one's servers."""
    handle = open(var_dir / "launcher.lock", "a+")  # noqa: SIM115 (held until we exit)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m keisei_site.launcher", description=__doc__)
    parser.add_argument("mode", choices=["run", "test", "services"])
    parser.add_argument("args", nargs=argparse.REMAINDER, help="for test: pytest arguments")
    opts = parser.parse_args(argv)

    test = opts.mode == "test"
    var_root = Path(os.environ.get("KEISEI_VAR_DIR", BASE_DIR / "var")).resolve()
    var_dir = var_root / "test" if test else var_root
    var_dir.mkdir(parents=True, exist_ok=True)
    lock = lock_var_dir(var_dir)
    if lock is None:
        say(
            "launcher",
            f"another launcher is running on {var_dir}: stop it first, or give "
            "this one its own folder with KEISEI_VAR_DIR",
        )
        return 1

    external = external_servers(os.environ)
    if test and external:
        external_lock = lock_external_servers(external)
        if external_lock is None:
            say("launcher", f"another test pass uses {', '.join(external)}: wait for it to end")
            return 1
        if "DATABASE_URL" in external:
            ensure_database()
        say("launcher", f"testing against the machine's own servers: {', '.join(external)}")

    started = time.monotonic()
    services = start_services(var_dir, persistent=not test)
    env_file: Path | None = None
    try:
        env = base_env(var_dir, services, test=test)
        if services.postgres or services.redis:
            say(
                "launcher",
                f"embedded servers ready in {time.monotonic() - started:.1f}s under {var_dir}",
            )
            env_file = write_embedded_env(var_dir, env)
        if test:
            # Daphne serves static files in the end-to-end and browser tests, as in production.
            manage(env, "collectstatic", "--noinput", "-v", "0")
            try:
                return run_tests(env, opts.args)
            finally:
                forget_test_keys(env)
        if opts.mode == "services":
            say("launcher", f"DATABASE_URL={env['DATABASE_URL']}")
            say("launcher", f"REDIS_URL={env['REDIS_URL']}")
            say("launcher", "Ctrl-C stops them")
            stopping = threading.Event()
            signal.signal(signal.SIGINT, lambda *_: stopping.set())
            signal.signal(signal.SIGTERM, lambda *_: stopping.set())
            stopping.wait()
            return 0
        prepare(env)
        return serve(env, var_dir)
    except subprocess.CalledProcessError as exc:
        say("launcher", f"setup step failed: {' '.join(map(str, exc.cmd))}")
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        if env_file is not None:
            env_file.unlink(missing_ok=True)
        services.stop()
        say(
            "launcher",
            "embedded servers stopped" if services.postgres or services.redis else "stopped",
        )


if __name__ == "__main__":
    raise SystemExit(main())
