"""A token the API refuses is refused at the WebSocket handshake too: a real socket to the
real Daphne, through the same check (accounts.services.token_authenticate)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
import websockets
from django.utils import timezone

from accounts.models import ApiToken
from tests.support.sockets import connect, receive
from tests.support.tokens import api_token

pytestmark = pytest.mark.django_db(transaction=True)


async def handshake(base: str, token: str) -> int | dict:
    """The first message of an accepted socket, or the refused handshake's status."""
    try:
        async with connect(base, "/ws/runs/", token) as ws:
            return await receive(ws)
    except websockets.InvalidStatus as refused:
        return refused.response.status_code


@pytest.mark.parametrize(
    "change",
    [{"revoked_at": timezone.now()}, {"expiry": timezone.now() - timedelta(seconds=1)}],
    ids=["revoked", "expired"],
)
def test_a_revoked_or_expired_token_is_refused_at_the_handshake(daphne_server, owner, change):
    key = api_token(owner)
    accepted = asyncio.run(handshake(daphne_server, key))
    assert isinstance(accepted, dict), accepted  # live: the dashboard answers
    ApiToken.objects.filter(user=owner).update(**change)
    assert asyncio.run(handshake(daphne_server, key)) == 403
