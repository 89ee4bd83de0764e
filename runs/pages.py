"""How pages answer a refusal: the one mapping from ``ApplicationError`` to what a person sees.

- ``RefusalMiddleware`` (every page): ``NotFound`` is Django's 404 page; any other refusal is
  the refused page with the error's status, its message and its fields.
- ``redirect_on_refusal`` (a POST action on a page): the message on the page it returns to.
- ``form_add_refusal`` (a form page): each reason on the field it names, the rest on the form.

The API has its own one mapping, ``monitoring.errors.api_exception_handler``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from monitoring.errors import ApplicationError, NotFound

T = TypeVar("T")
View = Callable[..., HttpResponse]


class RefusalMiddleware:
    """Turns a refusal a page view did not handle into the page for it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, ApplicationError):
            return None
        if isinstance(exception, NotFound):
            raise Http404(exception.message)  # Django's own 404 page, like any absent page
        return render(request, "refused.html", {"error": exception}, status=exception.status)


def redirect_on_refusal(to: str) -> Callable[[View], View]:
    """For a page's POST action: a refusal becomes an error message on the page named ``to``
    (a URL name taking the view's keyword arguments). Not-found stays a 404."""

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                return view(request, *args, **kwargs)
            except NotFound:
                raise
            except ApplicationError as exc:
                messages.error(request, exc.message)
                return redirect(to, **kwargs)

        return wrapped

    return decorate


def form_add_refusal(form: forms.Form, error: ApplicationError, *, prefix: str = "") -> None:
    """Put ``error``'s reasons on ``form``: each under the field its path names (after
    ``prefix``, e.g. ``config.``), the rest on the form itself."""
    for path, reasons in error.fields.items():
        field = path.removeprefix(prefix).split(".")[0]
        form.add_error(field if field in form.fields else None, "; ".join(reasons))
    if not error.fields:
        form.add_error(None, error.message)


def form_submit(form: forms.Form, action: Callable[[], T], *, prefix: str = "") -> T | None:
    """``action()``, or None with its refusal on ``form`` (not-found stays a 404)."""
    try:
        return action()
    except NotFound:
        raise
    except ApplicationError as exc:
        form_add_refusal(form, exc, prefix=prefix)
        return None
