"""Returns API: a signed-in customer's returns of their own orders (see ``orders.returns``)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core import idempotency
from core.api import error_responses
from orders import returns
from orders.api.serializers import RefundOutputSerializer
from orders.api.views import ORDERS, _own
from orders.models import ReturnReason, ReturnRequest


class ReturnLineOutputSerializer(serializers.Serializer):
    line = serializers.IntegerField(source="line_id")
    product_title = serializers.CharField(source="line.product_title")
    quantity = serializers.IntegerField()
    condition = serializers.CharField(
        help_text="Set on receipt: \"sellable\" (restocked) or \"unsellable\"; empty before it is inspected.")


class ReturnOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    order = serializers.CharField(source="order.number")
    package = serializers.IntegerField(source="package_id")
    status = serializers.ChoiceField(choices=ReturnRequest.Status.choices)
    reason = serializers.ChoiceField(choices=ReturnReason.choices)
    description = serializers.CharField()
    buyer_pays_shipping = serializers.BooleanField(
        help_text="The return label's cost is deducted from the refund (the reason is the shopper's).")
    answer_by = serializers.DateTimeField(allow_null=True,
                                          help_text="A seller's return is approved automatically then.")
    refusal_reason = serializers.CharField()
    offered_amount = serializers.DecimalField(max_digits=12, decimal_places=2, allow_null=True,
                                              help_text="A partial refund the seller offers; the items are kept.")
    carrier = serializers.CharField()
    tracking_number = serializers.CharField(help_text="The return label's; its PDF is on the return's page.")
    label_cost = serializers.DecimalField(max_digits=12, decimal_places=2, allow_null=True)
    drop_off_instructions = serializers.CharField(help_text="When no label could be bought.")
    lines = ReturnLineOutputSerializer(many=True, source="lines.all")
    refund = RefundOutputSerializer(allow_null=True, help_text="Made on receipt, every amount explained.")
    created_at = serializers.DateTimeField()


class ReturnLineInputSerializer(serializers.Serializer):
    line = serializers.IntegerField(min_value=1, max_value=2**62)
    quantity = serializers.IntegerField(min_value=1, max_value=1_000_000)


class ReturnInputSerializer(serializers.Serializer):
    package = serializers.IntegerField(min_value=1, max_value=2**62, help_text="A delivered package of the order.")
    lines = ReturnLineInputSerializer(many=True, min_length=1, max_length=500)
    reason = serializers.ChoiceField(choices=ReturnReason.choices)
    description = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


def _query():
    return ReturnRequest.objects.select_related("order", "refund").prefetch_related("lines__line",
                                                                                    "refund__lines__line")


class OrderReturnsApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(operation_id="orders_returns_list", tags=[ORDERS], summary="The returns of one of your orders",
                   responses={200: ReturnOutputSerializer(many=True), **error_responses(401, 403, 404, 429)})
    def get(self, request: Request, number: str) -> Response:
        order = _own(request, number)
        return Response(ReturnOutputSerializer(_query().filter(order=order).order_by("-created_at", "-id"),
                                               many=True).data)

    @extend_schema(
        operation_id="orders_returns_create", tags=[ORDERS], summary="Return units of a delivered package",
        description=(
            "Units of one delivered package, within the return window of their category after delivery, not "
            "refunded nor in another open return. A Bazaar-fulfilled package's return is approved at once with a "
            "carrier label (or drop-off instructions); a seller's is answered by the seller within two business "
            "days, else approved. The same Idempotency-Key answers with the same return; sent with another "
            "body it is a 422 `idempotency_key_reused`. Photos are sent from the "
            "return page. 400: nothing chosen, too many units, past the window, not delivered; 404: not your order "
            "or package."),
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=True,
                                     description="One key per return (e.g. a UUID); resend it on retry.")],
        request=ReturnInputSerializer,
        responses={201: ReturnOutputSerializer, **error_responses(400, 401, 403, 404, 409, 415, 422, 429)},
    )
    def post(self, request: Request, number: str) -> Response:
        order = _own(request, number)
        key = idempotency.checked_key(request.headers.get("Idempotency-Key"))
        body = ReturnInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        lines: dict[int, int] = {}
        for row in data["lines"]:
            lines[row["line"]] = lines.get(row["line"], 0) + row["quantity"]
        made = returns.return_start(order=order, package_id=data["package"], lines=lines, reason=data["reason"],
                                    description=data["description"], user=request.user,
                                    idempotency_key=f"api:{key}")
        return Response(ReturnOutputSerializer(_query().get(pk=made.pk)).data, status=201)


class ReturnDetailApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(operation_id="returns_retrieve", tags=[ORDERS], summary="One of your returns",
                   responses={200: ReturnOutputSerializer, **error_responses(401, 403, 404, 429)})
    def get(self, request: Request, pk: int) -> Response:
        found = returns.return_get_for_buyer(pk=pk, user=request.user)
        return Response(ReturnOutputSerializer(_query().get(pk=found.pk)).data)
