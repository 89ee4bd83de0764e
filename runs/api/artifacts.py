"""What runs leave behind: checkpoints (listed, downloaded, evaluated), evaluations, games."""

from __future__ import annotations

from django.http.response import HttpResponseBase
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from monitoring.schema import refusals
from runs import access, selectors, services
from runs.downloads import checkpoint_download_response
from runs.serializers import (
    CheckpointSerializer,
    EvaluationCreateSerializer,
    EvaluationSerializer,
    GameRecordDetailSerializer,
    GameRecordQuerySerializer,
    GameRecordSerializer,
)

TAG = ["artifacts"]


class RunCheckpointsApi(APIView):
    """GET: a run's checkpoints, newest step first."""

    @extend_schema(
        tags=TAG, summary="A run's checkpoints", responses={200: CheckpointSerializer(many=True)}
    )
    def get(self, request: Request, run_id: int) -> Response:
        run = access.run_for_viewer(user=request.user, run_id=run_id)
        return Response(CheckpointSerializer(selectors.run_checkpoints(run), many=True).data)


class CheckpointDownloadApi(APIView):
    @extend_schema(
        tags=TAG,
        summary="A checkpoint's file (header X-Checksum-Sha256), or a redirect to a signed URL",
        responses={
            (200, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY),
            302: OpenApiResponse(description="S3 storage: a short-lived signed URL"),
        },
    )
    def get(self, request: Request, run_id: int, checkpoint_id: int) -> HttpResponseBase:
        checkpoint = access.checkpoint_for_viewer(
            user=request.user, run_id=run_id, checkpoint_id=checkpoint_id
        )
        return checkpoint_download_response(checkpoint)


class CheckpointEvaluateApi(APIView):
    """POST: queue a match of this checkpoint (of a run you may steer) against "random" or any
    checkpoint you may see."""

    @extend_schema(
        tags=TAG,
        summary="Queue an evaluation job of a checkpoint",
        request=EvaluationCreateSerializer,
        responses={202: EvaluationSerializer, **refusals(400)},
    )
    def post(self, request: Request, run_id: int, checkpoint_id: int) -> Response:
        # The job is recorded on this run: steering, so its owner's or staff's only.
        checkpoint = access.checkpoint_for_steerer(
            user=request.user, run_id=run_id, checkpoint_id=checkpoint_id
        )
        incoming = EvaluationCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        evaluation = services.evaluation_request(
            user=request.user, checkpoint=checkpoint, **incoming.validated_data
        )
        return Response(EvaluationSerializer(evaluation).data, status=status.HTTP_202_ACCEPTED)


class RunEvaluationsApi(APIView):
    """GET: a run's evaluations (the trainer's own and evaluation jobs), newest first."""

    @extend_schema(
        tags=TAG, summary="A run's evaluations", responses={200: EvaluationSerializer(many=True)}
    )
    def get(self, request: Request, run_id: int) -> Response:
        run = access.run_for_viewer(user=request.user, run_id=run_id)
        return Response(EvaluationSerializer(selectors.run_evaluations(run), many=True).data)


class RunGameRecordsApi(APIView):
    """GET: a run's games, newest first, without their texts; ``?source=`` (sample,
    evaluation, selfplay, league) and ``?limit=`` (1-1000, default 100)."""

    @extend_schema(
        tags=TAG,
        summary="A run's games, without their moves",
        parameters=[GameRecordQuerySerializer],
        responses={200: GameRecordSerializer(many=True)},
    )
    def get(self, request: Request, run_id: int) -> Response:
        run = access.run_for_viewer(user=request.user, run_id=run_id)
        query = GameRecordQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        records = selectors.game_records_of(run, source=query.validated_data.get("source"))
        limit = query.validated_data["limit"]
        return Response(GameRecordSerializer(records[:limit], many=True).data)


class GameRecordApi(APIView):
    """GET: one game whole (USI moves, KIF, CSA)."""

    @extend_schema(
        tags=TAG,
        summary="One game: USI moves, KIF, CSA",
        responses={200: GameRecordDetailSerializer},
    )
    def get(self, request: Request, run_id: int, record_id: int) -> Response:
        record = access.game_record_for_viewer(
            user=request.user, run_id=run_id, record_id=record_id
        )
        return Response(GameRecordDetailSerializer(record).data)
