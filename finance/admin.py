"""Finance admin: the referral fee rules, platform staff only (sellers' roles carry no permission
for them), saved through the service so orders placed from then on use them; the seller ledger,
read-only, each seller's members seeing their own entries; invoices and credit notes, read-only,
with their PDFs, each seller's members seeing their own."""

from __future__ import annotations

import csv
from decimal import Decimal

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from core import cache as vcache
from core.admin import (
    InvalidateAfterDeleteMixin,
    ReadOnlyAdminMixin,
    ReadOnlyInline,
    ServiceErrorsAdminMixin,
    money_column,
)
from core.exceptions import ApplicationError
from finance import invoices, selectors, services
from finance.models import (
    Adjustment,
    CreditNote,
    CreditNoteLine,
    Invoice,
    InvoiceLine,
    LedgerEntry,
    Payout,
    ReferralFeeRule,
    SellerHealth,
)
from marketplace.admin_scoping import SellerScopedAdminMixin, seller_scope


@admin.register(ReferralFeeRule)
class ReferralFeeRuleAdmin(ServiceErrorsAdminMixin, InvalidateAfterDeleteMixin, admin.ModelAdmin):
    list_display = ("category_column", "seller_column", "percent", "minimum_per_unit", "updated_at")
    list_filter = (("seller", admin.RelatedOnlyFieldListFilter), ("category", admin.RelatedOnlyFieldListFilter))
    search_fields = ("category__name", "seller__name")
    autocomplete_fields = ("category", "seller")
    readonly_fields = ("updated_at",)
    list_select_related = ("category", "seller")

    @admin.display(description=_("category"), ordering="category__name")
    def category_column(self, obj: ReferralFeeRule) -> str:
        return str(obj.category) if obj.category_id else _("every category")

    @admin.display(description=_("seller"), ordering="seller__name")
    def seller_column(self, obj: ReferralFeeRule) -> str:
        return str(obj.seller) if obj.seller_id else _("every seller")

    def save_model(self, request, obj, form, change):
        services.referral_fee_rule_save(rule=obj)

    def after_delete(self) -> None:
        vcache.bump(selectors.NAMESPACE)


def _csv(filename: str, entries) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = csv.writer(response)
    writer.writerow(selectors.STATEMENT_COLUMNS)
    for row in selectors.statement_rows(entries):
        writer.writerow([_spreadsheet_safe(value) for value in row])
    return response


def _spreadsheet_safe(value):
    """Text a spreadsheet would run as a formula is written as text (CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r") and not _is_number(value):
        return "'" + value
    return value


def _is_number(text: str) -> bool:
    try:
        Decimal(text)
    except ArithmeticError:
        return False
    return True


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdminMixin, SellerScopedAdminMixin, admin.ModelAdmin):
    """The seller ledger: every movement of a seller's money, read-only (sellers see their own).
    A statement of any period: filter by date, select, and download as CSV."""

    actions = ["download_csv"]

    seller_lookup = "seller"
    list_display = ("created_at", "seller", "kind", "amount_column", "order_number", "description")
    list_filter = ("kind", ("seller", admin.RelatedOnlyFieldListFilter))
    search_fields = ("order_number", "description")
    date_hierarchy = "created_at"
    list_select_related = ("seller",)
    fields = ("created_at", "seller", "kind", "amount", "currency", "source_type", "source_id", "order_number",
              "event_id", "description")
    readonly_fields = fields

    @admin.display(description=_("amount"), ordering="amount")
    def amount_column(self, obj: LedgerEntry) -> str:
        return money_column(obj.amount, obj.currency)

    @admin.action(description=_("Download the selected entries as CSV (a statement)"), permissions=["view"])
    def download_csv(self, request, queryset):
        return _csv("ledger-statement.csv", queryset.select_related(None))

    def changelist_view(self, request, extra_context=None):
        """Above the list: the balance and reserve of the seller (one seller in scope, or filtered)."""
        seller_id = request.GET.get("seller__id__exact")
        scope = seller_scope(request)
        if scope is not None and len(scope) == 1:
            seller_id = next(iter(scope))
        if seller_id and str(seller_id).isdigit() and (scope is None or int(seller_id) in scope):
            balance = selectors.seller_balance(seller_id=int(seller_id))
            pending = selectors.pending_payout_total(seller_id=int(seller_id))
            expected = max(balance.available - pending, 0)
            extra_context = {**(extra_context or {}), "subtitle": _(
                "Available %(available)s, reserved %(reserved)s; next payout on %(date)s: %(expected)s") % {
                "available": money_column(balance.available, balance.currency),
                "reserved": money_column(balance.reserved, balance.currency),
                "date": date_format(selectors.next_settlement_date(timezone.localdate()), "DATE_FORMAT"),
                "expected": money_column(expected, balance.currency)}}
        return super().changelist_view(request, extra_context)


@admin.register(Payout)
class PayoutAdmin(ReadOnlyAdminMixin, SellerScopedAdminMixin, admin.ModelAdmin):
    """Payouts, read-only: created and sent by the payout run (sellers see their own)."""

    seller_lookup = "seller"
    list_display = ("settled_on", "seller", "amount_column", "status", "attempts", "provider_reference", "paid_at")
    list_filter = ("status", ("seller", admin.RelatedOnlyFieldListFilter))
    search_fields = ("provider_reference",)
    list_select_related = ("seller",)
    fields = ("seller", "settled_on", "amount", "currency", "status", "provider", "provider_reference", "attempts",
              "last_error", "created_at", "paid_at")
    readonly_fields = fields

    actions = ["download_statement"]

    @admin.display(description=_("amount"), ordering="amount")
    def amount_column(self, obj: Payout) -> str:
        return money_column(obj.amount, obj.currency)

    @admin.action(description=_("Download the statement of the selected payout (CSV)"), permissions=["view"])
    def download_statement(self, request, queryset):
        payouts = list(queryset[:2])
        if len(payouts) != 1:
            self.message_user(request, _("Select one payout."), level=messages.WARNING)
            return None
        payout = payouts[0]
        return _csv(f"payout-{payout.seller_id}-{payout.settled_on}.csv", selectors.payout_statement(payout=payout))


@admin.register(Adjustment)
class AdjustmentAdmin(ServiceErrorsAdminMixin, admin.ModelAdmin):
    """Corrections of a seller's balance by platform staff, each with its reason; posted to the
    ledger when saved and never changed or deleted afterwards (a mistake is another adjustment)."""

    list_display = ("created_at", "seller", "amount", "reason", "created_by")
    list_filter = (("seller", admin.RelatedOnlyFieldListFilter),)
    search_fields = ("reason", "seller__name")
    autocomplete_fields = ("seller",)
    fields = ("seller", "amount", "reason")
    list_select_related = ("seller", "created_by")

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        saved = services.ledger_adjust(seller_id=obj.seller_id, amount=obj.amount, reason=obj.reason,
                                       actor=request.user)
        obj.pk = saved.pk


@admin.register(SellerHealth)
class SellerHealthAdmin(ReadOnlyAdminMixin, SellerScopedAdminMixin, admin.ModelAdmin):
    """Account health by day, each rate against its target (sellers see their own)."""

    seller_lookup = "seller"
    list_display = ("computed_on", "seller", "order_defect_rate", "cancel_rate", "late_shipment_rate",
                    "valid_tracking_rate", "on_time_delivery_rate", "orders", "shipped", "delivered", "eligible",
                    "problems")
    list_filter = ("eligible", ("seller", admin.RelatedOnlyFieldListFilter))
    date_hierarchy = "computed_on"
    list_select_related = ("seller",)


# --- invoices and credit notes ---------------------------------------------------------------------------


class InvoiceLineInline(ReadOnlyInline):
    model = InvoiceLine
    fields = ("position", "kind", "title", "sku", "quantity", "unit_price", "discount", "total", "tax_rate", "tax",
              "net", "gross")
    readonly_fields = fields


class CreditNoteLineInline(ReadOnlyInline):
    model = CreditNoteLine
    fields = ("position", "kind", "title", "sku", "quantity", "unit_price", "discount", "total", "tax_rate", "tax",
              "net", "gross")
    readonly_fields = fields


class CreditNoteInline(ReadOnlyInline):
    model = CreditNote
    fields = ("number", "issued_at", "reason", "total", "currency")
    readonly_fields = fields
    show_change_link = True


class DocumentAdminMixin(ReadOnlyAdminMixin, SellerScopedAdminMixin):
    """An invoice or credit note, read-only, with its PDF: a seller's members see their seller's
    (their role's view permission), platform staff with the view permission every seller's."""

    seller_lookup = "seller"
    date_hierarchy = "issued_at"
    list_filter = (("seller", admin.RelatedOnlyFieldListFilter),)
    search_fields = ("=number", "=order_number")
    list_select_related = ("seller",)
    show_full_result_count = False

    @admin.display(description=_("total"), ordering="total")
    def total_column(self, obj) -> str:
        return money_column(obj.total, obj.currency)

    @admin.display(description=_("PDF"))
    def pdf_link(self, obj) -> str:
        if obj is None or not obj.pk:
            return "-"
        name = f"admin:{self.opts.app_label}_{self.opts.model_name}_pdf"
        return format_html('<a href="{}">{}</a>', reverse(name, args=[obj.pk]),
                           _("Download %(number)s.pdf") % {"number": obj.number})

    def get_urls(self):
        name = f"{self.opts.app_label}_{self.opts.model_name}_pdf"
        return [path("<int:pk>/pdf/", self.admin_site.admin_view(self.pdf_view), name=name), *super().get_urls()]

    def pdf_view(self, request, pk: int):
        """The PDF, for whoever may see the document here (scoped like the list)."""
        document = get_object_or_404(self.get_queryset(request), pk=pk)
        if not self.has_view_permission(request, document):
            raise DjangoPermissionDenied
        try:
            pdf = invoices.document_file(document)
        except ApplicationError as exc:  # storage unavailable, or the kept copy missing: nothing to download
            raise Http404(exc.message)
        return FileResponse(pdf, content_type="application/pdf", as_attachment=True, filename=f"{document.number}.pdf")


@admin.register(Invoice)
class InvoiceAdmin(DocumentAdminMixin, admin.ModelAdmin):
    """Invoices: one per seller and paid order, numbered in the seller's gapless series."""

    list_display = ("number", "issued_at", "seller", "order_number", "total_column", "pdf_link")
    fields = ("number", "issued_at", "seller", "seller_legal_name", "seller_tax_id", "seller_address",
              "order_number", "buyer_email", "billing_address", "shipping_address", "currency",
              "prices_include_tax", "subtotal", "discount", "shipping", "net", "tax", "total", "tax_summary",
              "pdf_link", "event_id")
    readonly_fields = fields
    inlines = [InvoiceLineInline, CreditNoteInline]

    @admin.display(description=_("tax per rate"))
    def tax_summary(self, obj: Invoice) -> str:
        return "; ".join(f"{row.label}: {money_column(row.tax, obj.currency)} on {money_column(row.net, obj.currency)}"
                         for row in invoices.tax_by_rate(obj.lines.all())) or "-"


@admin.register(CreditNote)
class CreditNoteAdmin(DocumentAdminMixin, admin.ModelAdmin):
    """Credit notes: what was given back on an invoice, and why (the seller's own gapless series)."""

    list_display = ("number", "issued_at", "seller", "order_number", "invoice", "total_column", "reason", "pdf_link")
    list_select_related = ("seller", "invoice")
    fields = ("number", "issued_at", "seller", "invoice", "order_number", "reason", "source", "currency",
              "shipping", "net", "tax", "total", "pdf_link", "event_id")
    readonly_fields = fields
    inlines = [CreditNoteLineInline]
