"""The shapes of the tokens API: what comes in and what goes out."""

from __future__ import annotations

from rest_framework import serializers

from accounts.models import ApiToken
from accounts.services import (
    EXPIRY_DAYS_DEFAULT,
    EXPIRY_DAYS_MAX,
    EXPIRY_DAYS_MIN,
    NAME_MAX_LENGTH,
)


class TokenCreateSerializer(serializers.Serializer):
    name = serializers.CharField(
        min_length=1, max_length=NAME_MAX_LENGTH, help_text="What the token is for: 'laptop cli'."
    )
    expires_in_days = serializers.IntegerField(
        min_value=EXPIRY_DAYS_MIN,
        max_value=EXPIRY_DAYS_MAX,
        allow_null=True,
        default=EXPIRY_DAYS_DEFAULT,
        help_text=f"Days until the token expires ({EXPIRY_DAYS_MIN}..{EXPIRY_DAYS_MAX}, default "
        f"{EXPIRY_DAYS_DEFAULT}); null for a token that never expires.",
    )


class TokenSerializer(serializers.ModelSerializer):
    prefix = serializers.CharField(
        source="token_key", read_only=True, help_text="The key's first characters."
    )
    created_at = serializers.DateTimeField(source="created", read_only=True)
    expires_at = serializers.DateTimeField(
        source="expiry", read_only=True, allow_null=True, help_text="null: never expires."
    )
    last_used_at = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text="To the minute; null: never used."
    )

    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "created_at", "expires_at", "last_used_at"]
        read_only_fields = fields


class TokenCreatedSerializer(TokenSerializer):
    token = serializers.SerializerMethodField(
        help_text="The full key, shown this once: only its hash is stored."
    )

    class Meta(TokenSerializer.Meta):
        fields = [*TokenSerializer.Meta.fields, "token"]
        read_only_fields = fields

    def get_token(self, obj: ApiToken) -> str:
        return str(self.context["key"])
