"""What every page's header shows beyond the user: the unread alert notifications."""

from __future__ import annotations

from functools import partial
from typing import Any

from django.http import HttpRequest

from alerts.selectors import notifications_unread_count


def header(request: HttpRequest) -> dict[str, Any]:
    # A callable: the template asks it once, when the header renders it (not for JSON views).
    return {"alerts_unread": partial(notifications_unread_count, user=request.user)}
