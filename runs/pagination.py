"""Keyset ("cursor") pages of the runs list, in any of a few orders, stable under inserts.

DRF's ``CursorPagination`` positions a cursor by one field plus an offset among equal values,
capped at 1000: ordered by ``status`` past a thousand runs of one status, its pages would
repeat. Here a cursor holds the last row's value *and* its id, and every order ends with the
id, so each page starts exactly after the previous one at any depth, with one indexed query.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from typing import Any

from django.db.models import Model, Q
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

ORDERINGS = ("created_at", "name", "priority", "status")
# What a cursor's position must be, field by field (created_at is an ISO 8601 string).
_POSITION_TYPES: dict[str, type] = {"name": str, "priority": int, "status": str}
DEFAULT_ORDERING = "-created_at"
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


class RunCursorPagination(BasePagination):
    """``?ordering=`` (a field of ``ORDERINGS``, ``-`` for descending), ``?page_size=``
    (1..200) and ``?cursor=`` (from a page's ``next`` or ``previous`` link)."""

    cursor_query_param = "cursor"
    page_size_query_param = "page_size"
    ordering_query_param = "ordering"

    def paginate_queryset(self, queryset: Any, request: Request, view: Any = None) -> list[Any]:
        self.request = request
        page_size = _page_size(request.query_params.get(self.page_size_query_param))
        ordering = _ordering(request.query_params.get(self.ordering_query_param))
        cursor = _decode(request.query_params.get(self.cursor_query_param), ordering)
        field = ordering.lstrip("-")
        backwards = cursor is not None and cursor["back"]
        # Paging back reads the rows before the cursor in the opposite order, then turns them.
        descending = ordering.startswith("-") != backwards
        rows_qs = queryset.order_by(*((f"-{field}", "-pk") if descending else (field, "pk")))
        if cursor is not None:
            rows_qs = rows_qs.filter(_beyond(field, cursor, descending=descending))
        rows = list(rows_qs[: page_size + 1])
        more = len(rows) > page_size
        rows = rows[:page_size]
        if backwards:
            rows.reverse()
        has_next = more if not backwards else True  # we came back from the next page
        has_previous = cursor is not None if not backwards else more
        self.next_link = (
            self._link(rows[-1], field, ordering, back=False) if rows and has_next else None
        )
        self.previous_link = (
            self._link(rows[0], field, ordering, back=True) if rows and has_previous else None
        )
        return rows

    def _link(self, row: Model, field: str, ordering: str, *, back: bool) -> str:
        value = getattr(row, field)
        if isinstance(value, dt.datetime):
            value = value.isoformat()
        token = json.dumps({"o": ordering, "v": value, "id": row.pk, "b": back})
        encoded = base64.urlsafe_b64encode(token.encode()).decode()
        url = self.request.build_absolute_uri()
        return replace_query_param(url, self.cursor_query_param, encoded)

    def get_paginated_response(self, data: Any) -> Response:
        return Response({"next": self.next_link, "previous": self.previous_link, "results": data})

    def get_paginated_response_schema(self, schema: dict) -> dict:
        link = {"type": "string", "format": "uri", "nullable": True}
        return {
            "type": "object",
            "required": ["next", "previous", "results"],
            "properties": {"next": link, "previous": link, "results": schema},
        }

    def get_schema_operation_parameters(self, view: Any) -> list[dict]:
        orderings = [o for field in ORDERINGS for o in (field, f"-{field}")]
        return [
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "the cursor of a page, from a `next` or `previous` link",
                "schema": {"type": "string"},
            },
            {
                "name": self.page_size_query_param,
                "required": False,
                "in": "query",
                "description": f"runs per page (default {DEFAULT_PAGE_SIZE})",
                "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE},
            },
            {
                "name": self.ordering_query_param,
                "required": False,
                "in": "query",
                "description": f"the order of the list (default `{DEFAULT_ORDERING}`)",
                "schema": {"type": "string", "enum": orderings},
            },
        ]


def _page_size(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_PAGE_SIZE
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE_SIZE:
        raise ValidationError({"page_size": [f"must be a whole number from 1 to {MAX_PAGE_SIZE}"]})
    return int(raw)


def _ordering(raw: str | None) -> str:
    if raw is None or raw == "":
        return DEFAULT_ORDERING
    if raw.lstrip("-") not in ORDERINGS or raw.startswith("--"):
        allowed = ", ".join(ORDERINGS)
        raise ValidationError({"ordering": [f"must be one of {allowed}, with - for descending"]})
    return raw


def _decode(raw: str | None, ordering: str) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        token = json.loads(base64.urlsafe_b64decode(raw.encode()))
        value, pk, back = token["v"], int(token["id"]), bool(token["b"])
        if token["o"] != ordering:
            raise ValueError("another ordering")
        field = ordering.lstrip("-")
        if field == "created_at":
            value = dt.datetime.fromisoformat(value)
            if value.tzinfo is None:
                raise ValueError("a naive time")
        elif not isinstance(value, _POSITION_TYPES[field]) or isinstance(value, bool):
            raise ValueError("not a position of this field")
    except (ValueError, TypeError, KeyError, binascii.Error, UnicodeDecodeError):
        raise ValidationError(
            {"cursor": ["not a cursor of this list in this order: follow a next or previous link"]}
        ) from None
    return {"value": value, "pk": pk, "back": back}


def _beyond(field: str, cursor: dict[str, Any], *, descending: bool) -> Q:
    """The rows after the cursor's row in the order being read (ties broken by id)."""
    op = "lt" if descending else "gt"
    value, pk = cursor["value"], cursor["pk"]
    return Q(**{f"{field}__{op}": value}) | Q(**{field: value, f"pk__{op}": pk})
