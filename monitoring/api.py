"""The metric history API (``/api/v1/``): downsampled series, keys, comparison, CSV export.

Thin views: parse and validate the query (a 400 names the parameter and the reason), check
access through ``monitoring.access`` (a run you may not see answers 404, as if absent), call
one selector of ``monitoring.history`` (the CSV: ``monitoring.history_csv``), shape the
output. See docs/metrics-api.md.
"""

from __future__ import annotations

import json
from typing import Any

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.streaming import streamed_file
from monitoring import history, history_csv
from monitoring.access import user_may_view_run
from monitoring.errors import NotFound
from monitoring.renderers import SeriesJSONRenderer

MAX_KEYS = 20
MAX_KEY_LENGTH = 100  # MetricPoint.key

TAG = ["metrics"]


def _query(name: str, kind: Any, description: str, *, required: bool = False) -> OpenApiParameter:
    return OpenApiParameter(
        name, kind, OpenApiParameter.QUERY, required=required, description=description
    )


STEP_RANGE = [
    _query("start", int, "the first step (inclusive)"),
    _query("end", int, "the last step (inclusive; not below start)"),
]
MAX_POINTS = _query(
    "max_points",
    int,
    f"at most this many points per series ({history.MAX_POINTS_MIN}-{history.MAX_POINTS_MAX}, "
    f"default {history.MAX_POINTS_DEFAULT})",
)
KEYS = _query("keys", str, f"comma-separated metric keys (at most {MAX_KEYS}; default: all)")
SERIES = serializers.DictField(
    child=serializers.DictField(), help_text="key (or run id) -> {step, value, ...} arrays"
)
HISTORY_SHAPE = inline_serializer(
    "MetricHistory",
    {
        "run": serializers.IntegerField(),
        "start": serializers.IntegerField(allow_null=True),
        "end": serializers.IntegerField(allow_null=True),
        "max_points": serializers.IntegerField(),
        "downsampled": serializers.BooleanField(),
        "series": SERIES,
    },
)
KEYS_SHAPE = inline_serializer(
    "MetricKeys",
    {
        "run": serializers.IntegerField(),
        "keys": serializers.ListField(
            child=serializers.DictField(), help_text="{key, first_step, last_step, ...}"
        ),
    },
)
COMPARE_SHAPE = inline_serializer(
    "MetricCompare",
    {
        "key": serializers.CharField(),
        "runs": serializers.ListField(child=serializers.IntegerField()),
        "start": serializers.IntegerField(allow_null=True),
        "end": serializers.IntegerField(allow_null=True),
        "max_points": serializers.IntegerField(),
        "downsampled": serializers.BooleanField(),
        "series": SERIES,
    },
)


def _visible(request: Request, run_id: int) -> int:
    if not user_may_view_run(request.user, run_id):
        raise NotFound("no such run")
    return run_id


def _integer(request: Request, name: str, *, minimum: int, maximum: int) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw.strip() == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError({name: [f"must be an integer, got {raw!r}"]}) from None
    if not minimum <= value <= maximum:
        raise ValidationError({name: [f"must be between {minimum} and {maximum}, got {value}"]})
    return value


def _step_range(request: Request) -> tuple[int | None, int | None]:
    start = _integer(request, "start", minimum=history.STEP_MIN, maximum=history.STEP_MAX)
    end = _integer(request, "end", minimum=history.STEP_MIN, maximum=history.STEP_MAX)
    if start is not None and end is not None and start > end:
        raise ValidationError({"end": [f"must not be below start ({start}), got {end}"]})
    return start, end


def _max_points(request: Request) -> int:
    value = _integer(
        request, "max_points", minimum=history.MAX_POINTS_MIN, maximum=history.MAX_POINTS_MAX
    )
    return history.MAX_POINTS_DEFAULT if value is None else value


def _csv_list(request: Request, name: str) -> list[str] | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    items = [item.strip() for item in raw.split(",")]
    if not raw.strip() or any(not item for item in items):
        raise ValidationError({name: ["must be a comma-separated list without empty items"]})
    return list(dict.fromkeys(items))  # repeated items once, in the order given


def _keys(request: Request) -> list[str] | None:
    keys = _csv_list(request, "keys")
    if keys is None:
        return None
    if len(keys) > MAX_KEYS:
        raise ValidationError({"keys": [f"at most {MAX_KEYS} keys, got {len(keys)}"]})
    for key in keys:
        if len(key) > MAX_KEY_LENGTH:
            raise ValidationError(
                {"keys": [f"a key has at most {MAX_KEY_LENGTH} characters: {key[:40]!r}..."]}
            )
    return keys


class MetricHistoryApi(APIView):
    """GET: the run's series, downsampled to at most ``max_points`` per key."""

    renderer_classes = [SeriesJSONRenderer]

    @extend_schema(
        tags=TAG,
        summary="A run's metric series, downsampled",
        parameters=[KEYS, *STEP_RANGE, MAX_POINTS],
        responses={200: HISTORY_SHAPE},
    )
    def get(self, request: Request, run_id: int) -> Response:
        _visible(request, run_id)
        keys = _keys(request)
        start, end = _step_range(request)
        max_points = _max_points(request)
        if keys is None:
            keys = [entry["key"] for entry in history.metric_keys(run_id=run_id)]
            if len(keys) > MAX_KEYS:
                raise ValidationError(
                    {"keys": [f"this run has {len(keys)} keys: name at most {MAX_KEYS}"]}
                )
        series = history.metric_history(
            run_id=run_id, keys=keys, start=start, end=end, max_points=max_points
        )
        return Response(
            {
                "run": run_id,
                "start": start,
                "end": end,
                "max_points": max_points,
                "downsampled": any(s.downsampled for s in series.values()),
                "series": {key: s.as_dict() for key, s in series.items()},
            }
        )


class MetricKeysApi(APIView):
    """GET: the keys the run has, with each key's first and last step."""

    @extend_schema(tags=TAG, summary="A run's metric keys", responses={200: KEYS_SHAPE})
    def get(self, request: Request, run_id: int) -> Response:
        _visible(request, run_id)
        return Response({"run": run_id, "keys": history.metric_keys(run_id=run_id)})


class MetricCompareApi(APIView):
    """GET: one key across several runs, each downsampled to at most ``max_points``."""

    renderer_classes = [SeriesJSONRenderer]

    @extend_schema(
        tags=TAG,
        summary="One metric across several runs",
        parameters=[
            _query("runs", str, "comma-separated run ids", required=True),
            _query("key", str, "the metric key", required=True),
            *STEP_RANGE,
            MAX_POINTS,
        ],
        responses={200: COMPARE_SHAPE},
    )
    def get(self, request: Request) -> Response:
        raw_runs = _csv_list(request, "runs")
        if raw_runs is None:
            raise ValidationError({"runs": ["required: a comma-separated list of run ids"]})
        run_ids = history.compare_run_ids(raw_runs)  # CompareRefused names ``runs``
        for run_id in run_ids:
            _visible(request, run_id)
        key = request.query_params.get("key", "").strip()
        if not key:
            raise ValidationError({"key": ["required: the metric key to compare"]})
        if len(key) > MAX_KEY_LENGTH:
            raise ValidationError({"key": [f"at most {MAX_KEY_LENGTH} characters"]})
        start, end = _step_range(request)
        max_points = _max_points(request)
        series = history.metric_compare(
            run_ids=run_ids, key=key, start=start, end=end, max_points=max_points
        )
        return Response(
            {
                "key": key,
                "runs": run_ids,
                "start": start,
                "end": end,
                "max_points": max_points,
                "downsampled": any(s.downsampled for s in series.values()),
                "series": {str(run_id): s.as_dict() for run_id, s in series.items()},
            }
        )


class CSVRenderer(BaseRenderer):
    """Lets ``Accept: text/csv`` (or ``?format=csv``) through content negotiation; the file
    itself is a streamed response, and refusals are JSON (``MetricCsvApi.finalize_response``)."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type=None, renderer_context=None) -> bytes:
        return json.dumps(data).encode()


class MetricCsvApi(APIView):
    """GET: the full series of the run (or of ``keys``) as a streamed CSV file."""

    renderer_classes = [JSONRenderer, CSVRenderer]

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        if isinstance(response, Response):
            # A refusal is the one JSON body, labelled as JSON, whatever format was asked for.
            response.accepted_renderer = JSONRenderer()
            response.accepted_media_type = JSONRenderer.media_type
        return response

    @extend_schema(
        tags=TAG,
        summary="A run's full series as a CSV file (key, step, value, time)",
        parameters=[KEYS, *STEP_RANGE],
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="the CSV file")
        },
    )
    def get(self, request: Request, run_id: int) -> StreamingHttpResponse:
        _visible(request, run_id)
        keys = _keys(request)
        start, end = _step_range(request)
        chunks = history_csv.metric_csv_chunks(run_id=run_id, keys=keys, start=start, end=end)
        return streamed_file(
            request._request,
            chunks,
            content_type="text/csv; charset=utf-8",
            filename=f"run-{run_id}-metrics.csv",
        )
