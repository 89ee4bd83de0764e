"""API shapes. Validation of configs happens in ``services.config_validate``, not here."""

from __future__ import annotations

from rest_framework import serializers

from runs.models import Command, Run


class RunSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.get_username", read_only=True)
    display_name = serializers.CharField(read_only=True)

    class Meta:
        model = Run
        fields = [
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
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class RunCreateSerializer(serializers.Serializer):
    trainer = serializers.CharField(max_length=64)
    config = serializers.JSONField(required=False, default=dict)
    name = serializers.CharField(max_length=120, required=False, allow_blank=True, default="")


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
