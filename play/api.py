"""``/api/v1/play/``: start a game against a checkpoint, read it, move, resign.

Sync views on purpose: Django runs each on a worker thread, and the network runs on the
analyses' bounded pool (``runs.services.analysis.opponent_use``), never on Daphne's loop.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from monitoring.schema import refusals
from play import selectors, services
from play.models import PlayMode, Side

TAG = ["play"]


class PlayCreateSerializer(serializers.Serializer):
    checkpoint = serializers.CharField(
        help_text="the id of a checkpoint of a run you may see (or checkpoint:<id>)"
    )
    side = serializers.CharField(
        required=False, default=Side.BLACK, help_text="your side: black (moves first) or white"
    )
    mode = serializers.CharField(
        required=False,
        default=PlayMode.GREEDY,
        help_text="greedy: the network's likeliest move; sampled: drawn at the temperature",
    )
    temperature = serializers.JSONField(
        required=False,
        default=None,
        help_text=f"of the sampled mode, from {services.TEMPERATURE_MIN:g} "
        f"to {services.TEMPERATURE_MAX:g} (default {services.TEMPERATURE_DEFAULT:g})",
    )


class PlayMoveSerializer(serializers.Serializer):
    move = serializers.CharField(
        required=False, allow_blank=True, help_text="your move in USI: 7g7f, 8h2b+, P*5e"
    )
    ply = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="the ply count of the position you moved in (a stale one is refused, 409)",
    )


class PlayResignSerializer(serializers.Serializer):
    ply = serializers.IntegerField(required=False, allow_null=True)


class CandidateSerializer(serializers.Serializer):
    usi = serializers.CharField()
    probability = serializers.FloatField()


class PlayAnalysisSerializer(serializers.Serializer):
    value = serializers.FloatField(help_text="the value head, -1..1, for the side to move")
    win_probability = serializers.FloatField(help_text="of the side to move, 0..1")
    top_moves = CandidateSerializer(many=True, help_text="likeliest first")


class PlayStateSerializer(serializers.Serializer):
    sfen = serializers.CharField()
    ply = serializers.IntegerField()
    last_move = serializers.CharField(allow_null=True)
    side_to_move = serializers.ChoiceField(choices=["black", "white"])
    in_check = serializers.BooleanField()
    legal_moves = serializers.ListField(child=serializers.CharField(), help_text="USI")
    over = serializers.BooleanField()
    reason = serializers.CharField(allow_blank=True)
    result = serializers.CharField(allow_blank=True)


class PlayCheckpointSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    step = serializers.IntegerField()
    kind = serializers.CharField()
    run = serializers.IntegerField()
    run_name = serializers.CharField()


class PlayRecordSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    page = serializers.CharField(help_text="the game page of the run")
    kif = serializers.CharField(help_text="KIF download")
    csa = serializers.CharField(help_text="CSA download")


class PlayGameSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    checkpoint = PlayCheckpointSerializer()
    side = serializers.ChoiceField(choices=Side.values, help_text="yours")
    mode = serializers.ChoiceField(choices=PlayMode.values)
    temperature = serializers.FloatField()
    status = serializers.ChoiceField(choices=["active", "finished"])
    result = serializers.CharField(allow_blank=True, help_text="black_win, white_win, draw")
    reason = serializers.CharField(
        allow_blank=True,
        help_text="checkmate, resignation, sennichite, perpetual_check, nyugyoku, max_plies",
    )
    start_sfen = serializers.CharField()
    moves = serializers.ListField(child=serializers.CharField())
    ply = serializers.IntegerField()
    model_move = serializers.CharField(allow_null=True, help_text="the network's last move")
    state = PlayStateSerializer()
    analysis = PlayAnalysisSerializer(
        allow_null=True, help_text="of the position you face (none once over)"
    )
    record = PlayRecordSerializer(allow_null=True, help_text="the stored game, once finished")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class PlayGamesApi(APIView):
    """GET: your recent games; POST: start one."""

    @extend_schema(
        tags=TAG, summary="Your recent games", responses={200: PlayGameSerializer(many=True)}
    )
    def get(self, request: Request) -> Response:
        games = selectors.play_games_recent(user=request.user)
        return Response([selectors.play_game_view(g) for g in games])

    @extend_schema(
        tags=TAG,
        summary="Start a game against a checkpoint (with White, its first move is played)",
        request=PlayCreateSerializer,
        responses={201: PlayGameSerializer, **refusals(400, 404, 409, 503)},
    )
    def post(self, request: Request) -> Response:
        body = PlayCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        game = services.play_game_create(user=request.user, **body.validated_data)
        return Response(selectors.play_game_view(game), status=status.HTTP_201_CREATED)


class PlayGameApi(APIView):
    """GET: one of your games."""

    @extend_schema(
        tags=TAG, summary="One of your games", responses={200: PlayGameSerializer, **refusals(404)}
    )
    def get(self, request: Request, game_id: int) -> Response:
        game = selectors.play_game_for_user(user=request.user, game_id=game_id)
        return Response(selectors.play_game_view(game))


class PlayMoveApi(APIView):
    """POST: your move, answered by the network's."""

    @extend_schema(
        tags=TAG,
        summary="Play a move; the network answers (an illegal move: 400 saying why)",
        request=PlayMoveSerializer,
        responses={200: PlayGameSerializer, **refusals(400, 404, 409, 503)},
    )
    def post(self, request: Request, game_id: int) -> Response:
        game = selectors.play_game_for_user(user=request.user, game_id=game_id)
        body = PlayMoveSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.play_game_move(
            game=game, move=body.validated_data.get("move"), ply=body.validated_data.get("ply")
        )
        return Response(selectors.play_game_view(game))


class PlayResignApi(APIView):
    """POST: resign; the game is stored as a record of the checkpoint's run."""

    @extend_schema(
        tags=TAG,
        summary="Resign (the game is stored, with its KIF and CSA)",
        request=PlayResignSerializer,
        responses={200: PlayGameSerializer, **refusals(404, 409, 503)},
    )
    def post(self, request: Request, game_id: int) -> Response:
        game = selectors.play_game_for_user(user=request.user, game_id=game_id)
        body = PlayResignSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.play_game_resign(game=game, ply=body.validated_data.get("ply"))
        return Response(selectors.play_game_view(game))
