"""``keisei`` against a real portal (Daphne, a Celery worker, PostgreSQL, Redis): queue a run
and watch it to the end, list and show it, and the exit codes of refusals."""

from __future__ import annotations

import json

import pytest

from keisei_client.exits import Exit
from tests.support.cli import json_lines, keisei
from tests.support.tokens import api_token

pytestmark = pytest.mark.django_db(transaction=True)


def test_submit_watch_runs_to_completion_and_exits_0(daphne_server, celery_worker, owner, tmp_path):
    token = api_token(owner)
    done = keisei(
        "submit", "--trainer", "digits", "--set", "epochs=3", "--set", "batch_size=16",
        "--name", "from the cli", "--watch", "--json",
        home=tmp_path, url=daphne_server, token=token,
    )  # fmt: skip
    assert done.returncode == Exit.OK, done.stderr
    lines = json_lines(done.stdout)
    created = lines[0]["data"]
    assert created["name"] == "from the cli" and created["config"]["epochs"] == 3
    # The final status, then the run's summary: its last event, read before the watch ends.
    durable = [m for m in lines if m["seq"] is not None]
    ending = [(m["type"], m["data"]["status"]) for m in durable[-2:]]
    assert ending == [("status", "completed"), ("summary", "completed")], ending
    seqs = [m["seq"] for m in lines if m["seq"] is not None]
    assert seqs == sorted(set(seqs)), "each durable event once, in order"

    shown = keisei(
        "show", str(created["id"]), "--json", home=tmp_path, url=daphne_server, token=token
    )
    assert json.loads(shown.stdout)["status"] == "completed"
    table = keisei("show", str(created["id"]), home=tmp_path, url=daphne_server, token=token)
    assert table.returncode == 0 and "completed" in table.stdout and "final" in table.stdout
    assert "the budget was spent" in table.stdout and "charts/val_accuracy" in table.stdout
    watched = keisei("watch", str(created["id"]), home=tmp_path, url=daphne_server, token=token)
    assert watched.returncode == Exit.OK and f"Run {created['id']} completed." in watched.stdout


def test_runs_follows_the_pages_to_the_limit_and_shows_only_yours(
    daphne_server, owner, outsider, tmp_path
):
    from runs.models import Run, RunStatus

    # More than one page of the largest size the client asks for (200).
    mine = Run.objects.bulk_create(
        Run(owner=owner, trainer="digits", config={}, name=f"mine {i}", status=RunStatus.COMPLETED)
        for i in range(205)
    )
    Run.objects.create(owner=outsider, trainer="digits", config={}, name="theirs")
    token = api_token(owner)
    newest_first = [r.pk for r in reversed(mine)]
    listed = keisei(
        "runs", "--json", "--limit", "300", home=tmp_path, url=daphne_server, token=token
    )
    assert listed.returncode == 0, listed.stderr
    assert [r["id"] for r in json.loads(listed.stdout)] == newest_first
    few = keisei("runs", "--json", "--limit", "2", home=tmp_path, url=daphne_server, token=token)
    assert [r["id"] for r in json.loads(few.stdout)] == newest_first[:2]
    table = keisei("runs", "--search", "mine 13", home=tmp_path, url=daphne_server, token=token)
    assert table.returncode == 0, table.stderr
    assert "mine 13" in table.stdout and "mine 12 " not in table.stdout


def test_refusals_print_the_field_and_exit_with_their_code(
    daphne_server, owner, outsider, tmp_path
):
    from runs.models import Run, RunStatus

    token = api_token(owner)
    bad = keisei(
        "submit",
        "--trainer",
        "digits",
        "--set",
        "epochs=0",
        home=tmp_path,
        url=daphne_server,
        token=token,
    )
    assert bad.returncode == Exit.REFUSED
    assert bad.stderr.startswith("error: HTTP 400 config_invalid")
    assert "\n  config.epochs: " in bad.stderr

    finished = Run.objects.create(
        owner=owner, trainer="digits", config={}, status=RunStatus.COMPLETED
    )
    paused = keisei("pause", str(finished.pk), home=tmp_path, url=daphne_server, token=token)
    assert paused.returncode == Exit.REFUSED
    assert paused.stderr.startswith("error: HTTP 409 command_rejected: cannot pause")

    theirs = api_token(outsider)
    hidden = keisei("show", str(finished.pk), home=tmp_path, url=daphne_server, token=theirs)
    assert hidden.returncode == Exit.NOT_FOUND and "HTTP 404 not_found" in hidden.stderr
    stopped = keisei("stop", str(finished.pk), home=tmp_path, url=daphne_server, token=theirs)
    assert stopped.returncode == Exit.NOT_FOUND

    unknown = keisei("runs", home=tmp_path, url=daphne_server, token="not-a-token")
    assert unknown.returncode == Exit.NOT_AUTHENTICATED and "HTTP 401" in unknown.stderr
    nobody = keisei("runs", home=tmp_path, url=daphne_server)
    assert nobody.returncode == Exit.NOT_AUTHENTICATED
    assert f"not logged in to {daphne_server}" in nobody.stderr


def test_a_watched_run_that_fails_exits_1(daphne_server, celery_worker, owner, tmp_path):
    token = api_token(owner)
    done = keisei(
        "submit", "--trainer", "broken", "--watch", home=tmp_path, url=daphne_server, token=token
    )
    assert done.returncode == Exit.FAILED, done.stderr
    assert done.stdout.strip().endswith("failed.")


def test_trainers_are_listed_with_their_presets_and_fields(daphne_server, owner, tmp_path):
    token = api_token(owner)
    listed = keisei("trainers", "--json", home=tmp_path, url=daphne_server, token=token)
    assert listed.returncode == 0, listed.stderr
    shogi = next(t for t in json.loads(listed.stdout) if t["name"] == "shogi-ppo")
    assert "quick" in shogi["presets"]
    table = keisei("trainers", "digits", home=tmp_path, url=daphne_server, token=token)
    assert table.returncode == 0 and "epochs" in table.stdout and "Passes over" in table.stdout
    unknown = keisei("trainers", "chess", home=tmp_path, url=daphne_server, token=token)
    assert unknown.returncode == Exit.NOT_FOUND
