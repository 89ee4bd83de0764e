"""Django's own events, recorded: sign-in (the login page and the admin's), refused sign-in
(any ``authenticate()`` that fails, HTTP Basic on the tokens API included), sign-out, and
each admin change (a ``LogEntry`` row). The receivers only translate; ``services.record``
writes."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import post_save

from audit import services
from audit.models import Action

ADMIN_ACTIONS = {
    ADDITION: Action.ADMIN_ADD,
    CHANGE: Action.ADMIN_CHANGE,
    DELETION: Action.ADMIN_DELETE,
}
# Set while the admin's "delete selected" records its deletions itself (audit.admin): Django
# writes several LogEntry rows at once with bulk_create, which sends no post_save.
admin_deletions_recorded: ContextVar[bool] = ContextVar("admin_deletions_recorded", default=False)


def _http_request(request: Any) -> Any:
    # DRF passes its own Request; the Django request under it has the address, and reading
    # DRF's ``user`` from here would run authentication again.
    return getattr(request, "_request", request)


def _path(request: Any) -> str:
    return str(getattr(request, "path", "")) if request is not None else ""


def on_login(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    services.record(
        action=Action.LOGIN,
        user=user,
        request=_http_request(request),
        target_type="user",
        target_id=user.pk,
        details={"path": _path(request)},
    )


def on_logout(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    services.record(
        action=Action.LOGOUT,
        user=user,
        request=_http_request(request),
        target_type="user" if user is not None else "",
        target_id=user.pk if user is not None else "",
        details={"path": _path(request)},
    )


def on_login_failed(
    sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any
) -> None:
    model = get_user_model()
    claimed = str(credentials.get(model.USERNAME_FIELD) or credentials.get("username") or "")
    account = (
        model._default_manager.filter(**{model.USERNAME_FIELD: claimed}).first()
        if claimed
        else None
    )
    services.record(
        action=Action.LOGIN_FAILED,
        user=account,
        claimed_username=claimed or "(none)",
        request=_http_request(request),
        target_type="user" if account is not None else "",
        target_id=account.pk if account is not None else "",
        details={"method": "password", "path": _path(request)},
    )


def on_admin_log_entry(
    sender: Any, instance: LogEntry, created: bool, raw: bool = False, **kwargs: Any
) -> None:
    if not created or raw or admin_deletions_recorded.get():
        return
    content_type = instance.content_type
    services.record(
        action=ADMIN_ACTIONS.get(instance.action_flag, Action.ADMIN_CHANGE),
        user=instance.user,
        target_type=f"{content_type.app_label}.{content_type.model}" if content_type else "",
        target_id=instance.object_id or "",
        details={"object": instance.object_repr, "change": instance.get_change_message()},
    )


def connect() -> None:
    dispatch = "audit.signals"
    user_logged_in.connect(on_login, dispatch_uid=f"{dispatch}.login")
    user_logged_out.connect(on_logout, dispatch_uid=f"{dispatch}.logout")
    user_login_failed.connect(on_login_failed, dispatch_uid=f"{dispatch}.login_failed")
    post_save.connect(on_admin_log_entry, sender=LogEntry, dispatch_uid=f"{dispatch}.admin")
