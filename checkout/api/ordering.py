"""Checkout API: quote the cart for an address, and place the order with an Idempotency-Key.

The same key always answers with the same order (201 the first time, 200 after) and never
charges twice; clients make one key per order attempt (a UUID) and resend it on retries.
"""

from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from checkout import ordering, pricing, services
from checkout.api.views import CartApiView
from checkout.flow import VOUCHER_SESSION_KEY
from core.api import error_responses
from core.exceptions import ApplicationError
from orders import selectors as orders_selectors
from orders.api.serializers import OrderOutputSerializer

CHECKOUT = "checkout"


class OrderAddressInputSerializer(serializers.Serializer):
    full_name = serializers.CharField(max_length=120)
    line1 = serializers.CharField(max_length=200)
    line2 = serializers.CharField(max_length=200, required=False, allow_blank=True)
    city = serializers.CharField(max_length=100)
    postal_code = serializers.CharField(max_length=20)
    region = serializers.CharField(max_length=40, required=False, allow_blank=True)
    country = serializers.RegexField(r"^[A-Za-z]{2}$", max_length=2)
    phone = serializers.CharField(max_length=30, required=False, allow_blank=True)


class QuoteInputSerializer(serializers.Serializer):
    country = serializers.RegexField(r"^[A-Za-z]{2}$", max_length=2, default="US")
    voucher_code = serializers.CharField(
        max_length=64, required=False, allow_blank=True,
        help_text="Shows the voucher discount, or why it does not apply. Left out: the cart's voucher "
                  "(POST /api/v1/cart/voucher/); empty: none.")
    region = serializers.CharField(max_length=40, required=False, allow_blank=True, default="")
    shipping_choices = serializers.DictField(child=serializers.CharField(max_length=40), required=False, default=dict)


class PlaceOrderInputSerializer(serializers.Serializer):
    email = serializers.EmailField()
    shipping_address = OrderAddressInputSerializer()
    billing_address = OrderAddressInputSerializer(required=False)
    shipping_choices = serializers.DictField(child=serializers.CharField(max_length=40), required=False, default=dict)
    payment_method = serializers.CharField(max_length=200, help_text="A card number for the test provider; a "
                                           "payment method id (pm_...) for Stripe.")
    expected_total = serializers.DecimalField(max_digits=12, decimal_places=2, required=False,
                                              help_text="The total the shopper confirmed; a different one is 409.")
    voucher_code = serializers.CharField(
        max_length=64, required=False, allow_blank=True,
        help_text="A voucher code; one that does not apply is a 400 saying why. Left out: the cart's voucher "
                  "(POST /api/v1/cart/voucher/); empty: none.")


class ShippingOptionOutputSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    price = serializers.DecimalField(max_digits=12, decimal_places=2, source="price.amount")
    earliest = serializers.DateField()
    latest = serializers.DateField()
    members_only = serializers.BooleanField(help_text=gettext_lazy("Offered to members with faster shipping only."))


class QuoteLineOutputSerializer(serializers.Serializer):
    offer = serializers.IntegerField(source="offer_id")
    product_title = serializers.CharField()
    seller = serializers.CharField(source="seller_name")
    quantity = serializers.IntegerField()
    unit_price = serializers.DecimalField(max_digits=12, decimal_places=2, source="unit_price.amount")
    regular_unit_price = serializers.DecimalField(
        max_digits=12, decimal_places=2, source="regular_unit_price.amount", allow_null=True, default=None,
        help_text=gettext_lazy("The non-member price, when your member price applies (else null)."),
    )
    discount = serializers.DecimalField(max_digits=12, decimal_places=2, source="discount.amount")
    tax = serializers.DecimalField(max_digits=12, decimal_places=2, source="tax.amount")
    total = serializers.DecimalField(max_digits=12, decimal_places=2, source="total.amount")


class QuotePackageOutputSerializer(serializers.Serializer):
    key = serializers.CharField()
    seller = serializers.CharField(source="seller_name")
    channel = serializers.CharField()
    lines = QuoteLineOutputSerializer(many=True)
    options = ShippingOptionOutputSerializer(many=True)
    chosen = serializers.CharField(source="chosen.code", allow_null=True)
    shipping = serializers.DecimalField(max_digits=12, decimal_places=2, source="shipping.amount")
    member_free_shipping = serializers.BooleanField(
        help_text=gettext_lazy("Every option is free thanks to your membership.")
    )


class DiscountOutputSerializer(serializers.Serializer):
    code = serializers.CharField()
    label = serializers.CharField()
    amount = serializers.DecimalField(max_digits=12, decimal_places=2, source="amount.amount")


class QuoteOutputSerializer(serializers.Serializer):
    currency = serializers.CharField()
    prices_include_tax = serializers.BooleanField()
    packages = QuotePackageOutputSerializer(many=True)
    subtotal = serializers.DecimalField(max_digits=12, decimal_places=2, source="subtotal.amount")
    discount = serializers.DecimalField(max_digits=12, decimal_places=2, source="discount.amount")
    shipping = serializers.DecimalField(max_digits=12, decimal_places=2, source="shipping.amount")
    tax = serializers.DecimalField(max_digits=12, decimal_places=2, source="tax.amount")
    total = serializers.DecimalField(max_digits=12, decimal_places=2, source="total.amount")
    unavailable = serializers.ListField(child=serializers.IntegerField())
    discounts = DiscountOutputSerializer(many=True)
    voucher_error = serializers.CharField()
    member_plan = serializers.CharField(help_text=gettext_lazy("The membership whose benefits priced this cart."))
    member_savings = serializers.SerializerMethodField(
        help_text=gettext_lazy("For a non-member: how much less this would cost with the featured membership.")
    )

    @extend_schema_field(serializers.DecimalField(max_digits=12, decimal_places=2, allow_null=True))
    def get_member_savings(self, priced) -> str | None:
        savings = self.context.get("member_savings")
        return f"{savings.amount.amount:.2f}" if savings else None


class PlacedOrderOutputSerializer(OrderOutputSerializer):
    guest_url = serializers.SerializerMethodField()

    def get_guest_url(self, order) -> str:
        """A signed link to the order page, for guests."""
        return reverse("orders:guest_detail", kwargs={"token": orders_selectors.guest_token(order=order)})


def _cart_lines(request: Request) -> list[pricing.LineInput]:
    cart = services.cart_for_session(session=request.session, user=request.user)
    if cart is None:
        return []
    return [pricing.LineInput(line.offer_id, line.quantity) for line in cart.lines.all()]


def _voucher_code(request: Request, data: dict) -> str:
    """The body's voucher code, else the one applied to the cart (kept in the session)."""
    if "voucher_code" in data:
        return data["voucher_code"]
    return str(request.session.get(VOUCHER_SESSION_KEY) or "")


class QuoteApi(CartApiView):
    throttle_field_scopes = {"voucher_code": "voucher"}  # a quote that checks a code counts as a voucher check

    @extend_schema(operation_id="checkout_quote", tags=[CHECKOUT], request=QuoteInputSerializer,
                   summary="Price your cart for a destination: packages, shipping options, tax, total",
                   responses={200: QuoteOutputSerializer, **error_responses(400, 415, 429)})
    def post(self, request: Request) -> Response:
        data = QuoteInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        lines = _cart_lines(request)
        context = pricing.PricingContext(
            country=data.validated_data["country"].upper(), region=data.validated_data["region"],
            shipping_choices=data.validated_data["shipping_choices"], user=request.user,
            voucher_code=_voucher_code(request, data.validated_data),
        )
        priced = pricing.price_cart(lines=lines, context=context)
        savings = pricing.member_savings(lines=lines, context=context, priced=priced)
        return Response(QuoteOutputSerializer(priced, context={"member_savings": savings}).data)


class PlaceOrderApi(CartApiView):
    """Guests with a session cookie send the CSRF token, as for the cart (see CartApiView)."""

    throttle_scope = "place_order"
    throttle_field_scopes = {"voucher_code": "voucher"}

    @extend_schema(
        operation_id="checkout_place_order", tags=[CHECKOUT], request=PlaceOrderInputSerializer,
        summary="Place the order for your cart (Idempotency-Key header required)",
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=True,
                                     description="One key per order attempt (e.g. a UUID); resend it on retry.")],
        responses={201: PlacedOrderOutputSerializer, 200: PlacedOrderOutputSerializer,
                   **error_responses(400, 402, 409, 415, 429, 503)},
    )
    def post(self, request: Request) -> Response:
        key = request.headers.get("Idempotency-Key", "").strip()
        if not key or len(key) > 80:
            raise ApplicationError(
                _("Send an Idempotency-Key header of 1 to 80 characters."),
                fields={"Idempotency-Key": [_("Required, at most 80 characters.")]},
            )
        cart = services.cart_for_session(session=request.session, user=request.user)
        owner = ordering.idempotency_owner(user=request.user, cart=cart)
        existing = orders_selectors.order_by_idempotency_key(owner=owner, key=key)
        if existing is not None:
            return Response(PlacedOrderOutputSerializer(orders_selectors.order_detail(number=existing.number)).data)
        data = PlaceOrderInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if cart is None:
            raise ApplicationError(_("Your cart is empty."), code="empty_cart")
        v = data.validated_data
        placed = ordering.place_order(
            cart=cart, user=request.user, email=v["email"], shipping_address=v["shipping_address"],
            billing_address=v.get("billing_address"), shipping_choices=v["shipping_choices"],
            payment_method=v["payment_method"], idempotency_key=key, expected_total=v.get("expected_total"),
            voucher_code=_voucher_code(request, v),
        )
        if placed.created:
            request.session.pop(VOUCHER_SESSION_KEY, None)  # used by this order
        order = orders_selectors.order_detail(number=placed.order.number)
        return Response(PlacedOrderOutputSerializer(order).data,
                        status=status.HTTP_201_CREATED if placed.created else status.HTTP_200_OK)
