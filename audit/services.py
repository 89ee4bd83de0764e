"""Writing the audit log: ``record`` is the one way an entry is made.

Services call it once each, inside their own transaction, so an action that rolls back leaves
no entry and one that commits always has one. Who did it is the ``user`` passed, else the
person whose request this is (``audit.context``), else the system (a worker, beat, the shell).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from audit.context import client_ip, current_request, user_agent
from audit.models import Action, Actor, AuditEntry

USERNAME_MAX = 150


def _signed_in(user: Any) -> bool:
    return bool(user is not None and getattr(user, "is_authenticated", False))


def record(
    *,
    action: Action | str,
    target_type: str = "",
    target_id: Any = "",
    details: Mapping[str, Any] | None = None,
    user: Any = None,
    claimed_username: str = "",
    request: Any = None,
) -> AuditEntry:
    """Append one entry. ``claimed_username`` names who a refused sign-in claimed to be
    (``user`` is then that account if it exists). ``request`` defaults to the current one."""
    if action not in Action.values:
        raise ValueError(f"unknown audit action {action!r}")
    request = request if request is not None else current_request.get()
    if user is None and not claimed_username and request is not None:
        candidate = getattr(request, "user", None)
        user = candidate if _signed_in(candidate) else None
    if claimed_username:
        actor, username = Actor.ANONYMOUS, claimed_username
        user_id = user.pk if user is not None else None
    elif _signed_in(user):
        actor, user_id, username = Actor.USER, user.pk, user.get_username()
    elif request is not None:
        actor, user_id, username = Actor.ANONYMOUS, None, ""
    else:
        actor, user_id, username = Actor.SYSTEM, None, ""
    return AuditEntry.objects.create(
        actor=actor,
        user_id=user_id,
        username=username[:USERNAME_MAX],
        action=action,
        target_type=target_type,
        target_id="" if target_id is None else str(target_id),
        # Through JSON once, so a date or a Decimal in the details is stored as text, not refused.
        details=json.loads(json.dumps(dict(details or {}), default=str)),
        ip=client_ip(request) if request is not None else None,
        user_agent=user_agent(request) if request is not None else "",
        request_id=str(getattr(request, "request_id", "") or "")[:128],
    )
