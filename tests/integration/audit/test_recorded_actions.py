"""Each action the audit log covers leaves exactly one entry, with who, what and from where,
when done through the real routes: the login page, the API and the admin."""

from __future__ import annotations

import base64

import pytest
from django.core.files.base import ContentFile

from accounts.models import ApiToken
from accounts.services import token_revoke
from audit.models import Action, Actor
from runs.models import Checkpoint, Command, Run, RunStatus, UserQuota
from tests.conftest import PASSWORD
from tests.support.audit_trail import AuditTrail

pytestmark = pytest.mark.django_db

BROWSER = {"REMOTE_ADDR": "203.0.113.9", "HTTP_USER_AGENT": "Mozilla/5.0 (audit test)"}
CLI = {"REMOTE_ADDR": "198.51.100.4", "HTTP_USER_AGENT": "keisei-cli/1"}


@pytest.fixture
def trail():
    return AuditTrail()


@pytest.fixture
def superuser(db):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_superuser("sam", password=PASSWORD)


def _from(entry, where: dict) -> None:
    assert entry.ip == where["REMOTE_ADDR"]
    assert entry.user_agent == where["HTTP_USER_AGENT"]


def _by(entry, user) -> None:
    assert (entry.actor, entry.user_id, entry.username) == (Actor.USER, user.pk, user.username)


# ----- signing in and out ----------------------------------------------------------------------


def test_sign_in_and_out_on_the_login_page(client, owner, trail):
    response = client.post(
        "/accounts/login/", {"username": "olivia", "password": PASSWORD}, **BROWSER
    )
    assert response.status_code == 302
    entry = trail.one(Action.LOGIN)
    _by(entry, owner)
    _from(entry, BROWSER)
    assert (entry.target_type, entry.target_id) == ("user", str(owner.pk))
    assert entry.request_id == response["X-Request-ID"]
    client.post("/accounts/logout/", **BROWSER)
    _by(trail.one(Action.LOGOUT), owner)


def test_a_refused_sign_in_names_who_it_claimed_to_be(client, owner, trail):
    response = client.post(
        "/accounts/login/", {"username": "olivia", "password": "wrong"}, **BROWSER
    )
    assert response.status_code == 200  # the form again, with its error
    entry = trail.one(Action.LOGIN_FAILED)
    assert (entry.actor, entry.user_id, entry.username) == (Actor.ANONYMOUS, owner.pk, "olivia")
    _from(entry, BROWSER)
    assert entry.details == {"method": "password", "path": "/accounts/login/"}
    client.post("/accounts/login/", {"username": "nobody", "password": "x"}, **BROWSER)
    unknown = trail.one(Action.LOGIN_FAILED)
    assert (unknown.user_id, unknown.username) == (None, "nobody")


def test_a_refused_http_basic_sign_in_on_the_tokens_api(api_client, owner, trail):
    bad = base64.b64encode(b"olivia:wrong").decode()
    response = api_client().post(
        "/api/v1/tokens/", {"name": "cli"}, HTTP_AUTHORIZATION=f"Basic {bad}", **CLI
    )
    assert response.status_code == 401
    entry = trail.one(Action.LOGIN_FAILED)
    assert (entry.username, entry.user_id) == ("olivia", owner.pk)
    assert entry.details["path"] == "/api/v1/tokens/"
    _from(entry, CLI)


def test_a_refused_api_token(api_client, owner, trail):
    key = api_client(owner)  # a token of Olivia's, made before the mark
    trail.mark()
    token = ApiToken.objects.get(user=owner)
    ApiToken.objects.filter(pk=token.pk).update(revoked_at=token.created)
    response = key.get("/api/v1/runs/", **CLI)
    assert response.status_code == 401
    entry = trail.one(Action.LOGIN_FAILED)
    assert entry.actor == Actor.ANONYMOUS
    assert entry.details == {
        "method": "token",
        "code": "token_revoked",
        "prefix": token.token_key[:8],
    }
    _from(entry, CLI)
    api_client().get("/api/v1/runs/", HTTP_AUTHORIZATION="Token not-a-key", **CLI)
    assert trail.one(Action.LOGIN_FAILED).details["code"] == "authentication_failed"


# ----- tokens ----------------------------------------------------------------------------------


def test_token_made_with_a_password_and_revoked_with_itself(api_client, owner, trail):
    basic = base64.b64encode(f"olivia:{PASSWORD}".encode()).decode()
    made = api_client().post(
        "/api/v1/tokens/", {"name": "cli"}, HTTP_AUTHORIZATION=f"Basic {basic}", **CLI
    )
    assert made.status_code == 201
    created = trail.one(Action.TOKEN_CREATE)
    _by(created, owner)
    _from(created, CLI)
    token = ApiToken.objects.get(user=owner)
    assert (created.target_type, created.target_id) == ("token", str(token.pk))
    assert created.details == {"owner": "olivia", "name": "cli", "prefix": token.token_key}
    client = api_client()
    client.credentials(HTTP_AUTHORIZATION=f"Token {made.json()['token']}")
    assert client.delete("/api/v1/tokens/current/", **CLI).status_code == 204
    revoked = trail.one(Action.TOKEN_REVOKE)
    _by(revoked, owner)
    _from(revoked, CLI)
    assert revoked.target_id == str(token.pk)
    # Revoking it again changes nothing, and records nothing.
    assert token_revoke(token=token) is False
    assert trail.new() == []


def test_a_token_made_by_the_shell_is_the_systems_doing(owner, trail):
    from tests.support.tokens import api_token

    api_token(owner)
    entry = trail.one(Action.TOKEN_CREATE)
    assert (entry.actor, entry.user_id, entry.username, entry.ip) == (Actor.SYSTEM, None, "", None)
    assert entry.details["owner"] == "olivia"


# ----- runs ------------------------------------------------------------------------------------


def _finished(owner, status=RunStatus.COMPLETED) -> Run:
    return Run.objects.create(owner=owner, trainer="digits", config={}, status=status)


def test_run_queued_cloned_and_forked(api_client, owner, trail):
    api = api_client(owner)
    trail.mark()
    queued = api.post(
        "/api/v1/runs/", {"trainer": "digits", "config": {"epochs": 1}}, format="json", **CLI
    )
    assert queued.status_code == 201, queued.content
    created = trail.one(Action.RUN_CREATE)
    _by(created, owner)
    _from(created, CLI)
    assert (created.target_type, created.target_id) == ("run", str(queued.json()["id"]))
    assert created.details == {"owner": "olivia", "trainer": "digits"}

    source = _finished(owner)
    clone = api.post(f"/api/v1/runs/{source.pk}/clone/", {}, format="json", **CLI)
    assert clone.status_code == 201, clone.content
    cloned = trail.one(Action.RUN_CLONE)
    assert cloned.target_id == str(clone.json()["id"]) and cloned.details["parent"] == source.pk

    checkpoint = Checkpoint(run=source, step=4, kind="final", size=3, sha256="0" * 64)
    checkpoint.file.save("audit-fork.pt", ContentFile(b"net"))
    fork = api.post(
        f"/api/v1/runs/{source.pk}/fork/", {"checkpoint": checkpoint.pk}, format="json", **CLI
    )
    assert fork.status_code == 201, fork.content
    forked = trail.one(Action.RUN_FORK)
    assert forked.details["checkpoint"] == checkpoint.pk
    _by(forked, owner)


def test_every_command_is_recorded_taken_or_rejected(api_client, owner, trail):
    api = api_client(owner)
    run = api.post("/api/v1/runs/", {"trainer": "digits", "config": {}}, format="json").json()
    trail.mark()
    rejected = api.post(f"/api/v1/runs/{run['id']}/commands/", {"kind": "pause"}, **CLI)
    assert rejected.status_code == 409
    entry = trail.one(Action.RUN_COMMAND)
    assert entry.details["kind"] == "pause" and entry.details["state"] == "rejected"
    assert "cannot pause" in entry.details["error"]
    taken = api.post(f"/api/v1/runs/{run['id']}/commands/", {"kind": "cancel"}, **CLI)
    assert taken.status_code == 201
    entry = trail.one(Action.RUN_COMMAND)
    _by(entry, owner)
    _from(entry, CLI)
    assert entry.details["command"] == Command.objects.get(kind="cancel").pk
    assert entry.details["state"] == "pending"


def test_run_edited_requeued_and_deleted_by_staff(api_client, owner, staff, trail):
    run = _finished(owner, RunStatus.FAILED)
    api = api_client(staff)
    trail.mark()
    renamed = api.patch(f"/api/v1/runs/{run.pk}/", {"name": "renamed"}, format="json", **CLI)
    assert renamed.status_code == 200
    edited = trail.one(Action.RUN_EDIT)
    _by(edited, staff)  # the person who asked, not the owner
    assert edited.details == {"name": "renamed"}
    assert api.post(f"/api/v1/runs/{run.pk}/requeue/", **CLI).status_code == 200
    requeued = trail.one(Action.RUN_REQUEUE)
    assert requeued.details == {"was": "failed"} and requeued.target_id == str(run.pk)
    Run.objects.filter(pk=run.pk).update(status=RunStatus.CANCELLED)
    assert api.delete(f"/api/v1/runs/{run.pk}/", **CLI).status_code == 204
    deleted = trail.one(Action.RUN_DELETE)
    _by(deleted, staff)
    _from(deleted, CLI)
    assert deleted.details["owner"] == "olivia" and deleted.target_id == str(run.pk)


def test_a_refused_change_records_nothing(api_client, owner, trail):
    run = Run.objects.create(owner=owner, trainer="digits", config={}, status=RunStatus.RUNNING)
    api = api_client(owner)
    trail.mark()
    assert api.delete(f"/api/v1/runs/{run.pk}/").status_code == 409
    assert api.patch(f"/api/v1/runs/{run.pk}/", {"priority": 5}, format="json").status_code == 409
    assert trail.new() == []


# ----- the admin -------------------------------------------------------------------------------


def test_admin_sign_in_add_change_and_delete(client, superuser, owner, outsider, trail):
    assert (
        client.post(
            "/admin/login/?next=/admin/", {"username": "sam", "password": PASSWORD}, **BROWSER
        ).status_code
        == 302
    )
    assert trail.one(Action.LOGIN).details == {"path": "/admin/login/"}

    client.post(
        "/admin/runs/userquota/add/",
        {"user": owner.pk, "max_running": 2, "max_queued": 5},
        **BROWSER,
    )
    quota = UserQuota.objects.get(user=owner)
    added = trail.one(Action.ADMIN_ADD)
    _by(added, superuser)
    _from(added, BROWSER)
    assert (added.target_type, added.target_id) == ("runs.userquota", str(quota.pk))

    client.post(
        f"/admin/runs/userquota/{quota.pk}/change/",
        {"user": owner.pk, "max_running": 3, "max_queued": 5},
        **BROWSER,
    )
    changed = trail.one(Action.ADMIN_CHANGE)
    assert "max_running" in changed.details["change"].lower().replace(" ", "_")

    client.post(f"/admin/runs/userquota/{quota.pk}/delete/", {"post": "yes"}, **BROWSER)
    assert not UserQuota.objects.exists()
    assert trail.one(Action.ADMIN_DELETE).target_id == str(quota.pk)


def test_admin_deleting_several_at_once_records_each(client, superuser, owner, outsider, trail):
    quotas = [
        UserQuota.objects.create(user=u, max_running=1, max_queued=1) for u in (owner, outsider)
    ]
    client.force_login(superuser)
    trail.mark()
    chosen = {"action": "delete_selected", "_selected_action": [q.pk for q in quotas]}
    client.post("/admin/runs/userquota/", chosen)  # the confirmation page: nothing yet
    assert trail.new() == [] and UserQuota.objects.count() == 2
    client.post("/admin/runs/userquota/", {**chosen, "post": "yes"}, **BROWSER)
    assert not UserQuota.objects.exists()
    entries = trail.new()
    assert sorted((e.action, e.target_id) for e in entries) == sorted(
        (Action.ADMIN_DELETE, str(q.pk)) for q in quotas
    )
    for entry in entries:
        _by(entry, superuser)
        _from(entry, BROWSER)


def test_an_admin_action_on_runs_is_recorded_as_what_it_did(client, superuser, owner, trail):
    run = _finished(owner, RunStatus.FAILED)
    client.force_login(superuser)
    trail.mark()
    client.post(
        "/admin/runs/run/", {"action": "requeue_runs", "_selected_action": [run.pk]}, **BROWSER
    )
    entry = trail.one(Action.RUN_REQUEUE)
    _by(entry, superuser)
    _from(entry, BROWSER)


def test_behind_the_proxy_the_address_is_the_one_it_forwarded(client, owner, trail, settings):
    settings.BEHIND_TLS_PROXY = True
    client.post(
        "/accounts/login/",
        {"username": "olivia", "password": PASSWORD},
        REMOTE_ADDR="172.18.0.5",
        HTTP_X_FORWARDED_FOR="6.6.6.6, 192.0.2.77",
        HTTP_X_FORWARDED_PROTO="https",
    )
    assert trail.one(Action.LOGIN).ip == "192.0.2.77"
