"""The account page (``/account/``): a person's API tokens (made, listed, revoked through
``accounts.services``) and, below them, what the site lends them.

This app sits below ``runs`` in the layers (pyproject's import-linter contracts), so it does
not read quotas itself: the site's URL wiring (``keisei_site.urls``) passes a ``usage``
reader in (``runs.selectors.user_quota_usage``) through ``page_urlpatterns``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts import selectors, services

# Reads what a user may use and has used: {"quota": {...}, "usage": {...}}.
UsageReader = Callable[..., dict[str, Any]]
# The key of a token just made, kept in the session until the page shows it once.
NEW_KEY_SESSION = "account_new_token"

EXPIRY_CHOICES = [
    ("7", "in 7 days"),
    ("30", "in 30 days"),
    (str(services.EXPIRY_DAYS_DEFAULT), f"in {services.EXPIRY_DAYS_DEFAULT} days"),
    (str(services.EXPIRY_DAYS_MAX), f"in {services.EXPIRY_DAYS_MAX} days"),
    ("never", "never"),
]


class TokenCreateForm(forms.Form):
    name = forms.CharField(
        max_length=services.NAME_MAX_LENGTH,
        help_text="what it is for, e.g. laptop CLI",
        error_messages={
            "required": "give the token a name",
            "max_length": f"at most {services.NAME_MAX_LENGTH} characters",
        },
    )
    expires = forms.ChoiceField(
        label="Expires",
        choices=EXPIRY_CHOICES,
        initial=str(services.EXPIRY_DAYS_DEFAULT),
        error_messages={"invalid_choice": "choose one of the offered periods"},
    )

    def expires_in_days(self) -> int | None:
        value = self.cleaned_data["expires"]
        return None if value == "never" else int(value)


@login_required
def account_page(request: HttpRequest, usage: UsageReader | None = None) -> HttpResponse:
    """The person's tokens and quotas; a token made a moment ago shows its key, once."""
    return _render(request, TokenCreateForm(), usage)


def _render(
    request: HttpRequest, form: TokenCreateForm, usage: UsageReader | None, status: int = 200
) -> HttpResponse:
    new_token = request.session.pop(NEW_KEY_SESSION, None)
    return render(
        request,
        "accounts/account.html",
        {
            "tokens": selectors.token_list(user=request.user),
            "form": form,
            "new_token": new_token,
            "usage": usage(user=request.user) if usage else None,
            "now": timezone.now(),
        },
        status=status,
    )


@login_required
@require_POST
def token_create_page(request: HttpRequest, usage: UsageReader | None = None) -> HttpResponse:
    """Make a token and go back to the account page (POST, redirect, GET), which shows the
    key once: it is kept in the session only until then."""
    form = TokenCreateForm(request.POST)
    if form.is_valid():
        try:
            token, key = services.token_create(
                user=request.user,
                name=form.cleaned_data["name"],
                expires_in_days=form.expires_in_days(),
            )
        except ValidationError as exc:
            for field, reasons in exc.message_dict.items():
                name = "expires" if field == "expires_in_days" else field
                form.add_error(name if name in form.fields else None, "; ".join(reasons))
        else:
            request.session[NEW_KEY_SESSION] = {"name": token.name, "key": key}
            return redirect("account")
    return _render(request, form, usage, status=400)


@login_required
def token_revoke_page(
    request: HttpRequest, token_id: int, usage: UsageReader | None = None
) -> HttpResponse:
    """GET asks to confirm; POST revokes. Another person's token (or a revoked one) is a 404."""
    token = selectors.token_for_owner(user=request.user, token_id=token_id)
    if token is None:
        raise Http404("no such token of yours")
    if request.method == "POST":
        services.token_revoke(token=token)
        messages.success(request, f"Token {token.name} ({token.prefix}…) is revoked.")
        return redirect("account")
    return render(request, "accounts/token_revoke.html", {"token": token})
