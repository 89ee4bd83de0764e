"""API shapes. Validation of configs happens in ``services.config_validate``, not here."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from runs import selectors
from runs.models import (
    FINISHED_STATUSES,
    MAX_TAGS,
    NOTES_MAX_LENGTH,
    TAG_PATTERN,
    Checkpoint,
    Command,
    Evaluation,
    GameRecord,
    GameSource,
    Preset,
    Run,
)


# The summary's shape, for the OpenAPI schema (the API writes the stored JSON as it is).
class RunSummaryBestSerializer(serializers.Serializer):
    metric = serializers.CharField(help_text="the trainer's best metric, e.g. charts/val_accuracy")
    mode = serializers.ChoiceField(choices=["max", "min"], help_text="which way is better")
    step = serializers.IntegerField(help_text="the step where it was best (the earliest of equals)")
    value = serializers.FloatField()
    metrics = serializers.DictField(
        child=serializers.FloatField(allow_null=True),
        help_text="every metric at that step (at most 40 keys; per-client keys left out)",
    )


class RunSummaryCheckpointSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    step = serializers.IntegerField()
    kind = serializers.CharField()
    url = serializers.CharField(help_text="the download link of the run page")


class RunSummarySerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=[str(s) for s in FINISHED_STATUSES])
    reason = serializers.CharField(
        help_text='"the budget was spent: 15 of 15 epochs", "stopped by <user>", the error\'s '
        'first line, "cancelled before it started (by <user>)"'
    )
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField()
    duration_s = serializers.FloatField(allow_null=True, help_text="null if it never started")
    step = serializers.IntegerField()
    total = serializers.IntegerField()
    best = RunSummaryBestSerializer(
        allow_null=True, help_text="null when the trainer names no best metric or it has no point"
    )
    final_metrics = serializers.DictField(
        child=serializers.FloatField(allow_null=True),
        help_text="the last value of each key (at most 40; per-client keys left out)",
    )
    checkpoint = RunSummaryCheckpointSerializer(
        allow_null=True,
        help_text="the best-kind checkpoint, else the one at or before the best step, else "
        "the final or newest one; null when the run has none",
    )


@extend_schema_field(RunSummarySerializer)
class RunSummaryField(serializers.JSONField):
    """A run's summary as stored, or null while it has none (it has not ended)."""

    def to_representation(self, value: Any) -> Any:
        return value or None


class RunSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.get_username", read_only=True)
    display_name = serializers.CharField(read_only=True)
    queue_position = serializers.SerializerMethodField()
    summary = RunSummaryField(
        read_only=True,
        allow_null=True,
        help_text="how the run ended, its best step and the checkpoint to use; null until "
        "it ends (docs/api.md, Run summary)",
    )
    waiting_for = serializers.SerializerMethodField(
        help_text="what a queued run waits for beyond its turn (no GPU worker online for a "
        "cuda run); null when nothing"
    )

    class Meta:
        model = Run
        fields = [
            "queue_position",
            "waiting_for",
            "parent",
            "start_checkpoint",
            "id",
            "name",
            "display_name",
            "owner",
            "trainer",
            "config",
            "status",
            "priority",
            "step",
            "total_steps",
            "progress",
            "error",
            "attempts",
            "tags",
            "notes",
            "created_at",
            "started_at",
            "finished_at",
            "summary",
            "public",
        ]
        read_only_fields = fields

    def get_queue_position(self, run: Run) -> int | None:
        positions = self.context.get("queue_positions")  # a list's, computed once for all
        if positions is not None:
            return positions.get(run.pk)
        return selectors.run_queue_position(run)

    def get_waiting_for(self, run: Run) -> str | None:
        return selectors.run_waiting_for(run, capacity=self.context.get("capacity"))

    def to_representation(self, run: Run) -> dict[str, Any]:
        """The declared fields, written out by hand: DRF's per-field machinery took 0.3 ms a
        run, 17 of the 19 ms of a 50-run page (bench/api.py). A test holds it equal to
        ``ModelSerializer.to_representation``, which still describes the schema."""
        return {
            "queue_position": self.get_queue_position(run),
            "waiting_for": self.get_waiting_for(run),
            "parent": run.parent_id,
            "start_checkpoint": run.start_checkpoint_id,
            "id": run.pk,
            "name": run.name,
            "display_name": run.display_name,
            "owner": run.owner.get_username(),
            "trainer": run.trainer,
            "config": run.config,
            "status": run.status,
            "priority": run.priority,
            "step": run.step,
            "total_steps": run.total_steps,
            "progress": run.progress,
            "error": run.error,
            "attempts": run.attempts,
            "tags": run.tags,
            "notes": run.notes,
            "created_at": _datetime(run.created_at),
            "started_at": _datetime(run.started_at),
            "finished_at": _datetime(run.finished_at),
            "summary": run.summary or None,
            "public": run.public,
        }


def _datetime(value: datetime | None) -> str | None:
    """As DRF's DateTimeField writes it (ISO 8601 in the current time zone, UTC as "Z")."""
    if value is None:
        return None
    text = timezone.localtime(value).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


class RunCreateSerializer(serializers.Serializer):
    trainer = serializers.CharField(max_length=64)
    config = serializers.JSONField(required=False, default=dict)
    name = serializers.CharField(max_length=120, required=False, allow_blank=True, default="")
    priority = serializers.IntegerField(required=False, default=0, min_value=-100, max_value=100)
    preset = serializers.CharField(
        max_length=80,
        required=False,
        allow_blank=True,
        default="",
        help_text="start from a trainer's preset (by name) or a saved one (by id)",
    )
    tags = serializers.ListField(
        child=serializers.RegexField(TAG_PATTERN, max_length=40),
        max_length=MAX_TAGS,
        required=False,
        default=list,
        help_text=f"at most {MAX_TAGS}, each 1-40 of [A-Za-z0-9_.:-]",
    )
    notes = serializers.CharField(
        max_length=NOTES_MAX_LENGTH,
        required=False,
        allow_blank=True,
        default="",
        trim_whitespace=False,
    )


class RunUpdateSerializer(serializers.Serializer):
    """PATCH of a run: any of these; ``services.run_edit`` has the last word."""

    name = serializers.CharField(max_length=120, required=False, allow_blank=True)
    tags = serializers.ListField(
        child=serializers.RegexField(TAG_PATTERN, max_length=40),
        max_length=MAX_TAGS,
        required=False,
        help_text=f"replaces the run's tags: at most {MAX_TAGS}, each 1-40 of [A-Za-z0-9_.:-]",
    )
    notes = serializers.CharField(
        max_length=NOTES_MAX_LENGTH, required=False, allow_blank=True, trim_whitespace=False
    )
    priority = serializers.IntegerField(
        min_value=-100, max_value=100, required=False, help_text="only while the run is queued"
    )


class RunSharingSerializer(serializers.Serializer):
    """A run's sharing: ``GET`` answers it, ``PUT`` replaces it whole (names are checked by
    ``services.sharing``, which names the field and every unknown name)."""

    public = serializers.BooleanField(help_text="every signed-in user may watch it (read-only)")
    users = serializers.ListField(
        child=serializers.CharField(max_length=150),
        max_length=200,
        help_text="usernames it is shared with, read-only",
    )
    groups = serializers.ListField(
        child=serializers.CharField(max_length=150),
        max_length=200,
        help_text="group names it is shared with, read-only (every member)",
    )


class CommandSerializer(serializers.ModelSerializer):
    requested_by = serializers.CharField(
        source="requested_by.get_username", read_only=True, default=None
    )

    class Meta:
        model = Command
        fields = [
            "id",
            "kind",
            "params",
            "state",
            "requested_by",
            "created_at",
            "acknowledged_at",
            "finished_at",
            "result",
            "error",
        ]
        read_only_fields = fields


class CommandCreateSerializer(serializers.Serializer):
    kind = serializers.CharField(max_length=16)
    params = serializers.JSONField(required=False, default=dict)


class CheckpointSerializer(serializers.ModelSerializer):
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = Checkpoint
        fields = ["id", "step", "kind", "size", "sha256", "metrics", "created_at", "download_url"]
        read_only_fields = fields

    def get_download_url(self, checkpoint: Checkpoint) -> str:
        return f"/api/v1/runs/{checkpoint.run_id}/checkpoints/{checkpoint.pk}/download/"


class GameRecordSerializer(serializers.ModelSerializer):
    """A game in a list: who played, how it ended, and where its KIF and CSA are."""

    url = serializers.SerializerMethodField()

    class Meta:
        model = GameRecord
        fields = [
            "id",
            "source",
            "step",
            "checkpoint",  # the id of the checkpoint that played it; null when unknown
            "black",
            "white",
            "result",
            "reason",
            "plies",
            "start_sfen",
            "created_at",
            "url",
        ]
        read_only_fields = fields

    def get_url(self, record: GameRecord) -> str:
        return f"/api/v1/runs/{record.run_id}/games/{record.pk}/"


class GameRecordDetailSerializer(GameRecordSerializer):
    """One game whole: its USI moves, KIF and CSA too."""

    class Meta(GameRecordSerializer.Meta):
        fields = [*GameRecordSerializer.Meta.fields, "moves", "kif", "csa"]
        read_only_fields = fields


class GameRecordQuerySerializer(serializers.Serializer):
    # A query field named "source" shadows Field.source in the stubs; DRF reads it rightly.
    source = serializers.ChoiceField(choices=GameSource.choices, required=False)  # type: ignore[assignment]
    limit = serializers.IntegerField(min_value=1, max_value=1000, required=False, default=100)


class RunCloneSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120, required=False, allow_blank=True, default="")


class RunForkSerializer(serializers.Serializer):
    checkpoint = serializers.IntegerField(min_value=1)
    config = serializers.JSONField(required=False, default=dict)
    name = serializers.CharField(max_length=120, required=False, allow_blank=True, default="")


class PresetSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.get_username", read_only=True)

    class Meta:
        model = Preset
        fields = ["id", "name", "trainer", "config", "description", "shared", "owner", "created_at"]
        read_only_fields = ["id", "owner", "created_at"]


class EvaluationSerializer(serializers.ModelSerializer):
    requested_by = serializers.CharField(
        source="requested_by.get_username", read_only=True, default=None
    )

    class Meta:
        model = Evaluation
        fields = [
            "id",
            "run",
            "step",
            "checkpoint",
            "opponent",
            "opponent_checkpoint",
            "state",
            "error",
            "games",
            "wins",
            "draws",
            "losses",
            "win_rate",
            "elo",
            "elo_low",
            "elo_high",
            "data",
            "requested_by",
            "attempts",
            "created_at",
            "finished_at",
        ]
        read_only_fields = fields


class EvaluationCreateSerializer(serializers.Serializer):
    opponent = serializers.JSONField(
        help_text='"random", or the id of a checkpoint of any run you may see'
    )
    games = serializers.IntegerField(min_value=2, max_value=400)
    temperature = serializers.FloatField(
        required=False,
        default=1.0,
        min_value=0.0,
        max_value=10.0,
        help_text="policy temperature of both networks (0: the most likely move, which "
        "makes every pair of games between two networks the same)",
    )
    max_plies = serializers.IntegerField(
        required=False,
        default=None,
        allow_null=True,
        min_value=1,
        max_value=4096,
        help_text="ply cap per game, a draw when reached (default: the run's own)",
    )
