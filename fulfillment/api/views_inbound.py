"""Inbound shipments through the API: a seller's owners and managers plan stock for a Bazaar centre,
mark it ready (Bazaar chooses the centre), print the box labels, mark it shipped or void it. Views
are thin: the rules are :mod:`fulfillment.inbound`. Receiving and closing stay with platform staff in
admin."""

from __future__ import annotations

from django.http import HttpResponse
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from core.api import error_responses
from fulfillment import inbound
from fulfillment.api import serializers as s
from fulfillment.api.base import IDEMPOTENCY_KEY, SignedInApi, check_acts_for, offers_named, seller_for

INBOUND = "inbound shipments"
ADD_PERM = "fulfillment.add_inboundshipment"


def _detail(request: Request, pk: int) -> dict:
    return s.InboundShipmentDetailOutputSerializer(inbound.inbound_get_for_user(user=request.user, pk=pk)).data


class InboundShipmentListApi(SignedInApi):
    @extend_schema(
        operation_id="inbound_shipments_list",
        tags=[INBOUND],
        summary="Your sellers' inbound shipments",
        description="Newest first. Platform staff who may view inbound shipments see every seller's.",
        responses={200: s.InboundShipmentOutputSerializer(many=True), **error_responses(400, 401, 429)},
    )
    def get(self, request: Request) -> Response:
        return self.paginated(request, inbound.inbound_for_user(user=request.user), s.InboundShipmentOutputSerializer)

    @extend_schema(
        operation_id="inbound_shipments_create",
        tags=[INBOUND],
        summary="Plan an inbound shipment",
        description=(
            "A draft plan of stock to send to Bazaar, for one of your sellers (owners and managers; a "
            "seller's staff get a 403). Each item names one of the seller's offers fulfilled by Bazaar, by "
            "`sku` or by id (`offer`), and its units. An error in an item is reported on that item, e.g. "
            "`items[1].sku`; nothing is saved then. Then mark it ready: Bazaar chooses the centre. With an "
            "`Idempotency-Key` header, sending the same request again (a retry after a lost answer) answers "
            "200 with the shipment it planned instead of planning a second one; the key with another body is "
            "a 422 `idempotency_key_reused`."
        ),
        parameters=[IDEMPOTENCY_KEY],
        request=s.InboundCreateInputSerializer,
        responses={201: s.InboundShipmentDetailOutputSerializer, 200: s.InboundShipmentDetailOutputSerializer,
                   **error_responses(400, 401, 403, 415, 422, 429)},
        examples=[
            OpenApiExample("Two offers, three boxes", request_only=True, value={
                "name": "December restock", "box_count": 3,
                "items": [{"sku": "KET-FBA", "quantity": 40}, {"offer": 118, "quantity": 12}]}),
            OpenApiExample("An unknown SKU", status_codes=["400"], response_only=True, value={
                "error": {"code": "invalid", "message": "Some fields are not valid.",
                          "fields": {"items[1].sku": ["This seller has no offer with SKU KET-FBB."]}}}),
        ],
    )
    def post(self, request: Request) -> Response:
        body = s.InboundCreateInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        seller = seller_for(request, data.get("seller"), ask=_("Say which seller this shipment is for."))
        check_acts_for(request.user, seller, add_perm=ADD_PERM,
                       refuse=_("You may only plan shipments for your own sellers."))
        rows = data.get("items", [])
        offers = offers_named(seller_id=seller.pk, rows=rows, prefix="items")
        plan = {"seller": seller, "actor": request.user, "name": data.get("name", ""), "box_count": data["box_count"],
                "items": [(offer, row["quantity"]) for offer, row in zip(offers, rows, strict=True)]}
        if "Idempotency-Key" not in request.headers:
            shipment, created = inbound.inbound_create(**plan), True
        else:
            shipment, created = inbound.inbound_create_once(key=request.headers["Idempotency-Key"], **plan)
        answer = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(_detail(request, shipment.pk), status=answer)


class InboundShipmentDetailApi(SignedInApi):
    http_method_names = ["get", "patch", "head", "options"]

    @extend_schema(
        operation_id="inbound_shipments_retrieve",
        tags=[INBOUND],
        summary="One inbound shipment",
        description=(
            "With its destination centre, state, and per item the units sent, received and (once closed) "
            "the discrepancy. Another seller's shipment is a 404."
        ),
        responses={200: s.InboundShipmentDetailOutputSerializer, **error_responses(401, 404, 429)},
    )
    def get(self, request: Request, pk: int) -> Response:
        return Response(_detail(request, pk))

    @extend_schema(
        operation_id="inbound_shipments_partial_update",
        tags=[INBOUND],
        summary="Rename a shipment or change its number of boxes",
        description="Until it is shipped (409 after).",
        request=s.InboundUpdateInputSerializer,
        responses={200: s.InboundShipmentDetailOutputSerializer, **error_responses(400, 401, 403, 404, 409, 415,
                                                                                   429)},
    )
    def patch(self, request: Request, pk: int) -> Response:
        shipment = inbound.inbound_get_for_user(user=request.user, pk=pk)
        body = s.InboundUpdateInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        inbound.inbound_update(shipment=shipment, actor=request.user, name=data.get("name", shipment.name),
                               box_count=data.get("box_count", shipment.box_count))
        return Response(_detail(request, pk))


class InboundItemSetApi(SignedInApi):
    @extend_schema(
        operation_id="inbound_shipments_items_set",
        tags=[INBOUND],
        summary="Set the units of one offer in a draft",
        description=(
            "Adds the offer, changes its units, or with `quantity` 0 takes it out. Only while the shipment "
            "is a draft (409 after)."
        ),
        request=s.InboundItemSetInputSerializer,
        responses={200: s.InboundShipmentDetailOutputSerializer, **error_responses(400, 401, 403, 404, 409, 415,
                                                                                   429)},
    )
    def post(self, request: Request, pk: int) -> Response:
        shipment = inbound.inbound_get_for_user(user=request.user, pk=pk)
        body = s.InboundItemSetInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        [offer] = offers_named(seller_id=shipment.seller_id, rows=[body.validated_data])
        inbound.inbound_item_set(shipment=shipment, offer=offer, quantity=body.validated_data["quantity"],
                                 actor=request.user)
        return Response(_detail(request, pk))


class InboundReadyApi(SignedInApi):
    @extend_schema(
        operation_id="inbound_shipments_ready",
        tags=[INBOUND],
        request=None,
        summary="Mark a draft ready to ship",
        description=(
            "Bazaar chooses the centre (`destination`) and the box labels can be printed. 400 "
            "`inbound_empty` without items; 409 `inbound_state` if it is not a draft."
        ),
        responses={200: s.InboundShipmentDetailOutputSerializer, **error_responses(400, 401, 403, 404, 409, 429)},
    )
    def post(self, request: Request, pk: int) -> Response:
        inbound.inbound_ready(shipment=inbound.inbound_get_for_user(user=request.user, pk=pk), actor=request.user)
        return Response(_detail(request, pk))


class InboundShipApi(SignedInApi):
    @extend_schema(
        operation_id="inbound_shipments_ship",
        tags=[INBOUND],
        summary="Mark a shipment shipped",
        description=(
            "The boxes were handed to a carrier (both fields optional). It can be voided for 24 hours "
            "after this (`void_until`). 409 `inbound_state` unless it is ready to ship."
        ),
        request=s.InboundShipInputSerializer,
        responses={200: s.InboundShipmentDetailOutputSerializer, **error_responses(400, 401, 403, 404, 409, 415,
                                                                                   429)},
        examples=[OpenApiExample("With tracking", request_only=True,
                                 value={"carrier": "UPS", "tracking_number": "1Z999AA10123456784"})],
    )
    def post(self, request: Request, pk: int) -> Response:
        shipment = inbound.inbound_get_for_user(user=request.user, pk=pk)
        body = s.InboundShipInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        inbound.inbound_ship(shipment=shipment, actor=request.user, **body.validated_data)
        return Response(_detail(request, pk))


class InboundVoidApi(SignedInApi):
    @extend_schema(
        operation_id="inbound_shipments_void",
        tags=[INBOUND],
        request=None,
        summary="Void (cancel) a shipment",
        description=(
            "A draft or a shipment ready to ship at any time; a shipped one until `void_until` (24 hours "
            "after it was marked shipped; after that 409 `inbound_void_too_late`: Bazaar receives what "
            "arrives). 409 `inbound_state` once cancelled, in transit, receiving or closed."
        ),
        responses={200: s.InboundShipmentDetailOutputSerializer, **error_responses(401, 403, 404, 409, 429)},
    )
    def post(self, request: Request, pk: int) -> Response:
        inbound.inbound_void(shipment=inbound.inbound_get_for_user(user=request.user, pk=pk), actor=request.user)
        return Response(_detail(request, pk))


class InboundLabelsApi(SignedInApi):
    def perform_content_negotiation(self, request: Request, force: bool = False):
        # The labels are a PDF whatever the client accepts; errors are JSON, also for a client that
        # asked for application/pdf only.
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        operation_id="inbound_shipments_labels",
        tags=[INBOUND],
        summary="Box labels (PDF)",
        description=(
            "One 4 x 6 in label per box with the box id (e.g. `IB0000012-B03`) as a Code 128 barcode, the "
            "seller and the destination centre. 409 `inbound_state` for a draft or a cancelled shipment."
        ),
        responses={(200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY,
                                                             description="The labels, one page a box."),
                   **error_responses(401, 404, 409, 429)},
    )
    def get(self, request: Request, pk: int) -> HttpResponse:
        shipment = inbound.inbound_get_for_user(user=request.user, pk=pk)
        response = HttpResponse(inbound.inbound_labels(shipment=shipment), content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="{shipment.code}-labels.pdf"'
        return response
