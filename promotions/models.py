"""Promotions: voucher codes and their redemptions, automatic promotions, lightning deals."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Upper
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.money import clean_prices


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
        permissions = [("generate_vouchers", _("Can generate voucher codes in bulk"))]
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

    def clean(self) -> None:
        super().clean()
        clean_prices({"minimum_spend": self.minimum_spend,
                      **({"value": self.value} if self.kind == self.Kind.FIXED else {})})


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


class Promotion(models.Model):
    """An automatic promotion: applies by itself to every cart that meets its conditions."""

    class Benefit(models.TextChoices):
        PERCENT_OFF = "percent_off", _("Percent off")
        FIXED_OFF = "fixed_off", _("Fixed amount off")
        FIXED_PRICE = "fixed_price", _("Fixed price per unit")
        FREE_SHIPPING = "free_shipping", _("Free shipping")
        BUY_X_GET_Y = "buy_x_get_y", _("Buy X, get Y cheapest free")

    name = models.CharField(_("name"), max_length=120)
    label = models.CharField(_("label shown to shoppers"), max_length=160,
                             help_text=_('For example "Spend $50 on Books, save 10%".'))
    active = models.BooleanField(_("active"), default=True)
    starts_at = models.DateTimeField(_("starts at"), null=True, blank=True)
    ends_at = models.DateTimeField(_("ends at"), null=True, blank=True)
    priority = models.IntegerField(_("priority"), default=0, help_text=_("Higher priorities apply first."))
    exclusive = models.BooleanField(_("exclusive"), default=False,
                                    help_text=_("When it applies, no lower-priority promotion applies."))
    categories = models.ManyToManyField("catalog.Category", blank=True, related_name="+",
                                        verbose_name=_("categories (with their subcategories)"))
    brands = models.ManyToManyField("catalog.Brand", blank=True, related_name="+", verbose_name=_("brands"))
    sellers = models.ManyToManyField("marketplace.Seller", blank=True, related_name="+", verbose_name=_("sellers"))
    products = models.ManyToManyField("catalog.Product", blank=True, related_name="+", verbose_name=_("products"))
    min_quantity = models.PositiveIntegerField(_("minimum quantity"), default=0,
                                               help_text=_("Of qualifying items."))
    min_spend = models.DecimalField(_("minimum spend"), max_digits=12, decimal_places=2, default=0,
                                    help_text=_("On qualifying items."))
    members_only = models.BooleanField(_("members only"), default=False)
    benefit = models.CharField(_("benefit"), max_length=16, choices=Benefit.choices, default=Benefit.PERCENT_OFF)
    value = models.DecimalField(_("value"), max_digits=12, decimal_places=2, default=0,
                                help_text=_("Percent, amount off or unit price, as the benefit says."))
    x = models.PositiveIntegerField(_("buy X"), default=0)
    y = models.PositiveIntegerField(_("get Y free"), default=0)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("promotion")
        verbose_name_plural = _("promotions")
        ordering = ("-priority", "id")
        constraints = [
            models.CheckConstraint(condition=Q(value__gte=0, min_spend__gte=0), name="promotion_amounts_not_negative"),
            models.CheckConstraint(condition=~Q(benefit="percent_off") | Q(value__gt=0, value__lte=100),
                                   name="promotion_percent_range"),
            models.CheckConstraint(condition=~Q(benefit="fixed_off") | Q(value__gt=0),
                                   name="promotion_fixed_off_positive"),
            models.CheckConstraint(condition=~Q(benefit="buy_x_get_y") | Q(x__gte=1, y__gte=1),
                                   name="promotion_buy_x_get_y_counts"),
            models.CheckConstraint(condition=Q(starts_at__isnull=True) | Q(ends_at__isnull=True)
                                   | Q(ends_at__gt=F("starts_at")), name="promotion_ends_after_start"),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        super().clean()
        money_value = self.benefit in (self.Benefit.FIXED_OFF, self.Benefit.FIXED_PRICE)
        clean_prices({"min_spend": self.min_spend, **({"value": self.value} if money_value else {})})


class Deal(models.Model):
    """A lightning deal: a price on one offer for a short time, for a limited number of units.

    ``claimed`` counts the units sold at the deal price; it only changes through one conditional
    UPDATE inside the order's transaction (``services.deals_claim``), so it never passes the cap.
    """

    offer = models.ForeignKey("marketplace.Offer", on_delete=models.PROTECT, related_name="+",
                              verbose_name=_("offer"))
    label = models.CharField(_("label"), max_length=120, blank=True,
                             help_text=_("Optional; shoppers see the product title when empty."))
    deal_price = models.DecimalField(_("deal price"), max_digits=12, decimal_places=2,
                                     validators=[MinValueValidator(Decimal("0.01"))],
                                     help_text=_("Price per unit during the deal; below the offer's price."))
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"))
    quantity_cap = models.PositiveIntegerField(_("units at the deal price"), validators=[MinValueValidator(1)])
    claimed = models.PositiveIntegerField(_("units claimed"), default=0, editable=False)
    per_order_limit = models.PositiveIntegerField(_("limit per order"), null=True, blank=True,
                                                  validators=[MinValueValidator(1)],
                                                  help_text=_("Empty: no limit besides the cap."))
    members_only = models.BooleanField(_("members only"), default=False)
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("lightning deal")
        verbose_name_plural = _("lightning deals")
        ordering = ("-starts_at", "-id")
        constraints = [
            models.CheckConstraint(condition=Q(claimed__lte=F("quantity_cap")), name="deal_claimed_within_cap"),
            models.CheckConstraint(condition=Q(claimed__gte=0), name="deal_claimed_not_negative"),
            models.CheckConstraint(condition=Q(quantity_cap__gt=0), name="deal_quantity_cap_positive"),
            models.CheckConstraint(condition=Q(ends_at__gt=F("starts_at")), name="deal_ends_after_start",
                                   violation_error_message=_("The deal must end after it starts.")),
            models.CheckConstraint(condition=Q(deal_price__gt=0), name="deal_price_positive"),
            models.CheckConstraint(condition=Q(per_order_limit__isnull=True) | Q(per_order_limit__gt=0),
                                   name="deal_per_order_limit_positive"),
        ]
        indexes = [models.Index(fields=["active", "ends_at"], name="deal_active_ends")]

    def __str__(self) -> str:
        return self.label or f"{_('Deal')} #{self.pk}"

    def clean(self) -> None:
        super().clean()
        clean_prices({"deal_price": self.deal_price})

    @property
    def remaining(self) -> int:
        return max(self.quantity_cap - self.claimed, 0)

    @property
    def percent_claimed(self) -> int:
        return min(100, self.claimed * 100 // self.quantity_cap) if self.quantity_cap else 0

    def is_live(self, now=None) -> bool:
        now = now or timezone.now()
        return self.active and self.starts_at <= now < self.ends_at


class DealClaim(models.Model):
    """Units of a deal claimed by one order; released (and given back) when the order is never paid."""

    deal = models.ForeignKey(Deal, on_delete=models.PROTECT, related_name="claims", verbose_name=_("deal"))
    order_number = models.CharField(_("order number"), max_length=20)
    quantity = models.PositiveIntegerField(_("units"))
    created_at = models.DateTimeField(_("claimed at"), default=timezone.now)
    released_at = models.DateTimeField(_("released at"), null=True, blank=True)

    class Meta:
        verbose_name = _("deal claim")
        verbose_name_plural = _("deal claims")
        ordering = ("-created_at", "-id")
        constraints = [
            models.UniqueConstraint(fields=["deal", "order_number"], name="deal_claim_once_per_order"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="deal_claim_quantity_positive"),
        ]
        indexes = [models.Index(fields=["order_number"], name="deal_claim_order")]

    def __str__(self) -> str:
        return f"{self.deal_id} / {self.order_number} x {self.quantity}"
