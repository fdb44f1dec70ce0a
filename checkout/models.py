"""Checkout: the shopper's cart (guest or signed-in) and its lines."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

MAX_LINE_QUANTITY = 99


class Cart(models.Model):
    """A guest cart is found by the id kept in the session; a signed-in user's by the user."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("user"), null=True, blank=True, on_delete=models.CASCADE,
        related_name="carts",
    )
    # The anonymous visitor id of the browser that filled it (insights: cart and checkout events).
    visitor_id = models.CharField(_("visitor id"), max_length=36, blank=True, default="")
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("cart")
        verbose_name_plural = _("carts")
        indexes = [models.Index(fields=["user", "-updated_at"], name="cart_user_latest")]

    def __str__(self) -> str:
        return f"cart {self.pk}"


class CartLine(models.Model):
    cart = models.ForeignKey(Cart, verbose_name=_("cart"), on_delete=models.CASCADE, related_name="lines")
    offer = models.ForeignKey(
        "marketplace.Offer", verbose_name=_("offer"), on_delete=models.CASCADE, related_name="+"
    )
    quantity = models.PositiveIntegerField(_("quantity"))
    price_when_added = models.DecimalField(_("price when added"), max_digits=12, decimal_places=2)
    added_at = models.DateTimeField(_("added"), default=timezone.now)

    class Meta:
        verbose_name = _("cart line")
        verbose_name_plural = _("cart lines")
        ordering = ("added_at", "id")
        constraints = [
            models.UniqueConstraint(fields=["cart", "offer"], name="cart_line_offer_once"),
            models.CheckConstraint(condition=Q(quantity__gte=1), name="cart_line_quantity_min_1"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x offer {self.offer_id}"


class CartGiftCard(models.Model):
    """A gift card in the cart: an amount and who gets it, when. Issued (and e-mailed on its day) once
    the order that buys it is paid; each row is one card, for one recipient."""

    cart = models.ForeignKey(Cart, verbose_name=_("cart"), on_delete=models.CASCADE, related_name="gift_cards")
    amount = models.DecimalField(_("amount"), max_digits=12, decimal_places=2)
    currency = models.CharField(_("currency"), max_length=3)
    recipient_email = models.EmailField(_("recipient's e-mail"))
    recipient_name = models.CharField(_("recipient's name"), max_length=100, blank=True)
    sender_name = models.CharField(_("sender's name"), max_length=100, blank=True)
    message = models.TextField(_("message"), max_length=500, blank=True)
    deliver_on = models.DateField(_("deliver on"))
    added_at = models.DateTimeField(_("added"), default=timezone.now)

    class Meta:
        verbose_name = _("gift card in a cart")
        verbose_name_plural = _("gift cards in carts")
        ordering = ("added_at", "id")
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="cart_gift_card_amount_positive")]

    def __str__(self) -> str:
        return f"gift card {self.amount} {self.currency} for {self.recipient_email}"


class TaxRate(models.Model):
    """Sales tax / VAT by destination country (optionally a region inside it)."""

    country = models.CharField(_("country"), max_length=2, help_text=_("ISO 3166 code, e.g. US, DE."))
    region = models.CharField(_("region"), max_length=40, blank=True, help_text=_("Empty: the whole country."))
    name = models.CharField(_("name"), max_length=60, help_text=_("Shown to shoppers, e.g. VAT or Sales tax."))
    rate = models.DecimalField(_("rate"), max_digits=6, decimal_places=4, help_text=_("0.2000 for 20%."))
    applies_to_shipping = models.BooleanField(_("applies to shipping"), default=True)

    class Meta:
        verbose_name = _("tax rate")
        verbose_name_plural = _("tax rates")
        ordering = ("country", "region")
        constraints = [
            models.UniqueConstraint(fields=["country", "region"], name="tax_rate_once_per_place"),
            models.CheckConstraint(condition=Q(rate__gte=0, rate__lt=1), name="tax_rate_0_to_1"),
        ]

    def __str__(self) -> str:
        place = f"{self.country}-{self.region}" if self.region else self.country
        return f"{self.name} {place} {self.rate:%}"
