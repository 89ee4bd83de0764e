"""WebSocket authentication by API token, for clients that are not browsers.

The token travels in the ``Authorization: Token <key>`` header of the handshake, never in the
URL (URLs end up in logs). Without the header, the session cookie decides (AuthMiddlewareStack).
A key is checked by ``accounts.services.user_for_token_key``, the check the REST API makes too: an
unknown, expired or revoked token is no user, and the consumer refuses the handshake.
"""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from django.contrib.auth.models import AnonymousUser


@database_sync_to_async
def _user_for_token(key: str) -> Any:
    from accounts.services import user_for_token_key

    return user_for_token_key(key=key) or AnonymousUser()


def token_from_headers(headers: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name.lower() == b"authorization":
            scheme, _, key = value.decode("latin-1").partition(" ")
            if scheme.lower() == "token" and key.strip():
                return key.strip()
    return None


class TokenAuthMiddleware(BaseMiddleware):
    """Sets ``scope["user"]`` from a token header, when one is sent; else leaves the session's."""

    async def __call__(self, scope: dict, receive: Any, send: Any) -> Any:
        key = token_from_headers(scope.get("headers", []))
        if key is not None:
            scope = dict(scope, user=await _user_for_token(key), token_auth=True)
        return await super().__call__(scope, receive, send)


class OriginOrTokenValidator(BaseMiddleware):
    """Browsers send an Origin, which must be one of ALLOWED_HOSTS; token clients may omit it."""

    def __init__(self, inner: Any) -> None:
        from channels.security.websocket import AllowedHostsOriginValidator

        super().__init__(inner)
        self.validated = AllowedHostsOriginValidator(inner)

    async def __call__(self, scope: dict, receive: Any, send: Any) -> Any:
        has_origin = any(name.lower() == b"origin" for name, _ in scope.get("headers", []))
        if not has_origin and token_from_headers(scope.get("headers", [])) is not None:
            return await self.inner(scope, receive, send)
        return await self.validated(scope, receive, send)
