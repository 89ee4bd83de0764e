"""``GET /api/v1/system/``: every worker's latest statistics and the Celery queue depths.

Any signed-in user. A worker's current run is named only to people who may see it; a worker
silent for three of its intervals is ``lost``. See docs/websocket.md ("System statistics").
"""

from __future__ import annotations

import logging

from drf_spectacular.utils import extend_schema, inline_serializer
from redis import RedisError
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from monitoring import selectors
from monitoring.errors import ServiceUnavailable
from monitoring.schema import refusals

log = logging.getLogger(__name__)


SYSTEM_SHAPE = inline_serializer(
    "SystemOverview",
    {
        "interval": serializers.FloatField(help_text="seconds between a worker's reports"),
        "nodes": serializers.ListField(
            child=serializers.DictField(),
            help_text="the registered workers: name, host, gpus, device, concurrency, queues, "
            "state (online, silent, stopped), last_seen_at (docs/operations.md, Workers)",
        ),
        "workers": serializers.ListField(
            child=serializers.DictField(),
            help_text="each worker's latest statistics (docs/websocket.md, System statistics)",
        ),
        "queues": serializers.DictField(
            child=serializers.IntegerField(allow_null=True), help_text="queue name -> depth"
        ),
    },
)


class SystemApi(APIView):
    @extend_schema(
        tags=["system"],
        summary="Every worker's latest statistics and the queue depths",
        responses={200: SYSTEM_SHAPE, **refusals(503)},
    )
    def get(self, request: Request) -> Response:
        try:
            return Response(selectors.system_overview(user=request.user))
        except RedisError:  # the statistics store (Redis) is unreachable
            log.warning("system statistics unavailable", exc_info=True)
            # The one refusal body, as every endpoint answers (monitoring.errors).
            raise ServiceUnavailable("worker statistics are unavailable right now") from None
