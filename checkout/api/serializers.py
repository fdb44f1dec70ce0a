"""Cart API serializers: input (what a client may send) and output (the cart as the selectors see it).

Output serializers read only what :func:`checkout.selectors.cart_view` loaded: they never query.
"""

from __future__ import annotations

from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from checkout import selectors
from checkout.models import MAX_LINE_QUANTITY
from core.api import StrictInputSerializer

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


class CartOutputSerializer(serializers.Serializer):
    lines = CartLineOutputSerializer(many=True, read_only=True)
    item_count = serializers.IntegerField(read_only=True, help_text=_("Units in the cart, all lines."))
    sellable_count = serializers.IntegerField(read_only=True, help_text=_("Units of the lines without a problem."))
    subtotal = _amount(help_text=_("Sum of the lines without a problem, at today's prices."))
    currency = serializers.CharField(read_only=True)
    has_problems = serializers.BooleanField(read_only=True)
