"""The alerts pages: notifications, a run's rules, webhooks and their delivery log."""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from alerts import selectors, services
from monitoring.errors import ApplicationError
from runs import access
from runs.pages import redirect_on_refusal
from runs.services.errors import FieldsRefused


@login_required
@require_http_methods(["GET", "HEAD"])
def notifications(request: HttpRequest) -> HttpResponse:
    """Your alerts, newest first; unread ones stand out."""
    rows = selectors.notifications_of(user=request.user)[:200]
    return render(
        request,
        "alerts/notifications.html",
        {"notifications": rows, "unread": selectors.notifications_unread_count(user=request.user)},
    )


@login_required
@require_POST
def notifications_read(request: HttpRequest) -> HttpResponse:
    """Mark one notification (``id``) or all of them read."""
    raw = request.POST.get("id")
    ids = [int(raw)] if raw and raw.isdigit() else None
    services.notifications_mark_read(user=request.user, notification_ids=ids)
    return redirect("alerts:notifications")


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def run_rules(request: HttpRequest, run_id: int) -> HttpResponse:
    """A run's rules: every rule's effective settings; the owner (and staff) may change the
    run's overrides (JSON) and the preset they follow."""
    run = access.run_for_viewer(user=request.user, run_id=run_id)
    may_steer = access.may_steer_run(user=request.user, run=run)
    text = None
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        run = access.run_for_steerer(user=request.user, run_id=run_id)
        text = request.POST.get("rules", "")
        try:
            rules = json.loads(text or "{}")
            preset_id = request.POST.get("follows_preset") or None
            preset = None
            if preset_id is not None:
                preset = access.presets_owned(user=request.user).filter(pk=preset_id).first()
                if preset is None:
                    raise FieldsRefused({"follows_preset": ["no such preset of yours"]})
            services.rules_set_for_run(run=run, rules=rules, follows_preset=preset)
        except json.JSONDecodeError as exc:
            errors = {"rules": [f"not JSON: {exc}"]}
        except ApplicationError as exc:
            errors = exc.fields or {"rules": [exc.message]}
        if not errors:
            messages.success(request, "Alert rules saved; a training run picks them up at once.")
            return redirect("alerts:run-rules", run_id=run.pk)
    rules = selectors.rules_for_run(run=run)
    return render(
        request,
        "alerts/run_rules.html",
        {
            "run": run,
            "rules": rules,
            "may_steer": may_steer,
            "text": text if text is not None else json.dumps(rules["overrides"], indent=2),
            "errors": errors,
            "presets": access.presets_owned(user=request.user).filter(trainer=run.trainer)
            if may_steer
            else [],
            "alerts": selectors.alerts_of_run(run=run)[:50],
        },
        status=400 if errors else 200,
    )


@login_required
@require_http_methods(["GET", "HEAD"])
def webhooks(request: HttpRequest) -> HttpResponse:
    """Your webhook endpoints and their delivery log."""
    return render(
        request,
        "alerts/webhooks.html",
        {
            "endpoints": selectors.webhook_endpoints_of(user=request.user),
            "deliveries": selectors.webhook_deliveries_of(user=request.user),
            "signature_header": services.SIGNATURE_HEADER,
        },
    )


@login_required
@require_POST
@redirect_on_refusal("alerts:webhooks")
def webhook_create(request: HttpRequest) -> HttpResponse:
    endpoint = services.webhook_endpoint_create(
        user=request.user,
        url=request.POST.get("url", ""),
        secret=request.POST.get("secret") or None,
    )
    messages.success(request, f"Webhook added; its secret is {endpoint.secret}")
    return redirect("alerts:webhooks")


@login_required
@require_POST
def webhook_delete(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    services.webhook_endpoint_delete(user=request.user, endpoint_id=endpoint_id)
    messages.success(request, "Webhook removed.")
    return redirect("alerts:webhooks")
