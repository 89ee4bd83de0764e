"""API tokens for tests, made through the service a person's POST tokens/ calls."""

from __future__ import annotations

from typing import Any


def api_token(user: Any, *, name: str = "test", days: int | None = 30) -> str:
    """A fresh personal API token for ``user``; returns its key (``days=None``: no expiry)."""
    from accounts.services import token_create

    return token_create(user=user, name=name, expires_in_days=days)[1]
