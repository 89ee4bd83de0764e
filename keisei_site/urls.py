from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.permissions import AllowAny

from accounts.urls import page_urlpatterns as account_pages
from alerts.urls import api_urlpatterns as alerts_api
from keisei_site.health import healthz, readyz
from monitoring.errors import api_route_not_found
from monitoring.views import metrics, system_page
from play.urls import api_urlpatterns as play_api
from runs.selectors import user_quota_usage
from runs.urls import api_urlpatterns

# An unknown URL under /api/ answers JSON in the one refusal body, not an HTML page.
handler404 = api_route_not_found


class SchemaView(SpectacularAPIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []


class DocsView(SpectacularSwaggerSplitView):
    """Swagger UI with its start-up script fetched from ``?script`` instead of inline, and its
    page style from a file: the Content-Security-Policy allows neither inline."""

    permission_classes = [AllowAny]
    authentication_classes: list = []
    template_name = "api_docs.html"


urlpatterns = [
    path("", RedirectView.as_view(pattern_name="runs:list", permanent=False), name="home"),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics, name="metrics"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("runs/", include("runs.urls")),
    path("system/", system_page, name="system"),
    path("audit/", include("audit.urls")),  # staff only (docs/security.md, "Audit log")
    path("alerts/", include(("alerts.urls", "alerts"))),
    path("play/", include(("play.urls", "play"))),
    # The account page: tokens from accounts, quotas from runs (a layer above accounts).
    path("account/", include(account_pages(usage=user_quota_usage))),
    path("api/v1/", include(api_urlpatterns)),
    path("api/v1/", include("monitoring.urls")),
    path("api/v1/", include("accounts.urls")),
    path("api/v1/", include((alerts_api, "alerts-api"))),
    path("api/v1/", include((play_api, "play-api"))),
    # The OpenAPI 3 schema (YAML; ?format=json) and its browsable docs: open to anyone, as
    # they describe the API, not its data.
    path("api/schema/", SchemaView.as_view(), name="api-schema"),
    path("api/docs/", DocsView.as_view(url_name="api-schema"), name="api-docs"),
    path("admin/", admin.site.urls),
]
