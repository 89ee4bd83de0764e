"""Server-rendered monitoring pages."""

from __future__ import annotations

import hmac
import logging

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from redis import RedisError

from monitoring import prometheus, selectors, worker_registry, worker_store

log = logging.getLogger(__name__)


@login_required
def system_page(request: HttpRequest) -> HttpResponse:
    """Workers, their current runs and the queues; kept live over ``/ws/system/``."""
    try:
        overview = selectors.system_overview(user=request.user)
    except RedisError:  # Redis away: the page still renders, and fills in once it is back
        log.warning("system statistics unavailable", exc_info=True)
        overview = {
            "interval": worker_store.interval_seconds(),
            "nodes": worker_registry.nodes_list(),  # in PostgreSQL: listed without Redis
            "workers": [],
            "queues": {},
        }
    return render(request, "monitoring/system.html", {"overview": overview})


def metrics_allowed(request: HttpRequest) -> bool:
    """Staff signed in, or ``Authorization: Bearer <METRICS_TOKEN>`` (a scraper). The metrics
    name runs, so nobody else reads them; with no token set, only staff."""
    user = request.user
    if user.is_authenticated and user.is_active and user.is_staff:
        return True
    token: str = settings.METRICS_TOKEN or ""
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return bool(token) and scheme.lower() == "bearer" and hmac.compare_digest(given, token)


@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus metrics of the whole site (monitoring/prometheus.py)."""
    if not metrics_allowed(request):
        response = HttpResponse("staff or a metrics token only\n", status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(prometheus.exposition(), content_type=prometheus.CONTENT_TYPE)
