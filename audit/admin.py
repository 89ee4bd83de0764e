"""The audit log in the admin, read-only; and the admin's "delete selected", recorded.

Django records an admin addition, change or single deletion as one ``LogEntry`` row (saved,
so ``audit.signals`` hears it), but a deletion of several objects as rows made at once with
``bulk_create``, which sends no signal. The site-wide action is replaced by one that records
each deleted object itself, then does exactly what Django's does.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.actions import delete_selected
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy

from audit import services, signals
from audit.models import Action, AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "actor",
        "username",
        "action",
        "target_type",
        "target_id",
        "ip",
    )
    list_filter = ("action", "actor", "created_at")
    search_fields = ("username", "target_type", "target_id", "ip")
    date_hierarchy = "created_at"
    readonly_fields = [field.name for field in AuditEntry._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.action(
    permissions=["delete"],
    description=gettext_lazy("Delete selected %(verbose_name_plural)s"),
)
def audited_delete_selected(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Any]
) -> Any:
    """Django's "delete selected", with one audit entry per object it deleted."""
    meta = queryset.model._meta
    chosen = [(obj.pk, str(obj)) for obj in queryset]
    token = signals.admin_deletions_recorded.set(True)
    try:
        answer = delete_selected(modeladmin, request, queryset)
    finally:
        signals.admin_deletions_recorded.reset(token)
    if answer is None:  # None: deleted (otherwise the confirmation page, or a refusal)
        for pk, text in chosen:
            services.record(
                action=Action.ADMIN_DELETE,
                user=request.user,
                target_type=f"{meta.app_label}.{meta.model_name}",
                target_id=pk,
                details={"object": text[:200], "change": ""},
            )
    return answer


admin.site.add_action(audited_delete_selected, "delete_selected")
