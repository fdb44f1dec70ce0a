"""Fulfilment in the API: what a client sends and what it gets back, for inventory files, inbound
shipments, removal orders and purchase orders (input and output serializers separate)."""

from __future__ import annotations

from decimal import Decimal

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api import AmountInputField, StrictInputSerializer, flat_errors
from fulfillment import inbound
from fulfillment.models import InboundShipment, InventoryUpload, PurchaseOrder, RemovalOrder


class InventoryUploadInputSerializer(StrictInputSerializer):
    """A CSV file of offers and stock (``multipart/form-data``)."""

    file = serializers.FileField(help_text=gettext_lazy(
        "CSV, UTF-8: sku (required), product, price, quantity, condition, list_price, member_price, "
        "handling_days, active. A new SKU needs product and price; an empty cell leaves a value as it is."))
    seller = serializers.CharField(required=False, max_length=140, help_text=gettext_lazy(
        "Slug of the seller; may be left out by members of exactly one seller."))
    dry_run = serializers.BooleanField(default=True, help_text=gettext_lazy(
        "true (default): report what would change and change nothing; false: apply the valid rows."))
    warehouse = serializers.CharField(required=False, max_length=32, help_text=gettext_lazy(
        "Code of the seller's location the quantities are counted in (default: its first location)."))


class InventoryRowOutputSerializer(serializers.Serializer):
    line = serializers.IntegerField()
    sku = serializers.CharField()
    result = serializers.ChoiceField(choices=["created", "updated", "error"])
    changes = serializers.ListField(child=serializers.CharField())
    errors = serializers.ListField(child=serializers.CharField())


class InventoryUploadOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    seller = serializers.CharField(source="seller.slug")
    warehouse = serializers.CharField(source="warehouse.code", allow_null=True, default=None)
    file_name = serializers.CharField()
    dry_run = serializers.BooleanField()
    status = serializers.ChoiceField(choices=InventoryUpload.Status.choices, help_text=gettext_lazy(
        "queued and running: ask again for progress; done or failed when finished."))
    total_rows = serializers.IntegerField()
    processed_rows = serializers.IntegerField()
    created = serializers.IntegerField(source="created_count")
    updated = serializers.IntegerField(source="updated_count")
    unchanged = serializers.IntegerField(source="unchanged_count")
    errors = serializers.IntegerField(source="error_count")
    failure = serializers.CharField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)


class InventoryUploadDetailOutputSerializer(InventoryUploadOutputSerializer):
    rows = InventoryRowOutputSerializer(source="report", many=True, help_text=gettext_lazy(
        "Every new, changed or refused row (unchanged rows are only counted)."))


def unknown(kind: str, value: str) -> serializers.ValidationError:
    return serializers.ValidationError(_("Unknown %(kind)s: %(value)s") % {"kind": kind, "value": value})


# --- shared: nested input whose errors name the row ----------------------------------------------


class FlatErrorsInputSerializer(StrictInputSerializer):
    """A JSON body with a list of rows: an error in a row is reported on ``<list>[<index>].<field>``."""

    def run_validation(self, data=serializers.empty):
        try:
            return super().run_validation(data)
        except serializers.ValidationError as exc:
            raise serializers.ValidationError(flat_errors(exc.detail)) from None


MAX_UNITS = 100_000
MAX_ID = 2_147_483_647  # an id column's largest value: a larger number is "not found", never a database error


class OfferRefInputSerializer(StrictInputSerializer):
    """One offer of the seller, by its SKU or by its id (one of the two)."""

    sku = serializers.CharField(required=False, max_length=64, help_text=gettext_lazy("The offer's SKU."))
    offer = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID,
                                     help_text=gettext_lazy("The offer's id (instead of its SKU)."))

    def validate(self, attrs):
        if ("sku" in attrs) == ("offer" in attrs):
            raise serializers.ValidationError(_("Name the offer by its sku or by its id (offer): one of the two."))
        return attrs


class WarehouseRefOutputSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    city = serializers.CharField()
    country = serializers.CharField()


# --- inbound shipments ---------------------------------------------------------------------------


class InboundItemInputSerializer(OfferRefInputSerializer):
    quantity = serializers.IntegerField(min_value=1, max_value=MAX_UNITS, help_text=gettext_lazy(
        "Units sent, 1 to 100,000."))


class InboundItemSetInputSerializer(OfferRefInputSerializer):
    quantity = serializers.IntegerField(min_value=0, max_value=MAX_UNITS, help_text=gettext_lazy(
        "Units sent, 1 to 100,000; 0 takes the offer out of the plan."))


MAX_ITEMS = 200


class InboundCreateInputSerializer(FlatErrorsInputSerializer):
    """A draft plan for one seller: offers fulfilled by Bazaar and their units."""

    seller = serializers.CharField(required=False, max_length=140, help_text=gettext_lazy(
        "Slug of the seller; may be left out by members of exactly one seller."))
    name = serializers.CharField(required=False, allow_blank=True, max_length=80, help_text=gettext_lazy(
        "Your own label for the shipment (default: \"Shipment of <date>\")."))
    box_count = serializers.IntegerField(required=False, default=1, min_value=1, max_value=200,
                                         help_text=gettext_lazy("Boxes, 1 to 200: one label each."))
    items = InboundItemInputSerializer(many=True, required=False, max_length=MAX_ITEMS, help_text=gettext_lazy(
        "Offers fulfilled by Bazaar and their units, each offer once (at most 200; more with "
        "POST .../items/)."))


class InboundUpdateInputSerializer(StrictInputSerializer):
    name = serializers.CharField(required=False, max_length=80)
    box_count = serializers.IntegerField(required=False, min_value=1, max_value=200)


class InboundShipInputSerializer(StrictInputSerializer):
    carrier = serializers.CharField(max_length=60, help_text="Who has the boxes (UPS, FedEx, a freight company).")
    tracking_number = serializers.CharField(max_length=60, help_text="The carrier's tracking (or PRO) number.")


class InboundItemOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    offer = serializers.IntegerField(source="offer_id")
    sku = serializers.CharField(source="offer.sku")
    title = serializers.CharField(source="offer.product.title")
    quantity = serializers.IntegerField(help_text=gettext_lazy("Units sent (expected)."))
    received = serializers.IntegerField(help_text=gettext_lazy("Units counted into stock so far."))
    discrepancy = serializers.IntegerField(allow_null=True, help_text=gettext_lazy(
        "Received minus sent, recorded when the shipment closes (negative: a shortage; positive: an "
        "overage); null until then."))


class InboundShipmentOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField(help_text=gettext_lazy("The id on the box labels, e.g. IB0000012."))
    seller = serializers.CharField(source="seller.slug")
    name = serializers.CharField()
    status = serializers.ChoiceField(choices=InboundShipment.Status.choices)
    destination = WarehouseRefOutputSerializer(source="warehouse", allow_null=True, help_text=gettext_lazy(
        "The Bazaar centre, chosen by Bazaar when the shipment is marked ready; null before."))
    box_count = serializers.IntegerField()
    item_count = serializers.IntegerField()
    units = serializers.IntegerField(help_text=gettext_lazy("Units planned, all items together."))
    carrier = serializers.CharField()
    tracking_number = serializers.CharField()
    created_at = serializers.DateTimeField()
    ready_at = serializers.DateTimeField(allow_null=True)
    shipped_at = serializers.DateTimeField(allow_null=True)
    void_until = serializers.SerializerMethodField(help_text=gettext_lazy(
        "While shipped: until when it may still be voided; null otherwise."))
    receiving_at = serializers.DateTimeField(allow_null=True)
    closed_at = serializers.DateTimeField(allow_null=True)
    cancelled_at = serializers.DateTimeField(allow_null=True)

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_void_until(self, shipment):
        deadline = inbound.inbound_void_deadline(shipment)
        return serializers.DateTimeField().to_representation(deadline) if deadline else None


class InboundShipmentDetailOutputSerializer(InboundShipmentOutputSerializer):
    items = InboundItemOutputSerializer(many=True, help_text=gettext_lazy(
        "Per offer: units sent, received and, once closed, the discrepancy."))


# --- removal orders ------------------------------------------------------------------------------


class RemovalCreateInputSerializer(FlatErrorsInputSerializer, OfferRefInputSerializer):
    """Units of one of the seller's offers to get back from Bazaar."""

    seller = serializers.CharField(required=False, max_length=140, help_text=gettext_lazy(
        "Slug of the seller; may be left out by members of exactly one seller."))
    quantity = serializers.IntegerField(min_value=1, max_value=MAX_UNITS, help_text=gettext_lazy(
        "Units to get back, 1 to 100,000 (no more than one Bazaar centre has available)."))


class RemovalOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField(source="__str__", help_text=gettext_lazy("e.g. RM0000007."))
    seller = serializers.CharField(source="seller.slug")
    offer = serializers.IntegerField(source="offer_id")
    sku = serializers.CharField(source="offer.sku")
    title = serializers.CharField(source="offer.product.title")
    source = WarehouseRefOutputSerializer(source="warehouse", help_text=gettext_lazy(
        "The Bazaar centre the units leave from (the one holding the most available units)."))
    quantity = serializers.IntegerField()
    status = serializers.ChoiceField(choices=RemovalOrder.Status.choices)
    fee_per_unit = serializers.DecimalField(max_digits=8, decimal_places=2, allow_null=True, help_text=gettext_lazy(
        "The removal fee charged per unit, set when Bazaar sends the units."))
    currency = serializers.CharField(source="offer.currency")
    created_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)


# --- purchase orders -----------------------------------------------------------------------------


class PurchaseOrderLineInputSerializer(OfferRefInputSerializer):
    quantity = serializers.IntegerField(min_value=1, max_value=1_000_000, help_text=gettext_lazy(
        "Units ordered, 1 to 1,000,000."))
    unit_cost = AmountInputField(min_value=Decimal("0.01"), help_text=gettext_lazy(
        "Cost per unit in the shop currency, above zero."))


class PurchaseOrderCreateInputSerializer(FlatErrorsInputSerializer):
    """A draft purchase order: house offers from one supplier for one Bazaar centre."""

    supplier = serializers.IntegerField(min_value=1, max_value=MAX_ID, help_text=gettext_lazy("The supplier's id."))
    warehouse = serializers.CharField(max_length=32, help_text=gettext_lazy(
        "Code of the active Bazaar centre it is delivered to."))
    lines = PurchaseOrderLineInputSerializer(many=True, allow_empty=False, max_length=MAX_ITEMS,
                                             help_text=gettext_lazy("Bazaar's own offers, each once (1 to 200)."))


class SupplierRefOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class PurchaseOrderLineOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    offer = serializers.IntegerField(source="offer_id")
    sku = serializers.CharField(source="offer.sku")
    title = serializers.CharField(source="offer.product.title")
    quantity = serializers.IntegerField()
    unit_cost = serializers.DecimalField(max_digits=12, decimal_places=2)
    currency = serializers.CharField(source="offer.currency")
    received = serializers.IntegerField()
    discrepancy = serializers.IntegerField(allow_null=True, help_text=gettext_lazy(
        "Received minus ordered, recorded when the order closes; null until then."))


class PurchaseOrderOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField(help_text=gettext_lazy("e.g. PO0000003."))
    supplier = SupplierRefOutputSerializer()
    warehouse = WarehouseRefOutputSerializer()
    status = serializers.ChoiceField(choices=PurchaseOrder.Status.choices)
    line_count = serializers.IntegerField()
    units = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    ordered_at = serializers.DateTimeField(allow_null=True)
    expected_on = serializers.DateField(allow_null=True, help_text=gettext_lazy(
        "Ordered on plus the supplier's lead time."))
    closed_at = serializers.DateTimeField(allow_null=True)


class PurchaseOrderDetailOutputSerializer(PurchaseOrderOutputSerializer):
    lines = PurchaseOrderLineOutputSerializer(many=True)


class ReorderSuggestionOutputSerializer(serializers.Serializer):
    offer = serializers.IntegerField(source="offer_id")
    sku = serializers.CharField()
    title = serializers.CharField()
    supplier = serializers.IntegerField(source="supplier_id")
    supplier_name = serializers.CharField(source="supplier")
    unit_cost = serializers.DecimalField(max_digits=12, decimal_places=2)
    daily_sales = serializers.DecimalField(max_digits=12, decimal_places=2, help_text=gettext_lazy(
        "Units shipped per day over the last PURCHASING_VELOCITY_DAYS days."))
    available = serializers.IntegerField()
    on_order = serializers.IntegerField(help_text=gettext_lazy("Units still to come on open purchase orders."))
    reorder_point = serializers.IntegerField()
    quantity = serializers.IntegerField(help_text=gettext_lazy("What to order now."))
