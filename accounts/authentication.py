"""DRF authentication by personal API token (``Authorization: Token <key>``).

knox's class deletes an expired token when it sees it and answers every refusal alike; ours
keeps the row and says which refusal it is (``token_expired``, ``token_revoked``), through the
same check the WebSocket handshake uses (``accounts.services.token_authenticate``).
"""

from __future__ import annotations

from typing import Any

from knox.auth import TokenAuthentication  # type: ignore[import-untyped]
from rest_framework import exceptions

from accounts import services
from audit import services as audit
from audit.models import Action


class ApiTokenAuthentication(TokenAuthentication):
    def authenticate_credentials(self, token: bytes) -> tuple[Any, Any]:
        try:
            key = token.decode("utf-8")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid token header.") from None
        try:
            api_token = services.token_authenticate(key=key)
        except services.TokenRefused as refused:
            # The key's first characters name a revoked or expired token (as the admin shows
            # them); the rest, the secret, is never stored.
            audit.record(
                action=Action.LOGIN_FAILED,
                details={"method": "token", "code": refused.code, "prefix": key[:8]},
            )
            raise exceptions.AuthenticationFailed(refused.message, code=refused.code) from None
        return api_token.user, api_token
