"""The audit page's filters, shared with its CSV export (the same query string)."""

from __future__ import annotations

from django import forms

from audit.models import Action
from audit.selectors import AuditFilters


class AuditFilterForm(forms.Form):
    user = forms.CharField(
        required=False, max_length=150, help_text="a username (as it was when it happened)"
    )
    action = forms.ChoiceField(
        required=False,
        choices=[("", "any"), *Action.choices],
        error_messages={"invalid_choice": "choose one of the listed actions"},
    )
    target = forms.RegexField(
        required=False,
        max_length=140,
        regex=r"^[A-Za-z0-9_.]+(:[^\s:]{1,64})?$",
        help_text="a type, or type:id (run:12, token:3, auth.user:5)",
        error_messages={"invalid": "write a type, or type:id, such as run or run:12"},
    )
    since = forms.DateField(
        required=False,
        help_text="from this day (UTC)",
        error_messages={"invalid": "a date as YYYY-MM-DD"},
    )
    until = forms.DateField(
        required=False,
        help_text="up to and including this day (UTC)",
        error_messages={"invalid": "a date as YYYY-MM-DD"},
    )

    def clean(self) -> dict:
        cleaned = super().clean() or {}
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and until < since:
            self.add_error("until", "must not be before the 'since' day")
        return cleaned

    def filters(self) -> AuditFilters:
        data = self.cleaned_data
        target_type, _, target_id = (data.get("target") or "").partition(":")
        return AuditFilters(
            username=(data.get("user") or "").strip(),
            action=data.get("action") or "",
            target_type=target_type,
            target_id=target_id,
            since=data.get("since"),
            until=data.get("until"),
        )
