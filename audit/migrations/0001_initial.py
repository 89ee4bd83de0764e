"""The audit table, and the trigger that makes it append-only in PostgreSQL itself."""

import django.utils.timezone
from django.db import migrations, models

# Any UPDATE or DELETE of a row fails, whoever sends it (the ORM's own refusals are in
# audit.models). Row-level, so TRUNCATE, the table owner's deliberate act (and what a test
# database's flush uses), still works.
REFUSE_CHANGES = """
CREATE FUNCTION audit_entry_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit entries are append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER audit_entry_append_only
    BEFORE UPDATE OR DELETE ON audit_auditentry
    FOR EACH ROW EXECUTE FUNCTION audit_entry_refuse_change();
"""
ALLOW_CHANGES = """
DROP TRIGGER IF EXISTS audit_entry_append_only ON audit_auditentry;
DROP FUNCTION IF EXISTS audit_entry_refuse_change();
"""


class Migration(migrations.Migration):
    initial = True

    dependencies = []

    operations = [
        migrations.CreateModel(
            name="AuditEntry",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "created_at",
                    models.DateTimeField(db_index=True, default=django.utils.timezone.now),
                ),
                (
                    "actor",
                    models.CharField(
                        choices=[
                            ("user", "a signed-in user"),
                            ("anonymous", "nobody signed in"),
                            ("system", "the site itself (a worker, beat, the shell)"),
                        ],
                        max_length=16,
                    ),
                ),
                ("user_id", models.BigIntegerField(blank=True, db_index=True, null=True)),
                ("username", models.CharField(blank=True, max_length=150)),
                ("action", models.CharField(db_index=True, max_length=32)),
                ("target_type", models.CharField(blank=True, max_length=64)),
                ("target_id", models.CharField(blank=True, max_length=64)),
                ("details", models.JSONField(blank=True, default=dict)),
                ("ip", models.GenericIPAddressField(blank=True, null=True)),
                ("user_agent", models.CharField(blank=True, max_length=512)),
                ("request_id", models.CharField(blank=True, max_length=128)),
            ],
            options={
                "verbose_name": "audit entry",
                "verbose_name_plural": "audit entries",
                "ordering": ["-created_at", "-id"],
                "base_manager_name": "objects",
                "indexes": [
                    models.Index(fields=["target_type", "target_id"], name="audit_target_idx")
                ],
            },
        ),
        migrations.RunSQL(REFUSE_CHANGES, reverse_sql=ALLOW_CHANGES),
    ]
