"""The audit entries a test's own action wrote (those after a mark), oldest first."""

from __future__ import annotations

from django.db.models import Max

from audit.models import AuditEntry


class AuditTrail:
    def __init__(self) -> None:
        self.mark()

    def mark(self) -> None:
        """Forget what is there now: ``new()`` returns only entries written after this."""
        self.start = AuditEntry.objects.aggregate(last=Max("id"))["last"] or 0

    def new(self) -> list[AuditEntry]:
        return list(AuditEntry.objects.filter(id__gt=self.start).order_by("id"))

    def one(self, action: str) -> AuditEntry:
        """The only entry written since the mark; it must be ``action``."""
        entries = self.new()
        assert [e.action for e in entries] == [action], [str(e) for e in entries]
        self.mark()
        return entries[0]
