"""Inventory files in the API: what a client sends (a multipart form) and what it gets back."""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import serializers

from core.api import StrictInputSerializer
from fulfillment.models import InventoryUpload


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
