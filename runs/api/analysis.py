"""Analysis on the board: a checkpoint's view of one position, or of every position of a game.

Sync views on purpose: Django runs each on a worker thread, so the network never holds up
Daphne's event loop; ``runs.services.analysis`` bounds how many run at once.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from monitoring.schema import refusals
from runs import access
from runs.services import analysis

TAG = ["analysis"]


class PositionQuerySerializer(serializers.Serializer):
    sfen = serializers.CharField(
        max_length=200, help_text="the position: '<board> <b|w> <hands> [<move number>]'"
    )
    checkpoint = serializers.IntegerField(
        min_value=1, required=False, help_text="a checkpoint id of this run; default its newest"
    )
    top_k = serializers.IntegerField(
        min_value=1,
        max_value=analysis.TOP_K_MAX,
        required=False,
        default=5,
        help_text="how many candidate moves",
    )


class GameQuerySerializer(serializers.Serializer):
    checkpoint = serializers.IntegerField(
        min_value=1,
        required=False,
        help_text="a checkpoint id of this run; default the one that played the game",
    )


class CandidateMoveSerializer(serializers.Serializer):
    usi = serializers.CharField(help_text="the move in USI: 7g7f, 8h2b+, P*5e")
    probability = serializers.FloatField(help_text="the policy's probability, 0..1")


class AnalysisCheckpointSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    step = serializers.IntegerField()
    kind = serializers.CharField()


class GameCheckpointSerializer(AnalysisCheckpointSerializer):
    why = serializers.ChoiceField(
        choices=["played", "nearest", "latest", "chosen"],
        help_text="played: it played the game (or was saved at the game's step); nearest: the "
        "newest before the game's step; latest: the run's newest; chosen: asked for",
    )


class PositionAnalysisSerializer(serializers.Serializer):
    checkpoint = AnalysisCheckpointSerializer()
    sfen = serializers.CharField(help_text="the position, normalised")
    side_to_move = serializers.ChoiceField(choices=["black", "white"])
    win_probability = serializers.FloatField(
        help_text="the value head's expected score of the side to move, 0..1 (a draw is half)"
    )
    black_win_probability = serializers.FloatField(help_text="the same for Black (sente)")
    legal_moves = serializers.IntegerField()
    top_moves = CandidateMoveSerializer(many=True, help_text="likeliest first")
    policy_by_square = serializers.DictField(
        child=serializers.FloatField(),
        help_text="USI square (1a..9i) -> the policy's probability of moving there; sums to 1",
    )


class PlyAnalysisSerializer(serializers.Serializer):
    ply = serializers.IntegerField(help_text="0 is the start position")
    sfen = serializers.CharField()
    side_to_move = serializers.ChoiceField(choices=["black", "white"])
    win_probability = serializers.FloatField(help_text="of the side to move, 0..1")
    black_win_probability = serializers.FloatField(help_text="of Black (sente), 0..1")
    top_moves = CandidateMoveSerializer(many=True, help_text="the top 3, likeliest first")


class GameAnalysisSerializer(serializers.Serializer):
    record = serializers.IntegerField()
    checkpoint = GameCheckpointSerializer()
    complete = serializers.BooleanField(
        help_text="false when a move of the record is illegal: plies stop before it"
    )
    plies = PlyAnalysisSerializer(many=True)


class RunAnalysisApi(APIView):
    """GET: what a checkpoint of this run makes of a position."""

    @extend_schema(
        tags=TAG,
        summary="Analyse a position: win probability, top moves, policy per square",
        parameters=[PositionQuerySerializer],
        responses={200: PositionAnalysisSerializer, **refusals(409, 503)},
    )
    def get(self, request: Request, run_id: int) -> Response:
        run = access.run_for_viewer(user=request.user, run_id=run_id)
        query = PositionQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        answer = analysis.analysis_of_position(
            run=run,
            sfen=query.validated_data["sfen"],
            checkpoint_id=query.validated_data.get("checkpoint"),
            top_k=query.validated_data["top_k"],
        )
        return Response(answer)


class GameAnalysisApi(APIView):
    """GET: every position of a stored game, analysed by one checkpoint of its run."""

    @extend_schema(
        tags=TAG,
        summary="Analyse a stored game: win probability and top moves at every ply",
        parameters=[GameQuerySerializer],
        responses={200: GameAnalysisSerializer, **refusals(409, 503)},
    )
    def get(self, request: Request, run_id: int, record_id: int) -> Response:
        record = access.game_record_for_viewer(
            user=request.user, run_id=run_id, record_id=record_id
        )
        query = GameQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        answer = analysis.analysis_of_game(
            record=record, checkpoint_id=query.validated_data.get("checkpoint")
        )
        return Response(answer)
