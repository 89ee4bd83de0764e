"""The REST API (``/api/v1/``): thin views over services and selectors.

Access is ``runs.access``'s; every refusal (``NotFound``, a service's ``ApplicationError``,
DRF's own) is answered by ``monitoring.errors.api_exception_handler`` in one body.
"""

from __future__ import annotations

from django.conf import settings
from django.http.response import HttpResponseBase
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from keisei.registry import available_trainers, get_trainer
from runs import access, selectors, services
from runs.downloads import checkpoint_download_response
from runs.models import Run
from runs.serializers import (
    CheckpointSerializer,
    CommandCreateSerializer,
    CommandSerializer,
    EvaluationCreateSerializer,
    EvaluationSerializer,
    GameRecordDetailSerializer,
    GameRecordQuerySerializer,
    GameRecordSerializer,
    PresetSerializer,
    RunCloneSerializer,
    RunCreateSerializer,
    RunForkSerializer,
    RunSerializer,
)


def _queued(run: Run) -> Response:
    return Response(RunSerializer(run).data, status=status.HTTP_201_CREATED)


class RunListCreateApi(ListAPIView):
    """GET: the runs you may see. POST: queue a run (trainer, config, name, priority)."""

    serializer_class = RunSerializer

    def get_queryset(self):
        return access.runs_visible(user=self.request.user).order_by("-created_at", "-pk")

    def get_serializer_context(self) -> dict:
        # Every queued run's place in one query, not one count per listed run.
        return {**super().get_serializer_context(), "queue_positions": selectors.queue_positions()}

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
    def get(self, request: Request, run_id: int) -> Response:
        run = access.run_for_viewer(user=request.user, run_id=run_id)
        return Response(RunSerializer(run).data)


class RunCloneApi(APIView):
    """POST: a fresh run with the same config, owned by you."""

    def post(self, request: Request, run_id: int) -> Response:
        run = access.run_for_viewer(user=request.user, run_id=run_id)
        incoming = RunCloneSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        return _queued(services.run_clone(run=run, user=request.user, **incoming.validated_data))


class RunForkApi(APIView):
    """POST: a new run from one of this run's checkpoints, with config changes."""

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

    def get(self, request: Request, run_id: int) -> Response:
        run = access.run_for_viewer(user=request.user, run_id=run_id)
        return Response(CommandSerializer(selectors.run_commands(run), many=True).data)

    def post(self, request: Request, run_id: int) -> Response:
        run = access.run_for_steerer(user=request.user, run_id=run_id)
        incoming = CommandCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        command = services.command_request(run=run, user=request.user, **incoming.validated_data)
        return Response(CommandSerializer(command).data, status=status.HTTP_201_CREATED)


class RunCheckpointsApi(APIView):
    """GET: a run's checkpoints, newest step first."""

    def get(self, request: Request, run_id: int) -> Response:
        run = access.run_for_viewer(user=request.user, run_id=run_id)
        return Response(CheckpointSerializer(selectors.run_checkpoints(run), many=True).data)


class CheckpointDownloadApi(APIView):
    def get(self, request: Request, run_id: int, checkpoint_id: int) -> HttpResponseBase:
        checkpoint = access.checkpoint_for_viewer(
            user=request.user, run_id=run_id, checkpoint_id=checkpoint_id
        )
        return checkpoint_download_response(checkpoint)


class PresetListCreateApi(APIView):
    """GET: the trainers' own presets and the saved ones you may use. POST: save one."""

    def get(self, request: Request) -> Response:
        builtin = [
            {"id": name, "name": name, "trainer": trainer, "config": dict(config), "builtin": True}
            for trainer in available_trainers()
            for name, config in get_trainer(trainer).presets.items()
        ]
        saved = PresetSerializer(selectors.preset_list_visible(user=request.user), many=True)
        return Response({"builtin": builtin, "saved": saved.data})

    def post(self, request: Request) -> Response:
        incoming = PresetSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        preset = services.preset_create(owner=request.user, **incoming.validated_data)
        return Response(PresetSerializer(preset).data, status=status.HTTP_201_CREATED)


class PresetDetailApi(APIView):
    """DELETE: remove one of your saved presets."""

    def delete(self, request: Request, preset_id: int) -> Response:
        services.preset_delete(user=request.user, preset_id=preset_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class CheckpointEvaluateApi(APIView):
    """POST: queue a match of this checkpoint against "random" or any checkpoint you may see."""

    def post(self, request: Request, run_id: int, checkpoint_id: int) -> Response:
        checkpoint = access.checkpoint_for_viewer(
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

    def get(self, request: Request, run_id: int) -> Response:
        run = access.run_for_viewer(user=request.user, run_id=run_id)
        return Response(EvaluationSerializer(selectors.run_evaluations(run), many=True).data)


class RunGameRecordsApi(APIView):
    """GET: a run's games, newest first, without their texts; ``?source=`` (sample,
    evaluation, selfplay, league) and ``?limit=`` (1-1000, default 100)."""

    def get(self, request: Request, run_id: int) -> Response:
        run = access.run_for_viewer(user=request.user, run_id=run_id)
        query = GameRecordQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        records = selectors.game_records_of(run, source=query.validated_data.get("source"))
        limit = query.validated_data["limit"]
        return Response(GameRecordSerializer(records[:limit], many=True).data)


class GameRecordApi(APIView):
    """GET: one game whole (USI moves, KIF, CSA)."""

    def get(self, request: Request, run_id: int, record_id: int) -> Response:
        record = access.game_record_for_viewer(
            user=request.user, run_id=run_id, record_id=record_id
        )
        return Response(GameRecordDetailSerializer(record).data)


class LeagueApi(APIView):
    """GET: the league standings; runs you may not see are shown as "hidden run"."""

    def get(self, request: Request) -> Response:
        return Response(
            {
                "k_factor": services.league.K_FACTOR,
                "games_per_match": settings.KEISEI_LEAGUE_GAMES,
                "entries": selectors.league_standings(user=request.user),
            }
        )
