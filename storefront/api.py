"""API of what spans several contexts for the signed-in customer: their data export, closing the account."""

from __future__ import annotations

from django.core.serializers.json import DjangoJSONEncoder
from django.http import JsonResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import (
    error_responses,
)
from core.parsers import JSONParser  # DRF's, refusing bodies nested too deep
from storefront import personal_data

TAG = "account"


class AccountCloseInputSerializer(serializers.Serializer):
    password = serializers.CharField(trim_whitespace=False, max_length=4096)


class AccountDataApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="account_data_export", tags=[TAG], summary="Everything the shop holds about you",
        description="Profile, addresses, orders (lines, packages, refunds), returns, claims, reviews, seller "
                    "ratings, memberships and their charges, store credit, seller teams and your most recent "
                    "recorded events (up to 10,000): the same file as the account's \"Your data\" page.",
        responses={200: OpenApiTypes.OBJECT, **error_responses(401, 403, 429)},
    )
    def get(self, request: Request) -> JsonResponse:
        response = JsonResponse(personal_data.personal_data_export(user=request.user), encoder=DjangoJSONEncoder)
        response["Cache-Control"] = "private, no-store"
        return response


class AccountCloseApi(APIView):
    permission_classes = [IsAuthenticated]
    parser_classes = [JSONParser]
    throttle_scope = "account_close"  # each try counts: the password is checked

    @extend_schema(
        operation_id="account_close", tags=[TAG], summary="Close your account",
        description="Your password confirms it. Refused (400 `account_in_use`, every reason in the message) while "
                    "an order is on its way or a return unsettled, a membership renews, store credit is held, or "
                    "you belong to a seller's team; 400 `wrong_password`. Then the e-mail, name, password, "
                    "addresses and API tokens are deleted (this token stops working) and nobody can sign in again; "
                    "orders and invoices stay, as the law requires.",
        request=AccountCloseInputSerializer,
        responses={204: None, **error_responses(400, 401, 403, 429)},
    )
    def post(self, request: Request) -> Response:
        data = AccountCloseInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        personal_data.account_close(user=request.user, password=data.validated_data["password"])
        return Response(status=204)
