"""Orders API: a customer's own orders (never anyone else's), and cancelling one."""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core import idempotency
from core.api import StrictPageNumberPagination, error_responses
from core.exceptions import NotFound, PermissionDenied
from marketplace import selectors as marketplace_selectors
from orders import refunds, selectors, services
from orders.api import serializers as s

ORDERS = "orders"


class OrderListApi(APIView):
    permission_classes = [IsAuthenticated]
    pagination_class = StrictPageNumberPagination  # also tells the schema that the list comes in pages

    @extend_schema(operation_id="orders_list", tags=[ORDERS], summary="Your orders, newest first",
                   responses={200: s.OrderSummaryOutputSerializer(many=True), **error_responses(400, 401, 403, 429)})
    def get(self, request: Request) -> Response:
        paginator = StrictPageNumberPagination()
        page = paginator.paginate_queryset(selectors.orders_for_user(user=request.user), request, view=self)
        return paginator.get_paginated_response(s.OrderSummaryOutputSerializer(page, many=True).data)


def _own(request: Request, number: str):
    order = selectors.order_for_user(user=request.user, number=number)
    if order is None:
        raise NotFound(_("No such order."))
    return order


class OrderDetailApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(operation_id="orders_retrieve", tags=[ORDERS], summary="One of your orders",
                   responses={200: s.OrderOutputSerializer, **error_responses(401, 403, 404, 429)})
    def get(self, request: Request, number: str) -> Response:
        return Response(s.OrderOutputSerializer(_own(request, number)).data)


class OrderCancelApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(operation_id="orders_cancel", tags=[ORDERS], request=None,
                   summary="Cancel one of your orders before it ships",
                   responses={200: s.OrderOutputSerializer, **error_responses(401, 403, 404, 409, 429)})
    def post(self, request: Request, number: str) -> Response:
        order = _own(request, number)
        services.order_cancel(order=order, actor=request.user, reason=_("Cancelled by the customer"))
        return Response(s.OrderOutputSerializer(selectors.order_detail(number=number, history=False)).data)


class OrderRefundApi(APIView):
    """Staff give back part of an order (see ``orders.refunds``)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="orders_refunds_create", tags=[ORDERS],
        summary="Refund some units, shipping and/or gift cards bought of an order (staff)",
        description=(
            "Platform staff with the \"refund orders\" permission give back units of shipped lines (each its share "
            "of what the buyer paid for the line, discounts and tax included; the last units what is left) and whole "
            "packages' shipping, and gift cards the order bought that nobody has used (each taken back, its whole "
            "amount given back), never more than was paid. The money goes back through the payment provider after "
            "the answer (`status` pending, then succeeded or failed). The same Idempotency-Key answers with the same "
            "refund; sent with another body it is a 422 `idempotency_key_reused`. 400: nothing chosen, too many "
            "units, a line not shipped yet, an unknown line, package or gift "
            "card, a gift card someone has used or taken back already; 409: the order cannot be refunded in part "
            "(not paid, cancelled, refunded in full)."),
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=True,
                                     description="One key per refund (e.g. a UUID); resend it on retry.")],
        request=s.RefundInputSerializer,
        responses={201: s.RefundOutputSerializer, **error_responses(400, 401, 403, 404, 409, 415, 422, 429)},
    )
    def post(self, request: Request, number: str) -> Response:
        if (not request.user.has_perm("orders.refund_order")
                or marketplace_selectors.seller_scope_for_user(request.user) is not None):
            raise PermissionDenied(_("Only Bazaar staff who may refund orders give money back."))
        key = idempotency.checked_key(request.headers.get("Idempotency-Key"))
        body = s.RefundInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        order = selectors.order_detail(number=number, history=False)
        if order is None:
            raise NotFound(_("No such order."))
        lines: dict[int, int] = {}
        for row in data.get("lines", []):
            lines[row["line"]] = lines.get(row["line"], 0) + row["quantity"]
        done = refunds.order_refund_partial(order=order, lines=lines, shipping=data.get("shipping", []),
                                            gift_cards=data.get("gift_cards", []),
                                            reason=data["reason"], idempotency_key=f"api:{key}", actor=request.user,
                                            to_store_credit=data["to_store_credit"])
        return Response(s.RefundOutputSerializer(selectors.refund_detail(refund_id=done.pk)).data, status=201)
