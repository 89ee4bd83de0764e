"""Writes on API tokens, and the one check every token goes through (HTTP and WebSocket).

``token_authenticate`` is the only place a key is turned into a user: DRF's authentication
class (``accounts.authentication``) and the WebSocket middleware (``monitoring.auth``) both call
it, so the two cannot disagree about an expired or revoked token.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from knox.crypto import hash_token  # type: ignore[import-untyped]
from knox.settings import CONSTANTS  # type: ignore[import-untyped]

from accounts.models import ApiToken
from audit import services as audit
from audit.models import Action

NAME_MAX_LENGTH = 80
EXPIRY_DAYS_MIN, EXPIRY_DAYS_MAX, EXPIRY_DAYS_DEFAULT = 1, 365, 90
# A key longer than this is nobody's: refuse it before hashing megabytes of header.
KEY_MAX_LENGTH = 200
# last_used_at is written at most this often per token, so a busy client costs no write
# per request.
LAST_USED_RESOLUTION = timedelta(seconds=60)


class TokenRefused(Exception):
    """A key that does not authenticate: ``code`` says why (the API answers it with 401)."""

    def __init__(self, code: str, message: str) -> None:
        self.code, self.message = code, message
        super().__init__(message)


def _day(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def token_create(
    *, user: Any, name: str, expires_in_days: int | None = EXPIRY_DAYS_DEFAULT
) -> tuple[ApiToken, str]:
    """A new token for ``user``; returns it and its full key, which is stored nowhere (shown
    once). ``expires_in_days=None`` never expires."""
    name = name.strip()
    errors: dict[str, list[str]] = {}
    if not 1 <= len(name) <= NAME_MAX_LENGTH:
        errors["name"] = [f"must be 1 to {NAME_MAX_LENGTH} characters"]
    if expires_in_days is not None and not (EXPIRY_DAYS_MIN <= expires_in_days <= EXPIRY_DAYS_MAX):
        errors["expires_in_days"] = [
            f"must be {EXPIRY_DAYS_MIN} to {EXPIRY_DAYS_MAX} days, or null for no expiry"
        ]
    if errors:
        raise ValidationError(errors)
    expiry = None if expires_in_days is None else timedelta(days=expires_in_days)
    with transaction.atomic():
        token, key = ApiToken.objects.create(user=user, expiry=expiry, name=name)
        audit.record(
            action=Action.TOKEN_CREATE,
            target_type="token",
            target_id=token.pk,
            details={"owner": user.get_username(), "name": name, "prefix": token.token_key},
        )
    return token, key


def token_revoke(*, token: ApiToken) -> bool:
    """Revoke ``token`` (its row stays, so a later use is told "revoked"). False if it already
    was: the conditional UPDATE makes two revocations at once count once."""
    with transaction.atomic():
        revoked = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        if revoked:
            audit.record(
                action=Action.TOKEN_REVOKE,
                target_type="token",
                target_id=token.pk,
                details={
                    "owner": token.user.get_username(),
                    "name": token.name,
                    "prefix": token.token_key,
                },
            )
    return revoked == 1


def token_authenticate(*, key: str) -> ApiToken:
    """The live token whose key is ``key`` (its user loaded), or ``TokenRefused`` saying why:
    ``token_revoked``, ``token_expired`` or ``authentication_failed`` (unknown key, inactive
    user). Marks the token used."""
    if not key or len(key) > KEY_MAX_LENGTH:
        raise TokenRefused("authentication_failed", "Invalid token: no such API token.")
    # The digest is unique, so the key's hash finds its row by index; knox's prefix scan
    # (token_key) is not needed.
    token = ApiToken.objects.select_related("user").filter(digest=hash_token(key)).first()
    if token is None or token.token_key != key[: CONSTANTS.TOKEN_KEY_LENGTH]:
        raise TokenRefused("authentication_failed", "Invalid token: no such API token.")
    now = timezone.now()
    if token.revoked_at is not None:
        raise TokenRefused(
            "token_revoked",
            f"This API token ({token.token_key}…) was revoked on {_day(token.revoked_at)}; "
            "create a new one.",
        )
    if token.expiry is not None and token.expiry <= now:
        raise TokenRefused(
            "token_expired",
            f"This API token ({token.token_key}…) expired on {_day(token.expiry)}; "
            "create a new one.",
        )
    if not token.user.is_active:
        raise TokenRefused("authentication_failed", "The token's user is inactive.")
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


def user_for_token_key(*, key: str) -> Any | None:
    """The user a key authenticates, or None for any refusal (the WebSocket handshake treats
    a bad token as no user at all)."""
    try:
        return token_authenticate(key=key).user
    except TokenRefused:
        return None
