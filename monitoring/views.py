"""Server-rendered monitoring pages."""

from __future__ import annotations

import logging

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from redis import RedisError

from monitoring import selectors, worker_store

log = logging.getLogger(__name__)


@login_required
def system_page(request: HttpRequest) -> HttpResponse:
    """Workers, their current runs and the queues; kept live over ``/ws/system/``."""
    try:
        overview = selectors.system_overview(user=request.user)
    except RedisError:  # Redis away: the page still renders, and fills in once it is back
        log.warning("system statistics unavailable", exc_info=True)
        overview = {"interval": worker_store.interval_seconds(), "workers": [], "queues": {}}
    return render(request, "monitoring/system.html", {"overview": overview})
