"""``keisei share``, ``unshare`` and ``runs --shared`` against a real portal (Daphne), and a
viewer's ``keisei submit`` refused naming the role."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Group

from audit.models import Action, AuditEntry
from keisei_client.exits import Exit
from runs.models import VIEWERS_GROUP, Run, RunShare
from tests.conftest import _user
from tests.support.cli import keisei
from tests.support.tokens import api_token

pytestmark = pytest.mark.django_db(transaction=True)


def test_share_unshare_and_list_shared_runs_from_the_cli(daphne_server, owner, tmp_path):
    vera = _user("vera")
    vera.groups.add(Group.objects.get_or_create(name=VIEWERS_GROUP)[0])
    Group.objects.create(name="team-a")
    run = Run.objects.create(owner=owner, trainer="digits", config={}, name="to-share")
    owners, veras = api_token(owner), api_token(vera)

    def cli(*args: str, token: str = owners):
        return keisei(*args, home=tmp_path, url=daphne_server, token=token)

    shared = cli("share", str(run.pk), "--user", "vera", "--group", "team-a", "--public")
    assert shared.returncode == Exit.OK, shared.stderr
    assert "public, shared read-only with user vera, group team-a" in shared.stdout
    run.refresh_from_db()
    assert run.public and RunShare.objects.filter(run=run).count() == 2
    assert AuditEntry.objects.filter(action=Action.RUN_SHARE, target_id=str(run.pk)).exists()

    unknown = cli("share", str(run.pk), "--user", "ghost")
    assert unknown.returncode == Exit.REFUSED and "no user named 'ghost'" in unknown.stderr

    listed = cli("runs", "--shared", "with_me", "--json", token=veras)
    assert [r["id"] for r in json.loads(listed.stdout)] == [run.pk]
    assert json.loads(cli("runs", "--shared", "own", "--json", token=veras).stdout) == []

    # The viewer watches, never steers or shares, never queues.
    steer = cli("share", str(run.pk), "--private", token=veras)
    assert steer.returncode == Exit.REFUSED and "run_read_only" in steer.stderr
    queued = cli("submit", "--trainer", "digits", token=veras)
    assert queued.returncode == Exit.REFUSED, queued.stderr
    assert "viewer_cannot_queue" in queued.stderr and "viewer role" in queued.stderr

    gone = cli("unshare", str(run.pk), "--user", "vera", "--json")
    assert gone.returncode == Exit.OK, gone.stderr
    assert json.loads(gone.stdout) == {"public": True, "users": [], "groups": ["team-a"]}
    private = cli("share", str(run.pk), "--private", "--json")
    assert json.loads(private.stdout)["public"] is False
    hidden = cli("runs", "--shared", "with_me", "--json", token=veras)
    assert json.loads(hidden.stdout) == []
    assert cli("unshare", str(run.pk)).returncode == Exit.USAGE
