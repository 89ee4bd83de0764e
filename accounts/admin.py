"""Staff see and revoke API tokens here; keys are made by their owners (POST /api/v1/tokens/)
or from the shell (``manage.py token_create``), never shown again after that."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from rest_framework.authtoken.models import TokenProxy

from accounts import services
from accounts.models import ApiToken

# DRF's plain tokens no longer authenticate (docs/operations.md, "API tokens"): an admin page
# that makes them would hand out keys that do not work.
if admin.site.is_registered(TokenProxy):
    admin.site.unregister(TokenProxy)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "token_key", "created", "expiry", "last_used_at", "revoked_at")
    list_filter = ("revoked_at", "expiry")
    search_fields = ("name", "token_key", "user__username")
    fields = list_display
    readonly_fields = list_display
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # the key is shown once to whoever makes it: the owner, or the shell

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        revoked = sum(services.token_revoke(token=token) for token in queryset)
        self.message_user(request, f"{revoked} token(s) revoked.", messages.SUCCESS)
