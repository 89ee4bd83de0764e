"""What the run services refuse, each with a message a user can act on.

Every one is an ``ApplicationError`` (``monitoring.errors``): a ``code``, a ``message``, a
``fields`` map and an HTTP ``status``, answered by the one API handler and the one page mapping.
"""

from __future__ import annotations

from monitoring.errors import ApplicationError, NotFound, ServiceUnavailable

# Raised by the access module (which the services import, never the other way round).
from runs.access import RunReadOnly, ViewerCannotQueue

__all__ = [
    "ApplicationError",
    "CheckpointUnusable",
    "CommandRejected",
    "EvaluationRejected",
    "NotFound",
    "QuotaExceeded",
    "RunConfigError",
    "RunNotFinished",
    "RunNotQueued",
    "RunNotRequeueable",
    "RunReadOnly",
    "RunStateConflict",
    "ServiceUnavailable",
    "SharingRefused",
    "ViewerCannotQueue",
]


class FieldsRefused(ApplicationError):
    """Refused field by field: ``fields`` (also ``errors``) maps field paths to reasons."""

    status = 400

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(fields=errors)

    @property
    def errors(self) -> dict[str, list[str]]:
        return self.fields


class RunConfigError(FieldsRefused):
    """The trainer or its config is refused."""

    code = "config_invalid"


class QuotaExceeded(ApplicationError):
    """Queueing would pass a limit; the message names the limit and its value."""

    code = "quota_exceeded"
    status = 429

    def __init__(self, message: str, *, limit: str, value: int) -> None:
        super().__init__(message, extra={"limit": limit, "value": value})
        self.limit = limit
        self.value = value


class SharingRefused(FieldsRefused):
    """A sharing change names a user or group that does not exist, or is malformed."""

    code = "sharing_invalid"


class CommandRejected(ApplicationError):
    """A command does not fit the run's state (409); the message says why. A reason that
    names a parameter (``params.games: ...``) is also given under that field."""

    code = "command_rejected"
    status = 409

    def __init__(self, message: str, *, field: str = "kind") -> None:
        super().__init__(message, fields={field: [message]})


class EvaluationRejected(FieldsRefused):
    """An evaluation cannot be asked for."""

    code = "evaluation_rejected"


class CheckpointUnusable(ApplicationError):
    """A checkpoint's file is missing or does not match its recorded hash."""

    code = "checkpoint_unusable"
    status = 409


class RunStateConflict(ApplicationError):
    """What was asked does not fit the run's state now (409); ``fields`` names the field
    the state rules out (``priority`` of a running run, ``status`` for a delete)."""

    status = 409

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message, fields={field: [message]})


class RunNotQueued(RunStateConflict):
    code = "run_not_queued"


class RunNotFinished(RunStateConflict):
    code = "run_not_finished"


class RunNotRequeueable(RunStateConflict):
    code = "run_not_requeueable"
