"""Presets (the trainers' own and saved ones) and the league standings."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from keisei.registry import available_trainers, get_trainer
from monitoring.schema import refusals
from runs import selectors, services
from runs.api.shapes import LeagueSerializer, PresetListSerializer
from runs.serializers import PresetSerializer


class PresetListCreateApi(APIView):
    """GET: the trainers' own presets and the saved ones you may use. POST: save one."""

    @extend_schema(
        tags=["presets"],
        summary="The trainers' presets and the saved ones you may use",
        responses={200: PresetListSerializer},
    )
    def get(self, request: Request) -> Response:
        builtin = [
            {"id": name, "name": name, "trainer": trainer, "config": dict(config), "builtin": True}
            for trainer in available_trainers()
            for name, config in get_trainer(trainer).presets.items()
        ]
        saved = PresetSerializer(selectors.preset_list_visible(user=request.user), many=True)
        return Response({"builtin": builtin, "saved": saved.data})

    @extend_schema(
        tags=["presets"],
        summary="Save a preset",
        request=PresetSerializer,
        responses={201: PresetSerializer, **refusals(400)},
    )
    def post(self, request: Request) -> Response:
        incoming = PresetSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        preset = services.preset_create(owner=request.user, **incoming.validated_data)
        return Response(PresetSerializer(preset).data, status=status.HTTP_201_CREATED)


class PresetDetailApi(APIView):
    """DELETE: remove one of your saved presets."""

    @extend_schema(
        tags=["presets"],
        summary="Delete one of your presets",
        responses={204: OpenApiResponse(description="deleted")},
    )
    def delete(self, request: Request, preset_id: int) -> Response:
        services.preset_delete(user=request.user, preset_id=preset_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class LeagueApi(APIView):
    """GET: the league standings; runs you may not see are shown as "hidden run"."""

    @extend_schema(
        tags=["league"], summary="The league standings", responses={200: LeagueSerializer}
    )
    def get(self, request: Request) -> Response:
        return Response(
            {
                "k_factor": services.league.K_FACTOR,
                "games_per_match": settings.KEISEI_LEAGUE_GAMES,
                "entries": selectors.league_standings(user=request.user),
            }
        )
