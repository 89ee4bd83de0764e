"""Staff's view of runs and their kin. Actions call the same services as the API and pages;
nothing here saves a whole run row (a worker may have changed it since the page was read)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from monitoring.errors import ApplicationError
from runs import access, services
from runs.models import (
    Checkpoint,
    Command,
    LeagueEntry,
    LeagueMatch,
    Preset,
    Run,
    RunShare,
    UserQuota,
)


class CommandInline(admin.TabularInline):
    model = Command
    extra = 0
    can_delete = False
    fields = readonly_fields = (
        "kind",
        "state",
        "requested_by",
        "created_at",
        "finished_at",
        "error",
    )

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # commands are asked through command_request (pages, API, actions)


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "display_name",
        "owner",
        "trainer",
        "status",
        "priority",
        "progress_pct",
        "attempts",
        "created_at",
        "finished_at",
    ]
    list_filter = ["status", "trainer", "public", "created_at"]
    search_fields = ["name", "owner__username", "trainer", "error"]
    list_editable = ["priority"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "status",
        "step",
        "total_steps",
        "progress",
        "error",
        "created_at",
        "started_at",
        "finished_at",
        "lease_owner",
        "lease_expires_at",
        "attempts",
        "trainer",
        "config",
    ]
    inlines = [CommandInline]
    list_select_related = ["owner"]
    exclude = ["summary"]  # shown read-only as ``ended``, never a form field

    def get_queryset(self, request):
        # Staff see runs through the one access rule too (runs.access), so roles change it once.
        return access.runs_visible(user=request.user)

    actions = ["stop_runs", "cancel_runs", "requeue_runs", "clone_runs"]

    @admin.display(description="progress", ordering="progress")
    def progress_pct(self, run: Run) -> str:
        return f"{run.progress * 100:.0f}%"

    def get_readonly_fields(self, request: HttpRequest, obj: Run | None = None) -> list[str]:
        # Only the name and the priority are edited here, and only through ``run_edit``.
        # The summary is shown as its sentence and its JSON, laid out (``ended``).
        editable = {"name", "priority"}
        fields = [f.name for f in Run._meta.fields if f.name not in editable | {"id", "summary"}]
        return [*fields, "ended", "shared_with"]

    @admin.display(description="shared with")
    def shared_with(self, run: Run) -> str:
        """Whom the run is shared with, read-only: sharing changes go through
        ``services.sharing`` (the run page, the API, the CLI), so each is audited and on the
        run's timeline. (Shown as a field, not an inline: an inline would add a formset that
        every change of the priority would have to carry.)"""
        shares = run.shares.select_related("user", "group")
        names = [f"user {s.user}" if s.user_id else f"group {s.group}" for s in shares]
        return ", ".join(names) or "(nobody)"

    @admin.display(description="summary")
    def ended(self, run: Run) -> str:
        """How the run ended (``services.summaries``), as the run page's card says it."""
        if not run.summary:
            return "(none: the run has not ended)"
        return format_html(
            "{}<pre>{}</pre>",
            services.summary_sentence(run.summary),
            json.dumps(run.summary, indent=2, sort_keys=True),
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # runs are queued through run_queue (the form, the API, the CLI)

    def save_model(self, request: HttpRequest, obj: Run, form: Any, change: bool) -> None:
        """The change form and the list's priority column write only what was changed."""
        changed = {name: form.cleaned_data[name] for name in form.changed_data}
        services.run_edit(run_id=obj.pk, **changed)

    @admin.action(description="Stop the selected runs (after a final checkpoint)")
    def stop_runs(self, request: HttpRequest, queryset: QuerySet[Run]) -> None:
        self._each(request, queryset, "stop asked", _command("stop", request.user))

    @admin.action(description="Cancel the selected queued runs")
    def cancel_runs(self, request: HttpRequest, queryset: QuerySet[Run]) -> None:
        self._each(request, queryset, "cancelled", _command("cancel", request.user))

    @admin.action(description="Requeue the selected failed, stopped or cancelled runs")
    def requeue_runs(self, request: HttpRequest, queryset: QuerySet[Run]) -> None:
        def requeue(run: Run) -> None:
            if not services.run_requeue(run=run, user=request.user):
                raise services.CommandRejected(f"cannot requeue a run that is {run.status}")

        self._each(request, queryset, "requeued", requeue)

    @admin.action(description="Clone the selected runs (new runs, owned by you)")
    def clone_runs(self, request: HttpRequest, queryset: QuerySet[Run]) -> None:
        self._each(
            request, queryset, "cloned", lambda run: services.run_clone(run=run, user=request.user)
        )

    def _each(
        self, request: HttpRequest, queryset: QuerySet[Run], done: str, act: Callable[[Run], Any]
    ) -> None:
        """``act`` on each run; one message for those it did, one per refusal with the reason."""
        ok = 0
        for run in queryset.select_related("owner"):
            try:
                act(run)
                ok += 1
            except ApplicationError as exc:
                self.message_user(request, f"{run}: {exc}", messages.WARNING)
        if ok:
            self.message_user(request, f"{ok} run(s) {done}", messages.SUCCESS)


def _command(kind: str, user: Any) -> Callable[[Run], Any]:
    return lambda run: services.command_request(run=run, user=user, kind=kind)


@admin.register(Command)
class CommandAdmin(admin.ModelAdmin):
    list_display = ["id", "run", "kind", "state", "requested_by", "created_at", "finished_at"]
    list_filter = ["kind", "state"]
    readonly_fields = [f.name for f in Command._meta.fields]


@admin.register(Checkpoint)
class CheckpointAdmin(admin.ModelAdmin):
    list_display = ["id", "run", "step", "kind", "size", "created_at"]
    list_filter = ["kind"]
    search_fields = ["run__name", "sha256"]
    readonly_fields = [f.name for f in Checkpoint._meta.fields]


@admin.register(UserQuota)
class UserQuotaAdmin(admin.ModelAdmin):
    list_display = ["user", "max_running", "max_queued"]
    search_fields = ["user__username"]


@admin.register(Preset)
class PresetAdmin(admin.ModelAdmin):
    list_display = ["name", "trainer", "owner", "shared", "created_at"]
    list_filter = ["trainer", "shared"]
    search_fields = ["name", "owner__username"]


@admin.register(LeagueEntry)
class LeagueEntryAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "checkpoint",
        "builtin",
        "rating",
        "games",
        "wins",
        "draws",
        "losses",
        "is_active",
    ]
    list_filter = ["is_active"]
    search_fields = ["checkpoint__run__name", "checkpoint__run__owner__username", "builtin"]
    readonly_fields = [
        "checkpoint",
        "trainer",
        "builtin",
        "games",
        "wins",
        "draws",
        "losses",
        "entered_at",
    ]
    list_select_related = ["checkpoint"]


@admin.register(LeagueMatch)
class LeagueMatchAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "first",
        "second",
        "wins",
        "draws",
        "losses",
        "rating_change",
        "played_at",
    ]
    readonly_fields = [f.name for f in LeagueMatch._meta.fields]


@admin.register(RunShare)
class RunShareAdmin(admin.ModelAdmin):
    """Every share, to look through; changed only through ``services.sharing`` (audited).
    Who is a viewer is the "viewers" group, managed in the user admin."""

    list_display = ["run", "user", "group", "created_by", "created_at"]
    list_filter = ["group", "created_at"]
    search_fields = ["run__name", "user__username", "group__name"]
    list_select_related = ["run", "user", "group", "created_by"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
