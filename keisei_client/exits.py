"""Exit codes and the one error type of the client, with a server refusal as people read it.

Scripts branch on the exit code (docs/cli.md, "Exit codes"); people read stderr.
"""

from __future__ import annotations

import json
from enum import IntEnum
from typing import Any


class Exit(IntEnum):
    """What ``keisei`` exits with."""

    OK = 0
    FAILED = 1  # a watched run ended other than completed, a download failed its check
    USAGE = 2  # click's own code for a bad command line
    NOT_AUTHENTICATED = 3  # no token, or one the server refused (expired, revoked, unknown)
    NOT_FOUND = 4  # absent, or not yours to see: the server does not tell the two apart
    REFUSED = 5  # any other 4xx: its error code and message are printed
    UNAVAILABLE = 6  # the server answered 5xx, or could not be reached
    INTERRUPTED = 130  # Ctrl-C (128 + SIGINT, as shells report it)


class ClientError(Exception):
    """Anything that ends a command early: a message, detail lines and the exit code."""

    def __init__(
        self, message: str, *, exit_code: Exit = Exit.FAILED, lines: tuple[str, ...] = ()
    ) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.lines = lines

    def text(self) -> str:
        """The error as printed on stderr: ``error: ...`` then one indented line per detail."""
        return "\n".join([f"error: {self.message}", *(f"  {line}" for line in self.lines)])


def exit_for_status(status: int) -> Exit:
    """The exit code for an HTTP refusal."""
    if status == 401:
        return Exit.NOT_AUTHENTICATED
    if status == 404:
        return Exit.NOT_FOUND
    if status >= 500:
        return Exit.UNAVAILABLE
    return Exit.REFUSED


def refusal(status: int, body: bytes | str) -> ClientError:
    """The server's refusal (docs/api.md, "Refusals"): its code, its message, one line per
    field. A body that is not that shape (a proxy's HTML page) is shown in its first line."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        error = json.loads(text)["error"]
        code = str(error.get("code") or "error")
        message = str(error.get("message") or "")
        fields: dict[str, Any] = error.get("fields") or {}
    except (ValueError, KeyError, TypeError, AttributeError):
        first = text.strip().splitlines()[0][:200] if text.strip() else "(empty body)"
        return ClientError(f"HTTP {status}: {first}", exit_code=exit_for_status(status))
    lines = tuple(
        f"{field}: {reason}"
        for field, reasons in fields.items()
        for reason in (reasons if isinstance(reasons, list) else [reasons])
        # A field whose reason is the whole message adds nothing ("cannot pause ..." twice).
        if str(reason) != message
    )
    # A message that only joins the field lines ("config.epochs: ...") is not repeated.
    summed_up = bool(fields) and all(f"{field}:" in message for field in fields)
    head = (
        f"HTTP {status} {code}" if summed_up or not message else f"HTTP {status} {code}: {message}"
    )
    if status == 401:
        lines = (*lines, "log in again: keisei login URL (or set KEISEI_TOKEN)")
    return ClientError(head, exit_code=exit_for_status(status), lines=lines)
