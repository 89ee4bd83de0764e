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
from django.test import override_settings

from monitoring.access import user_may_view_run
from monitoring.errors import NotFound
from runs import access, selectors
from runs.models import Checkpoint, Command, Run, RunStatus
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
