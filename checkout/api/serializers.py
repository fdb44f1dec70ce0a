"""Cart and checkout API serializers: input (what a client may send) and output (the cart, a quote, a
placed order, as the selectors and the pricing pipeline see them).

Output serializers read only what :func:`checkout.selectors.cart_view` loaded: they never query.
"""

from __future__ import annotations

from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from checkout import selectors
from checkout.models import MAX_LINE_QUANTITY
from core.api import StrictInputSerializer
from orders import selectors as orders_selectors
from orders.api.serializers import OrderOutputSerializer

MAX_ID = 2**63 - 1

# --- input -----------------------------------------------------------------------------------------


def _quantity_field(**kwargs) -> serializers.IntegerField:
    return serializers.IntegerField(
        min_value=1, max_value=MAX_LINE_QUANTITY,
        help_text=format_lazy(_("Units of the offer, a whole number from 1 to {max}."), max=MAX_LINE_QUANTITY),
        **kwargs,
    )


class CartLineAddInputSerializer(StrictInputSerializer):
    offer = serializers.IntegerField(
        min_value=1, max_value=MAX_ID, help_text=_("Id of the offer to buy (see `/api/v1/offers/`).")
    )
    quantity = _quantity_field(required=False, default=1)


class CartLineUpdateInputSerializer(StrictInputSerializer):
    quantity = _quantity_field()


# --- output ----------------------------------------------------------------------------------------


def _amount(**kwargs) -> serializers.DecimalField:
    # No digit limit on output: a cart is not an order, and one too large to order (which the quote
    # and place-order endpoints refuse) must still be shown, never a 500.
    return serializers.DecimalField(max_digits=None, decimal_places=2, read_only=True, **kwargs)


class CartLineOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk", read_only=True)
    offer = serializers.IntegerField(source="line.offer_id", read_only=True)
    product_slug = serializers.CharField(read_only=True)
    product_title = serializers.CharField(read_only=True)
    seller = serializers.CharField(source="seller_name", read_only=True)
    quantity = serializers.IntegerField(read_only=True)
    unit_price = _amount(help_text=_("Today's price of one unit."))
    price_when_added = _amount(help_text=_("The price of one unit when it was put in the cart."))
    price_changed = serializers.BooleanField(
        read_only=True, help_text=_("`unit_price` differs from `price_when_added`.")
    )
    currency = serializers.CharField(read_only=True)
    line_total = _amount(help_text=_("`unit_price` times `quantity`."))
    available = serializers.IntegerField(read_only=True, help_text=_("Units in stock now."))
    problem = serializers.ChoiceField(
        choices=[
            (selectors.INACTIVE, _("The offer can no longer be bought.")),
            (selectors.OUT_OF_STOCK, _("Out of stock.")),
            (selectors.ONLY_N_LEFT, _("Fewer units in stock than the quantity (see `available`).")),
        ],
        allow_null=True, read_only=True,
        help_text=_("Why the line cannot be bought as it is; null when it can. Such lines are kept in the cart "
                    "but left out of the subtotal."),
    )
    thumbnail = serializers.CharField(source="thumbnail_url", allow_null=True, read_only=True)


class CartGiftCardOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    amount = serializers.DecimalField(max_digits=12, decimal_places=2, read_only=True)
    recipient_email = serializers.EmailField(read_only=True)
    recipient_name = serializers.CharField(read_only=True)
    sender_name = serializers.CharField(read_only=True)
    message = serializers.CharField(read_only=True)
    deliver_on = serializers.DateField(read_only=True, help_text=_("The day the card is e-mailed to its recipient."))


class CartGiftCardAddInputSerializer(serializers.Serializer):
    amount = serializers.DecimalField(max_digits=12, decimal_places=2, help_text=_(
        "One of the shop's fixed amounts, or an amount within its custom limits (GIFT_CARD_* settings)."))
    recipient_email = serializers.EmailField(max_length=254, help_text=_("Where the card's code is e-mailed."))
    recipient_name = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    sender_name = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    message = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    deliver_on = serializers.DateField(required=False, allow_null=True, default=None, help_text=_(
        "The day to e-mail it, from today to a year ahead; empty: as soon as the order is paid."))


class CartOutputSerializer(serializers.Serializer):
    lines = CartLineOutputSerializer(many=True, read_only=True)
    gift_cards = CartGiftCardOutputSerializer(many=True, read_only=True, help_text=_(
        "Gift cards being bought: each is one card for one recipient, paid by card, issued once the order is paid."))
    item_count = serializers.IntegerField(read_only=True, help_text=_("Units in the cart, all lines."))
    sellable_count = serializers.IntegerField(read_only=True, help_text=_("Units of the lines without a problem."))
    subtotal = _amount(help_text=_("Sum of the lines without a problem, at today's prices."))
    currency = serializers.CharField(read_only=True)
    has_problems = serializers.BooleanField(read_only=True)


# --- voucher ----------------------------------------------------------------------------------------


class CartVoucherInputSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=64, help_text=_("The voucher code (any case)."))


class CartVoucherOutputSerializer(serializers.Serializer):
    code = serializers.CharField()
    label = serializers.CharField(help_text=_("The discount line as the cart shows it."))
    amount = serializers.DecimalField(max_digits=12, decimal_places=2, help_text=_("What it takes off."))
    subtotal = serializers.DecimalField(max_digits=12, decimal_places=2)
    discount = serializers.DecimalField(
        max_digits=12, decimal_places=2, help_text=_("Every discount of the cart, this voucher's included.")
    )
    currency = serializers.CharField()


# --- checkout: quote and place order -----------------------------------------------------------------


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
    shipping_choices = serializers.DictField(
        child=serializers.CharField(max_length=40), required=False, default=dict,
        help_text="Package key -> shipping option code, as the quote lists them; a package left out ships by its "
                  "cheapest option. A key the cart lacks or an option not offered for that package is a 400 "
                  "`shipping_choice`, never replaced by another option.")
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
    gift_card_code = serializers.CharField(
        max_length=40, required=False, allow_blank=True,
        help_text="A gift card code: it pays first, up to what it holds (then store credit, then the card). "
                  "A code that cannot be used is a 400 `invalid_gift_card` on this field.")
    use_store_credit = serializers.BooleanField(
        required=False, default=False,
        help_text="Signed-in customers: pay what your store credit covers from it and the card the rest "
                  "(no card needed when it covers everything).")


class ShippingOptionOutputSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    price = serializers.DecimalField(max_digits=12, decimal_places=2, source="price.amount")
    earliest = serializers.DateField()
    latest = serializers.DateField()
    members_only = serializers.BooleanField(help_text=_("Offered to members with faster shipping only."))


class QuoteLineOutputSerializer(serializers.Serializer):
    offer = serializers.IntegerField(source="offer_id")
    product_title = serializers.CharField()
    seller = serializers.CharField(source="seller_name")
    quantity = serializers.IntegerField()
    unit_price = serializers.DecimalField(max_digits=12, decimal_places=2, source="unit_price.amount")
    regular_unit_price = serializers.DecimalField(
        max_digits=12, decimal_places=2, source="regular_unit_price.amount", allow_null=True, default=None,
        help_text=_("The non-member price, when your member price applies (else null)."),
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
        help_text=_("Every option is free thanks to your membership.")
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
    gift_cards_total = serializers.DecimalField(max_digits=12, decimal_places=2, source="gift_cards_total.amount",
                                                help_text=_("Gift cards bought: in `total`, outside tax and shipping."))
    total = serializers.DecimalField(max_digits=12, decimal_places=2, source="total.amount")
    unavailable = serializers.ListField(child=serializers.IntegerField())
    discounts = DiscountOutputSerializer(many=True)
    voucher_error = serializers.CharField()
    member_plan = serializers.CharField(help_text=_("The membership whose benefits priced this cart."))
    member_savings = serializers.SerializerMethodField(
        help_text=_("For a non-member: how much less this would cost with the featured membership.")
    )

    @extend_schema_field(serializers.DecimalField(max_digits=12, decimal_places=2, allow_null=True))
    def get_member_savings(self, priced) -> str | None:
        savings = self.context.get("member_savings")
        return f"{savings.amount.amount:.2f}" if savings else None


class OrderPaymentOutputSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["paid", "requires_action"], help_text=_(
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
