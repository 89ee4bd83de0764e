"""``alerts_unread`` in every template: the signed-in person's unread alerts, for the header's
badge (add ``alerts.context_processors.unread`` to TEMPLATES' context processors)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from alerts.selectors import notifications_unread_count


def unread(request: HttpRequest) -> dict[str, Any]:
    """Lazy: the count is queried only by a template that shows it."""
    user = getattr(request, "user", None)
    return {"alerts_unread": lambda: notifications_unread_count(user=user)}
