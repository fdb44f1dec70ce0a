"""Accounts API: the signed-in user's profile and address book, and API tokens.

Every endpoint works on the caller's own data only: another user's address id is a 404.
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors, services
from accounts.api.serializers import (
    AddressInputSerializer,
    AddressOutputSerializer,
    TokenInputSerializer,
    TokenOutputSerializer,
    UserOutputSerializer,
    UserUpdateInputSerializer,
)
from core.api import (
    StrictPageNumberPagination,
    error_responses,
)
from core.exceptions import ApplicationError, NotFound
from core.parsers import JSONParser  # DRF's, refusing bodies nested too deep

TAG = "account"


class AccountApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="account_retrieve",
        tags=[TAG],
        summary="Your profile",
        responses={200: UserOutputSerializer, **error_responses(401, 403, 429)},
    )
    def get(self, request: Request) -> Response:
        return Response(UserOutputSerializer(request.user).data)

    @extend_schema(
        operation_id="account_partial_update",
        tags=[TAG],
        summary="Change your name or e-mail",
        description="Send only what changes. Changing `email` needs `current_password`.",
        request=UserUpdateInputSerializer,
        responses={200: UserOutputSerializer, **error_responses(400, 401, 403, 429)},
        examples=[
            OpenApiExample(
                "New e-mail", request_only=True, value={"email": "ann@example.com", "current_password": "..."}
            )
        ],
    )
    def patch(self, request: Request) -> Response:
        serializer = UserUpdateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        user = request.user
        if "email" in data and data["email"].strip().lower() != user.email.lower():
            if not data.get("current_password"):
                message = _("Enter your current password to change your e-mail address.")
                raise ApplicationError(message, fields={"current_password": [message]})
            services.user_change_email(user=user, new_email=data["email"], password=data["current_password"])
        if "full_name" in data:
            services.user_update_profile(user=user, full_name=data["full_name"])
        return Response(UserOutputSerializer(user).data)


def _own_address(request: Request, address_id: int):
    address = selectors.address_get(user=request.user, address_id=address_id)
    if address is None:
        raise NotFound(_("No such address."))
    return address


class AddressListApi(APIView):
    permission_classes = [IsAuthenticated]
    parser_classes = [JSONParser]  # a form post cannot say which values are strings, numbers or booleans
    pagination_class = StrictPageNumberPagination  # also documents the page parameters in the schema

    @extend_schema(
        operation_id="account_addresses_list",
        tags=[TAG],
        summary="Your addresses",
        description="Your address book, the default address first.",
        responses={200: AddressOutputSerializer(many=True), **error_responses(400, 401, 403, 429)},
    )
    def get(self, request: Request) -> Response:
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(selectors.address_list(user=request.user), request, view=self)
        return paginator.get_paginated_response(AddressOutputSerializer(page, many=True).data)

    @extend_schema(
        operation_id="account_addresses_create",
        tags=[TAG],
        summary="Add an address",
        description="Your first address becomes the default; `is_default: true` moves the default to this one.",
        request=AddressInputSerializer,
        responses={201: AddressOutputSerializer, **error_responses(400, 401, 403, 415, 429)},
    )
    def post(self, request: Request) -> Response:
        serializer = AddressInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        address = services.address_create(user=request.user, **serializer.validated_data)
        return Response(AddressOutputSerializer(address).data, status=status.HTTP_201_CREATED)


class AddressDetailApi(APIView):
    permission_classes = [IsAuthenticated]
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="account_addresses_retrieve",
        tags=[TAG],
        summary="One of your addresses",
        responses={200: AddressOutputSerializer, **error_responses(401, 403, 404, 429)},
    )
    def get(self, request: Request, address_id: int) -> Response:
        return Response(AddressOutputSerializer(_own_address(request, address_id)).data)

    @extend_schema(
        operation_id="account_addresses_partial_update",
        tags=[TAG],
        summary="Change an address",
        description="Send only the fields that change.",
        request=AddressInputSerializer(partial=True),
        responses={200: AddressOutputSerializer, **error_responses(400, 401, 403, 404, 415, 429)},
    )
    def patch(self, request: Request, address_id: int) -> Response:
        address = _own_address(request, address_id)
        serializer = AddressInputSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        address = services.address_update(address=address, **serializer.validated_data)
        return Response(AddressOutputSerializer(address).data)

    @extend_schema(
        operation_id="account_addresses_destroy",
        tags=[TAG],
        summary="Remove an address",
        description="When it was the default, your newest other address becomes the default.",
        responses={204: None, **error_responses(401, 403, 404, 429)},
    )
    def delete(self, request: Request, address_id: int) -> Response:
        services.address_delete(address=_own_address(request, address_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class TokenApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []  # credentials are in the body; no session, so no CSRF

    @extend_schema(
        operation_id="auth_token_create",
        tags=["auth"],
        summary="Get an API token",
        description=(
            "Exchange your e-mail and password for a token. Send it as `Authorization: Token <token>`. "
            "The same token is returned until it expires (`expires_at`, `API_TOKEN_TTL_DAYS` after it was "
            "issued); then this endpoint issues a new one. Changing or resetting your password revokes "
            "your tokens at once. An expired or revoked token is answered 401 (`token_expired`, "
            "`invalid_token`). After 5 failed attempts for one e-mail from one address, the endpoint "
            "answers 429 `locked_out` for 15 minutes, even with the right password."
        ),
        request=TokenInputSerializer,
        responses={200: TokenOutputSerializer, **error_responses(400, 429)},
        examples=[
            OpenApiExample("Credentials", request_only=True, value={"email": "ann@example.com", "password": "..."}),
            OpenApiExample(
                "Locked out",
                response_only=True,
                status_codes=["429"],
                value={"error": {"code": "locked_out", "message": "Too many failed sign-in attempts. ...",
                                 "fields": {}}},
            ),
        ],
    )
    def post(self, request: Request) -> Response:
        serializer = TokenInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = services.user_authenticate(
            request=request._request,  # axes records the attempt on the Django request
            email=serializer.validated_data["email"],
            password=serializer.validated_data["password"],
        )
        token = services.user_api_token_ensure(user=user)
        return Response(TokenOutputSerializer(
            {"token": token.key, "expires_at": selectors.api_token_expires_at(token=token)}
        ).data)
