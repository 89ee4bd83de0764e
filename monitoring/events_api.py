"""``GET /api/v1/runs/<id>/events/``: a run's durable timeline, paged by ``seq``.

Each event is shaped by ``selectors.event_as_message``, the function the WebSocket replays
with, so a client that reconnects may read the gap here or over the socket and get the same.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from monitoring import selectors
from monitoring.access import user_may_view_run
from monitoring.errors import NotFound
from monitoring.models import EventType

EVENTS_LIMIT_DEFAULT = 200
EVENTS_LIMIT_MAX = 1000


class EventsQuerySerializer(serializers.Serializer):
    after_seq = serializers.IntegerField(
        min_value=0,
        required=False,
        default=0,
        help_text="events after this seq (0: from the start)",
    )
    limit = serializers.IntegerField(
        min_value=1,
        max_value=EVENTS_LIMIT_MAX,
        required=False,
        default=EVENTS_LIMIT_DEFAULT,
        help_text="at most this many events",
    )


class EventSerializer(serializers.Serializer):
    """A durable event, exactly as the WebSocket sends it."""

    type = serializers.ChoiceField(choices=EventType.choices)
    run = serializers.IntegerField()
    seq = serializers.IntegerField()
    ts = serializers.FloatField(help_text="seconds since the epoch")
    # A field named "data" shadows Serializer.data in the stubs; DRF reads it rightly.
    data = serializers.DictField(  # type: ignore[assignment]
        help_text="message, actor and the event's own fields"
    )


class EventPageSerializer(serializers.Serializer):
    results = EventSerializer(many=True)
    last_seq = serializers.IntegerField(help_text="the highest seq stored for the run")
    has_more = serializers.BooleanField(help_text="more events follow the last one given")


class RunEventsApi(APIView):
    @extend_schema(
        tags=["runs"],
        summary="A run's timeline, in seq order, after a seq",
        parameters=[
            EventsQuerySerializer,
            OpenApiParameter("run_id", int, OpenApiParameter.PATH),
        ],
        responses={200: EventPageSerializer},
    )
    def get(self, request: Request, run_id: int) -> Response:
        if not user_may_view_run(request.user, run_id):
            raise NotFound("no such run")
        query = EventsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        page = selectors.events_page(run_id=run_id, **query.validated_data)
        return Response(page)
