"""An audit entry, once written, is never changed or removed: not through the ORM, and not
by SQL sent straight to PostgreSQL (the table's trigger)."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from audit import services
from audit.models import Action, AuditEntry, AuditEntryImmutable

pytestmark = pytest.mark.django_db


@pytest.fixture
def entry(owner):
    return services.record(
        action=Action.RUN_EDIT, user=owner, target_type="run", target_id=1, details={"x": 1}
    )


def _unchanged(entry: AuditEntry) -> None:
    stored = AuditEntry.objects.get(pk=entry.pk)
    assert (stored.action, stored.username, stored.details) == (
        Action.RUN_EDIT,
        "olivia",
        {"x": 1},
    )


def test_the_orm_refuses_to_change_or_remove_an_entry(entry):
    entry.action = Action.LOGIN
    with pytest.raises(AuditEntryImmutable):
        entry.save()
    with pytest.raises(AuditEntryImmutable):
        entry.delete()
    with pytest.raises(AuditEntryImmutable):
        AuditEntry.objects.filter(pk=entry.pk).update(action=Action.LOGIN)
    with pytest.raises(AuditEntryImmutable):
        AuditEntry.objects.filter(pk=entry.pk).delete()
    with pytest.raises(AuditEntryImmutable):
        AuditEntry.objects.all().delete()
    with pytest.raises(AuditEntryImmutable), transaction.atomic():  # it opens a transaction
        AuditEntry.objects.bulk_update([entry], ["action"])
    # A new object that carries an existing id (not loaded, so save cannot tell) cannot
    # overwrite the row either.
    with pytest.raises(AuditEntryImmutable), transaction.atomic():
        AuditEntry(pk=entry.pk, actor="system", action=Action.LOGIN).save()
    _unchanged(entry)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_auditentry SET action = 'auth.login' WHERE id = %s",
        "UPDATE audit_auditentry SET details = '{}'::jsonb",
        "DELETE FROM audit_auditentry WHERE id = %s",
        "DELETE FROM audit_auditentry",
    ],
)
def test_postgresql_refuses_to_change_or_remove_an_entry(entry, statement):
    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement, [entry.pk] if "%s" in statement else None)
    _unchanged(entry)


def test_new_entries_are_still_written_beside_old_ones(entry, outsider):
    services.record(action=Action.LOGOUT, user=outsider)
    assert AuditEntry.objects.count() == 2
