"""Invoices and credit notes as the API shows them to the shopper (output only)."""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from finance import invoices

MONEY = {"max_digits": 12, "decimal_places": 2}


class PdfOutputSerializer(serializers.Serializer):
    url = serializers.URLField(help_text="Where the PDF is downloaded (the same access rules as the order).")


class TaxRateOutputSerializer(serializers.Serializer):
    rate = serializers.DecimalField(max_digits=6, decimal_places=4, help_text="0.0825 for 8.25%.")
    net = serializers.DecimalField(**MONEY)
    tax = serializers.DecimalField(**MONEY)
    gross = serializers.DecimalField(**MONEY)


class DocumentLineOutputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["item", "shipping"])
    title = serializers.CharField()
    sku = serializers.CharField()
    quantity = serializers.IntegerField()
    unit_price = serializers.DecimalField(**MONEY)
    discount = serializers.DecimalField(**MONEY)
    total = serializers.DecimalField(**MONEY, help_text="Price times quantity less the discount, as the order "
                                                        "shows it (tax included when `prices_include_tax`).")
    tax_rate = serializers.DecimalField(max_digits=6, decimal_places=4)
    tax = serializers.DecimalField(**MONEY)
    net = serializers.DecimalField(**MONEY, help_text="Without tax.")
    gross = serializers.DecimalField(**MONEY, help_text="What the buyer paid (or is credited), tax included.")


def _pdf(request, document, url_name: str) -> dict:
    url = reverse(url_name, args=[document.pk])
    return {"url": request.build_absolute_uri(url) if request else url}


class CreditNoteOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField(help_text="In the seller's own gapless series of credit notes: CN-<seller>-000001.")
    issued_at = serializers.DateTimeField()
    reason = serializers.CharField()
    currency = serializers.CharField()
    shipping = serializers.DecimalField(**MONEY)
    net = serializers.DecimalField(**MONEY)
    tax = serializers.DecimalField(**MONEY)
    total = serializers.DecimalField(**MONEY, help_text="What is credited, tax included.")
    tax_by_rate = serializers.SerializerMethodField()
    lines = DocumentLineOutputSerializer(many=True, source="lines.all")
    pdf = serializers.SerializerMethodField()

    @extend_schema_field(TaxRateOutputSerializer(many=True))
    def get_tax_by_rate(self, note) -> list[dict]:
        return TaxRateOutputSerializer(invoices.tax_by_rate(note.lines.all()), many=True).data  # prefetched

    @extend_schema_field(PdfOutputSerializer)
    def get_pdf(self, note) -> dict:
        return _pdf(self.context.get("request"), note, "api-credit-note-pdf")


class InvoiceOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField(help_text="In the seller's own gapless series of invoices: INV-<seller>-000001.")
    issued_at = serializers.DateTimeField()
    order = serializers.CharField(source="order_number")
    seller = serializers.CharField(source="seller_name", help_text="The merchant of record of these lines.")
    seller_legal_name = serializers.CharField()
    seller_tax_id = serializers.CharField()
    seller_address = serializers.CharField()
    billing_address = serializers.DictField()
    shipping_address = serializers.DictField()
    currency = serializers.CharField()
    prices_include_tax = serializers.BooleanField()
    subtotal = serializers.DecimalField(**MONEY, help_text="The items' prices times quantities.")
    discount = serializers.DecimalField(**MONEY)
    shipping = serializers.DecimalField(**MONEY)
    net = serializers.DecimalField(**MONEY)
    tax = serializers.DecimalField(**MONEY)
    total = serializers.DecimalField(**MONEY, help_text="What the buyer paid this seller, tax included.")
    tax_by_rate = serializers.SerializerMethodField()
    lines = DocumentLineOutputSerializer(many=True, source="lines.all")
    credit_notes = CreditNoteOutputSerializer(many=True, source="credit_notes.all")
    pdf = serializers.SerializerMethodField()

    @extend_schema_field(TaxRateOutputSerializer(many=True))
    def get_tax_by_rate(self, invoice) -> list[dict]:
        return TaxRateOutputSerializer(invoices.tax_by_rate(invoice.lines.all()), many=True).data  # prefetched

    @extend_schema_field(PdfOutputSerializer)
    def get_pdf(self, invoice) -> dict:
        return _pdf(self.context.get("request"), invoice, "api-invoice-pdf")
