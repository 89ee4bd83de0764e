"""The production compose file and Dockerfile are checked here (no Docker engine runs on CI)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker" / "compose.yaml"
DOCKERFILE = ROOT / "docker" / "Dockerfile"


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_compose_has_every_role_of_the_design():
    services = compose()["services"]
    assert {"postgres", "redis", "migrate", "web", "worker", "beat"} <= set(services)
    for role in ("migrate", "web", "worker", "beat"):
        service = services[role]
        assert service["build"]["dockerfile"] == "docker/Dockerfile"
        env = service["environment"]
        assert {"DATABASE_URL", "REDIS_URL", "SECRET_KEY"} <= set(env)
        assert "postgres:5432" in env["DATABASE_URL"] and env["REDIS_URL"].startswith("redis://")


def test_compose_commands_name_real_entry_points():
    services = compose()["services"]
    assert "keisei_site.asgi:application" in services["web"]["command"]
    worker = services["worker"]["command"]
    assert worker[:3] == ["celery", "-A", "keisei_site"] and "training,default" in worker
    from keisei_site.asgi import application  # noqa: F401  (importable)
    from keisei_site.celery import app

    assert app.main == "keisei_site"


def test_production_daphne_has_the_launchers_websocket_message_limits():
    """Under the limit a too-big message is closed with 4009; over it Daphne drops it (1006)."""
    from keisei_site.launcher import WEBSOCKET_MAX_MESSAGE_BYTES, daphne_args

    limits = daphne_args("h", "1")[7:11]
    assert limits[1] == limits[3] == str(WEBSOCKET_MAX_MESSAGE_BYTES)
    assert " ".join(limits) in " ".join(compose()["services"]["web"]["command"])
    cmd = re.search(r"^CMD (\[.*?\])$", DOCKERFILE.read_text(), flags=re.M | re.S)
    assert cmd is not None
    assert " ".join(limits) in " ".join(json.loads(cmd[1].replace("\\\n", "")))


def test_dockerfile_copies_only_what_exists():
    copied = re.findall(r"^COPY (.+?) \S+$", DOCKERFILE.read_text(), flags=re.M)
    for sources in copied:
        for source in sources.split():
            assert (ROOT / source).exists(), f"Dockerfile copies missing {source}"


@pytest.mark.skipif(shutil.which("docker") is None, reason="no docker client here")
def test_docker_compose_config_validates_when_the_plugin_is_present():
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip("the docker compose plugin is not installed")
    done = subprocess.run(
        ["docker", "compose", "-f", str(COMPOSE), "config", "-q"],
        capture_output=True,
        text=True,
        env={"POSTGRES_PASSWORD": "x", "SECRET_KEY": "y", "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
