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
