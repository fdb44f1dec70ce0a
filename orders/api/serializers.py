from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from orders import selectors


class OrderLineOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    product_title = serializers.CharField()
    product_slug = serializers.CharField()
    sku = serializers.CharField()
    seller = serializers.CharField(source="seller_name")
    quantity = serializers.IntegerField()
    unit_price = serializers.DecimalField(max_digits=12, decimal_places=2)
    discount = serializers.DecimalField(max_digits=12, decimal_places=2)
    tax = serializers.DecimalField(max_digits=12, decimal_places=2)
    total = serializers.DecimalField(max_digits=12, decimal_places=2)
    refunded_quantity = serializers.IntegerField()
    refunded_amount = serializers.DecimalField(max_digits=12, decimal_places=2)


class OrderDiscountOutputSerializer(serializers.Serializer):
    label = serializers.CharField(help_text="The discount as the shopper saw it (\"Spend $50 on Books, save 10%\").")
    code = serializers.CharField(help_text="The voucher code, for a voucher; empty otherwise.")
    amount = serializers.DecimalField(max_digits=12, decimal_places=2, help_text="0 for free shipping.")


class PackageOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    seller = serializers.CharField(source="seller_name")
    fulfillment_channel = serializers.CharField()
    shipping_method = serializers.CharField(source="shipping_method_name")
    shipping_price = serializers.DecimalField(max_digits=12, decimal_places=2)
    status = serializers.CharField()
    estimated_earliest = serializers.DateField(allow_null=True)
    estimated_latest = serializers.DateField(allow_null=True)
    tracking_number = serializers.CharField()
    carrier = serializers.CharField(
        help_text="The Bazaar carrier whose label it ships with (its tracking is followed); empty otherwise.")
    carrier_name = serializers.CharField(help_text="The carrier a seller ships with outside Bazaar; empty otherwise.")
    shipped_at = serializers.DateTimeField(allow_null=True)
    delivered_at = serializers.DateTimeField(allow_null=True)
    lines = OrderLineOutputSerializer(many=True, source="lines.all")


class RefundLineOutputSerializer(serializers.Serializer):
    line = serializers.IntegerField(source="line_id")
    product_title = serializers.CharField(source="line.product_title")
    quantity = serializers.IntegerField()
    amount = serializers.DecimalField(max_digits=12, decimal_places=2, help_text="Tax included.")
    tax = serializers.DecimalField(max_digits=12, decimal_places=2)


class RefundOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    items_amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    items_tax = serializers.DecimalField(max_digits=12, decimal_places=2)
    shipping_amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    gift_cards_bought_amount = serializers.DecimalField(
        max_digits=12, decimal_places=2, help_text="For gift cards the order bought, taken back unused.")
    deduction = serializers.DecimalField(max_digits=12, decimal_places=2,
                                         help_text="Taken off what is given back (a return label the shopper pays): "
                                                   "amount = items_amount + shipping_amount + gift_cards_bought_amount "
                                                   "- deduction.")
    deduction_label = serializers.CharField(help_text="What the deduction is for (empty without one).")
    reason = serializers.CharField()
    status = serializers.ChoiceField(choices=["pending", "succeeded", "failed"])
    to_store_credit = serializers.BooleanField()
    credit_amount = serializers.DecimalField(max_digits=12, decimal_places=2,
                                             help_text="The part given back as store credit; the rest to the card.")
    gift_card_amount = serializers.DecimalField(max_digits=12, decimal_places=2,
                                                help_text="The part put back onto the gift cards the order paid with.")
    created_at = serializers.DateTimeField()
    lines = RefundLineOutputSerializer(many=True, source="lines.all")


class RefundLineInputSerializer(serializers.Serializer):
    line = serializers.IntegerField(min_value=1, max_value=2**62, help_text="An order line's id (`lines[].id`).")
    quantity = serializers.IntegerField(min_value=1, max_value=1_000_000)


class RefundInputSerializer(serializers.Serializer):
    lines = RefundLineInputSerializer(many=True, required=False, max_length=500)
    shipping = serializers.ListField(child=serializers.IntegerField(min_value=1, max_value=2**62), required=False,
                                     max_length=100, help_text="Packages whose shipping is given back, whole.")
    gift_cards = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**62), required=False, max_length=100,
        help_text="Gift cards the order bought (`gift_cards[].id` of the order), taken back and given back whole; "
                  "only a card nobody has used.")
    reason = serializers.CharField(max_length=300, help_text="Why; the buyer reads it.")
    to_store_credit = serializers.BooleanField(required=False, default=False,
                                               help_text="Give it as the customer's store credit (orders with an "
                                                         "account, when the customer asked), not back to the card.")


class OrderGiftCardOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="What a refund of this card names (staff).")
    amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    recipient_email = serializers.EmailField()
    recipient_name = serializers.CharField()
    deliver_on = serializers.DateField()
    status = serializers.ChoiceField(choices=["pending", "issued", "withdrawn"], help_text=(
        "pending: issued once the payment is taken; issued: e-mailed on deliver_on; withdrawn: taken back when "
        "the order was cancelled or refunded."))


class OrderOutputSerializer(serializers.Serializer):
    number = serializers.CharField()
    status = serializers.CharField()
    placed_at = serializers.DateTimeField()
    email = serializers.EmailField()
    currency = serializers.CharField()
    prices_include_tax = serializers.BooleanField()
    subtotal = serializers.DecimalField(max_digits=12, decimal_places=2)
    discount = serializers.DecimalField(max_digits=12, decimal_places=2)
    discounts = OrderDiscountOutputSerializer(many=True, source="discounts.all")
    shipping = serializers.DecimalField(max_digits=12, decimal_places=2)
    tax = serializers.DecimalField(max_digits=12, decimal_places=2)
    total = serializers.DecimalField(max_digits=12, decimal_places=2)
    shipping_address = serializers.DictField()
    packages = PackageOutputSerializer(many=True, source="packages.all")
    refunded_amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    store_credit_used = serializers.DecimalField(max_digits=12, decimal_places=2,
                                                 help_text="Paid from store credit; the card paid the rest.")
    gift_card_used = serializers.DecimalField(max_digits=12, decimal_places=2, help_text="Paid with gift cards.")
    gift_cards_total = serializers.DecimalField(max_digits=12, decimal_places=2,
                                                help_text="Gift cards bought with the order (part of the total).")
    gift_cards = serializers.SerializerMethodField()
    refunds = RefundOutputSerializer(many=True, source="refunds.all")
    can_cancel = serializers.SerializerMethodField()

    @extend_schema_field(OrderGiftCardOutputSerializer(many=True))
    def get_gift_cards(self, order) -> list:
        """The gift cards the order bought (read only for orders that bought some)."""
        if not order.gift_cards_total:
            return []
        return OrderGiftCardOutputSerializer(order.gift_cards.all(), many=True).data

    def get_can_cancel(self, order) -> bool:
        return selectors.order_can_cancel(order=order)  # uses prefetched packages: no query


class OrderSummaryOutputSerializer(serializers.Serializer):
    number = serializers.CharField()
    status = serializers.CharField()
    placed_at = serializers.DateTimeField()
    currency = serializers.CharField()
    total = serializers.DecimalField(max_digits=12, decimal_places=2)
