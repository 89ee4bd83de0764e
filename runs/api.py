"""The REST API (``/api/v1/``): thin views over services and selectors."""

from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpResponse
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from keisei.registry import available_trainers, get_trainer
from runs import selectors, services
from runs.downloads import checkpoint_download_response
from runs.models import Checkpoint, GameRecord, Preset, Run
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


def _visible_run(request: Request, run_id: int) -> Run:
    try:
        return selectors.run_get_visible(user=request.user, run_id=run_id)
    except Run.DoesNotExist:
        raise Http404("no such run") from None


def _queued(make) -> Response:
    """Run a queueing service; map its refusals to 400 (bad input) and 429 (a limit)."""
    try:
        run = make()
    except services.RunConfigError as exc:
        return Response(exc.errors, status=status.HTTP_400_BAD_REQUEST)
    except services.QuotaExceeded as exc:
        return Response(
            {"detail": str(exc), "limit": exc.limit, "value": exc.value},
            status=status.HTTP_429_TOO_MANY_REQUESTS,
        )
    return Response(RunSerializer(run).data, status=status.HTTP_201_CREATED)


class RunListCreateApi(ListAPIView):
    """GET: the runs you may see. POST: queue a run (trainer, config, name, priority)."""

    serializer_class = RunSerializer

    def get_queryset(self):
        return selectors.run_list_visible(user=self.request.user)

    def post(self, request: Request) -> Response:
        incoming = RunCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = dict(incoming.validated_data)
        preset = data.pop("preset")

        def queue() -> Run:
            if preset:
                base = services.preset_config(
                    user=request.user, trainer=data["trainer"], preset=preset
                )
                if not isinstance(data["config"], dict):
                    raise services.RunConfigError({"config": ["must be an object"]})
                data["config"] = {**base, **data["config"]}
            return services.run_queue(owner=request.user, **data)

        return _queued(queue)


class RunDetailApi(APIView):
    def get(self, request: Request, run_id: int) -> Response:
        return Response(RunSerializer(_visible_run(request, run_id)).data)


class RunCloneApi(APIView):
    """POST: a fresh run with the same config, owned by you."""

    def post(self, request: Request, run_id: int) -> Response:
        run = _visible_run(request, run_id)
        incoming = RunCloneSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        return _queued(
            lambda: services.run_clone(run=run, user=request.user, **incoming.validated_data)
        )


class RunForkApi(APIView):
    """POST: a new run from one of this run's checkpoints, with config changes."""

    def post(self, request: Request, run_id: int) -> Response:
        run = _visible_run(request, run_id)
        incoming = RunForkSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        checkpoint = run.checkpoints.filter(pk=data["checkpoint"]).first()
        if checkpoint is None:
            return Response(
                {"checkpoint": [f"run {run.pk} has no checkpoint {data['checkpoint']}"]},
                status=status.HTTP_400_BAD_REQUEST,
            )
        return _queued(
            lambda: services.run_fork(
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


class RunCheckpointsApi(APIView):
    """GET: a run's checkpoints, newest step first."""

    def get(self, request: Request, run_id: int) -> Response:
        run = _visible_run(request, run_id)
        return Response(CheckpointSerializer(run.checkpoints.all(), many=True).data)


class CheckpointDownloadApi(APIView):
    def get(self, request: Request, run_id: int, checkpoint_id: int) -> HttpResponse:
        try:
            checkpoint = selectors.checkpoint_get_visible(
                user=request.user, run_id=run_id, checkpoint_id=checkpoint_id
            )
        except (Run.DoesNotExist, Checkpoint.DoesNotExist):
            raise Http404("no such checkpoint") from None
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
        try:
            preset = services.preset_create(owner=request.user, **incoming.validated_data)
        except services.RunConfigError as exc:
            return Response(exc.errors, status=status.HTTP_400_BAD_REQUEST)
        return Response(PresetSerializer(preset).data, status=status.HTTP_201_CREATED)


class PresetDetailApi(APIView):
    """DELETE: remove one of your saved presets."""

    def delete(self, request: Request, preset_id: int) -> Response:
        deleted, _ = Preset.objects.filter(pk=preset_id, owner=request.user).delete()
        if not deleted:
            raise Http404("no such preset of yours")
        return Response(status=status.HTTP_204_NO_CONTENT)


class CheckpointEvaluateApi(APIView):
    """POST: queue a match of this checkpoint against "random" or any checkpoint you may see."""

    def post(self, request: Request, run_id: int, checkpoint_id: int) -> Response:
        try:
            checkpoint = selectors.checkpoint_get_visible(
                user=request.user, run_id=run_id, checkpoint_id=checkpoint_id
            )
        except (Run.DoesNotExist, Checkpoint.DoesNotExist):
            raise Http404("no such checkpoint") from None
        incoming = EvaluationCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        try:
            evaluation = services.evaluation_request(
                user=request.user, checkpoint=checkpoint, **incoming.validated_data
            )
        except services.EvaluationRejected as exc:
            return Response(exc.errors, status=status.HTTP_400_BAD_REQUEST)
        return Response(EvaluationSerializer(evaluation).data, status=status.HTTP_202_ACCEPTED)


class RunEvaluationsApi(APIView):
    """GET: a run's evaluations (the trainer's own and evaluation jobs), newest first."""

    def get(self, request: Request, run_id: int) -> Response:
        run = _visible_run(request, run_id)
        evaluations = run.evaluations.select_related("requested_by")[:500]
        return Response(EvaluationSerializer(evaluations, many=True).data)


class RunGameRecordsApi(APIView):
    """GET: a run's games, newest first, without their texts; ``?source=`` (sample,
    evaluation, selfplay, league) and ``?limit=`` (1-1000, default 100)."""

    def get(self, request: Request, run_id: int) -> Response:
        run = _visible_run(request, run_id)
        query = GameRecordQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        records = selectors.game_records_of(run, source=query.validated_data.get("source"))
        limit = query.validated_data["limit"]
        return Response(GameRecordSerializer(records[:limit], many=True).data)


class GameRecordApi(APIView):
    """GET: one game whole (USI moves, KIF, CSA)."""

    def get(self, request: Request, run_id: int, record_id: int) -> Response:
        try:
            record = selectors.game_record_get_visible(
                user=request.user, run_id=run_id, record_id=record_id
            )
        except (Run.DoesNotExist, GameRecord.DoesNotExist):
            raise Http404("no such game record") from None
        return Response(GameRecordDetailSerializer(record).data)


class LeagueApi(APIView):
    """GET: the league standings; runs you may not see are shown as "hidden run"."""

    def get(self, request: Request) -> Response:
        return Response(
            {
                "k_factor": services.league.K_FACTOR,
                "games_per_match": settings.KEISEI_LEAGUE_GAMES,
                "entries": services.league_standings(user=request.user),
            }
        )
