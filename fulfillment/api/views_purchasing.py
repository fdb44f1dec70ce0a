"""First-party purchase orders and reorder suggestions through the API: platform staff only, by
their purchasing permissions (a seller's members get a 403 whatever they hold). Views are thin:
the rules are :mod:`fulfillment.purchasing`. Receiving and closing stay in admin."""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response

from core.api import error_responses
from fulfillment import purchasing, selectors
from fulfillment.api import serializers as s
from fulfillment.api.base import IDEMPOTENCY_KEY, SignedInApi, offers_named
from marketplace import selectors as marketplace_selectors

PURCHASING = "purchase orders"
VIEW, ADD = (purchasing.VIEW_PERM, purchasing.BUY_PERM), ("fulfillment.add_purchaseorder",)


class PurchasingStaff(BasePermission):
    """Platform staff (in no seller) holding one of the view's ``purchasing_perms`` for the method
    (``{"GET": (...), "POST": (...)}``), as in admin; superusers always."""

    message = gettext_lazy("Only Bazaar's buyers handle purchase orders, by their permissions.")

    def has_permission(self, request: Request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if marketplace_selectors.seller_scope_for_user(user) is not None:
            return False
        method = "GET" if request.method in ("GET", "HEAD", "OPTIONS") else request.method
        perms = view.purchasing_perms.get(method, ())
        return user.is_superuser or any(user.has_perm(perm) for perm in perms)


class PurchasingApi(SignedInApi):
    permission_classes = [PurchasingStaff]
    purchasing_perms: dict[str, tuple[str, ...]] = {"GET": VIEW}


def _detail(request: Request, pk: int) -> dict:
    return s.PurchaseOrderDetailOutputSerializer(purchasing.po_get_for_user(user=request.user, pk=pk)).data


class PurchaseOrderListApi(PurchasingApi):
    purchasing_perms = {"GET": VIEW, "POST": ADD}

    @extend_schema(
        operation_id="purchase_orders_list",
        tags=[PURCHASING],
        summary="Purchase orders",
        description="Newest first. Platform staff who may view purchase orders; anyone else gets a 403.",
        responses={200: s.PurchaseOrderOutputSerializer(many=True), **error_responses(400, 401, 403, 429)},
    )
    def get(self, request: Request) -> Response:
        return self.paginated(request, purchasing.purchase_orders_for_user(user=request.user),
                              s.PurchaseOrderOutputSerializer)

    @extend_schema(
        operation_id="purchase_orders_create",
        tags=[PURCHASING],
        summary="Draft a purchase order",
        description=(
            "Bazaar's own (house seller's) offers from one supplier, delivered to an active Bazaar centre. "
            "Needs the add and change permissions of purchase orders. An error in a line is reported on "
            "that line, e.g. `lines[0].unit_cost`; nothing is saved then. With an `Idempotency-Key` header "
            "(kept per user), sending the same request again (a retry after a lost answer) answers 200 with "
            "the draft it made instead of drafting a second; the key with another body is a 422 "
            "`idempotency_key_reused`."
        ),
        parameters=[IDEMPOTENCY_KEY],
        request=s.PurchaseOrderCreateInputSerializer,
        responses={201: s.PurchaseOrderDetailOutputSerializer, 200: s.PurchaseOrderDetailOutputSerializer,
                   **error_responses(400, 401, 403, 415, 422, 429)},
        examples=[OpenApiExample("One line", request_only=True, value={
            "supplier": 3, "warehouse": "fc-east", "lines": [{"sku": "H-KETTLE", "quantity": 120,
                                                               "unit_cost": "11.50"}]})],
    )
    def post(self, request: Request) -> Response:
        body = s.PurchaseOrderCreateInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        supplier = purchasing.supplier_get(pk=data["supplier"])
        if supplier is None:
            raise serializers.ValidationError({"supplier": [_("Unknown supplier: %(id)s") % {"id": data["supplier"]}]})
        warehouse = next((w for w in selectors.platform_warehouses() if w.code == data["warehouse"]), None)
        if warehouse is None:
            raise serializers.ValidationError({"warehouse": [_("No Bazaar centre has the code %(code)s.")
                                                             % {"code": data["warehouse"]}]})
        offers = offers_named(seller_id=marketplace_selectors.house_seller().pk, rows=data["lines"], prefix="lines")
        lines = [(offer, row["quantity"], row["unit_cost"]) for offer, row in zip(offers, data["lines"], strict=True)]
        draft = {"supplier": supplier, "warehouse": warehouse, "actor": request.user, "lines": lines}
        if "Idempotency-Key" not in request.headers:
            order, created = purchasing.po_create(**draft), True
        else:
            order, created = purchasing.po_create_once(key=request.headers["Idempotency-Key"], **draft)
        return Response(_detail(request, order.pk), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class PurchaseOrderDetailApi(PurchasingApi):
    @extend_schema(
        operation_id="purchase_orders_retrieve",
        tags=[PURCHASING],
        summary="One purchase order",
        description="With its lines: units ordered, received and (once closed) the discrepancy.",
        responses={200: s.PurchaseOrderDetailOutputSerializer, **error_responses(401, 403, 404, 429)},
    )
    def get(self, request: Request, pk: int) -> Response:
        return Response(_detail(request, pk))


class PurchaseOrderOrderApi(PurchasingApi):
    purchasing_perms = {"POST": (purchasing.BUY_PERM,)}

    @extend_schema(
        operation_id="purchase_orders_order",
        tags=[PURCHASING],
        request=None,
        summary="Send a draft to the supplier",
        description=("It is then expected after the supplier's lead time (`expected_on`). 409 `po_state` unless "
                     "a draft; 400 `po_empty` without lines."),
        responses={200: s.PurchaseOrderDetailOutputSerializer, **error_responses(400, 401, 403, 404, 409, 429)},
    )
    def post(self, request: Request, pk: int) -> Response:
        purchasing.po_order(order=purchasing.po_get_for_user(user=request.user, pk=pk), actor=request.user)
        return Response(_detail(request, pk))


class PurchaseOrderCancelApi(PurchasingApi):
    purchasing_perms = {"POST": (purchasing.BUY_PERM,)}

    @extend_schema(
        operation_id="purchase_orders_cancel",
        tags=[PURCHASING],
        request=None,
        summary="Cancel a purchase order",
        description="A draft, or an order before anything arrived; 409 `po_state` otherwise.",
        responses={200: s.PurchaseOrderDetailOutputSerializer, **error_responses(401, 403, 404, 409, 429)},
    )
    def post(self, request: Request, pk: int) -> Response:
        purchasing.po_cancel(order=purchasing.po_get_for_user(user=request.user, pk=pk), actor=request.user)
        return Response(_detail(request, pk))


class ReorderSuggestionListApi(PurchasingApi):
    purchasing_perms = {"GET": ADD}

    @extend_schema(
        operation_id="reorder_suggestions_list",
        tags=[PURCHASING],
        summary="What to reorder now",
        description=(
            "Bazaar's own offers with a primary supplier whose available plus on-order units fell to the "
            "reorder point (sales per day times the lead time plus safety days), by supplier and SKU, with "
            "the units that bring them up to the point plus the cover days. For staff who may add purchase "
            "orders."
        ),
        responses={200: s.ReorderSuggestionOutputSerializer(many=True), **error_responses(400, 401, 403, 429)},
    )
    def get(self, request: Request) -> Response:
        return self.paginated(request, purchasing.reorder_suggestions(), s.ReorderSuggestionOutputSerializer)
