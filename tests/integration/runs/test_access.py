"""One access rule (runs.access): an inactive owner sees and steers nothing, by page, API,
WebSocket (a real Daphne) or the steer path, and refusals look like absence (404).

Django's own backends already turn an inactive user's session into an anonymous one; with
``AllowAllUsersModelBackend`` (which does not) the inactive owner reaches our code, which is
what proves the rule is ours and not an accident of the backend.
"""

from __future__ import annotations

import asyncio

import pytest
import websockets
from django.contrib.auth.models import AnonymousUser, Group
from django.test import override_settings

from monitoring.access import user_may_view_run
from monitoring.errors import NotFound
from runs import access, selectors
from runs.models import Checkpoint, Command, Run, RunShare, RunStatus
from tests.conftest import _user
from tests.support.refusals import refusal
from tests.support.tokens import api_token

pytestmark = pytest.mark.django_db(transaction=True)

ADMITS_INACTIVE = override_settings(
    AUTHENTICATION_BACKENDS=["django.contrib.auth.backends.AllowAllUsersModelBackend"]
)


@pytest.fixture
def run(owner):
    return Run.objects.create(
        owner=owner, trainer="shogi-ppo", config={}, name="dormant", status=RunStatus.RUNNING
    )


def deactivate(user):
    user.is_active = False
    user.save(update_fields=["is_active"])
    return user


def test_one_run_is_seen_by_exactly_those_the_visible_set_names(owner, outsider, staff):
    """``run_for_viewer`` reads the run and asks the rule of that row; ``runs_visible`` asks it
    in SQL. For every kind of run and of caller the two agree. Seen to fail with staff, the
    public flag or a group's share left out of the one-row rule."""
    group = Group.objects.create(name="lab")
    member, sharer, inactive = _user("mia"), _user("sam"), deactivate(_user("ina"))
    member.groups.add(group)

    def make(name: str, who=owner, **extra) -> Run:
        return Run.objects.create(owner=who, trainer="digits", config={}, name=name, **extra)

    runs = [make("private"), make("public", public=True), make("to sam"), make("to lab")]
    runs.append(make("oscar's", who=outsider))
    RunShare.objects.create(run=runs[2], user=sharer)
    RunShare.objects.create(run=runs[3], group=group)
    callers = [owner, outsider, staff, member, sharer, inactive, AnonymousUser()]
    seen = set()
    for caller in callers:
        visible = set(access.runs_visible(user=caller).values_list("pk", flat=True))
        for run in runs:
            try:
                access.run_for_viewer(user=caller, run_id=run.pk)
            except NotFound:
                assert run.pk not in visible, (str(caller), run.name)
            else:
                assert run.pk in visible, (str(caller), run.name)
                seen.add((str(caller), run.name))
        with pytest.raises(NotFound):
            access.run_for_viewer(user=caller, run_id=max(r.pk for r in runs) + 1)
    assert {run for who, run in seen if who == "stella"} == {r.name for r in runs}
    assert {run for who, run in seen if who == "oscar"} == {"public", "oscar's"}
    assert {run for who, run in seen if who == "mia"} == {"public", "to lab"}
    assert {run for who, run in seen if who == "sam"} == {"public", "to sam"}
    assert not {who for who, run in seen} & {"ina", "AnonymousUser"}


def test_inactive_owner_is_refused_by_every_access_function(owner, run):
    checkpoint = Checkpoint.objects.create(run=run, step=1, kind="final", size=1, sha256="0")
    deactivate(owner)
    assert not access.runs_visible(user=owner).exists()
    assert not access.may_view_run(owner, run.pk)
    assert not user_may_view_run(owner, run.pk)  # the monitoring hook asks the same rule
    for refused in (
        lambda: access.run_for_viewer(user=owner, run_id=run.pk),
        lambda: access.run_for_steerer(user=owner, run_id=run.pk),
        lambda: access.checkpoint_for_viewer(
            user=owner, run_id=run.pk, checkpoint_id=checkpoint.pk
        ),
        lambda: access.checkpoint_for_opponent(user=owner, checkpoint_id=checkpoint.pk),
    ):
        with pytest.raises(NotFound):
            refused()
    assert selectors.run_list_active(owner) == []


def test_inactive_owner_gets_404_from_the_run_page(client, owner, run):
    with ADMITS_INACTIVE:
        client.force_login(owner)
        assert client.get(f"/runs/{run.pk}/").status_code == 200
        deactivate(owner)
        assert client.get(f"/runs/{run.pk}/").status_code == 404
        assert b"dormant" not in client.get("/runs/").content


def test_inactive_owner_cannot_steer_by_page_or_api(client, api_client, owner, run):
    deactivate(owner)
    with ADMITS_INACTIVE:
        client.force_login(owner)
        assert client.post(f"/runs/{run.pk}/command/", {"kind": "stop"}).status_code == 404
    # The token authentication refuses an inactive user before any view runs (401: the first
    # authentication class, the token, names its WWW-Authenticate scheme).
    response = api_client(owner).post(
        f"/api/v1/runs/{run.pk}/commands/", {"kind": "stop"}, format="json"
    )
    assert response.status_code == 401
    assert refusal(response)["code"] == "authentication_failed"
    assert not Command.objects.filter(run=run).exists()


def test_inactive_owner_api_session_sees_no_run(owner, run):
    from rest_framework.test import APIClient

    deactivate(owner)
    with ADMITS_INACTIVE:
        session = APIClient()
        session.force_login(owner)
        # DRF's session authentication treats an inactive user as nobody.
        for url in (f"/api/v1/runs/{run.pk}/", "/api/v1/runs/"):
            response = session.get(url)
            assert response.status_code == 401, url
            assert refusal(response)["code"] == "not_authenticated"


@pytest.mark.asyncio(loop_scope="session")
async def test_inactive_owner_is_refused_by_the_run_consumer(owner, run):
    """The consumer asks the hook, the hook asks runs.access: an inactive user in the scope
    (whatever the auth middleware did) is closed before the handshake is accepted."""
    from asgiref.sync import sync_to_async
    from channels.testing import WebsocketCommunicator

    from monitoring.consumers import RunConsumer

    await sync_to_async(deactivate)(owner)
    ws = WebsocketCommunicator(RunConsumer.as_asgi(), f"/ws/runs/{run.pk}/")
    ws.scope["user"] = owner
    ws.scope["url_route"] = {"kwargs": {"run_id": run.pk}}
    connected, _ = await ws.connect()
    assert not connected
    await ws.disconnect()


def test_inactive_owner_is_refused_at_the_real_websocket(daphne_server, owner, run):
    token = api_token(owner)
    url = daphne_server.replace("http", "ws") + f"/ws/runs/{run.pk}/"

    async def hello() -> str:
        async with websockets.connect(
            url, additional_headers={"Authorization": f"Token {token}"}, open_timeout=10
        ) as ws:
            return await asyncio.wait_for(ws.recv(), timeout=10)

    assert "connected" in asyncio.run(hello())  # active: watched
    deactivate(owner)
    with pytest.raises(websockets.InvalidStatus) as refused:
        asyncio.run(hello())
    assert refused.value.response.status_code == 403
