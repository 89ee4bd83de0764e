"""Log lines name their request and run: the filter, the formatters and the request id."""

from __future__ import annotations

import json
import logging
import sys

import pytest

from monitoring.log_context import (
    ContextFilter,
    JsonFormatter,
    TextFormatter,
    request_id,
    request_id_from,
    run_context,
)


def record(message: str = "hello %s", args: tuple = ("world",), **extra) -> logging.LogRecord:
    rec = logging.LogRecord("keisei.test", logging.INFO, __file__, 1, message, args, None)
    for name, value in extra.items():
        setattr(rec, name, value)
    ContextFilter().filter(rec)
    return rec


def test_json_line_has_the_message_and_the_run_id_inside_a_run_context():
    with run_context(42):
        line = JsonFormatter().format(record())
    entry = json.loads(line)
    assert entry["message"] == "hello world"
    assert entry["run_id"] == 42
    assert entry["level"] == "INFO" and entry["logger"] == "keisei.test"
    assert entry["time"].endswith("+00:00")
    assert "request_id" not in entry  # no request here


def test_outside_any_context_no_ids_are_written():
    entry = json.loads(JsonFormatter().format(record()))
    assert "run_id" not in entry and "request_id" not in entry


def test_the_run_context_ends_with_its_block():
    with run_context(7):
        pass
    assert "run_id" not in json.loads(JsonFormatter().format(record()))


def test_request_id_comes_from_the_context_variable_or_the_logged_request():
    token = request_id.set("req-1")
    try:
        assert json.loads(JsonFormatter().format(record()))["request_id"] == "req-1"
    finally:
        request_id.reset(token)

    class Request:
        request_id = "req-2"

    # django.request logs an error response after the middleware returned, request attached.
    entry = json.loads(JsonFormatter().format(record(request=Request())))
    assert entry["request_id"] == "req-2"


def test_a_message_with_newlines_and_quotes_stays_one_json_line():
    line = JsonFormatter().format(record('a "quoted"\nsecond line', ()))
    assert "\n" not in line
    assert json.loads(line)["message"] == 'a "quoted"\nsecond line'


def test_a_traceback_goes_in_the_exception_field():
    try:
        raise ValueError("boom")
    except ValueError:
        rec = record()
        rec.exc_info = sys.exc_info()
    entry = json.loads(JsonFormatter().format(rec))
    assert "ValueError: boom" in entry["exception"]


def test_text_line_gets_the_ids_after_the_message():
    with run_context(3):
        token = request_id.set("abc")
        try:
            line = TextFormatter().format(record())
        finally:
            request_id.reset(token)
    assert line == "INFO keisei.test: hello world [request=abc run=3]"
    assert TextFormatter().format(record()) == "INFO keisei.test: hello world"


@pytest.mark.parametrize("given", ["abc-123", "7f3a9c0e-2b1d-4c5e-9f00-aa11bb22cc33", "a" * 128])
def test_a_sane_request_id_is_kept(given):
    assert request_id_from(given) == given


@pytest.mark.parametrize("given", [None, "", "has space", 'quote"', "line\nbreak", "a" * 129])
def test_anything_else_gets_a_new_id(given):
    made = request_id_from(given)
    assert made != given and len(made) == 32 and int(made, 16) >= 0
