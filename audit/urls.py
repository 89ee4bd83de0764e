"""The staff's audit pages, mounted under ``/audit/`` by keisei_site.urls."""

from django.urls import path

from audit import views

app_name = "audit"
urlpatterns = [
    path("", views.audit_page, name="entries"),
    path("export.csv", views.audit_export, name="export"),
]
