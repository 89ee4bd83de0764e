"""Runs: list (filtered, ordered, cursor-paged) and queue; one run read, edited, deleted,
requeued, cloned, forked; its commands."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from monitoring.schema import refusals
from runs import access, selectors, services
from runs.filters import RunFilter, RunFilterBackend
from runs.models import Run
from runs.pagination import RunCursorPagination
from runs.serializers import (
    CommandCreateSerializer,
    CommandSerializer,
    RunCloneSerializer,
    RunCreateSerializer,
    RunForkSerializer,
    RunSerializer,
    RunUpdateSerializer,
)

TAG = ["runs"]


def _queued(run: Run) -> Response:
    return Response(RunSerializer(run).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    get=extend_schema(
        tags=TAG,
        summary="The runs you may see",
        description="Filtered, ordered (default newest first) and paged by cursor.",
    ),
    post=extend_schema(
        tags=TAG,
        summary="Queue a run",
        request=RunCreateSerializer,
        responses={201: RunSerializer, **refusals(400, 429)},
    ),
)
class RunListCreateApi(ListAPIView):
    """GET: the runs you may see. POST: queue a run (trainer, config, name, priority)."""

    serializer_class = RunSerializer
    pagination_class = RunCursorPagination
    filter_backends = [RunFilterBackend]
    filterset_class = RunFilter

    def get_queryset(self):
        return access.runs_visible(user=self.request.user)

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        runs = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        assert runs is not None  # always paged (pagination_class)
        # Every queued run's place in one query, not one count per listed run; who is online,
        # read once for the page; neither when the page holds no queued run.
        context = {**self.get_serializer_context(), **selectors.run_page_context(runs)}
        return self.get_paginated_response(RunSerializer(runs, many=True, context=context).data)

    def post(self, request: Request) -> Response:
        incoming = RunCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = dict(incoming.validated_data)
        preset = data.pop("preset")
        if preset:
            data["config"] = services.preset_config(
                user=request.user, trainer=data["trainer"], preset=preset, changes=data["config"]
            )
        return _queued(services.run_queue(owner=request.user, **data))


class RunDetailApi(APIView):
    """GET: one run. PATCH: name, tags, notes; priority while queued. DELETE: a finished run."""

    @extend_schema(tags=TAG, summary="One run", responses={200: RunSerializer})
    def get(self, request: Request, run_id: int) -> Response:
        run = access.run_for_viewer(user=request.user, run_id=run_id)
        return Response(RunSerializer(run).data)

    @extend_schema(
        tags=TAG,
        summary="Edit a run's name, tags, notes, or (while queued) priority",
        request=RunUpdateSerializer,
        responses={200: RunSerializer, **refusals(409)},
    )
    def patch(self, request: Request, run_id: int) -> Response:
        run = access.run_for_steerer(user=request.user, run_id=run_id)
        incoming = RunUpdateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        services.run_edit(run_id=run.pk, priority_while_queued=True, **incoming.validated_data)
        run = access.run_for_viewer(user=request.user, run_id=run.pk)
        return Response(RunSerializer(run).data)

    @extend_schema(
        tags=TAG,
        summary="Delete a finished run with its checkpoints, games and history",
        responses={204: OpenApiResponse(description="deleted"), **refusals(409)},
    )
    def delete(self, request: Request, run_id: int) -> Response:
        run = access.run_for_steerer(user=request.user, run_id=run_id)
        services.run_delete(run_id=run.pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


class RunRequeueApi(APIView):
    """POST: put a failed or stopped run back in the queue (same id; resumes from its latest
    checkpoint)."""

    @extend_schema(
        tags=TAG,
        summary="Requeue a failed or stopped run",
        request=None,
        responses={200: RunSerializer, **refusals(409)},
    )
    def post(self, request: Request, run_id: int) -> Response:
        run = access.run_for_steerer(user=request.user, run_id=run_id)
        run = services.run_requeue_finished(run=run, user=request.user)
        return Response(RunSerializer(run).data)


class RunCloneApi(APIView):
    """POST: a fresh run with the same config, owned by you."""

    @extend_schema(
        tags=TAG,
        summary="Clone a run",
        request=RunCloneSerializer,
        responses={201: RunSerializer, **refusals(429)},
    )
    def post(self, request: Request, run_id: int) -> Response:
        run = access.run_for_viewer(user=request.user, run_id=run_id)
        incoming = RunCloneSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        return _queued(services.run_clone(run=run, user=request.user, **incoming.validated_data))


class RunForkApi(APIView):
    """POST: a new run from one of this run's checkpoints, with config changes."""

    @extend_schema(
        tags=TAG,
        summary="Fork a run from one of its checkpoints",
        request=RunForkSerializer,
        responses={201: RunSerializer, **refusals(429)},
    )
    def post(self, request: Request, run_id: int) -> Response:
        run = access.run_for_viewer(user=request.user, run_id=run_id)
        incoming = RunForkSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        checkpoint = selectors.run_checkpoint(run, checkpoint_id=data["checkpoint"])
        if checkpoint is None:
            raise ValidationError(
                {"checkpoint": [f"run {run.pk} has no checkpoint {data['checkpoint']}"]}
            )
        return _queued(
            services.run_fork(
                run=run,
                user=request.user,
                checkpoint=checkpoint,
                config_changes=data["config"],
                name=data["name"],
            )
        )


class RunCommandsApi(APIView):
    """GET: a run's commands. POST: ask something of it (stop, pause, resume, save, cancel)."""

    @extend_schema(
        tags=TAG, summary="A run's commands", responses={200: CommandSerializer(many=True)}
    )
    def get(self, request: Request, run_id: int) -> Response:
        run = access.run_for_viewer(user=request.user, run_id=run_id)
        return Response(CommandSerializer(selectors.run_commands(run), many=True).data)

    @extend_schema(
        tags=TAG,
        summary="Send a run a command",
        request=CommandCreateSerializer,
        responses={201: CommandSerializer, **refusals(409)},
    )
    def post(self, request: Request, run_id: int) -> Response:
        run = access.run_for_steerer(user=request.user, run_id=run_id)
        incoming = CommandCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        command = services.command_request(run=run, user=request.user, **incoming.validated_data)
        return Response(CommandSerializer(command).data, status=status.HTTP_201_CREATED)
