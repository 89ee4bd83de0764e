"""An ASGI application that answers every HTTP request with a 200 and three bytes, touching
nothing else: served by Daphne as ``make run`` starts it, what a request costs the server
alone (``bench/api.py``'s ``bare_daphne_*`` figures), the floor under every endpoint."""

from __future__ import annotations

from typing import Any

BODY = b"ok\n"
HEADERS = [(b"content-type", b"text/plain"), (b"content-length", str(len(BODY)).encode())]


async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":  # Daphne sends no lifespan; a WebSocket is refused
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
