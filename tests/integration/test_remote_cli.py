"""The command-line client against a real portal: queue a run, watch it, steer it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.support.tokens import api_token

pytestmark = pytest.mark.django_db(transaction=True)


def client(base: str, token: str | None, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "KEISEI_TOKEN"}
    if token is not None:
        env["KEISEI_TOKEN"] = token
    return subprocess.run(
        [sys.executable, "-m", "keisei_client", "--url", base, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
    )


def test_queue_and_watch_a_run_to_completion(daphne_server, celery_worker, owner):
    token = api_token(owner)
    done = client(
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
    shown = json.loads(client(daphne_server, token, "show", str(created["id"])).stdout)
    assert shown["status"] == "completed" and shown["progress"] == 1.0


def test_bad_input_and_missing_token_are_reported(daphne_server, owner):
    token = api_token(owner)
    refused = client(daphne_server, token, "queue", "--trainer", "digits", "--set", "epochs=0")
    assert refused.returncode != 0
    assert "400" in refused.stderr and "config.epochs" in refused.stderr
    anonymous = client(daphne_server, None, "list")
    assert anonymous.returncode != 0 and "KEISEI_TOKEN" in anonymous.stderr
    wrong = client(daphne_server, "not-a-token", "list")
    assert wrong.returncode != 0 and "Invalid token" in wrong.stderr


def test_games_are_listed_and_fetched_as_kif(daphne_server, owner, outsider):
    from runs import services
    from runs.models import GameSource, Run, RunStatus

    run = Run.objects.create(
        owner=owner, trainer="shogi-ppo", config={}, status=RunStatus.COMPLETED
    )
    record = services.game_record_store(
        run_id=run.pk,
        record={"black": "agent", "white": "random", "moves": ["7g7f"], "kif": "KIF text"},
        source=GameSource.SAMPLE,
    )
    token = api_token(owner)
    listed = client(daphne_server, token, "games", str(run.pk), "--source", "sample")
    assert listed.returncode == 0, listed.stderr
    assert [g["id"] for g in json.loads(listed.stdout)] == [record.pk]
    kif = client(daphne_server, token, "game", str(run.pk), str(record.pk))
    assert kif.returncode == 0 and kif.stdout == "KIF text\n"
    bad = client(daphne_server, token, "games", str(run.pk), "--source", "tournament")
    assert bad.returncode != 0 and "400" in bad.stderr and "source" in bad.stderr
    theirs = api_token(outsider)
    hidden = client(daphne_server, theirs, "game", str(run.pk), str(record.pk))
    assert hidden.returncode != 0 and "404" in hidden.stderr
