"""The OpenAPI description of what every endpoint shares: the one refusal body and the
statuses any endpoint may answer with it (drf-spectacular, ``/api/schema/``).

Views name their own particular refusals (``refusals(409, ...)``); ``add_common_refusals``
(a spectacular post-processing hook) adds to every operation what any of them may answer:
401/403 (no or a bad token), 429 (throttled), 404 where the path names an object, 400 where
the operation takes a body or query parameters. It also says an integer path parameter
(``<int:run_id>``) is never negative, as Django's converter reads it.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

ERROR_REF = {"$ref": "#/components/schemas/Error"}

_WHY = {
    400: "a field of the body or query is refused (`error.fields` names it)",
    401: "no credentials, or a token that is unknown, expired or revoked",
    403: "signed in, but not allowed",
    404: "absent, or not yours to see (the two look alike)",
    405: "method not allowed",
    409: "what was asked does not fit the object's state now",
    429: "throttled (see `Retry-After`) or a queue limit reached (`error.limit`)",
    503: "a backing service cannot answer right now",
}


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="a short machine code: invalid, not_found, ...")
    message = serializers.CharField(help_text="for people")
    # A field named "fields" shadows Serializer.fields in the stubs; DRF reads it rightly.
    fields = serializers.DictField(  # type: ignore[assignment]
        child=serializers.ListField(child=serializers.CharField()),
        help_text="field path -> reasons; empty when no field is to blame",
    )
    limit = serializers.CharField(required=False, help_text="quota_exceeded: the limit's name")
    value = serializers.IntegerField(required=False, help_text="quota_exceeded: its value")


class ErrorSerializer(serializers.Serializer):
    """The one body of every refusal."""

    error = ErrorDetailSerializer()
    detail = serializers.CharField(help_text="the message again")


def refusals(*statuses: int) -> dict[int, OpenApiResponse]:
    """``extend_schema(responses=...)`` entries: these statuses answer the error body."""
    return {
        status: OpenApiResponse(ErrorSerializer, description=_WHY[status]) for status in statuses
    }


def add_common_refusals(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]: the refusals any operation may give."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    if "Error" not in schemas:  # present once any view names a refusal; make sure of it
        schemas["Error"] = {
            "type": "object",
            "properties": {"error": {"type": "object"}, "detail": {"type": "string"}},
            "required": ["error", "detail"],
        }
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "path" and parameter["schema"].get("type") == "integer":
                    # Django's <int:...> takes digits only: an id is never negative.
                    parameter["schema"]["minimum"] = 0
            statuses = [401, 403, 429]
            if "{" in path:
                statuses.append(404)
            if "requestBody" in operation or any(
                p.get("in") == "query" for p in operation.get("parameters", [])
            ):
                statuses.append(400)
            responses = operation.setdefault("responses", {})
            for status in statuses:
                responses.setdefault(
                    str(status),
                    {
                        "description": _WHY[status],
                        "content": {"application/json": {"schema": ERROR_REF}},
                    },
                )
    return result
