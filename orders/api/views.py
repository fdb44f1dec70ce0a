"""Orders API: a customer's own orders (never anyone else's), and cancelling one."""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import StrictPageNumberPagination, error_responses
from core.exceptions import NotFound
from orders import selectors, services
from orders.api import serializers as s

ORDERS = "orders"


class OrderListApi(APIView):
    permission_classes = [IsAuthenticated]

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
