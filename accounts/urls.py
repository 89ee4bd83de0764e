"""The tokens API, mounted under ``/api/v1/`` by keisei_site.urls."""

from django.urls import path

from accounts import api

urlpatterns = [
    path("tokens/", api.TokenListCreateApi.as_view(), name="api-tokens"),
    path("tokens/current/", api.TokenCurrentApi.as_view(), name="api-token-current"),
    path("tokens/<int:token_id>/", api.TokenDetailApi.as_view(), name="api-token"),
]
