"""A real WebSocket client against the Daphne the fixtures start (the ``websockets`` library),
authenticated as a browser-less client is: an API token in the ``Authorization`` header."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection


def token_for(user: Any) -> str:
    """A fresh API token's key for ``user``."""
    from tests.support.tokens import api_token

    return api_token(user)


def ws_url(base: str, path: str) -> str:
    """``base`` is Daphne's http URL (the ``daphne_server`` fixture)."""
    return base.replace("http", "ws", 1) + path


def connect(base: str, path: str, token: str | None) -> Any:
    """``async with connect(...) as ws``; no token connects anonymously."""
    headers = {"Authorization": f"Token {token}"} if token else {}
    return websockets.connect(
        ws_url(base, path), additional_headers=headers, open_timeout=30, max_size=None
    )


async def receive(ws: ClientConnection, timeout: float = 30) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def receive_type(ws: ClientConnection, kind: str, timeout: float = 30) -> dict[str, Any]:
    """The next message of type ``kind``, skipping others (a real worker may be reporting)."""
    async with asyncio.timeout(timeout):
        while True:
            msg = json.loads(await ws.recv())
            if msg["type"] == kind:
                return msg


async def close_of(ws: ClientConnection, timeout: float = 30) -> tuple[int | None, str | None]:
    """The close code and reason the client received, once the connection has ended; messages
    before the close are read and dropped. 1006 means no close frame came at all."""
    async with asyncio.timeout(timeout):
        try:
            while True:
                await ws.recv()
        except websockets.ConnectionClosed:
            pass
        await ws.wait_closed()
    return ws.close_code, ws.close_reason
