"""Log lines that say which request and which run they belong to.

Two context variables, the request id (set by ``RequestIdMiddleware`` for each HTTP request)
and the run id (set by ``run_context`` where a worker trains a run), are copied onto every log
record by ``ContextFilter``; ``JsonFormatter`` writes one JSON object a line with them
(``LOG_FORMAT=json``), ``TextFormatter`` appends them to the plain line. A context variable,
not a thread local: under ASGI one thread serves many requests, and each request's task (and
the sync code it runs) has its own copy.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

REQUEST_ID_HEADER = "X-Request-ID"
# A caller's id is kept only if it is short and plain: it goes into every log line, so no
# spaces, quotes or control characters (log injection), and no more than 128 characters.
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@+=/-]{1,128}")

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
run_id: contextvars.ContextVar[int | None] = contextvars.ContextVar("run_id", default=None)


def request_id_from(header: str | None) -> str:
    """The caller's ``X-Request-ID`` if it is sane, else a new one (32 hex digits)."""
    if header and SANE_REQUEST_ID.fullmatch(header):
        return header
    return uuid.uuid4().hex


@contextmanager
def run_context(run: int) -> Iterator[None]:
    """``with run_context(run.pk):`` every line logged in the block names the run."""
    token = run_id.set(run)
    try:
        yield
    finally:
        run_id.reset(token)


class ContextFilter(logging.Filter):
    """Copies the request id and the run id onto each record (None where there is none)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            # django.request logs an error response after the middleware has returned, with
            # the request on the record: its id is on the request too.
            record.request_id = request_id.get() or getattr(
                getattr(record, "request", None), "request_id", None
            )
        if getattr(record, "run_id", None) is None:
            record.run_id = run_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message, process, and the
    request and run ids when there are any; a traceback as ``exception``."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        for field in ("request_id", "run_id"):
            value = getattr(record, field, None)
            if value is not None:
                entry[field] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """The plain line (``LEVEL logger: message``), with ``[request=… run=…]`` when known."""

    def __init__(self) -> None:
        super().__init__("%(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        tags = [
            f"{name}={value}"
            for name, value in (
                ("request", getattr(record, "request_id", None)),
                ("run", getattr(record, "run_id", None)),
            )
            if value is not None
        ]
        if not tags:
            return line
        first, newline, rest = line.partition("\n")  # after the message, before a traceback
        return f"{first} [{' '.join(tags)}]{newline}{rest}"


def RequestIdMiddleware(get_response: Callable) -> Callable:  # noqa: N802 (Django's style)
    """Gives each request an id (the caller's sane ``X-Request-ID``, else a new one), sets it
    for the request's log lines and echoes it in the response's ``X-Request-ID``.

    Sync only, as ``RefusalMiddleware`` is: Django runs the chain in sync mode anyway.
    """

    def middleware(request: Any) -> Any:
        request.request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
        token = request_id.set(request.request_id)
        try:
            response = get_response(request)
            response[REQUEST_ID_HEADER] = request.request_id
            return response
        finally:
            request_id.reset(token)

    return middleware
