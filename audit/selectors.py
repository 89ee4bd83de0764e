"""Reading the audit log: who may, and the entries a set of filters picks."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from audit.models import AuditEntry


def audit_readable_by(user: Any) -> bool:
    """Staff only (signed in and active); everyone else is told the log does not exist."""
    return bool(
        user is not None
        and getattr(user, "is_authenticated", False)
        and getattr(user, "is_active", False)
        and getattr(user, "is_staff", False)
    )


@dataclass(frozen=True)
class AuditFilters:
    """What the page's and the export's query string asked for ('' or None: any)."""

    username: str = ""
    action: str = ""
    target_type: str = ""
    target_id: str = ""
    since: dt.date | None = None  # from this UTC day on
    until: dt.date | None = None  # up to and including this UTC day


def entries_filtered(filters: AuditFilters) -> QuerySet[AuditEntry]:
    """The entries that match every filter given, newest first."""
    entries = AuditEntry.objects.all()
    if filters.username:
        entries = entries.filter(username__iexact=filters.username)
    if filters.action:
        entries = entries.filter(action=filters.action)
    if filters.target_type:
        entries = entries.filter(target_type=filters.target_type)
    if filters.target_id:
        entries = entries.filter(target_id=filters.target_id)
    if filters.since:
        entries = entries.filter(created_at__gte=_day_start(filters.since))
    if filters.until:
        entries = entries.filter(created_at__lt=_day_start(filters.until + dt.timedelta(days=1)))
    return entries.order_by("-created_at", "-id")


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)


CSV_COLUMNS = (
    "time",
    "actor",
    "user_id",
    "username",
    "action",
    "target_type",
    "target_id",
    "details",
    "ip",
    "user_agent",
    "request_id",
)


def entries_as_rows(entries: QuerySet[AuditEntry]) -> Iterator[list[Any]]:
    """One list of cells per entry, in ``CSV_COLUMNS`` order (read in chunks, not at once)."""
    for entry in entries.iterator(chunk_size=2000):
        yield [
            entry.created_at.isoformat(),
            entry.actor,
            entry.user_id if entry.user_id is not None else "",
            entry.username,
            entry.action,
            entry.target_type,
            entry.target_id,
            json.dumps(entry.details, sort_keys=True, ensure_ascii=False),
            entry.ip or "",
            entry.user_agent,
            entry.request_id,
        ]
