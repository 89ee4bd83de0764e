"""Writes of the alerts app: rule settings, fired alerts and what they set off (a notification
in the portal, an e-mail, signed webhooks, a pause), read marks, webhook endpoints."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

from celery import current_app
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from alerts.models import (
    Alert,
    DeliveryState,
    Notification,
    RuleSet,
    WebhookDelivery,
    WebhookEndpoint,
)
from alerts.rules import RulesInvalid, rules_validate
from monitoring.errors import NotFound
from monitoring.queues import DEFAULT_QUEUE
from runs.models import CommandKind, Preset, Run, RunStatus
from runs.services.commands import command_request
from runs.services.errors import CommandRejected, FieldsRefused

log = logging.getLogger(__name__)

DELIVER_WEBHOOK_TASK = "alerts.deliver_webhook"
SEND_EMAIL_TASK = "alerts.send_email"
SIGNATURE_HEADER = "X-Keisei-Signature"  # "sha256=<hex HMAC-SHA256 of the body>"
WEBHOOK_ATTEMPTS = 6
WEBHOOK_FIRST_RETRY_SECONDS = 2.0  # then 4, 8, 16, 32: about a minute in all
WEBHOOK_TIMEOUT_SECONDS = 10.0
MAX_ENDPOINTS_PER_USER = 10


class WebhookRefused(FieldsRefused):
    pass


def _refused(errors: RulesInvalid) -> FieldsRefused:
    return FieldsRefused({path: [reason] for path, reason in errors.errors.items()})


# ----- rule settings ----------------------------------------------------------------------


def rules_set_for_run(
    *, run: Run, rules: Any, follows_preset: Preset | None = None, replace: bool = True
) -> RuleSet:
    """Store a run's overrides (validated; errors name ``rules.<rule>.<setting>``). The
    worker's rules pick them up within seconds, while the run trains."""
    try:
        clean = rules_validate(rules)
    except RulesInvalid as exc:
        raise _refused(exc) from exc
    with transaction.atomic():
        ruleset, _ = RuleSet.objects.select_for_update().get_or_create(run=run)
        ruleset.rules = clean if replace else _merged(ruleset.rules, clean)
        ruleset.follows_preset = follows_preset
        ruleset.save()
    return ruleset


def rules_set_for_preset(*, preset: Preset, rules: Any, replace: bool = True) -> RuleSet:
    """Store a preset's overrides: every run whose settings follow the preset gets them."""
    try:
        clean = rules_validate(rules)
    except RulesInvalid as exc:
        raise _refused(exc) from exc
    with transaction.atomic():
        ruleset, _ = RuleSet.objects.select_for_update().get_or_create(preset=preset)
        ruleset.rules = clean if replace else _merged(ruleset.rules, clean)
        ruleset.save()
    return ruleset


def _merged(old: Mapping[str, Any], new: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    merged = {rule: dict(params) for rule, params in old.items()}
    for rule, params in new.items():
        merged.setdefault(rule, {}).update(params)
    return merged


# ----- firing -----------------------------------------------------------------------------


def alert_record(*, run_id: int, message: str, data: Mapping[str, Any]) -> Alert:
    """Store a fired alert with its owner's notification and webhook deliveries; the e-mail
    and the deliveries are sent by the ``default`` queue's workers after commit."""
    with transaction.atomic():
        run = Run.objects.select_related("owner").get(pk=run_id)
        alert = Alert.objects.create(
            run=run,
            rule=str(data["rule"]),
            key=str(data.get("key") or ""),
            step=int(data.get("step") or 0),
            value=data.get("value"),
            threshold=data.get("threshold"),
            message=message,
            evidence=dict(data.get("evidence") or {}),
            paused=bool(data.get("paused")),
        )
        Notification.objects.create(user=run.owner, alert=alert)
        deliveries = [
            WebhookDelivery.objects.create(endpoint=endpoint, alert=alert)
            for endpoint in WebhookEndpoint.objects.filter(owner=run.owner, active=True)
        ]
        ids = [d.pk for d in deliveries]
        has_email = bool(run.owner.email)
        transaction.on_commit(lambda: _send_after_commit(alert.pk, ids, email=has_email))
    return alert


def _send_after_commit(alert_id: int, delivery_ids: list[int], *, email: bool) -> None:
    for delivery_id in delivery_ids:
        current_app.send_task(DELIVER_WEBHOOK_TASK, args=[delivery_id], queue=DEFAULT_QUEUE)
    if email:
        current_app.send_task(SEND_EMAIL_TASK, args=[alert_id], queue=DEFAULT_QUEUE)


def alert_pause(*, run_id: int, alert_id: int | None = None) -> str:
    """Pause the run the way its owner would (a ``pause`` command in their name, which their
    rule settings asked for); '' when asked, else why not (not running, say)."""
    run = Run.objects.select_related("owner").get(pk=run_id)
    if run.status != RunStatus.RUNNING:
        return f"not paused: the run is {run.status}"
    try:
        command_request(run=run, user=run.owner, kind=CommandKind.PAUSE)
    except CommandRejected as exc:
        log.info("run %s: alert %s could not pause it: %s", run_id, alert_id, exc)
        return f"not paused: {exc.message}"
    return ""


# ----- notifications ----------------------------------------------------------------------


def notifications_mark_read(*, user: Any, notification_ids: list[int] | None = None) -> int:
    """Mark the user's notifications read (those named, or all); how many changed."""
    rows = Notification.objects.filter(user=user, read_at__isnull=True)
    if notification_ids is not None:
        rows = rows.filter(pk__in=notification_ids)
    return rows.update(read_at=timezone.now())


# ----- e-mail -----------------------------------------------------------------------------


def alert_email_send(*, alert_id: int) -> bool:
    """E-mail the run's owner about the alert through Django's e-mail backend."""
    alert = Alert.objects.select_related("run", "run__owner").filter(pk=alert_id).first()
    if alert is None or not alert.run.owner.email:
        return False
    run = alert.run
    subject = f"[Keisei] run {run.pk} {run.name or ''}: {alert.rule}".replace("  ", " ")
    body = (
        f"{alert.message}\n\nRun {run.pk} ({run.trainer}), step {alert.step}.\n"
        f"Rule: {alert.rule}; metric: {alert.key or '-'}; value: {alert.value}; "
        f"threshold: {alert.threshold}.\nEvidence: {json.dumps(alert.evidence, sort_keys=True)}\n"
        + ("The run was asked to pause.\n" if alert.paused else "")
    )
    send_mail(subject, body, None, [run.owner.email])
    return True


# ----- webhooks ---------------------------------------------------------------------------


def webhook_endpoint_create(*, user: Any, url: Any, secret: Any = None) -> WebhookEndpoint:
    """A new endpoint for the user's alerts; a secret is made when none is given."""
    errors: dict[str, list[str]] = {}
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        errors["url"] = ["must be an http:// or https:// URL"]
    elif len(url) > 500:
        errors["url"] = ["must be at most 500 characters"]
    if secret is not None and (not isinstance(secret, str) or not 16 <= len(secret) <= 128):
        errors["secret"] = ["must be 16 to 128 characters (or left out to have one made)"]
    if WebhookEndpoint.objects.filter(owner=user).count() >= MAX_ENDPOINTS_PER_USER:
        errors["url"] = [f"at most {MAX_ENDPOINTS_PER_USER} endpoints per user"]
    if errors:
        raise WebhookRefused(errors)
    return WebhookEndpoint.objects.create(
        owner=user, url=url, secret=secret or secrets.token_hex(32)
    )


def webhook_endpoint_delete(*, user: Any, endpoint_id: int) -> None:
    deleted, _ = WebhookEndpoint.objects.filter(owner=user, pk=endpoint_id).delete()
    if not deleted:
        raise NotFound("no such webhook endpoint")


def webhook_signature(secret: str, body: bytes) -> str:
    """The signature header's value: ``sha256=`` and the hex HMAC-SHA256 of the body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def webhook_body(alert: Alert) -> bytes:
    """What an endpoint receives (JSON; docs/alerts.md)."""
    payload = {
        "type": "alert",
        "alert": alert.pk,
        "run": alert.run_id,
        "rule": alert.rule,
        "key": alert.key,
        "step": alert.step,
        "value": alert.value,
        "threshold": alert.threshold,
        "message": alert.message,
        "evidence": alert.evidence,
        "paused": alert.paused,
        "created_at": alert.created_at.isoformat(),
    }
    return json.dumps(payload, sort_keys=True).encode()


def webhook_retry_delay(attempts: int) -> float:
    """Seconds before attempt ``attempts + 1``: doubling from WEBHOOK_FIRST_RETRY_SECONDS."""
    return WEBHOOK_FIRST_RETRY_SECONDS * 2 ** max(0, attempts - 1)


def webhook_deliver(*, delivery_id: int) -> str:
    """One attempt at a delivery; on failure the next is scheduled (exponential backoff)
    until ``WEBHOOK_ATTEMPTS``. Claimed with a conditional update, so a redelivered task
    never sends an attempt twice."""
    delivery = (
        WebhookDelivery.objects.select_related("endpoint", "alert").filter(pk=delivery_id).first()
    )
    if delivery is None or delivery.state != DeliveryState.PENDING:
        return "nothing to do"
    attempt = delivery.attempts + 1
    claimed = WebhookDelivery.objects.filter(
        pk=delivery_id, state=DeliveryState.PENDING, attempts=delivery.attempts
    ).update(attempts=attempt, next_retry_at=None)
    if not claimed:
        return "taken"  # another worker is on this attempt
    body = webhook_body(delivery.alert)
    status, error = _post(delivery.endpoint, body, delivery.alert.pk, attempt)
    now = timezone.now()
    if status is not None and 200 <= status < 300:
        WebhookDelivery.objects.filter(pk=delivery_id).update(
            state=DeliveryState.DELIVERED, status_code=status, last_error="", delivered_at=now
        )
        return "delivered"
    if attempt >= WEBHOOK_ATTEMPTS:
        WebhookDelivery.objects.filter(pk=delivery_id).update(
            state=DeliveryState.FAILED, status_code=status, last_error=error
        )
        return "failed"
    delay = webhook_retry_delay(attempt)
    WebhookDelivery.objects.filter(pk=delivery_id).update(
        status_code=status, last_error=error, next_retry_at=now + dt.timedelta(seconds=delay)
    )
    current_app.send_task(
        DELIVER_WEBHOOK_TASK, args=[delivery_id], queue=DEFAULT_QUEUE, countdown=delay
    )
    return "retrying"


def _post(endpoint: WebhookEndpoint, body: bytes, alert_id: int, attempt: int):
    request = urllib.request.Request(
        endpoint.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "keisei-alerts/1",
            SIGNATURE_HEADER: webhook_signature(endpoint.secret, body),
            "X-Keisei-Alert": str(alert_id),
            "X-Keisei-Attempt": str(attempt),
            "X-Keisei-Timestamp": str(int(time.time())),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_SECONDS) as response:
            return response.status, ""
    except urllib.error.HTTPError as exc:
        return exc.code, f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return None, f"{type(exc).__name__}: {exc}"[:500]
