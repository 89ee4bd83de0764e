"""The command-line client against a real portal: queue a run, watch it, steer it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from rest_framework.authtoken.models import Token

pytestmark = pytest.mark.django_db(transaction=True)


def remote(base: str, token: str | None, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "KEISEI_TOKEN"}
    if token is not None:
        env["KEISEI_TOKEN"] = token
    return subprocess.run(
        [sys.executable, "-m", "keisei", "remote", "--url", base, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
    )


def test_queue_and_watch_a_run_to_completion(daphne_server, celery_worker, owner):
    token = Token.objects.create(user=owner).key
    done = remote(
        daphne_server,
        token,
        "queue",
        "--trainer",
        "digits",
        "--set",
        "epochs=3",
        "--name",
        "from the cli",
        "--watch",
    )
    assert done.returncode == 0, done.stderr
    created = json.loads(done.stdout.split("\n}\n", 1)[0] + "\n}")
    assert created["name"] == "from the cli" and created["config"]["epochs"] == 3
    last = json.loads(done.stdout.strip().splitlines()[-1])
    assert (last["type"], last["data"]["status"]) == ("status", "completed")
    shown = json.loads(remote(daphne_server, token, "show", str(created["id"])).stdout)
    assert shown["status"] == "completed" and shown["progress"] == 1.0


def test_bad_input_and_missing_token_are_reported(daphne_server, owner):
    token = Token.objects.create(user=owner).key
    refused = remote(daphne_server, token, "queue", "--trainer", "digits", "--set", "epochs=0")
    assert refused.returncode != 0
    assert "400" in refused.stderr and "config.epochs" in refused.stderr
    anonymous = remote(daphne_server, None, "list")
    assert anonymous.returncode != 0 and "KEISEI_TOKEN" in anonymous.stderr
    wrong = remote(daphne_server, "not-a-token", "list")
    assert wrong.returncode != 0 and "Invalid token" in wrong.stderr
