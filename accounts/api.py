"""The tokens API (``/api/v1/tokens/``): a person makes, lists and revokes their own tokens.

HTTP Basic (username and password) is accepted on ``POST tokens/`` alone, so a command-line
client can trade a password for a token once and never store the password.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import APIException, NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors, services
from accounts.lockout import LockoutBasicAuthentication
from accounts.models import ApiToken
from accounts.serializers import (
    TokenCreatedSerializer,
    TokenCreateSerializer,
    TokenSerializer,
)


class NotTokenAuthenticated(APIException):
    status_code = 400
    default_code = "not_token_authenticated"
    default_detail = "This request was not authenticated by an API token: there is none to revoke."


# The one refusal body's component ("Error"), defined where every endpoint's refusals are
# described (monitoring.schema, a layer above this app: named here, not imported).
_ERROR = {"$ref": "#/components/schemas/Error"}
_REFUSED = OpenApiResponse(
    _ERROR,
    description="No credentials, or a token that is unknown (authentication_failed), expired "
    "(token_expired) or revoked (token_revoked).",
)
_NOT_FOUND = OpenApiResponse(
    _ERROR, description="No such token of yours (another user's answers alike)."
)


class TokenListCreateApi(APIView):
    """GET: your tokens, newest first (never their keys). POST: a new token, its key shown once."""

    def get_authenticators(self) -> list[BaseAuthentication]:
        authenticators = super().get_authenticators()
        # Django's request: DRF's is not made yet, and it asks us for its authenticators.
        # (None while drf-spectacular builds the schema with a mock request.)
        if self.request is not None and self.request.method == "POST":
            authenticators.append(LockoutBasicAuthentication())
        return authenticators

    @extend_schema(
        operation_id="tokens_list",
        responses={200: TokenSerializer(many=True), 401: _REFUSED},
    )
    def get(self, request: Request) -> Response:
        tokens = selectors.token_list(user=request.user)
        return Response(TokenSerializer(tokens, many=True).data)

    @extend_schema(
        operation_id="tokens_create",
        request=TokenCreateSerializer,
        responses={
            201: TokenCreatedSerializer,
            400: OpenApiResponse(_ERROR, description="A field out of bounds."),
            401: _REFUSED,
        },
        description="Authenticated by session, by token, or by HTTP Basic (this endpoint only).",
    )
    def post(self, request: Request) -> Response:
        incoming = TokenCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        token, key = services.token_create(
            user=request.user,
            name=incoming.validated_data["name"],
            expires_in_days=incoming.validated_data["expires_in_days"],
        )
        body = TokenCreatedSerializer(token, context={"key": key}).data
        return Response(body, status=status.HTTP_201_CREATED)


class TokenDetailApi(APIView):
    @extend_schema(
        operation_id="tokens_destroy",
        responses={204: None, 401: _REFUSED, 404: _NOT_FOUND},
        description="Revoke one of your tokens: it is refused from now on (token_revoked).",
    )
    def delete(self, request: Request, token_id: int) -> Response:
        token = selectors.token_for_owner(user=request.user, token_id=token_id)
        if token is None:
            raise NotFound("No such token of yours.")
        services.token_revoke(token=token)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TokenCurrentApi(APIView):
    @extend_schema(
        operation_id="tokens_current_destroy",
        responses={
            204: None,
            400: OpenApiResponse(
                _ERROR,
                description="Authenticated otherwise than by token (not_token_authenticated).",
            ),
            401: _REFUSED,
        },
        description="Revoke the token this request is authenticated with (log out).",
    )
    def delete(self, request: Request) -> Response:
        token: Any = request.auth
        if not isinstance(token, ApiToken):
            raise NotTokenAuthenticated()
        services.token_revoke(token=token)
        return Response(status=status.HTTP_204_NO_CONTENT)
