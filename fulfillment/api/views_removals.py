"""Removal orders through the API: a seller's owners and managers ask units of an offer back from
Bazaar's centres and may cancel while requested. Views are thin: the rules are
:mod:`fulfillment.removals`. Sending the units stays with platform staff in admin."""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from core.api import error_responses
from fulfillment import removals
from fulfillment.api import serializers as s
from fulfillment.api.base import IDEMPOTENCY_KEY, SignedInApi, check_acts_for, offers_named, seller_for

REMOVALS = "removal orders"


def _out(request: Request, pk: int) -> dict:
    return s.RemovalOutputSerializer(removals.removal_get_for_user(user=request.user, pk=pk)).data


class RemovalListApi(SignedInApi):
    @extend_schema(
        operation_id="removal_orders_list",
        tags=[REMOVALS],
        summary="Your sellers' removal orders",
        description="Newest first. Platform staff who may view removal orders see every seller's.",
        responses={200: s.RemovalOutputSerializer(many=True), **error_responses(400, 401, 429)},
    )
    def get(self, request: Request) -> Response:
        return self.paginated(request, removals.removals_for_user(user=request.user), s.RemovalOutputSerializer)

    @extend_schema(
        operation_id="removal_orders_create",
        tags=[REMOVALS],
        summary="Ask stock back from Bazaar",
        description=(
            "Units of one of your seller's offers fulfilled by Bazaar (owners and managers; a seller's staff "
            "get a 403). Bazaar picks the centre holding the most available units; more than any centre "
            "has available is a 400 `removal_too_many` on `quantity`. Bazaar charges the removal fee per "
            "unit when it sends them. With an `Idempotency-Key` header, sending the same request again (a "
            "retry after a lost answer) answers 200 with the removal order it made instead of asking the "
            "units back twice; the key with another body is a 422 `idempotency_key_reused`."
        ),
        parameters=[IDEMPOTENCY_KEY],
        request=s.RemovalCreateInputSerializer,
        responses={201: s.RemovalOutputSerializer, 200: s.RemovalOutputSerializer,
                   **error_responses(400, 401, 403, 415, 422, 429)},
        examples=[OpenApiExample("Five units back", request_only=True, value={"sku": "KET-FBA", "quantity": 5})],
    )
    def post(self, request: Request) -> Response:
        body = s.RemovalCreateInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        seller = seller_for(request, data.get("seller"), ask=_("Say which seller this removal is for."))
        check_acts_for(request.user, seller, add_perm=removals.REQUEST_PERM,
                       refuse=_("You may only ask back your own sellers' stock."))
        [offer] = offers_named(seller_id=seller.pk, rows=[data])
        asked = {"offer": offer, "quantity": data["quantity"], "actor": request.user}
        if "Idempotency-Key" not in request.headers:
            removal, created = removals.removal_request(**asked), True
        else:
            removal, created = removals.removal_request_once(key=request.headers["Idempotency-Key"], **asked)
        return Response(_out(request, removal.pk), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class RemovalDetailApi(SignedInApi):
    @extend_schema(
        operation_id="removal_orders_retrieve",
        tags=[REMOVALS],
        summary="One removal order",
        description="Another seller's removal order is a 404.",
        responses={200: s.RemovalOutputSerializer, **error_responses(401, 404, 429)},
    )
    def get(self, request: Request, pk: int) -> Response:
        return Response(_out(request, pk))


class RemovalCancelApi(SignedInApi):
    @extend_schema(
        operation_id="removal_orders_cancel",
        tags=[REMOVALS],
        request=None,
        summary="Cancel a removal order",
        description="While it is requested; 409 `removal_state` once sent back or cancelled.",
        responses={200: s.RemovalOutputSerializer, **error_responses(401, 403, 404, 409, 429)},
    )
    def post(self, request: Request, pk: int) -> Response:
        removals.removal_cancel(removal=removals.removal_get_for_user(user=request.user, pk=pk), actor=request.user)
        return Response(_out(request, pk))
