"""The largest request body the site reads (``KEISEI_MAX_REQUEST_BYTES``).

Django checks its own limit only where it reads ``request.body`` or a form; DRF's parsers read
the stream whole, so without this a client could make a web process hold any JSON body it
sends. A body that declares more than the limit is refused before anything reads it: 413
``request_too_large`` in the one refusal body under ``/api/``, the refusal page elsewhere,
naming the limit and its value. (A body sent in chunks, with no length, is capped by the TLS
proxy in front: ``docker/Caddyfile``.)
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from monitoring.errors import ApplicationError


class RequestTooLarge(ApplicationError):
    code = "request_too_large"
    status = 413


def declared_length(request: HttpRequest) -> int | None:
    """The body's length as the client declared it; None when absent or not a number."""
    try:
        return int(request.META.get("CONTENT_LENGTH") or "")
    except ValueError:
        return None


def too_large(request: HttpRequest) -> RequestTooLarge | None:
    limit = settings.KEISEI_MAX_REQUEST_BYTES
    length = declared_length(request)
    if length is None or length <= limit:
        return None
    return RequestTooLarge(
        f"the request body is {length} bytes; the limit is {limit} (KEISEI_MAX_REQUEST_BYTES)",
        extra={"limit": "max_request_bytes", "value": limit},
    )


def refusal_response(request: HttpRequest, refused: RequestTooLarge) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse(refused.as_body(), status=refused.status)
    return render(request, "refused.html", {"error": refused}, status=refused.status)


class RequestSizeLimitMiddleware:
    """Refuses a request whose declared body is over the limit. After the authentication
    middleware (the refusal page shows who is signed in) and before any view, form or CSRF
    check reads the body."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        refused = too_large(request)
        return refusal_response(request, refused) if refused else self.get_response(request)
