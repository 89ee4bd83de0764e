"""Reads on API tokens: a person sees only their own, never a revoked one."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from accounts.models import ApiToken


def token_list(*, user: Any) -> QuerySet[ApiToken]:
    """``user``'s tokens that are not revoked (expired ones too, so they can be cleared),
    newest first."""
    return ApiToken.objects.filter(user=user, revoked_at__isnull=True).order_by("-created", "-id")


def token_for_owner(*, user: Any, token_id: int) -> ApiToken | None:
    """``user``'s unrevoked token ``token_id``; None when absent, revoked or someone else's
    (the API answers all three with the same 404, so nothing leaks)."""
    return token_list(user=user).filter(pk=token_id).first()
