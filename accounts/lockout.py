"""Sign-in lockout (django-axes, configured in settings): what a locked-out client is told.

Every way in with a password counts: the login page, the admin's, and HTTP Basic on
``POST /api/v1/tokens/`` (``LockoutBasicAuthentication``). Past ``KEISEI_LOGIN_FAILURE_LIMIT``
failures of one username from one address, that pair is refused for
``KEISEI_LOGIN_LOCKOUT_MINUTES``, even with the right password: the page says so on the login
form, the API with 429 ``login_locked`` and ``Retry-After``.
"""

from __future__ import annotations

from typing import Any

from axes.utils import reset as axes_reset  # type: ignore[import-untyped]
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from rest_framework import exceptions
from rest_framework.authentication import BasicAuthentication

from audit.context import client_ip

LOCKED_CODE = "login_locked"


def lockout_minutes() -> int:
    return max(1, round(settings.AXES_COOLOFF_TIME.total_seconds() / 60))


def lockout_message() -> str:
    minutes = lockout_minutes()
    return (
        f"Too many failed sign-ins for this username from your address: locked for "
        f"{minutes} minute{'s' if minutes != 1 else ''}. Try again later."
    )


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: Any = None
) -> HttpResponse:
    """``AXES_LOCKOUT_CALLABLE``, for the pages (the login page and the admin's): the login
    form saying why, 429 with ``Retry-After``. The API never gets here: DRF hands axes its own
    request object, so ``LockoutBasicAuthentication`` answers for it."""
    context = {"form": AuthenticationForm(request), "locked_out": lockout_message()}
    response = render(request, "registration/login.html", context, status=429)
    response["Retry-After"] = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    return response


class LoginLocked(exceptions.Throttled):
    default_code = LOCKED_CODE


class LockoutBasicAuthentication(BasicAuthentication):
    """HTTP Basic whose failures count towards the lockout (django-axes sees them through
    ``authenticate``), which says so when the pair is locked out, and whose success clears
    the count."""

    def authenticate_credentials(
        self, userid: str, password: str, request: Any = None
    ) -> tuple[Any, None]:
        try:
            signed_in = super().authenticate_credentials(userid, password, request)
        except exceptions.AuthenticationFailed:
            # axes marks the request it was given (DRF's) when this pair is locked out.
            if getattr(request, "axes_locked_out", False):
                raise LoginLocked(
                    wait=settings.AXES_COOLOFF_TIME.total_seconds(), detail=lockout_message()
                ) from None
            raise
        # A success clears the pair's count, as a page sign-in does (DRF never calls login(),
        # so axes does not see this one succeed).
        axes_reset(ip=client_ip(request), username=userid)
        return signed_in
