"""Checkout API: quote the cart for an address, and place the order with an Idempotency-Key.

The same key always answers with the same order (201 the first time, 200 after) and never
charges twice; clients make one key per order attempt (a UUID) and resend it on retries.
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from checkout import ordering, pricing, selectors, services
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
    payment_method = serializers.CharField(
        max_length=200, required=False, allow_blank=True,
        help_text="A card number for the test provider (required there). With Stripe: a payment method id (pm_...) "
                  "collected by Stripe's SDK, or one of your saved cards (cus_...|pm_...), confirmed here; or leave it "
                  "out to get the order's PaymentIntent client secret (202) and confirm it with the SDK, then send "
                  "the same request again (same Idempotency-Key) or wait for the order e-mail.")
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


class OrderPaymentOutputSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["paid", "requires_action"], help_text=gettext_lazy(
        "requires_action: the customer must confirm the payment (enter the card, or 3-D Secure) with the "
        "provider's SDK using client_secret; the order is not paid yet."))
    client_secret = serializers.CharField(allow_blank=True)
    provider = serializers.CharField()


class PlacedOrderOutputSerializer(OrderOutputSerializer):
    guest_url = serializers.SerializerMethodField()
    payment = serializers.SerializerMethodField()

    @extend_schema_field(OrderPaymentOutputSerializer(allow_null=True))
    def get_payment(self, order) -> dict | None:
        """Set while the customer must still act (202); null once the order is paid."""
        placed = self.context.get("placed")
        if placed is None or not placed.needs_action:
            return None
        return {"status": "requires_action", "client_secret": placed.client_secret,
                "provider": placed.payment.provider}

    def get_guest_url(self, order) -> str:
        """For an order placed without an account: a signed link that opens the order page in a
        browser (it expires, see GUEST_LINK_MAX_AGE_DAYS). Empty for a customer's order."""
        return orders_selectors.guest_link_path(order=order)


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
        v = data.validated_data
        lines, context = selectors.cart_pricing_input(
            buyer=request.strategy, user=request.user,
            cart=services.cart_for_session(session=request.session, user=request.user),
            country=v["country"], region=v["region"], shipping_choices=v["shipping_choices"],
            voucher_code=_voucher_code(request, v),
        )
        priced = pricing.price_cart(lines=lines, context=context)
        savings = pricing.member_savings(lines=lines, context=context, priced=priced,
                                         preview=request.strategy.preview_benefits)
        return Response(QuoteOutputSerializer(priced, context={"member_savings": savings}).data)


class PlaceOrderApi(CartApiView):
    """Guests with a session cookie send the CSRF token, as for the cart (see CartApiView)."""

    throttle_scope = "place_order"
    throttle_field_scopes = {"voucher_code": "voucher"}

    @extend_schema(
        operation_id="checkout_place_order", tags=[CHECKOUT], request=PlaceOrderInputSerializer,
        summary="Place the order for your cart (Idempotency-Key header required)",
        description=(
            "201: placed and paid. 200: the same request again (same key, same body) finds the same order. "
            "202: placed, but the customer must confirm the payment with the provider's SDK (`payment.client_secret`: "
            "an intent to confirm, or 3-D Secure); send the same request again afterwards, or wait for the e-mail. "
            "An unpaid order is never answered as 201/200 with `payment: null`. 402: declined (no order is left; "
            "the cart is kept). 409: the payment is being processed by another request, the total changed, or "
            "stock/deals ran out. 422 `idempotency_key_reused`: the key was used with another body. 503: the payment "
            "provider could not be reached; the order waits, and the same request (same key) tries the payment "
            "again. Keys are scoped to their owner (your account, or your guest cart): another client's key never "
            "finds your order."),
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=True,
                                     description="One key per order attempt (e.g. a UUID); resend it on retry.")],
        responses={201: PlacedOrderOutputSerializer, 200: PlacedOrderOutputSerializer,
                   202: PlacedOrderOutputSerializer, **error_responses(400, 402, 409, 415, 422, 429, 503)},
    )
    def post(self, request: Request) -> Response:
        key = request.headers.get("Idempotency-Key", "").strip()
        if not key or len(key) > 80:
            raise ApplicationError(
                _("Send an Idempotency-Key header of 1 to 80 characters."),
                fields={"Idempotency-Key": [_("Required, at most 80 characters.")]},
            )
        data = PlaceOrderInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        cart = services.cart_for_session(session=request.session, user=request.user)
        owner = ordering.idempotency_owner(user=request.user, cart=cart)
        if cart is None or not owner:
            raise ApplicationError(_("Your cart is empty."), code="empty_cart")
        placed = ordering.place_order(
            cart=cart, user=request.user, email=v["email"], shipping_address=v["shipping_address"],
            billing_address=v.get("billing_address"), shipping_choices=v["shipping_choices"],
            payment_method=v.get("payment_method", ""), idempotency_key=key, expected_total=v.get("expected_total"),
            voucher_code=_voucher_code(request, v), digest=ordering.request_digest(body=v), buyer=request.strategy,
        )
        if placed.created:
            request.session.pop(VOUCHER_SESSION_KEY, None)  # used by this order
        order = orders_selectors.order_detail(number=placed.order.number)
        if placed.needs_action:
            code = status.HTTP_202_ACCEPTED
        else:
            code = status.HTTP_201_CREATED if placed.created else status.HTTP_200_OK
        return Response(PlacedOrderOutputSerializer(order, context={"placed": placed}).data, status=code)
