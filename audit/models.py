"""The audit log: one append-only row per thing a person (or the system) did that matters.

Append-only three times over: ``AuditEntry.save`` refuses to write an existing row and
``delete`` refuses outright; the queryset refuses ``update()`` and ``delete()`` (so
``bulk_update`` too); and PostgreSQL rejects any UPDATE or DELETE of the table with a trigger
(migration 0001), so not even raw SQL from the application can rewrite history.

Who is a snapshot (the user's id and username at the time, not a foreign key): deleting a
user keeps their entries as they were, and a foreign key's ``SET NULL`` would be an UPDATE the
trigger refuses.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NoReturn

from django.db import models
from django.utils import timezone


class AuditEntryImmutable(Exception):
    """An attempt to change or remove an audit entry."""


class Action(models.TextChoices):
    LOGIN = "auth.login", "signed in"
    LOGIN_FAILED = "auth.login_failed", "sign-in refused"
    LOGOUT = "auth.logout", "signed out"
    TOKEN_CREATE = "token.create", "API token created"
    TOKEN_REVOKE = "token.revoke", "API token revoked"
    RUN_CREATE = "run.create", "run queued"
    RUN_CLONE = "run.clone", "run cloned"
    RUN_FORK = "run.fork", "run forked"
    RUN_COMMAND = "run.command", "command to a run"
    RUN_EDIT = "run.edit", "run edited"
    RUN_DELETE = "run.delete", "run deleted"
    RUN_REQUEUE = "run.requeue", "run requeued"
    RUN_SHARE = "run.share", "run shared"
    RUN_UNSHARE = "run.unshare", "run unshared"
    RUN_PUBLIC = "run.public", "run made public or private"
    ADMIN_ADD = "admin.add", "admin: added"
    ADMIN_CHANGE = "admin.change", "admin: changed"
    ADMIN_DELETE = "admin.delete", "admin: deleted"


class Actor(models.TextChoices):
    USER = "user", "a signed-in user"
    ANONYMOUS = "anonymous", "nobody signed in"
    SYSTEM = "system", "the site itself (a worker, beat, the shell)"


class AuditQuerySet(models.QuerySet["AuditEntry"]):
    """Reads only: a bulk write would rewrite history."""

    def update(self, **kwargs: Any) -> NoReturn:
        raise AuditEntryImmutable("audit entries are never updated")

    def delete(self) -> NoReturn:
        raise AuditEntryImmutable("audit entries are never deleted")

    def _update(self, values: Any) -> NoReturn:
        # What Model.save uses to write a row that has a primary key: an entry built with an
        # existing id (not loaded, so save's own check cannot tell) still cannot overwrite it.
        raise AuditEntryImmutable("audit entries are never updated")


class AuditEntry(models.Model):
    created_at: models.DateTimeField[datetime, datetime] = models.DateTimeField(
        default=timezone.now, db_index=True
    )
    actor = models.CharField(max_length=16, choices=Actor.choices)
    # The user's id and name when it happened; null and '' for the system, and for a refused
    # sign-in the name that was tried (with the id of that user if there is one).
    user_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    username = models.CharField(max_length=150, blank=True)
    # One of Action (checked by services.record; no choices here, so a new action needs no
    # migration).
    action = models.CharField(max_length=32, db_index=True)
    # What it was done to: "run", "token", "user", or an admin model ("auth.user").
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    details = models.JSONField(default=dict, blank=True)
    # From where: the client's address (see audit.context.client_ip) and browser, and the
    # request id that the request's log lines carry.
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    request_id = models.CharField(max_length=128, blank=True)

    objects = AuditQuerySet.as_manager()

    class Meta:
        verbose_name = "audit entry"
        verbose_name_plural = "audit entries"
        ordering = ["-created_at", "-id"]
        # Model.save writes an existing row through the base manager: ours, so that its
        # refusing queryset is the one asked.
        base_manager_name = "objects"
        indexes = [models.Index(fields=["target_type", "target_id"], name="audit_target_idx")]

    def __str__(self) -> str:
        who = self.username or self.actor
        target = f" {self.target_type}:{self.target_id}" if self.target_type else ""
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {who} {self.action}{target}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AuditEntryImmutable("audit entries are never updated")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AuditEntryImmutable("audit entries are never deleted")
