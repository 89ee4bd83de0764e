"""Staff see every alert, notification, rule set, webhook endpoint and delivery."""

from django.contrib import admin

from alerts.models import Alert, Notification, RuleSet, WebhookDelivery, WebhookEndpoint


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "run",
        "rule",
        "key",
        "step",
        "value",
        "threshold",
        "paused",
        "created_at",
    )
    list_filter = ("rule", "paused")
    search_fields = ("message", "run__name")
    raw_id_fields = ("run",)


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("id", "user", "alert", "read_at", "created_at")
    raw_id_fields = ("user", "alert")


@admin.register(RuleSet)
class RuleSetAdmin(admin.ModelAdmin):
    list_display = ("id", "run", "preset", "follows_preset", "updated_at")
    raw_id_fields = ("run", "preset", "follows_preset")


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = ("id", "owner", "url", "active", "created_at")
    raw_id_fields = ("owner",)
    exclude = ("secret",)  # staff manage endpoints, they do not read their owners' secrets


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "endpoint",
        "alert",
        "state",
        "attempts",
        "status_code",
        "next_retry_at",
        "delivered_at",
    )
    list_filter = ("state",)
    raw_id_fields = ("endpoint", "alert")
