"""The production files in docker/: the compose file as a real Compose implementation resolves
it (Debian's docker-compose 1.29, `make docker-compose`; `config` needs no Docker engine), the
Dockerfile, and the containers' health-check script."""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from monitoring.queues import DEFAULT_QUEUE, QUEUES, TRAINING_QUEUE

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker" / "compose.yaml"
DOCKERFILE = ROOT / "docker" / "Dockerfile"
CADDYFILE = ROOT / "docker" / "Caddyfile"
ENV_EXAMPLE = ROOT / ".env.example"
PROFILES = ("gpu", "rabbitmq")
# Run once and exit; the services after them wait for their success instead of their health.
ONE_SHOTS = {"migrate", "minio-bucket"}
REQUIRED = (
    "SECRET_KEY",
    "POSTGRES_PASSWORD",
    "SITE_DOMAIN",
    "CADDY_TLS",
    "S3_ACCESS_KEY_ID",
    "S3_SECRET_ACCESS_KEY",
    "RABBITMQ_PASSWORD",
)


def env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and not key.startswith("#"):
            values[key.strip()] = value.strip()
    return values


def docker_compose(env_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.fail("docker-compose is not installed: run `make docker-compose` (Debian's 1.29)")
    profiles = [arg for name in PROFILES for arg in ("--profile", name)]
    return subprocess.run(
        [binary, "--env-file", str(env_file), "-f", str(COMPOSE), *profiles, *args],
        capture_output=True,
        text=True,
        # Only the env file's values: nothing from the environment of whoever runs the tests.
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def resolved() -> dict:
    done = docker_compose(ENV_EXAMPLE, "config")
    assert done.returncode == 0, done.stderr
    return yaml.safe_load(done.stdout)


def command(service: dict) -> list[str]:
    return [str(part) for part in service["command"]]


def option(cmd: list[str], flag: str) -> str:
    return cmd[cmd.index(flag) + 1]


def test_compose_has_every_role(resolved):
    assert set(resolved["services"]) == {
        *("postgres", "redis", "minio", "minio-bucket", "rabbitmq", "migrate", "web"),
        *("worker", "worker-gpu", "shortjobs", "beat", "proxy"),
    }
    assert resolved["services"]["rabbitmq"]["profiles"] == ["rabbitmq"]
    assert resolved["services"]["worker-gpu"]["profiles"] == ["gpu"]


def test_every_long_running_service_has_a_health_check(resolved):
    for name, service in resolved["services"].items():
        if name in ONE_SHOTS:
            assert service["restart"] == "no", name
            continue
        test = service.get("healthcheck", {}).get("test")
        assert test and test[0] in ("CMD", "CMD-SHELL"), f"{name} has no health check"


def test_services_wait_for_what_they_need(resolved):
    services = resolved["services"]
    for name in ("web", "worker", "worker-gpu", "shortjobs", "beat"):
        needs = services[name]["depends_on"]
        assert needs["migrate"]["condition"] == "service_completed_successfully", name
        assert needs["minio-bucket"]["condition"] == "service_completed_successfully", name
        for server in ("postgres", "redis"):
            assert needs[server]["condition"] == "service_healthy", name
    assert services["minio-bucket"]["depends_on"]["minio"]["condition"] == "service_healthy"
    assert services["proxy"]["depends_on"]["web"]["condition"] == "service_healthy"


def test_workers_serve_the_right_queues(resolved):
    services = resolved["services"]
    training, gpu, short = (command(services[n]) for n in ("worker", "worker-gpu", "shortjobs"))
    assert option(training, "-Q") == TRAINING_QUEUE and option(training, "-c") == "1"
    assert option(gpu, "-Q") == "training-gpu" and option(gpu, "-c") == "1"
    # Short jobs alone: the reaper and wake-ups never wait behind a training run.
    assert option(short, "-Q") == DEFAULT_QUEUE
    assert services["worker"]["environment"]["KEISEI_WORKER_GPUS"] == "0"
    assert services["worker-gpu"]["environment"]["KEISEI_WORKER_GPUS"] == "1"
    (device,) = services["worker-gpu"]["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
    assert device["device_ids"] == [env_example()["GPU_DEVICE"]]  # one GPU each, named
    served = {q for cmd in (training, gpu, short) for q in option(cmd, "-Q").split(",")}
    assert set(QUEUES) <= served, f"no worker serves {set(QUEUES) - served}"
    for name, cmd in (("worker", training), ("worker-gpu", gpu), ("shortjobs", short)):
        node = option(cmd, "-n").split("@")[0]
        assert f"-d {node}@$" in services[name]["healthcheck"]["test"][1], name
    assert "beat" in command(services["beat"]) and "worker" not in command(services["beat"])
    # docker stop signals the first process alone: the wrapper passes it to the whole worker
    # (tests/integration/runs/test_worker_container_stop.py).
    for name in ("worker", "worker-gpu", "shortjobs"):
        assert services[name]["entrypoint"] == ["sh", "/app/docker/group-term.sh"], name


def test_volumes_are_named_and_declared(resolved):
    declared = set(resolved["volumes"])
    used = set()
    for name, service in resolved["services"].items():
        for mount in service.get("volumes", []):
            source, target, *mode = mount.split(":")
            if source.startswith("/"):  # a bind mount: only the proxy's config and certificates
                assert name == "proxy" and mode == ["ro"], f"{name} binds {source}"
                continue
            assert source in declared, f"{name}: {source} is not a declared named volume"
            used.add(source)
    assert used == declared
    assert {"pgdata", "miniodata", "redisdata"} <= used


def test_web_is_reached_only_through_the_tls_proxy(resolved):
    services = resolved["services"]
    published = {
        name for name, service in services.items() if service.get("ports")
    }  # the proxy alone listens on the host
    assert published == {"proxy"}
    ports = {str(p["target"]) for p in services["proxy"]["ports"]}
    assert ports == {"80", "443"}
    assert services["web"]["expose"] == ["8000"]
    assert "-p" in command(services["web"]) and option(command(services["web"]), "-p") == "8000"
    caddy = CADDYFILE.read_text()
    assert re.search(r"reverse_proxy \{\s+dynamic a \{\s+name web\s+port 8000", caddy)
    assert "tls {$CADDY_TLS}" in caddy and "{$SITE_DOMAIN} {" in caddy
    env = services["web"]["environment"]
    assert env["BEHIND_TLS_PROXY"] == "1" and env["SECURE_COOKIES"] == "1"
    assert env["ALLOWED_HOSTS"] == services["proxy"]["environment"]["SITE_DOMAIN"]
    assert services["web"]["healthcheck"]["test"][-1] == "/readyz"


def test_the_app_stores_artifacts_in_minio_and_brokers_through_the_environment(resolved):
    values = env_example()
    for name in ("migrate", "web", "worker", "shortjobs", "beat"):
        env = resolved["services"][name]["environment"]
        assert env["STORAGE_BACKEND"] == "s3" and env["S3_BUCKET"] == values["S3_BUCKET"]
        assert env["S3_ENDPOINT_URL"] == "http://minio:9000"
        assert env["CELERY_BROKER_URL"] == values["CELERY_BROKER_URL"]
        assert env["DATABASE_URL"].startswith("postgres://keisei:")
        # Download links are signed for the proxy's site (runs/storage_urls.py).
        assert env["S3_PUBLIC_ENDPOINT_URL"] == f"https://{values['SITE_DOMAIN']}"
    minio = resolved["services"]["minio"]["environment"]
    assert minio["MINIO_ROOT_USER"] == values["S3_ACCESS_KEY_ID"]
    assert resolved["services"]["proxy"]["environment"]["S3_BUCKET"] == values["S3_BUCKET"]


def caddy_adapt(environment: dict[str, str]) -> dict:
    """docker/Caddyfile as Caddy itself reads it (Debian's caddy, `make caddy`), as JSON."""
    binary = shutil.which("caddy")
    if binary is None:
        pytest.fail("caddy is not installed: run `make caddy` (Debian's package)")
    done = subprocess.run(
        [binary, "adapt", "--config", str(CADDYFILE), "--adapter", "caddyfile"],
        capture_output=True,
        text=True,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **environment},
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def site_routes(config: dict) -> list[dict]:
    (server,) = config["apps"]["http"]["servers"].values()
    (site,) = server["routes"]
    (subroute,) = site["handle"]
    return subroute["routes"]


def handlers(route: dict) -> list[dict]:
    """The handlers a route runs, through the subroutes Caddy wraps them in."""
    found = []
    for handler in route["handle"]:
        if handler["handler"] == "subroute":
            for inner in handler["routes"]:
                found += handlers(inner)
        else:
            found.append(handler)
    return found


@pytest.mark.parametrize(
    "tls", ["internal", "admin@example.org", "/certs/fullchain.pem /certs/privkey.pem"]
)
def test_the_proxy_hands_object_reads_to_minio_as_the_browser_sent_them(resolved, tls):
    """A download link is signed for https://SITE_DOMAIN/<bucket>/<key> with the Host header
    in the signature: the proxy must pass the path and the Host to MinIO unchanged."""
    proxy_env = {**resolved["services"]["proxy"]["environment"], "CADDY_TLS": tls}
    files, site = site_routes(caddy_adapt(proxy_env))
    assert files["match"] == [{"method": ["GET", "HEAD"], "path": [f"/{proxy_env['S3_BUCKET']}/*"]}]
    (to_minio,) = handlers(files)  # nothing else: no rewrite, no compression
    assert to_minio["handler"] == "reverse_proxy"
    assert to_minio["upstreams"] == [{"dial": "minio:9000"}]
    assert "headers" not in to_minio  # Caddy passes the browser's Host header as it came
    assert "match" not in site  # everything else is the portal's
    kinds = [h["handler"] for h in handlers(site)]
    assert kinds == ["encode", "reverse_proxy"]
    assert handlers(site)[1]["dynamic_upstreams"]["name"] == "web"


def test_the_buckets_path_is_not_one_of_the_sites():
    """The proxy sends /<bucket>/... to MinIO: the portal must have no page there."""
    from django.urls import Resolver404, resolve

    bucket = env_example()["S3_BUCKET"]
    with pytest.raises(Resolver404):
        resolve(f"/{bucket}/runs/1/checkpoints/step100.pt")


def test_every_variable_of_the_compose_file_is_in_env_example():
    used = set(re.findall(r"\$\{([A-Z0-9_]+)", COMPOSE.read_text()))
    documented = set(env_example())
    assert used - documented == set(), "documented nowhere"
    assert documented - used == set(), ".env.example names variables compose never reads"


@pytest.mark.parametrize("name", REQUIRED)
def test_a_missing_required_variable_is_refused_by_name(name, tmp_path):
    values = {k: v for k, v in env_example().items() if k != name}
    env_file = tmp_path / "env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    done = docker_compose(env_file, "config", "-q")
    assert done.returncode != 0
    assert f"{name} is required" in done.stderr, done.stderr


def test_compose_commands_name_real_entry_points(resolved):
    assert "keisei_site.asgi:application" in command(resolved["services"]["web"])
    for name in ("worker", "worker-gpu", "shortjobs", "beat"):
        assert command(resolved["services"][name])[:3] == ["celery", "-A", "keisei_site"]
    from keisei_site.asgi import application  # noqa: F401  (importable)
    from keisei_site.celery import app

    assert app.main == "keisei_site"


def test_production_daphne_has_the_launchers_websocket_limits(resolved):
    """Under the size limit a too-big message is closed with 4009; over it Daphne drops it
    (1006). A handshake slower than Daphne's connect timeout is dropped with no answer."""
    from keisei_site.launcher import (
        WEBSOCKET_CONNECT_TIMEOUT_SECONDS,
        WEBSOCKET_MAX_MESSAGE_BYTES,
        daphne_args,
    )

    options = daphne_args("h", "1")[7:-1]  # after the address, before the application
    assert options[1] == options[3] == str(WEBSOCKET_MAX_MESSAGE_BYTES)
    assert options[4:] == ["--websocket_connect_timeout", str(WEBSOCKET_CONNECT_TIMEOUT_SECONDS)]
    assert " ".join(options) in " ".join(command(resolved["services"]["web"]))
    cmd = re.search(r"^CMD (\[.*?\])$", DOCKERFILE.read_text(), flags=re.M | re.S)
    assert cmd is not None
    assert " ".join(options) in " ".join(json.loads(cmd[1].replace("\\\n", "")))


def test_dockerfile_copies_only_what_exists():
    copied = re.findall(r"^COPY (?!--from)(.+?) \S+$", DOCKERFILE.read_text(), flags=re.M)
    assert copied
    for sources in copied:
        for source in sources.split():
            assert (ROOT / source).exists(), f"Dockerfile copies missing {source}"


def test_dockerfile_builds_cpu_or_cuda_torch_and_runs_as_a_user():
    text = DOCKERFILE.read_text()
    assert "ARG TORCH_VARIANT=cpu" in text
    assert 'download.pytorch.org/whl/${TORCH_VARIANT}"' in text
    stages = re.findall(r"^FROM \S+ AS (\S+)$", text, flags=re.M)
    assert stages == ["assets", "builder", "runtime"]
    runtime = text.split("AS runtime", 1)[1]
    assert re.search(r"^USER keisei$", runtime, flags=re.M)
    assert "collectstatic" in text and "HEALTHCHECK" in runtime


def test_the_image_gets_every_package_and_app_of_the_checkout():
    """The builder copies the whole context: .dockerignore must leave out no code it runs."""
    from django.conf import settings

    assert re.search(r"^COPY \. \.$", DOCKERFILE.read_text(), flags=re.M)
    ignored = {
        line.strip().rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = project["tool"]["setuptools"]["packages"]["find"]["include"]
    needed = {name.split(".")[0].rstrip("*") for name in packages}
    needed |= {app.split(".")[0] for app in settings.INSTALLED_APPS if (ROOT / app).is_dir()}
    needed |= {"manage.py", "templates", "static", "docker", "package.json"}
    assert needed & ignored == set(), f".dockerignore leaves out {needed & ignored}"
    assert {".git", ".venv", "var", "node_modules", ".env"} <= ignored


# The containers' health-check script (docker/healthcheck.py), against a real HTTP server.


@pytest.fixture
def healthcheck():
    import importlib.util

    spec = importlib.util.spec_from_file_location("healthcheck", ROOT / "docker/healthcheck.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def answering() -> Iterator[tuple[int, list[str], list[int]]]:
    """A server on 127.0.0.1 answering with the status in ``status[0]``; records Host headers."""
    hosts: list[str] = []
    status = [200]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the standard library's name)
            hosts.append(self.headers["Host"])
            self.send_response(status[0])
            self.end_headers()
            self.wfile.write(b'{"failing": ["database"]}')

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], hosts, status
    server.shutdown()
    server.server_close()


def test_http_check_passes_on_200_and_names_a_503(healthcheck, answering, monkeypatch):
    port, hosts, status = answering
    monkeypatch.setenv("ALLOWED_HOSTS", "*,keisei.example.org,localhost")
    assert healthcheck.check_http("/readyz", port) is None
    assert hosts == ["keisei.example.org"]  # a host Django allows, not 127.0.0.1
    status[0] = 503
    assert "503" in healthcheck.check_http("/readyz", port)
    assert "database" in healthcheck.check_http("/readyz", port)


def test_http_check_fails_when_nothing_listens(healthcheck):
    with socket.socket() as bound:  # bound, never listening: connections are refused
        bound.bind(("127.0.0.1", 0))
        problem = healthcheck.check_http("/readyz", bound.getsockname()[1])
    assert problem and problem.startswith("GET /readyz:")


def test_beat_check_wants_a_recent_schedule_file(healthcheck, tmp_path):
    schedule = tmp_path / "celerybeat-schedule"
    assert "no schedule file" in healthcheck.check_beat(str(schedule), 600)
    written = tmp_path / "celerybeat-schedule.db"  # dbm modules add their own suffixes
    written.write_bytes(b"x")
    assert healthcheck.check_beat(str(schedule), 600) is None
    old = written.stat().st_mtime - 700
    os.utime(written, (old, old))
    assert "has not written" in healthcheck.check_beat(str(schedule), 600)
