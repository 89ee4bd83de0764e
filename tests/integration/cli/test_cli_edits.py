"""``keisei edit``, ``requeue`` and ``delete`` against a real portal, and ``runs --tag``."""

from __future__ import annotations

import json

import pytest

from keisei_client.exits import Exit
from tests.support.cli import keisei
from tests.support.tokens import api_token

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_finished_run_is_tagged_found_by_tag_refused_a_requeue_and_deleted(
    daphne_server, owner, outsider, tmp_path
):
    from runs.models import Run, RunStatus

    done = Run.objects.create(owner=owner, trainer="digits", config={}, status=RunStatus.COMPLETED)
    other = Run.objects.create(owner=owner, trainer="digits", config={}, status=RunStatus.COMPLETED)
    token = api_token(owner)

    def cli(*args: str):
        return keisei(*args, home=tmp_path, url=daphne_server, token=token)

    edited = cli(
        "edit", str(done.pk), "--tag", "sweep-3", "--tag", "lr:3e-4", "--notes", "the good one"
    )
    assert edited.returncode == Exit.OK, edited.stderr
    shown = json.loads(cli("show", str(done.pk), "--json").stdout)
    assert (shown["tags"], shown["notes"]) == (["sweep-3", "lr:3e-4"], "the good one")
    assert [r["id"] for r in json.loads(cli("runs", "--tag", "sweep-3", "--json").stdout)] == [
        done.pk
    ]

    bad_tag = cli("edit", str(done.pk), "--tag", "no spaces")
    assert bad_tag.returncode == Exit.REFUSED and "\n  tags.0: " in bad_tag.stderr
    late = cli("edit", str(done.pk), "--priority", "5")
    assert late.returncode == Exit.REFUSED and "run_not_queued" in late.stderr
    assert cli("edit", str(done.pk)).returncode == Exit.USAGE
    requeued = cli("requeue", str(done.pk))
    assert requeued.returncode == Exit.REFUSED and "HTTP 409" in requeued.stderr

    outsiders = keisei(
        "delete", str(done.pk), "--yes", home=tmp_path, url=daphne_server, token=api_token(outsider)
    )
    assert outsiders.returncode == Exit.NOT_FOUND
    unasked = cli("delete", str(done.pk))
    assert unasked.returncode == Exit.USAGE and "--yes" in unasked.stderr
    deleted = cli("delete", str(done.pk), "--yes")
    assert deleted.returncode == Exit.OK, deleted.stderr
    assert cli("show", str(done.pk)).returncode == Exit.NOT_FOUND
    assert cli("show", str(other.pk)).returncode == Exit.OK


def test_a_queued_run_is_submitted_with_tags_reprioritised_and_cancelled(
    daphne_server, celery_worker, owner, tmp_path
):
    token = api_token(owner)

    def cli(*args: str):
        return keisei(*args, home=tmp_path, url=daphne_server, token=token)

    # It stays queued though a worker is up (as a session worker of an earlier test may be):
    # it asks for a GPU, and the worker is a CPU worker (runs/placement.py).
    submitted = cli(
        "submit",
        "--trainer",
        "digits",
        "--set",
        "device=cuda",
        "--tag",
        "sweep-4",
        "--notes",
        "first try",
        "--json",
    )
    assert submitted.returncode == Exit.OK, submitted.stderr
    run = json.loads(submitted.stdout)
    assert (run["status"], run["tags"], run["notes"]) == ("queued", ["sweep-4"], "first try")
    assert cli("edit", str(run["id"]), "--priority", "7").returncode == Exit.OK
    assert json.loads(cli("show", str(run["id"]), "--json").stdout)["priority"] == 7
    cancelled = cli("cancel", str(run["id"]), "--wait")
    assert cancelled.returncode == Exit.OK, cancelled.stderr
    assert json.loads(cli("show", str(run["id"]), "--json").stdout)["status"] == "cancelled"

    from runs.models import Run

    queued_before = Run.objects.count()
    refused = cli("submit", "--trainer", "digits", "--tag", "no spaces")
    assert refused.returncode == Exit.REFUSED
    assert "tags.0:" in refused.stderr, refused.stderr
    assert Run.objects.count() == queued_before  # the tags are checked with the run, not after
