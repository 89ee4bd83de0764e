"""The tokens API, mounted under ``/api/v1/`` by keisei_site.urls, and the account page's
routes (``page_urlpatterns``), mounted under ``/account/``."""

from django.urls import URLPattern, path

from accounts import api, views

urlpatterns = [
    path("tokens/", api.TokenListCreateApi.as_view(), name="api-tokens"),
    path("tokens/current/", api.TokenCurrentApi.as_view(), name="api-token-current"),
    path("tokens/<int:token_id>/", api.TokenDetailApi.as_view(), name="api-token"),
]


def page_urlpatterns(*, usage: views.UsageReader | None = None) -> list[URLPattern]:
    """The account page's routes; ``usage`` reads a user's quotas (from a layer above)."""
    extra = {"usage": usage}
    return [
        path("", views.account_page, extra, name="account"),
        path("tokens/", views.token_create_page, extra, name="account-token-create"),
        path(
            "tokens/<int:token_id>/revoke/",
            views.token_revoke_page,
            extra,
            name="account-token-revoke",
        ),
    ]
