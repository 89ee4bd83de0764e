"""The alerts API: a run's rules and alerts, a preset's rules, notifications, webhooks."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from alerts import selectors, services
from alerts.models import Alert, Notification, WebhookDelivery, WebhookEndpoint
from monitoring.errors import NotFound
from monitoring.schema import refusals
from runs import access
from runs.models import Preset
from runs.services.errors import FieldsRefused


class AlertSerializer(serializers.ModelSerializer):
    class Meta:
        model = Alert
        fields = [
            "id",
            "run",
            "rule",
            "key",
            "step",
            "value",
            "threshold",
            "message",
            "evidence",
            "paused",
            "created_at",
        ]


class NotificationSerializer(serializers.ModelSerializer):
    alert = AlertSerializer()

    class Meta:
        model = Notification
        fields = ["id", "alert", "read_at", "created_at"]


class RulesSerializer(serializers.Serializer):
    rules = serializers.DictField(
        help_text="{rule: {setting: value}}: the overrides (validated; errors name "
        "rules.<rule>.<setting>)"
    )
    follows_preset = serializers.IntegerField(
        required=False, allow_null=True, help_text="a preset of yours whose rules come first"
    )


class PresetRulesSerializer(serializers.Serializer):
    rules = serializers.DictField(help_text="{rule: {setting: value}}")


class MarkReadSerializer(serializers.Serializer):
    ids = serializers.ListField(
        child=serializers.IntegerField(), required=False, help_text="none: all of them"
    )


class WebhookEndpointSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookEndpoint
        fields = ["id", "url", "secret", "active", "created_at"]
        read_only_fields = ["id", "active", "created_at"]
        extra_kwargs = {"secret": {"required": False}, "url": {"validators": []}}


class WebhookCreateSerializer(serializers.Serializer):
    url = serializers.CharField(help_text="http(s) URL the alerts are POSTed to")
    secret = serializers.CharField(
        required=False, help_text="16-128 characters; made for you when left out"
    )


class DeliverySerializer(serializers.ModelSerializer):
    url = serializers.CharField(source="endpoint.url")
    run = serializers.IntegerField(source="alert.run_id")
    rule = serializers.CharField(source="alert.rule")

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "endpoint",
            "url",
            "alert",
            "run",
            "rule",
            "state",
            "attempts",
            "status_code",
            "last_error",
            "next_retry_at",
            "delivered_at",
            "created_at",
        ]


def _follows(request: Request, value: Any) -> Preset | None:
    if value is None:
        return None
    preset = access.presets_owned(user=request.user).filter(pk=value).first()
    if preset is None:
        raise FieldsRefused({"follows_preset": ["no such preset of yours"]})
    return preset


class RunAlertRulesApi(APIView):
    """GET: a run's rules (effective, with its overrides). PUT: replace its overrides."""

    @extend_schema(tags=["alerts"], summary="A run's alert rules")
    def get(self, request: Request, run_id: int) -> Response:
        run = access.run_for_viewer(user=request.user, run_id=run_id)
        return Response(selectors.rules_for_run(run=run))

    @extend_schema(
        tags=["alerts"],
        summary="Tune a run's alert rules (picked up within seconds while it trains)",
        request=RulesSerializer,
        responses={200: OpenApiResponse(description="the rules"), **refusals(400, 403, 404)},
    )
    def put(self, request: Request, run_id: int) -> Response:
        run = access.run_for_steerer(user=request.user, run_id=run_id)
        incoming = RulesSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        preset = _follows(request, incoming.validated_data.get("follows_preset"))
        services.rules_set_for_run(
            run=run, rules=incoming.validated_data["rules"], follows_preset=preset
        )
        return Response(selectors.rules_for_run(run=run))


class PresetAlertRulesApi(APIView):
    """GET/PUT: the alert rules of one of your presets."""

    def _preset(self, request: Request, preset_id: int) -> Preset:
        preset = access.presets_owned(user=request.user).filter(pk=preset_id).first()
        if preset is None:
            raise NotFound("no such preset")
        return preset

    @extend_schema(tags=["alerts"], summary="A preset's alert rules")
    def get(self, request: Request, preset_id: int) -> Response:
        return Response(selectors.rules_for_preset(preset=self._preset(request, preset_id)))

    @extend_schema(
        tags=["alerts"],
        summary="Tune a preset's alert rules",
        request=PresetRulesSerializer,
        responses={200: OpenApiResponse(description="the rules"), **refusals(400, 404)},
    )
    def put(self, request: Request, preset_id: int) -> Response:
        preset = self._preset(request, preset_id)
        incoming = PresetRulesSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        services.rules_set_for_preset(preset=preset, rules=incoming.validated_data["rules"])
        return Response(selectors.rules_for_preset(preset=preset))


class RunAlertsApi(APIView):
    @extend_schema(
        tags=["alerts"],
        summary="The alerts a run fired",
        responses={200: AlertSerializer(many=True)},
    )
    def get(self, request: Request, run_id: int) -> Response:
        run = access.run_for_viewer(user=request.user, run_id=run_id)
        return Response(AlertSerializer(selectors.alerts_of_run(run=run)[:500], many=True).data)


class NotificationsApi(APIView):
    @extend_schema(
        tags=["alerts"],
        summary="Your alert notifications, newest first, and how many are unread",
    )
    def get(self, request: Request) -> Response:
        rows = selectors.notifications_of(user=request.user)[:200]
        return Response(
            {
                "unread": selectors.notifications_unread_count(user=request.user),
                "results": NotificationSerializer(rows, many=True).data,
            }
        )


class NotificationsReadApi(APIView):
    @extend_schema(
        tags=["alerts"],
        summary="Mark notifications read (those named, or all)",
        request=MarkReadSerializer,
        responses={200: OpenApiResponse(description="{marked: n}"), **refusals(400)},
    )
    def post(self, request: Request) -> Response:
        incoming = MarkReadSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        marked = services.notifications_mark_read(
            user=request.user, notification_ids=incoming.validated_data.get("ids")
        )
        return Response({"marked": marked})


class WebhooksApi(APIView):
    """GET: your webhook endpoints. POST: add one (its secret is shown in the answer)."""

    @extend_schema(tags=["alerts"], responses={200: WebhookEndpointSerializer(many=True)})
    def get(self, request: Request) -> Response:
        rows = selectors.webhook_endpoints_of(user=request.user)
        return Response(WebhookEndpointSerializer(rows, many=True).data)

    @extend_schema(
        tags=["alerts"],
        request=WebhookCreateSerializer,
        responses={201: WebhookEndpointSerializer, **refusals(400)},
    )
    def post(self, request: Request) -> Response:
        incoming = WebhookCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        endpoint = services.webhook_endpoint_create(user=request.user, **incoming.validated_data)
        return Response(WebhookEndpointSerializer(endpoint).data, status=status.HTTP_201_CREATED)


class WebhookDetailApi(APIView):
    @extend_schema(
        tags=["alerts"], responses={204: OpenApiResponse(description="deleted"), **refusals(404)}
    )
    def delete(self, request: Request, endpoint_id: int) -> Response:
        services.webhook_endpoint_delete(user=request.user, endpoint_id=endpoint_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookDeliveriesApi(APIView):
    @extend_schema(
        tags=["alerts"],
        summary="The delivery log of your webhook endpoints, newest first",
        responses={200: DeliverySerializer(many=True)},
    )
    def get(self, request: Request) -> Response:
        rows = selectors.webhook_deliveries_of(user=request.user)
        return Response(DeliverySerializer(rows, many=True).data)
