"""Response bodies of the API that are not a model's: trainers, ``me``, presets, the league.
They render those answers and describe them in the OpenAPI schema."""

from __future__ import annotations

from rest_framework import serializers

from runs.serializers import PresetSerializer


class TrainerSerializer(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    capabilities = serializers.ListField(
        child=serializers.CharField(), help_text="plays_games, has_board, analyses_positions"
    )
    config_schema = serializers.JSONField(help_text="the JSON Schema of the trainer's config")
    presets = serializers.DictField(
        child=serializers.JSONField(), help_text="preset name -> partial config"
    )


class ConfigValidateSerializer(serializers.Serializer):
    config = serializers.JSONField(
        required=False, default=dict, help_text="config fields; omitted ones take their defaults"
    )


class ConfigValidatedSerializer(serializers.Serializer):
    config = serializers.JSONField(help_text="the full config, every default filled in")


class QuotaSerializer(serializers.Serializer):
    max_running = serializers.IntegerField()
    max_queued = serializers.IntegerField()
    max_storage_bytes = serializers.IntegerField(
        help_text="bytes of stored checkpoints over all your runs"
    )
    max_run_checkpoint_bytes = serializers.IntegerField(
        help_text="bytes of stored checkpoints one run may hold (the site's)"
    )


class UsageSerializer(serializers.Serializer):
    running = serializers.IntegerField(help_text="your runs running or paused")
    queued = serializers.IntegerField(help_text="your runs waiting in the queue")
    storage_bytes = serializers.IntegerField(help_text="bytes of your stored checkpoints")


class MeSerializer(serializers.Serializer):
    username = serializers.CharField()
    is_staff = serializers.BooleanField()
    role = serializers.ChoiceField(
        choices=["staff", "trainer", "viewer"],
        help_text="viewer: sees runs shared with them or public, never queues; trainer: owns runs",
    )
    quota = QuotaSerializer()
    usage = UsageSerializer()


class BuiltinPresetSerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    trainer = serializers.CharField()
    config = serializers.JSONField()
    builtin = serializers.BooleanField()


class PresetListSerializer(serializers.Serializer):
    builtin = BuiltinPresetSerializer(many=True)
    saved = PresetSerializer(many=True)


class LeagueSerializer(serializers.Serializer):
    k_factor = serializers.FloatField()
    games_per_match = serializers.IntegerField()
    entries = serializers.ListField(
        child=serializers.DictField(),
        help_text="strongest first; see docs/api.md (League) for an entry's fields",
    )
