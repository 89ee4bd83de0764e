"""A server's refusal as the client prints it, and the exit code it ends with."""

from __future__ import annotations

import json

from keisei_client.exits import Exit, refusal


def body(code: str, message: str, fields: dict) -> str:
    return json.dumps(
        {"error": {"code": code, "message": message, "fields": fields}, "detail": message}
    )


def test_each_field_is_one_line_under_the_status_and_code():
    error = refusal(
        400,
        body(
            "config_invalid",
            "config.epochs: must be at least 1; config.colour: Extra inputs are not permitted",
            {
                "config.epochs": ["must be at least 1"],
                "config.colour": ["Extra inputs are not permitted"],
            },
        ),
    )
    assert error.exit_code == Exit.REFUSED
    assert error.text() == (
        "error: HTTP 400 config_invalid\n"
        "  config.epochs: must be at least 1\n"
        "  config.colour: Extra inputs are not permitted"
    )


def test_a_message_of_its_own_is_kept_and_not_repeated_under_its_field():
    error = refusal(
        409,
        body(
            "command_rejected",
            "cannot pause a run that is queued",
            {"kind": ["cannot pause a run that is queued"]},
        ),
    )
    assert error.text() == "error: HTTP 409 command_rejected: cannot pause a run that is queued"


def test_status_codes_map_to_exit_codes():
    assert (
        refusal(401, body("token_expired", "token expired", {})).exit_code == Exit.NOT_AUTHENTICATED
    )
    assert refusal(404, body("not_found", "Not found.", {})).exit_code == Exit.NOT_FOUND
    assert refusal(429, body("throttled", "slow down", {})).exit_code == Exit.REFUSED
    assert refusal(403, body("permission_denied", "no", {})).exit_code == Exit.REFUSED
    assert refusal(503, body("unavailable", "Redis away", {})).exit_code == Exit.UNAVAILABLE


def test_a_refused_token_says_which_and_how_to_get_another():
    text = refusal(401, body("token_revoked", "this token was revoked", {})).text()
    assert text.startswith("error: HTTP 401 token_revoked: this token was revoked\n")
    assert "keisei login URL" in text


def test_a_body_that_is_not_a_refusal_is_shown_by_its_first_line():
    error = refusal(502, b"<html>bad gateway</html>\n<body></body>")
    assert error.text() == "error: HTTP 502: <html>bad gateway</html>"
    assert error.exit_code == Exit.UNAVAILABLE
    assert refusal(500, b"").text() == "error: HTTP 500: (empty body)"
