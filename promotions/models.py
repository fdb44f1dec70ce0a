"""Promotions: voucher codes and their redemptions."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Upper
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Voucher(models.Model):
    class Kind(models.TextChoices):
        PERCENT = "percent", _("Percent off")
        FIXED = "fixed", _("Fixed amount off")

    code = models.CharField(_("code"), max_length=32, unique=True, help_text=_("Stored in capitals; matched "
                                                                                  "whatever the case."))
    label = models.CharField(_("label"), max_length=120, blank=True)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.PERCENT)
    value = models.DecimalField(_("value"), max_digits=12, decimal_places=2,
                                help_text=_("A percentage (10 = 10% off) or an amount of money."))
    minimum_spend = models.DecimalField(_("minimum spend"), max_digits=12, decimal_places=2, default=0)
    starts_at = models.DateTimeField(_("starts at"), null=True, blank=True)
    ends_at = models.DateTimeField(_("ends at"), null=True, blank=True)
    max_uses = models.PositiveIntegerField(_("uses in total"), null=True, blank=True,
                                           help_text=_("Empty for unlimited."))
    max_uses_per_customer = models.PositiveIntegerField(_("uses per customer"), null=True, blank=True,
                                                        help_text=_("Empty for unlimited."))
    times_used = models.PositiveIntegerField(_("times used"), default=0, editable=False)
    active = models.BooleanField(_("active"), default=True)
    categories = models.ManyToManyField("catalog.Category", blank=True, related_name="+",
                                        verbose_name=_("categories (with their subcategories)"))
    brands = models.ManyToManyField("catalog.Brand", blank=True, related_name="+", verbose_name=_("brands"))
    sellers = models.ManyToManyField("marketplace.Seller", blank=True, related_name="+", verbose_name=_("sellers"))
    products = models.ManyToManyField("catalog.Product", blank=True, related_name="+", verbose_name=_("products"))
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("voucher")
        verbose_name_plural = _("vouchers")
        ordering = ("-created_at", "-id")
        constraints = [
            models.UniqueConstraint(Upper("code"), name="voucher_code_upper_unique"),
            models.CheckConstraint(condition=Q(value__gt=0, minimum_spend__gte=0), name="voucher_amounts_positive"),
            models.CheckConstraint(condition=~Q(kind="percent") | Q(value__lte=100), name="voucher_percent_max_100"),
            models.CheckConstraint(condition=Q(max_uses__isnull=True) | Q(times_used__lte=F("max_uses")),
                                   name="voucher_times_used_within_max"),
        ]

    def __str__(self) -> str:
        return self.code

    def save(self, *args, **kwargs) -> None:
        self.code = (self.code or "").strip().upper()
        super().save(*args, **kwargs)


class VoucherRedemption(models.Model):
    """One use of a voucher by one order (an order uses at most one voucher)."""

    voucher = models.ForeignKey(Voucher, on_delete=models.PROTECT, related_name="redemptions",
                                verbose_name=_("voucher"))
    order_number = models.CharField(_("order number"), max_length=20, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="+", verbose_name=_("customer"))
    email = models.EmailField(_("e-mail"), blank=True)
    amount = models.DecimalField(_("amount"), max_digits=12, decimal_places=2)
    created = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("voucher redemption")
        verbose_name_plural = _("voucher redemptions")
        ordering = ("-created", "-id")
        indexes = [models.Index(fields=["voucher", "email"], name="redemption_voucher_email")]

    def __str__(self) -> str:
        return f"{self.voucher_id} / {self.order_number}"
