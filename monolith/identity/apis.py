"""``POST /api/auth/token/`` (password -> access token) and ``GET /api/auth/jwks/`` (the public
key services verify with)."""

from __future__ import annotations

from django.contrib.auth import authenticate
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from monolith.api.schema import ErrorSerializer
from monolith.errors import ApplicationError
from monolith.identity.authentication import AuthenticatedApi
from monolith.identity.keys import signing_keys
from monolith.identity.models import User
from monolith.identity.throttling import TokenClientThrottle, TokenUserThrottle
from monolith.identity.tokens import token_issue


class InvalidCredentials(ApplicationError):
    code = "invalid_credentials"

    def __init__(self) -> None:
        super().__init__("Username or password is not valid.")


class TokenCreateApi(APIView):
    authentication_classes: list[type] = []
    throttle_classes = [TokenClientThrottle, TokenUserThrottle]

    class InputSerializer(serializers.Serializer):
        username = serializers.CharField(max_length=150)
        password = serializers.CharField(max_length=4096, trim_whitespace=False)

    class OutputSerializer(serializers.Serializer):
        access_token = serializers.CharField()
        token_type = serializers.CharField()
        expires_in = serializers.IntegerField()

    @extend_schema(
        responses={
            200: OutputSerializer,
            401: OpenApiResponse(
                ErrorSerializer, description="`invalid_credentials`: which part is not said."
            ),
            429: OpenApiResponse(
                ErrorSerializer,
                description="`throttled`: too many tries from this client or for this username;"
                " `Retry-After` says when to try again.",
            ),
        }
    )
    def post(self, request: Request) -> Response:
        given = self.InputSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        user = authenticate(
            request._request,
            username=given.validated_data["username"],
            password=given.validated_data["password"],
        )
        if not isinstance(user, User):
            raise InvalidCredentials()
        issued = token_issue(user=user)
        return Response(
            self.OutputSerializer(
                {
                    "access_token": issued.access_token,
                    "token_type": "Bearer",
                    "expires_in": issued.expires_in,
                }
            ).data
        )


class JwksApi(APIView):
    authentication_classes: list[type] = []

    @extend_schema(
        responses={
            200: inline_serializer(
                "Jwks", {"keys": serializers.ListField(child=serializers.DictField())}
            )
        }
    )
    def get(self, request: Request) -> Response:
        return Response({"keys": [signing_keys().public_jwk()]})


class MeApi(AuthenticatedApi):
    """Who the token says the caller is (what every service derives from the same token)."""

    class OutputSerializer(serializers.Serializer):
        id = serializers.UUIDField()
        username = serializers.CharField()
        is_staff = serializers.BooleanField()

    def get(self, request: Request) -> Response:
        return Response(self.OutputSerializer(self.principal).data)
