from django.contrib import admin

from runs.models import Checkpoint, Command, LeagueEntry, LeagueMatch, Preset, Run, UserQuota


class CommandInline(admin.TabularInline):
    model = Command
    extra = 0
    can_delete = False
    fields = ["kind", "state", "requested_by", "created_at", "finished_at", "error"]
    readonly_fields = fields


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
    list_filter = ["status", "trainer", "created_at"]
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

    @admin.display(description="progress", ordering="progress")
    def progress_pct(self, run: Run) -> str:
        return f"{run.progress * 100:.0f}%"


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
    list_display = ["id", "checkpoint", "rating", "games", "wins", "draws", "losses", "is_active"]
    list_filter = ["is_active"]
    search_fields = ["checkpoint__run__name", "checkpoint__run__owner__username"]
    readonly_fields = ["checkpoint", "games", "wins", "draws", "losses", "entered_at"]
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
