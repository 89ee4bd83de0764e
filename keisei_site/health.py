"""``/healthz``: the process is alive. ``/readyz``: it can serve (monitoring/readiness.py).

Neither needs a login: a load balancer or an orchestrator asks them. ``/readyz`` names only
its checks and the kind of failure, never a host, a setting or a row.
"""

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache

from monitoring.readiness import OK, readiness


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    # Touches no server on purpose: a database outage must not make an orchestrator restart
    # every web process (that is /readyz's question: take it out of rotation, wait).
    return JsonResponse({"status": "ok"})


@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    checks = readiness(timeout=settings.KEISEI_READY_CHECK_SECONDS)
    ready = all(answer == OK for answer in checks.values())
    body: dict[str, object] = {"status": "ok" if ready else "error", "checks": checks}
    if not ready:
        body["failing"] = sorted(name for name, answer in checks.items() if answer != OK)
    return JsonResponse(body, status=200 if ready else 503)
