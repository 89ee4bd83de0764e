"""Trainers (what a client may queue and how to configure it) and the caller's own account."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from monitoring.schema import refusals
from runs import selectors, services
from runs.api.shapes import (
    ConfigValidatedSerializer,
    ConfigValidateSerializer,
    MeSerializer,
    TrainerSerializer,
)


class TrainerListApi(APIView):
    @extend_schema(
        tags=["trainers"],
        summary="Every trainer, with its config schema and presets",
        responses={200: TrainerSerializer(many=True)},
    )
    def get(self, request: Request) -> Response:
        return Response(TrainerSerializer(selectors.trainers_described(), many=True).data)


class TrainerDetailApi(APIView):
    @extend_schema(tags=["trainers"], summary="One trainer", responses={200: TrainerSerializer})
    def get(self, request: Request, name: str) -> Response:
        return Response(TrainerSerializer(selectors.trainer_described(name=name)).data)


class TrainerValidateApi(APIView):
    """POST: a config in; the full config out, or ``config_invalid`` naming each field."""

    @extend_schema(
        tags=["trainers"],
        summary="Check a config (nothing is queued)",
        request=ConfigValidateSerializer,
        responses={200: ConfigValidatedSerializer, **refusals(400)},
    )
    def post(self, request: Request, name: str) -> Response:
        selectors.trainer_described(name=name)  # an unknown trainer is a 404, as for GET
        incoming = ConfigValidateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        config = services.config_validate(trainer=name, config=incoming.validated_data["config"])
        return Response({"config": config})


class MeApi(APIView):
    @extend_schema(
        tags=["account"],
        summary="Who you are, your limits and their use",
        responses={200: MeSerializer},
    )
    def get(self, request: Request) -> Response:
        return Response(MeSerializer(selectors.user_quota_usage(user=request.user)).data)
