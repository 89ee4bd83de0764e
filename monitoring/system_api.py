"""``GET /api/v1/system/``: every worker's latest statistics and the Celery queue depths.

Any signed-in user. A worker's current run is named only to people who may see it; a worker
silent for three of its intervals is ``lost``. See docs/websocket.md ("System statistics").
"""

from __future__ import annotations

import logging

from redis import RedisError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from monitoring import selectors

log = logging.getLogger(__name__)


class SystemApi(APIView):
    def get(self, request: Request) -> Response:
        try:
            return Response(selectors.system_overview(user=request.user))
        except RedisError:  # the statistics store (Redis) is unreachable
            log.warning("system statistics unavailable", exc_info=True)
            return Response({"detail": "worker statistics are unavailable right now"}, status=503)
