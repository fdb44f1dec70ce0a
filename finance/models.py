"""Finance: what the platform charges sellers. Referral fees first (the seller ledger, payouts and
account health follow)."""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


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
