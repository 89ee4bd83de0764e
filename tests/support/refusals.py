"""Reading the API's one refusal body: ``{"error": {"code", "message", "fields"}, "detail"}``."""

from __future__ import annotations

from typing import Any


def refusal(response: Any) -> dict[str, Any]:
    """The ``error`` of a refusal, after checking the body has the one shape."""
    body = response.json()
    assert set(body) == {"error", "detail"}, body
    error = body["error"]
    assert isinstance(error["code"], str) and error["code"], body
    assert isinstance(error["message"], str) and error["message"] == body["detail"], body
    assert isinstance(error["fields"], dict), body
    return error


def fields(response: Any) -> dict[str, list[str]]:
    """The field map of a refusal (field path -> reasons)."""
    return refusal(response)["fields"]
