from __future__ import annotations

from django.utils.translation import gettext_lazy
from rest_framework import serializers

from promotions import selectors


class DealFilterInputSerializer(serializers.Serializer):
    upcoming = serializers.BooleanField(
        required=False, default=False,
        help_text=gettext_lazy("1: the deals still to start (soonest first) instead of the live ones."),
    )


class DealProductOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    slug = serializers.SlugField()


class DealOutputSerializer(serializers.Serializer):
    """A lightning deal; the instance is a ``Deal`` with its offer, product and seller loaded."""

    id = serializers.IntegerField()
    label = serializers.CharField(help_text=gettext_lazy("May be empty; show the product title then."))
    offer = serializers.IntegerField(source="offer_id")
    product = DealProductOutputSerializer(source="offer.product")
    seller = serializers.CharField(source="offer.seller.name", help_text=gettext_lazy("The seller's name."))
    currency = serializers.CharField(source="offer.currency")
    price = serializers.DecimalField(source="offer.price", max_digits=12, decimal_places=2,
                                     help_text=gettext_lazy("The offer's price outside the deal."))
    deal_price = serializers.DecimalField(max_digits=12, decimal_places=2)
    percent_off = serializers.SerializerMethodField(help_text=gettext_lazy("Whole percent off the price."))
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    quantity_cap = serializers.IntegerField(help_text=gettext_lazy("Units offered at the deal price."))
    claimed = serializers.IntegerField(help_text=gettext_lazy("Units already claimed by orders."))
    percent_claimed = serializers.IntegerField(help_text=gettext_lazy("0 to 100."))
    per_order_limit = serializers.IntegerField(allow_null=True)
    members_only = serializers.BooleanField(help_text=gettext_lazy("The deal price applies to members only."))

    def get_percent_off(self, deal) -> int:
        return selectors.percent_off(deal.offer.price, deal.deal_price)
