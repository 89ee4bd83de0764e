from django.contrib import admin

from play.models import PlayGame


@admin.register(PlayGame)
class PlayGameAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "user",
        "checkpoint",
        "side",
        "mode",
        "status",
        "ply",
        "result",
        "updated_at",
    )
    list_filter = ("status", "mode", "side")
    search_fields = ("user__username",)
    raw_id_fields = ("user", "checkpoint", "record")
    readonly_fields = ("moves", "ply", "state", "analysis", "created_at", "updated_at")
