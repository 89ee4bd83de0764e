"""What the run services refuse, each with a message a user can act on."""

from __future__ import annotations


class RunConfigError(Exception):
    """The trainer or its config is refused; ``errors`` maps field paths to reasons."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {', '.join(v)}" for k, v in errors.items()))
        self.errors = errors


class QuotaExceeded(Exception):
    """Queueing would pass a limit; the message names the limit and its value."""

    def __init__(self, message: str, *, limit: str, value: int) -> None:
        super().__init__(message)
        self.limit = limit
        self.value = value


class CommandRejected(Exception):
    """A command does not fit the run's state; the message says why."""


class CheckpointUnusable(Exception):
    """A checkpoint's file is missing or does not match its recorded hash."""
