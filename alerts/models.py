"""Alerts: rule settings, fired alerts, notifications, webhook endpoints and their deliveries."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class RuleSet(models.Model):
    """Overrides of the rule defaults for one run or one preset (exactly one of the two).

    A run's settings may follow a preset's: the rules are the trainer's defaults, then the
    preset's overrides, then the run's own (``alerts.rules.rules_effective``)."""

    run = models.OneToOneField(
        "runs.Run", null=True, blank=True, on_delete=models.CASCADE, related_name="alert_rules"
    )
    preset = models.OneToOneField(
        "runs.Preset", null=True, blank=True, on_delete=models.CASCADE, related_name="alert_rules"
    )
    follows_preset = models.ForeignKey(
        "runs.Preset",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="a run's settings start from this preset's",
    )
    rules = models.JSONField(default=dict, blank=True, help_text="{rule: {setting: value}}")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(run__isnull=False, preset__isnull=True)
                | Q(run__isnull=True, preset__isnull=False),
                name="alert_ruleset_run_xor_preset",
            )
        ]

    def __str__(self) -> str:
        return f"rules of run {self.run_id}" if self.run_id else f"rules of preset {self.preset_id}"


class Alert(models.Model):
    """A rule that fired on a run; its event in the timeline carries the same data."""

    run = models.ForeignKey("runs.Run", on_delete=models.CASCADE, related_name="alerts")
    rule = models.CharField(max_length=40)
    key = models.CharField(max_length=100, blank=True, help_text="the metric it concerns")
    step = models.BigIntegerField()
    value = models.FloatField(null=True, blank=True, help_text="empty when not finite")
    threshold = models.FloatField(null=True, blank=True)
    message = models.TextField()
    evidence = models.JSONField(default=dict, blank=True)
    paused = models.BooleanField(default=False, help_text="the rule asked to pause the run")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["run", "-created_at"], name="alert_run_created")]

    def __str__(self) -> str:
        return f"{self.rule} on run {self.run_id} at step {self.step}"


class Notification(models.Model):
    """An alert as a person's portal sees it: read or not."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="alert_notifications"
    )
    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="notifications")
    read_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "read_at"], name="notification_user_read")]
        constraints = [
            models.UniqueConstraint(fields=["user", "alert"], name="notification_user_alert")
        ]

    def __str__(self) -> str:
        return f"{self.alert} for {self.user_id}"


class WebhookEndpoint(models.Model):
    """Where a user's alerts are POSTed, signed with ``secret`` (HMAC-SHA256 of the body)."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhook_endpoints"
    )
    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=128)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.url


class DeliveryState(models.TextChoices):
    PENDING = "pending"  # waiting for its next attempt
    DELIVERED = "delivered"
    FAILED = "failed"  # every attempt failed


class WebhookDelivery(models.Model):
    """One alert sent to one endpoint: its attempts, last answer and next retry."""

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="deliveries")
    state = models.CharField(
        max_length=20, choices=DeliveryState.choices, default=DeliveryState.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    next_retry_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "alert"], name="delivery_endpoint_alert")
        ]

    def __str__(self) -> str:
        return f"alert {self.alert_id} to {self.endpoint_id}: {self.state}"
