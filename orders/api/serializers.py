from rest_framework import serializers

from orders import selectors


class OrderLineOutputSerializer(serializers.Serializer):
    product_title = serializers.CharField()
    product_slug = serializers.CharField()
    sku = serializers.CharField()
    seller = serializers.CharField(source="seller_name")
    quantity = serializers.IntegerField()
    unit_price = serializers.DecimalField(max_digits=12, decimal_places=2)
    discount = serializers.DecimalField(max_digits=12, decimal_places=2)
    tax = serializers.DecimalField(max_digits=12, decimal_places=2)
    total = serializers.DecimalField(max_digits=12, decimal_places=2)


class OrderDiscountOutputSerializer(serializers.Serializer):
    label = serializers.CharField(help_text="The discount as the shopper saw it (\"Spend $50 on Books, save 10%\").")
    code = serializers.CharField(help_text="The voucher code, for a voucher; empty otherwise.")
    amount = serializers.DecimalField(max_digits=12, decimal_places=2, help_text="0 for free shipping.")


class PackageOutputSerializer(serializers.Serializer):
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
    can_cancel = serializers.SerializerMethodField()

    def get_can_cancel(self, order) -> bool:
        return selectors.order_can_cancel(order=order)  # uses prefetched packages: no query


class OrderSummaryOutputSerializer(serializers.Serializer):
    number = serializers.CharField()
    status = serializers.CharField()
    placed_at = serializers.DateTimeField()
    currency = serializers.CharField()
    total = serializers.DecimalField(max_digits=12, decimal_places=2)
