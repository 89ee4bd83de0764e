"""``GET /api/v1/runs/`` filters: each a query parameter; a malformed value is a 400 that
names it (DjangoFilterBackend turns the form's errors into a ``ValidationError``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import django_filters  # type: ignore[import-untyped]
from django.db.models import QuerySet
from django_filters.rest_framework import DjangoFilterBackend  # type: ignore[import-untyped]

from runs.models import TAG_MAX_LENGTH, Run, RunStatus
from runs.selectors.sharing import runs_filter_shared


class RunFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=RunStatus.choices, help_text="runs in this state")
    trainer = django_filters.CharFilter(max_length=64, help_text="runs of this trainer")
    owner = django_filters.CharFilter(
        field_name="owner__username",
        max_length=150,
        help_text="runs of this user (by username); staff only",
    )
    tag = django_filters.CharFilter(
        method="filter_tag", max_length=TAG_MAX_LENGTH, help_text="runs that carry this tag"
    )
    created_after = django_filters.IsoDateTimeFilter(
        field_name="created_at", lookup_expr="gte", help_text="created at or after (ISO 8601)"
    )
    created_before = django_filters.IsoDateTimeFilter(
        field_name="created_at", lookup_expr="lt", help_text="created before (ISO 8601)"
    )
    search = django_filters.CharFilter(
        field_name="name", lookup_expr="icontains", max_length=120, help_text="name contains"
    )

    shared = django_filters.ChoiceFilter(
        method="filter_shared",
        choices=[
            ("own", "runs you own"),
            ("with_me", "others' runs shared with you or your groups"),
            ("public", "public runs"),
        ],
        help_text="own, with_me or public",
    )

    class Meta:
        model = Run
        fields = [
            "status",
            "trainer",
            "owner",
            "tag",
            "created_after",
            "created_before",
            "search",
            "shared",
        ]

    def is_valid(self) -> bool:
        if not super().is_valid():
            return False
        cleaned = self.form.cleaned_data
        user = getattr(self.request, "user", None)
        if cleaned.get("owner") and not getattr(user, "is_staff", False):
            # A refusal, not an empty list: the caller should learn the filter is not theirs.
            self.form.add_error("owner", "only staff may filter by owner")
        for name in ("created_after", "created_before"):
            if cleaned.get(name) is not None:
                try:
                    # PostgreSQL takes UTC offsets up to 15:59 only; ISO 8601 allows more.
                    cleaned[name] = cleaned[name].astimezone(dt.UTC)
                except OverflowError:
                    self.form.add_error(name, "out of the range of dates")
        return not self.form.errors

    def filter_tag(self, queryset: QuerySet[Run], name: str, value: str) -> QuerySet[Run]:
        return queryset.filter(tags__contains=[value])

    def filter_shared(self, queryset: QuerySet[Run], name: str, value: str) -> QuerySet[Run]:
        return runs_filter_shared(queryset, user=getattr(self.request, "user", None), which=value)


class RunFilterBackend(DjangoFilterBackend):
    """``DjangoFilterBackend`` that builds no filter form for a query naming no filter (the
    list's most asked page): such a form filters nothing, and building it (a deep copy of
    every filter) was about a tenth of that page's time (cProfile of bench/api.py's requests,
    in process). A filter named, even empty, goes through the form as before."""

    def filter_queryset(self, request: Any, queryset: QuerySet[Run], view: Any) -> QuerySet[Run]:
        if not any(name in request.query_params for name in RunFilter.base_filters):
            return queryset
        return super().filter_queryset(request, queryset, view)
