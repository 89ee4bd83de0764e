"""The one application error, and the one API body every refusal is answered with.

Services refuse by raising ``ApplicationError`` (or a subclass): a short machine ``code``, a
``message`` for people and a ``fields`` map (field path -> reasons). The base lives here, in
the lowest layer that raises one (``monitoring.history.CompareRefused``); the run services'
errors subclass it. ``api_exception_handler`` (REST_FRAMEWORK["EXCEPTION_HANDLER"]) answers it
and DRF's own errors with one body on every endpoint::

    {"error": {"code": "config_invalid", "message": "...", "fields": {"config.epochs": ["..."]}},
     "detail": "..."}

``detail`` repeats the message, where DRF clients have always looked for it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import InterfaceError as DatabaseInterfaceError
from django.db import OperationalError as DatabaseOperationalError
from django.http import Http404
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rest_framework import exceptions as drf
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

log = logging.getLogger(__name__)

Fields = dict[str, list[str]]

# A backing server that does not answer (PostgreSQL down or restarting, no pooled connection
# free within DATABASE_POOL_TIMEOUT, Redis away): the request may succeed if sent again.
UNAVAILABLE_ERRORS = (
    DatabaseOperationalError,
    DatabaseInterfaceError,
    RedisConnectionError,
    RedisTimeoutError,
)
UNAVAILABLE_RETRY_AFTER_S = 5


class ApplicationError(Exception):
    """A refusal a user can act on. Subclasses set ``code`` and ``status`` (the HTTP answer)."""

    code = "refused"
    status = 400
    default_message = "the request was refused"

    def __init__(
        self,
        message: str = "",
        *,
        fields: Mapping[str, list[str]] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        self.fields: Fields = {path: list(reasons) for path, reasons in (fields or {}).items()}
        self.message = message or _summary(self.fields) or self.default_message
        # Machine-readable details beyond the fields (a quota's limit and value).
        self.extra = dict(extra or {})
        super().__init__(self.message)

    def as_body(self) -> dict[str, Any]:
        return error_body(self.code, self.message, self.fields, self.extra)


class NotFound(ApplicationError):
    """Absent, or not the caller's to see: the two answer alike, so nothing leaks."""

    code = "not_found"
    status = 404
    default_message = "not found"


class ServiceUnavailable(ApplicationError):
    """A backing service (Redis, say) cannot answer right now; worth a retry later."""

    code = "unavailable"
    status = 503
    default_message = "unavailable right now"


def _summary(fields: Fields) -> str:
    return "; ".join(f"{path}: {', '.join(reasons)}" for path, reasons in fields.items())


def error_body(
    code: str, message: str, fields: Fields | None = None, extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The one body of every refusal of the API."""
    return {
        "error": {"code": code, "message": message, "fields": fields or {}, **(extra or {})},
        "detail": message,
    }


def _flatten(detail: Any, path: str = "") -> Fields:
    """DRF's nested error detail as ``{"a.b": [reasons]}``; list items by index."""
    if isinstance(detail, Mapping):
        found: Fields = {}
        for name, inner in detail.items():
            found.update(_flatten(inner, f"{path}.{name}" if path else str(name)))
        return found
    if isinstance(detail, list) and any(isinstance(item, Mapping | list) for item in detail):
        found = {}
        for index, inner in enumerate(detail):
            found.update(_flatten(inner, f"{path}.{index}" if path else str(index)))
        return found
    reasons = detail if isinstance(detail, list) else [detail]
    return {path or api_settings.NON_FIELD_ERRORS_KEY: [str(r) for r in reasons]}


def _drf_code(exc: drf.APIException) -> str:
    if isinstance(exc, drf.ValidationError):
        return "invalid"
    codes = exc.get_codes()
    return codes if isinstance(codes, str) else exc.default_code


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Every refusal of the API in one shape: ours by their code, DRF's by theirs."""
    if isinstance(exc, ApplicationError):
        return Response(exc.as_body(), status=exc.status)
    if isinstance(exc, UNAVAILABLE_ERRORS):
        log.warning("a backing server did not answer an API request", exc_info=exc)
        refused = ServiceUnavailable("the database or cache is not answering; try again shortly")
        return Response(
            refused.as_body(),
            status=refused.status,
            headers={"Retry-After": str(UNAVAILABLE_RETRY_AFTER_S)},
        )
    if isinstance(exc, Http404):
        exc = drf.NotFound()  # never the internal message: it may name a model
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf.PermissionDenied()
    # DRF's own handler keeps its headers (WWW-Authenticate, Retry-After) and the status.
    response = drf_exception_handler(exc, context)
    if response is None or not isinstance(exc, drf.APIException):
        return response
    if isinstance(exc, drf.ValidationError):
        fields = _flatten(exc.detail) if isinstance(exc.detail, Mapping) else {}
        reasons = exc.detail if isinstance(exc.detail, list) else [exc.detail]
        message = _summary(fields) or ", ".join(str(r) for r in reasons)
    else:
        fields, message = {}, str(exc.detail)
    response.data = error_body(_drf_code(exc), message, fields)
    return response


def api_route_not_found(request: Any, exception: Exception | None = None) -> Any:
    """``handler404``: under ``/api/`` a URL no route matches answers the one refusal body
    (JSON, as every API answer), elsewhere Django's page."""
    from django.http import JsonResponse
    from django.views.defaults import page_not_found

    if request.path.startswith("/api/"):
        return JsonResponse(error_body("not_found", "no such API endpoint"), status=404)
    return page_not_found(request, exception)
