"""The REST API (``/api/v1/``): thin views over services and selectors."""

from __future__ import annotations

from django.http import Http404
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from runs import selectors, services
from runs.models import Run
from runs.serializers import (
    CommandCreateSerializer,
    CommandSerializer,
    RunCreateSerializer,
    RunSerializer,
)


def _visible_run(request: Request, run_id: int) -> Run:
    try:
        return selectors.run_get_visible(user=request.user, run_id=run_id)
    except Run.DoesNotExist:
        raise Http404("no such run") from None


class RunListCreateApi(ListAPIView):
    """GET: the runs you may see. POST: queue a run (trainer, config, name)."""

    serializer_class = RunSerializer

    def get_queryset(self):
        return selectors.run_list_visible(user=self.request.user)

    def post(self, request: Request) -> Response:
        incoming = RunCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        try:
            run = services.run_queue(owner=request.user, **incoming.validated_data)
        except services.RunConfigError as exc:
            return Response(exc.errors, status=status.HTTP_400_BAD_REQUEST)
        return Response(RunSerializer(run).data, status=status.HTTP_201_CREATED)


class RunDetailApi(APIView):
    def get(self, request: Request, run_id: int) -> Response:
        return Response(RunSerializer(_visible_run(request, run_id)).data)


class RunCommandsApi(APIView):
    """GET: a run's commands. POST: ask something of it (stop, pause, resume, save, cancel)."""

    def get(self, request: Request, run_id: int) -> Response:
        run = _visible_run(request, run_id)
        return Response(CommandSerializer(run.commands.all(), many=True).data)

    def post(self, request: Request, run_id: int) -> Response:
        run = _visible_run(request, run_id)
        if not selectors.run_may_change(request.user, run):
            return Response(
                {"detail": "you may not steer this run"}, status=status.HTTP_403_FORBIDDEN
            )
        incoming = CommandCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        try:
            command = services.command_request(
                run=run, user=request.user, **incoming.validated_data
            )
        except services.CommandRejected as exc:
            return Response({"kind": [str(exc)]}, status=status.HTTP_409_CONFLICT)
        return Response(CommandSerializer(command).data, status=status.HTTP_201_CREATED)
