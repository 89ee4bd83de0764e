"""Monitoring's API routes, mounted under ``/api/v1/`` by ``keisei_site.urls``."""

from django.urls import path

from monitoring import api, events_api

urlpatterns = [
    path("runs/<int:run_id>/metrics/", api.MetricHistoryApi.as_view(), name="metrics-history"),
    path("runs/<int:run_id>/metrics/keys/", api.MetricKeysApi.as_view(), name="metrics-keys"),
    path("runs/<int:run_id>/metrics.csv", api.MetricCsvApi.as_view(), name="metrics-csv"),
    path("metrics/compare/", api.MetricCompareApi.as_view(), name="metrics-compare"),
    path("runs/<int:run_id>/events/", events_api.RunEventsApi.as_view(), name="run-events"),
]

from monitoring import system_api  # noqa: E402

urlpatterns.append(path("system/", system_api.SystemApi.as_view(), name="api-system"))
