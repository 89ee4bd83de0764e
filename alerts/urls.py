"""The alerts app's routes: pages (``page_urlpatterns``, under /alerts/) and API
(``api_urlpatterns``, under /api/v1/)."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from alerts import api, views

app_name = "alerts"

page_urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.notifications, name="notifications"),
    path("read/", views.notifications_read, name="notifications-read"),
    path("runs/<int:run_id>/rules/", views.run_rules, name="run-rules"),
    path("webhooks/", views.webhooks, name="webhooks"),
    path("webhooks/new/", views.webhook_create, name="webhook-create"),
    path("webhooks/<int:endpoint_id>/delete/", views.webhook_delete, name="webhook-delete"),
]
api_urlpatterns: list[URLPattern | URLResolver] = [
    path("runs/<int:run_id>/alert-rules/", api.RunAlertRulesApi.as_view(), name="run-rules"),
    path("runs/<int:run_id>/alerts/", api.RunAlertsApi.as_view(), name="run-alerts"),
    path(
        "presets/<int:preset_id>/alert-rules/",
        api.PresetAlertRulesApi.as_view(),
        name="preset-rules",
    ),
    path("alerts/notifications/", api.NotificationsApi.as_view(), name="notifications"),
    path("alerts/notifications/read/", api.NotificationsReadApi.as_view(), name="read"),
    path("alerts/webhooks/", api.WebhooksApi.as_view(), name="webhooks"),
    path(
        "alerts/webhooks/deliveries/",
        api.WebhookDeliveriesApi.as_view(),
        name="deliveries",
    ),
    path("alerts/webhooks/<int:endpoint_id>/", api.WebhookDetailApi.as_view(), name="webhook"),
]
urlpatterns = page_urlpatterns
