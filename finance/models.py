"""Finance: what the platform charges sellers (referral fees, the seller ledger, payouts, account
health) and the documents of every sale (invoices and credit notes)."""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.files import private_storage
from core.money import check_equal


class ReferralFeeRule(models.Model):
    """The referral fee on a sale: a percentage of what the buyer pays for the items (before tax),
    at least a minimum per unit.

    A rule names a category (it applies to its whole subtree unless a deeper category has its
    own) or none (every category), and a seller (an override for that seller) or none (every
    seller). The rule for a line is, most specific first: the seller's rule for the product's
    category or its nearest ancestor, the seller's rule for every category, the category's rule
    (nearest ancestor), then the rule for every category and seller.
    """

    category = models.ForeignKey(
        "catalog.Category", null=True, blank=True, on_delete=models.CASCADE, related_name="+",
        verbose_name=_("category"), help_text=_("Empty: every category (unless a category has its own rule)."),
    )
    seller = models.ForeignKey(
        "marketplace.Seller", null=True, blank=True, on_delete=models.CASCADE, related_name="+",
        verbose_name=_("seller"), help_text=_("Empty: every seller (unless a seller has its own rule)."),
    )
    percent = models.DecimalField(
        _("percent"), max_digits=5, decimal_places=2,
        validators=[MinValueValidator(Decimal(0)), MaxValueValidator(Decimal(100))],
        help_text=_("Share of what the buyer pays for the items, before tax: 15 for 15%."),
    )
    minimum_per_unit = models.DecimalField(
        _("minimum per unit"), max_digits=12, decimal_places=2, default=Decimal("0.30"),
        validators=[MinValueValidator(Decimal(0))],
        help_text=_("The least charged for each unit sold, whatever its price."),
    )
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)

    class Meta:
        verbose_name = _("referral fee rule")
        verbose_name_plural = _("referral fee rules")
        ordering = ("seller__name", "category__name", "id")
        constraints = [
            models.UniqueConstraint(fields=["category", "seller"], nulls_distinct=False,
                                    name="referral_fee_rule_one_per_category_and_seller"),
            models.CheckConstraint(condition=Q(percent__gte=0, percent__lte=100), name="referral_fee_percent_0_to_100"),
            models.CheckConstraint(condition=Q(minimum_per_unit__gte=0), name="referral_fee_minimum_not_negative"),
        ]

    def __str__(self) -> str:
        return _("%(percent)s%% for %(category)s, %(seller)s") % {
            "percent": self.percent,
            "category": self.category or _("every category"),
            "seller": self.seller or _("every seller"),
        }


class LedgerEntry(models.Model):
    """One movement of a seller's money (append-only: a balance is the sum of entries; a mistake
    is corrected by another entry, never by editing one). Positive amounts are owed to the
    seller, negative ones are charged to them.

    Every entry points to its source (``source_type`` and ``source_id``: the order line, the
    package, the refund...) and most to the domain event that caused it; an entry is unique per
    kind and source, so a replayed or retried event posts nothing twice.
    """

    class Kind(models.TextChoices):
        SALE = "sale", _("Sale")
        SHIPPING_CREDIT = "shipping_credit", _("Shipping credit")
        REFERRAL_FEE = "referral_fee", _("Referral fee")
        FULFILMENT_FEE = "fulfilment_fee", _("Fulfilment fee")
        STORAGE_FEE = "storage_fee", _("Storage fee")
        AGED_INVENTORY_FEE = "aged_inventory_fee", _("Aged inventory surcharge")
        REMOVAL_FEE = "removal_fee", _("Removal fee")
        REFUND = "refund", _("Refund")
        REFERRAL_FEE_REFUND = "referral_fee_refund", _("Referral fee returned")
        REFUND_ADMIN_FEE = "refund_admin_fee", _("Refund administration fee")
        RESERVE_HOLD = "reserve_hold", _("Reserve held")
        RESERVE_RELEASE = "reserve_release", _("Reserve released")
        PAYOUT = "payout", _("Payout")
        ADJUSTMENT = "adjustment", _("Adjustment")

    class Source(models.TextChoices):
        ORDER_LINE = "order_line", _("order line")
        PACKAGE = "package", _("package")
        PAYOUT = "payout", _("payout")
        ADJUSTMENT = "adjustment", _("adjustment")
        STORAGE_CHARGE = "storage_charge", _("storage charge")
        REMOVAL_ORDER = "removal_order", _("removal order")
        REFUND_LINE = "refund_line", _("refunded units")
        REFUND_SHIPPING = "refund_shipping", _("refunded shipping")

    seller = models.ForeignKey("marketplace.Seller", on_delete=models.PROTECT, related_name="+",
                               verbose_name=_("seller"))
    kind = models.CharField(_("kind"), max_length=24, choices=Kind.choices)
    amount = models.DecimalField(_("amount"), max_digits=12, decimal_places=2)
    currency = models.CharField(_("currency"), max_length=3)
    source_type = models.CharField(_("source"), max_length=16, choices=Source.choices)
    source_id = models.BigIntegerField(_("source id"))
    order_number = models.CharField(_("order"), max_length=32, blank=True)
    event_id = models.BigIntegerField(_("event"), null=True, blank=True)
    description = models.CharField(_("description"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("posted"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("ledger entry")
        verbose_name_plural = _("ledger entries")
        ordering = ("-created_at", "-id")
        indexes = [models.Index(fields=["seller", "created_at"], name="ledger_seller_created")]
        constraints = [
            models.UniqueConstraint(fields=["kind", "source_type", "source_id"],
                                    name="ledger_one_entry_per_kind_and_source"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount} {self.currency}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValueError("Ledger entries are never changed; post a correcting entry instead.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Ledger entries are never deleted.")


class Payout(models.Model):
    """A transfer of a seller's available balance for one settlement (every
    ``FINANCE_PAYOUT_PERIOD_DAYS``): at most one per seller and settlement date. The ledger's payout
    entry is posted when the transfer succeeds; until then the balance is untouched."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        PAID = "paid", _("Paid")

    seller = models.ForeignKey("marketplace.Seller", on_delete=models.PROTECT, related_name="+",
                               verbose_name=_("seller"))
    settled_on = models.DateField(_("settlement date"))
    amount = models.DecimalField(_("amount"), max_digits=12, decimal_places=2)
    currency = models.CharField(_("currency"), max_length=3)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    provider = models.CharField(_("provider"), max_length=40)
    provider_reference = models.CharField(_("provider reference"), max_length=100, blank=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    last_error = models.CharField(_("last error"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    paid_at = models.DateTimeField(_("paid"), null=True, blank=True)

    class Meta:
        verbose_name = _("payout")
        verbose_name_plural = _("payouts")
        ordering = ("-settled_on", "seller_id")
        constraints = [
            models.UniqueConstraint(fields=["seller", "settled_on"], name="payout_one_per_seller_and_settlement"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="payout_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.seller} {self.settled_on}: {self.amount} {self.currency}"


class Adjustment(models.Model):
    """A correction of a seller's balance by platform staff, with the reason (the source of its
    ledger entry)."""

    seller = models.ForeignKey("marketplace.Seller", on_delete=models.PROTECT, related_name="+",
                               verbose_name=_("seller"))
    amount = models.DecimalField(_("amount"), max_digits=12, decimal_places=2,
                                 help_text=_("Positive: owed to the seller; negative: charged to them."))
    reason = models.CharField(_("reason"), max_length=200)
    created_by = models.ForeignKey("accounts.User", null=True, on_delete=models.SET_NULL, related_name="+",
                                   verbose_name=_("by"))
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("adjustment")
        verbose_name_plural = _("adjustments")
        ordering = ("-created_at", "-id")
        constraints = [models.CheckConstraint(condition=~Q(amount=0), name="adjustment_not_zero")]

    def __str__(self) -> str:
        return f"{self.seller}: {self.amount} ({self.reason})"


class SellerHealth(models.Model):
    """A seller's account health on one day (computed daily): each rate over its window, against
    its target; outside any target, the seller does not win buy boxes (marketplace is told)."""

    seller = models.ForeignKey("marketplace.Seller", on_delete=models.CASCADE, related_name="+",
                               verbose_name=_("seller"))
    computed_on = models.DateField(_("day"))
    order_defect_rate = models.DecimalField(_("order defect rate %"), max_digits=5, decimal_places=2)
    cancel_rate = models.DecimalField(_("pre-fulfilment cancel rate %"), max_digits=5, decimal_places=2)
    late_shipment_rate = models.DecimalField(_("late shipment rate %"), max_digits=5, decimal_places=2)
    valid_tracking_rate = models.DecimalField(_("valid tracking rate %"), max_digits=5, decimal_places=2)
    on_time_delivery_rate = models.DecimalField(_("on-time delivery rate %"), max_digits=5, decimal_places=2,
                                                default=Decimal("100.00"))
    orders = models.PositiveIntegerField(_("orders (60 days)"), default=0)
    shipped = models.PositiveIntegerField(_("packages shipped (30 days)"), default=0)
    delivered = models.PositiveIntegerField(_("packages due (30 days)"), default=0,
                                            help_text=_("Packages whose latest promised day came in the window."))
    eligible = models.BooleanField(_("buy box eligible"))
    problems = models.CharField(_("outside target"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("account health")
        verbose_name_plural = _("account health")
        ordering = ("-computed_on", "seller_id")
        constraints = [models.UniqueConstraint(fields=["seller", "computed_on"], name="seller_health_once_a_day")]

    def __str__(self) -> str:
        return f"{self.seller} {self.computed_on}"


# --- invoices and credit notes ------------------------------------------------------------------------


class DocumentCounter(models.Model):
    """The last number a seller gave in one series (its invoices, or its credit notes). A document
    takes the next number with this row locked (``SELECT ... FOR UPDATE``) in the transaction that
    creates it, so numbers are gapless: a rollback gives the number back with the document, which a
    database sequence would not."""

    class Series(models.TextChoices):
        INVOICE = "invoice", _("invoices")
        CREDIT_NOTE = "credit_note", _("credit notes")

    seller = models.ForeignKey("marketplace.Seller", on_delete=models.PROTECT, related_name="+",
                               verbose_name=_("seller"))
    series = models.CharField(_("series"), max_length=12, choices=Series.choices)
    last_number = models.PositiveIntegerField(_("last number"), default=0)

    class Meta:
        verbose_name = _("document counter")
        verbose_name_plural = _("document counters")
        constraints = [models.UniqueConstraint(fields=["seller", "series"], name="document_counter_once_per_series")]

    def __str__(self) -> str:
        return f"{self.seller_id} {self.series}: {self.last_number}"


def invoice_pdf_path(instance, filename: str) -> str:
    return f"invoices/{instance.seller_id}/{instance.number}.pdf"


def credit_note_pdf_path(instance, filename: str) -> str:
    return f"credit-notes/{instance.seller_id}/{instance.number}.pdf"


class LineKind(models.TextChoices):
    ITEM = "item", _("item")
    SHIPPING = "shipping", _("shipping")
    # on a credit note only: what the refund kept back (a return label the shopper pays), negative
    DEDUCTION = "deduction", _("deduction")


class Invoice(models.Model):
    """What one seller sold in one order, as its merchant of record (the house seller for Bazaar's
    own lines): issued once the order is paid, numbered in the seller's gapless series, with both
    parties and every amount snapshotted (later edits to the seller or the order change nothing).

    Amounts: a line's ``total`` is its price times quantity less its discount, as the order shows it
    (tax included when ``prices_include_tax``); ``net`` is without tax, ``gross`` what the buyer paid.
    The invoice's figures are sums of its lines, so the invoices of an order add up exactly to it."""

    seller = models.ForeignKey("marketplace.Seller", on_delete=models.PROTECT, related_name="+",
                               verbose_name=_("seller"))
    order_id = models.BigIntegerField(_("order id"))
    order_number = models.CharField(_("order"), max_length=32)
    sequence = models.PositiveIntegerField(_("sequence"))
    number = models.CharField(_("number"), max_length=40, unique=True)
    issued_at = models.DateTimeField(_("issued"), default=timezone.now)
    currency = models.CharField(_("currency"), max_length=3)
    prices_include_tax = models.BooleanField(_("prices include tax"), default=False)
    # the merchant of record, as it was when the invoice was issued
    seller_name = models.CharField(_("store name"), max_length=120)
    seller_legal_name = models.CharField(_("legal name"), max_length=200)
    seller_tax_id = models.CharField(_("tax id"), max_length=40, blank=True)
    seller_address = models.TextField(_("seller's address"), blank=True)
    # the buyer
    buyer_email = models.EmailField(_("buyer's e-mail"))
    billing_address = models.JSONField(_("billing address"))
    shipping_address = models.JSONField(_("shipping address"))
    # sums of the lines
    subtotal = models.DecimalField(_("items before discounts"), max_digits=12, decimal_places=2)
    discount = models.DecimalField(_("discounts"), max_digits=12, decimal_places=2, default=0)
    shipping = models.DecimalField(_("shipping"), max_digits=12, decimal_places=2, default=0)
    net = models.DecimalField(_("net"), max_digits=12, decimal_places=2)
    tax = models.DecimalField(_("tax"), max_digits=12, decimal_places=2, default=0)
    total = models.DecimalField(_("total"), max_digits=12, decimal_places=2)
    pdf = models.FileField(_("PDF"), upload_to=invoice_pdf_path, storage=private_storage, blank=True, max_length=200)
    event_id = models.BigIntegerField(_("event"), null=True, blank=True)

    class Meta:
        verbose_name = _("invoice")
        verbose_name_plural = _("invoices")
        ordering = ("-issued_at", "-id")
        indexes = [models.Index(fields=["order_id"], name="invoice_order"),
                   models.Index(fields=["seller", "-issued_at"], name="invoice_seller_issued")]
        constraints = [
            models.UniqueConstraint(fields=["order_id", "seller"], name="invoice_once_per_order_and_seller"),
            models.UniqueConstraint(fields=["seller", "sequence"], name="invoice_number_once_per_seller"),
            models.CheckConstraint(condition=Q(sequence__gte=1), name="invoice_sequence_from_1"),
            models.CheckConstraint(condition=check_equal("total", F("net") + F("tax")),
                                   name="invoice_total_is_net_plus_tax"),
        ]

    def __str__(self) -> str:
        return self.number


class InvoiceLine(models.Model):
    """One order line (or one package's shipping) of an invoice, as it was sold."""

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines", verbose_name=_("invoice"))
    position = models.PositiveSmallIntegerField(_("position"))
    kind = models.CharField(_("kind"), max_length=10, choices=LineKind.choices, default=LineKind.ITEM)
    order_line_id = models.BigIntegerField(_("order line"), null=True, blank=True)
    package_id = models.BigIntegerField(_("package"), null=True, blank=True)
    title = models.CharField(_("description"), max_length=200)
    sku = models.CharField(_("SKU"), max_length=64, blank=True)
    quantity = models.PositiveIntegerField(_("quantity"))
    unit_price = models.DecimalField(_("unit price"), max_digits=12, decimal_places=2)
    discount = models.DecimalField(_("discount"), max_digits=12, decimal_places=2, default=0)
    total = models.DecimalField(_("total"), max_digits=12, decimal_places=2,
                                help_text=_("Price times quantity less the discount, as the order shows it."))
    tax_rate = models.DecimalField(_("tax rate"), max_digits=6, decimal_places=4, default=0)
    tax = models.DecimalField(_("tax"), max_digits=12, decimal_places=2, default=0)
    net = models.DecimalField(_("net"), max_digits=12, decimal_places=2)
    gross = models.DecimalField(_("gross"), max_digits=12, decimal_places=2)

    class Meta:
        verbose_name = _("invoice line")
        verbose_name_plural = _("invoice lines")
        ordering = ("invoice", "position")
        constraints = [
            models.UniqueConstraint(fields=["invoice", "position"], name="invoice_line_position_once"),
            models.CheckConstraint(condition=check_equal("gross", F("net") + F("tax")),
                                   name="invoice_line_gross_is_net_plus_tax"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.title}"


class CreditNote(models.Model):
    """Money given back on an invoice (a refund, a cancellation after payment): the lines and
    amounts credited, with the reason, numbered in the seller's own gapless series of credit notes
    (separate from its invoices). A line is never credited beyond what its invoice line charged;
    ``source`` names what caused it (e.g. ``order_refunded``) and is unique per invoice, so a
    replayed event credits nothing twice. Amounts are positive: what is credited."""

    seller = models.ForeignKey("marketplace.Seller", on_delete=models.PROTECT, related_name="+",
                               verbose_name=_("seller"))
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="credit_notes",
                                verbose_name=_("invoice"))
    order_id = models.BigIntegerField(_("order id"))
    order_number = models.CharField(_("order"), max_length=32)
    sequence = models.PositiveIntegerField(_("sequence"))
    number = models.CharField(_("number"), max_length=40, unique=True)
    issued_at = models.DateTimeField(_("issued"), default=timezone.now)
    currency = models.CharField(_("currency"), max_length=3)
    reason = models.CharField(_("reason"), max_length=300)
    source = models.CharField(_("source"), max_length=100, blank=True)
    shipping = models.DecimalField(_("shipping"), max_digits=12, decimal_places=2, default=0)
    net = models.DecimalField(_("net"), max_digits=12, decimal_places=2)
    tax = models.DecimalField(_("tax"), max_digits=12, decimal_places=2, default=0)
    total = models.DecimalField(_("total"), max_digits=12, decimal_places=2)
    pdf = models.FileField(_("PDF"), upload_to=credit_note_pdf_path, storage=private_storage, blank=True,
                           max_length=200)
    event_id = models.BigIntegerField(_("event"), null=True, blank=True)

    class Meta:
        verbose_name = _("credit note")
        verbose_name_plural = _("credit notes")
        ordering = ("-issued_at", "-id")
        indexes = [models.Index(fields=["order_id"], name="credit_note_order")]
        constraints = [
            models.UniqueConstraint(fields=["seller", "sequence"], name="credit_note_number_once_per_seller"),
            models.UniqueConstraint(fields=["invoice", "source"], condition=~Q(source=""),
                                    name="credit_note_once_per_invoice_and_source"),
            models.CheckConstraint(condition=Q(sequence__gte=1), name="credit_note_sequence_from_1"),
            models.CheckConstraint(condition=Q(total__gt=0) & check_equal("total", F("net") + F("tax")),
                                   name="credit_note_total_positive_net_plus_tax"),
        ]

    def __str__(self) -> str:
        return self.number


class CreditNoteLine(models.Model):
    """What a credit note gives back of one invoice line: units of an item (their share of its
    total and tax) or an amount of shipping."""

    credit_note = models.ForeignKey(CreditNote, on_delete=models.CASCADE, related_name="lines",
                                    verbose_name=_("credit note"))
    invoice_line = models.ForeignKey(InvoiceLine, on_delete=models.PROTECT, related_name="credits",
                                     verbose_name=_("invoice line"))
    position = models.PositiveSmallIntegerField(_("position"))
    kind = models.CharField(_("kind"), max_length=10, choices=LineKind.choices, default=LineKind.ITEM)
    title = models.CharField(_("description"), max_length=200)
    sku = models.CharField(_("SKU"), max_length=64, blank=True)
    quantity = models.PositiveIntegerField(_("quantity"))
    unit_price = models.DecimalField(_("unit price"), max_digits=12, decimal_places=2)
    discount = models.DecimalField(_("discount"), max_digits=12, decimal_places=2, default=0)
    total = models.DecimalField(_("total"), max_digits=12, decimal_places=2)
    tax_rate = models.DecimalField(_("tax rate"), max_digits=6, decimal_places=4, default=0)
    tax = models.DecimalField(_("tax"), max_digits=12, decimal_places=2, default=0)
    net = models.DecimalField(_("net"), max_digits=12, decimal_places=2)
    gross = models.DecimalField(_("gross"), max_digits=12, decimal_places=2)

    class Meta:
        verbose_name = _("credit note line")
        verbose_name_plural = _("credit note lines")
        ordering = ("credit_note", "position")
        constraints = [
            models.CheckConstraint(condition=check_equal("gross", F("net") + F("tax")),
                                   name="credit_note_line_gross_is_net_plus_tax"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.title}"
