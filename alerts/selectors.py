"""Reads of the alerts app: a run's effective rules, alerts, notifications, webhooks."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from alerts.models import Alert, Notification, RuleSet, WebhookDelivery, WebhookEndpoint
from alerts.rules import DESCRIPTIONS, RULES, rules_effective
from runs.models import Preset, Run


def rules_layers(*, run: Run) -> tuple[list[dict[str, Any]], Any]:
    """The run's overrides in the order they apply (its preset's, then its own), and a stamp
    that changes whenever either does (the worker reloads on a new stamp)."""
    own = RuleSet.objects.filter(run=run).select_related("follows_preset").first()
    layers: list[dict[str, Any]] = []
    stamp: list[Any] = []
    if own is not None and own.follows_preset_id is not None:
        preset_rules = RuleSet.objects.filter(preset_id=own.follows_preset_id).first()
        if preset_rules is not None:
            layers.append(dict(preset_rules.rules))
            stamp.append(preset_rules.updated_at)
    if own is not None:
        layers.append(dict(own.rules))
        stamp += [own.updated_at, own.follows_preset_id]
    return layers, tuple(stamp)


def rules_for_run(*, run: Run) -> dict[str, Any]:
    """What the rules page and API show: every rule's effective settings, the run's own
    overrides, the preset it follows and the preset's overrides."""
    own = RuleSet.objects.filter(run=run).first()
    layers, _ = rules_layers(run=run)
    preset_rules = {}
    if own is not None and own.follows_preset_id is not None:
        found = RuleSet.objects.filter(preset_id=own.follows_preset_id).first()
        preset_rules = dict(found.rules) if found else {}
    return {
        "trainer": run.trainer,
        "effective": rules_effective(trainer=run.trainer, layers=layers),
        "overrides": dict(own.rules) if own else {},
        "follows_preset": own.follows_preset_id if own else None,
        "preset_overrides": preset_rules,
        "descriptions": DESCRIPTIONS,
    }


def rules_for_preset(*, preset: Preset) -> dict[str, Any]:
    own = RuleSet.objects.filter(preset=preset).first()
    overrides = dict(own.rules) if own else {}
    return {
        "trainer": preset.trainer,
        "effective": rules_effective(trainer=preset.trainer, layers=[overrides]),
        "overrides": overrides,
        "descriptions": DESCRIPTIONS,
    }


def rule_names() -> list[str]:
    return list(RULES)


def alerts_of_run(*, run: Run) -> QuerySet[Alert]:
    return Alert.objects.filter(run=run)


def notifications_of(*, user: Any) -> QuerySet[Notification]:
    return Notification.objects.filter(user=user).select_related("alert", "alert__run")


def notifications_unread_count(*, user: Any) -> int:
    """For the header's badge (context name ``alerts_unread``)."""
    if not getattr(user, "is_authenticated", False):
        return 0
    return Notification.objects.filter(user=user, read_at__isnull=True).count()


def webhook_endpoints_of(*, user: Any) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(owner=user)


def webhook_deliveries_of(*, user: Any, limit: int = 100) -> list[WebhookDelivery]:
    """The delivery log of the user's endpoints, newest first."""
    return list(
        WebhookDelivery.objects.filter(endpoint__owner=user).select_related("endpoint", "alert")[
            :limit
        ]
    )
