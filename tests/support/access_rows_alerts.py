"""The access matrix's rows of the alerts routes (the vocabulary: tests/support/access_rows.py).

A run's rules and alerts follow the run: whoever may see it reads them, its owner and staff
change them (a read-only sharer 403, everyone else 404). A preset's rules and a webhook
endpoint are their owner's alone (404 to all others, staff too). Notifications and the
delivery log are the caller's own, so any signed-in person gets theirs."""

from __future__ import annotations

from typing import Any

from tests.support import access_matrix as m
from tests.support.access_matrix import ERROR_MESSAGE, OK
from tests.support.access_rows import (
    API_405,
    API_OWNERS_OWN,
    API_RUN_READ,
    PAGE_405,
    PAGE_DEAD,
    PAGE_OWNERS_OWN,
    PAGE_RUN_READ,
    AppRows,
    api_get,
    api_run_steer,
    api_signed_in,
    methods,
    only,
    page_signed_in,
    who,
)


def _objects(*, owner: Any, viewer: Any, values: dict[str, Any]) -> dict[str, Any]:
    from alerts.models import WebhookEndpoint

    endpoint = WebhookEndpoint.objects.create(
        owner=owner, url="http://127.0.0.1:9/hook", secret="s" * 32
    )
    return {"endpoint_id": endpoint.pk}


# The rules page's form, sent empty ({} overrides): the owner and staff save it; a
# read-only sharer is refused (403), everyone else told it does not exist.
PAGE_RULES_POST = who(
    **PAGE_DEAD, other=404, owner=OK, staff=OK, viewer=403, unshared=404, public=403
)

ROWS = AppRows(
    routes={
        "alerts:notifications": only("GET", page_signed_in(), PAGE_405),
        "alerts:notifications-read": only("POST", page_signed_in(), PAGE_405),
        "alerts:run-rules": methods(
            GET=PAGE_RUN_READ, POST=PAGE_RULES_POST, PUT=PAGE_405, PATCH=PAGE_405, DELETE=PAGE_405
        ),
        "alerts:webhooks": only("GET", page_signed_in(), PAGE_405),
        # No URL: the page again with the error.
        "alerts:webhook-create": only("POST", page_signed_in(ERROR_MESSAGE), PAGE_405),
        "alerts:webhook-delete": only("POST", PAGE_OWNERS_OWN, PAGE_405),
        "alerts-api:run-rules": methods(
            GET=API_RUN_READ,
            POST=API_405,
            PUT=api_run_steer(400),  # no "rules"
            PATCH=API_405,
            DELETE=API_405,
        ),
        "alerts-api:run-alerts": api_get(API_RUN_READ),
        "alerts-api:preset-rules": methods(
            GET=API_OWNERS_OWN,
            POST=API_405,
            PUT={**API_OWNERS_OWN, m.OWNER: 400},  # no "rules"
            PATCH=API_405,
            DELETE=API_405,
        ),
        "alerts-api:notifications": api_get(api_signed_in()),
        "alerts-api:read": only("POST", api_signed_in(), API_405),  # empty: all read
        "alerts-api:webhooks": methods(
            GET=api_signed_in(),
            POST=api_signed_in(400),  # no URL
            PUT=API_405,
            PATCH=API_405,
            DELETE=API_405,
        ),
        "alerts-api:deliveries": api_get(api_signed_in()),
        "alerts-api:webhook": only("DELETE", API_OWNERS_OWN, API_405),
    },
    objects=_objects,
)
