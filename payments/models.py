"""Payments: what was authorized, captured and refunded at a provider, and the webhooks it sent.

Amounts are Decimal in the payment's currency (``DecimalField(12, 2)``). Rows are written only by
:mod:`payments.services`; the CHECK constraints keep ``0 <= refunded <= captured <= amount``.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _


class PaymentStatus(models.TextChoices):
    PENDING = "pending", _("pending")
    # An intent waiting for the customer in the browser: entering the card, or 3-D Secure.
    REQUIRES_ACTION = "requires_action", _("waiting for the customer")
    AUTHORIZED = "authorized", _("authorized")
    CAPTURED = "captured", _("captured")
    DECLINED = "declined", _("declined")
    FAILED = "failed", _("failed")
    CANCELLED = "cancelled", _("cancelled")
    REFUNDED = "refunded", _("refunded")
    PARTIALLY_REFUNDED = "partially_refunded", _("partially refunded")


class RefundStatus(models.TextChoices):
    PENDING = "pending", _("pending")
    SUCCEEDED = "succeeded", _("succeeded")
    FAILED = "failed", _("failed")


class Payment(models.Model):
    provider = models.CharField(_("provider"), max_length=32)
    provider_reference = models.CharField(_("provider reference"), max_length=255, blank=True, db_index=True)
    amount = models.DecimalField(_("amount"), max_digits=12, decimal_places=2)
    currency = models.CharField(_("currency"), max_length=3)
    status = models.CharField(
        _("status"), max_length=20, choices=PaymentStatus.choices, default=PaymentStatus.PENDING, db_index=True
    )
    captured_amount = models.DecimalField(_("captured"), max_digits=12, decimal_places=2, default=Decimal("0"))
    # Includes refunds still in flight: their amount is reserved before the provider is called.
    refunded_amount = models.DecimalField(_("refunded"), max_digits=12, decimal_places=2, default=Decimal("0"))
    reference = models.CharField(_("reference"), max_length=255, db_index=True, help_text=_("order number, ..."))
    idempotency_key = models.CharField(_("idempotency key"), max_length=255, unique=True)
    # What pays: a provider token or id (``pm_...``, ``cus_...|pm_...``, ``pm_test_...``), never a
    # card number. Kept so that a retry after "provider unreachable" pays with the same method.
    payment_method = models.CharField(_("payment method"), max_length=255, blank=True)
    # Who may pay with saved methods under this payment ("user:<id>"; empty for a guest).
    owner = models.CharField(_("owner"), max_length=64, blank=True)
    # For payments the shopper confirms in the browser (Stripe Payment Element): the intent's
    # client secret, handed to the page that confirms it and to nobody else.
    client_secret = models.CharField(max_length=255, blank=True, editable=False)
    # How the intent was made, so that asking again (same idempotency key) sends the same request:
    # {"browser": true, "capture": bool, "save_card": bool, "customer": "cus_..."}; {} for a
    # payment confirmed on our server with ``payment_method``.
    intent_options = models.JSONField(default=dict, blank=True, editable=False)
    authorized_at = models.DateTimeField(_("authorized"), null=True, blank=True)
    # An authorization lapses at the provider (7 days at Stripe): capture or re-authorize first.
    authorization_expires_at = models.DateTimeField(_("authorization expires"), null=True, blank=True,
                                                    db_index=True)
    decline_code = models.CharField(_("decline code"), max_length=64, blank=True)
    message = models.TextField(_("message"), blank=True)
    # While a caller is talking to the provider about this payment, nobody else does (see services).
    locked_until = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ("-id",)
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
        permissions = [
            ("capture_payment", _("Can capture payments")),
            ("refund_payment", _("Can refund payments")),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="payment_amount_positive"),
            models.CheckConstraint(condition=Q(refunded_amount__gte=0), name="payment_refunded_not_negative"),
            models.CheckConstraint(
                condition=Q(refunded_amount__lte=F("captured_amount")), name="payment_refunded_le_captured"
            ),
            models.CheckConstraint(condition=Q(captured_amount__lte=F("amount")), name="payment_captured_le_amount"),
        ]

    def __str__(self) -> str:
        return f"{self.reference} {self.amount} {self.currency} ({self.status})"

    @property
    def refundable_amount(self) -> Decimal:
        return self.captured_amount - self.refunded_amount


class Refund(models.Model):
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds", verbose_name=_("payment"))
    amount = models.DecimalField(_("amount"), max_digits=12, decimal_places=2)
    status = models.CharField(
        _("status"), max_length=20, choices=RefundStatus.choices, default=RefundStatus.PENDING, db_index=True
    )
    provider_reference = models.CharField(_("provider reference"), max_length=255, blank=True)
    reason = models.CharField(_("reason"), max_length=255, blank=True)
    idempotency_key = models.CharField(_("idempotency key"), max_length=255, unique=True)
    message = models.TextField(_("message"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ("-id",)
        verbose_name = _("refund")
        verbose_name_plural = _("refunds")
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="refund_amount_positive")]

    def __str__(self) -> str:
        return f"{self.amount} ({self.status})"


class ProviderCustomer(models.Model):
    """The provider's customer record (Stripe Customer) that holds one owner's saved cards: a saved
    card is charged only for the owner whose customer it is attached to."""

    owner = models.CharField(_("owner"), max_length=64)
    provider = models.CharField(_("provider"), max_length=32)
    customer_id = models.CharField(_("customer id"), max_length=255)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("provider customer")
        verbose_name_plural = _("provider customers")
        constraints = [
            models.UniqueConstraint(fields=["owner", "provider"], name="provider_customer_per_owner"),
            models.UniqueConstraint(fields=["provider", "customer_id"], name="provider_customer_unique_id"),
        ]

    def __str__(self) -> str:
        return f"{self.owner} at {self.provider}: {self.customer_id}"


class WebhookEvent(models.Model):
    provider = models.CharField(_("provider"), max_length=32)
    event_id = models.CharField(_("event id"), max_length=255)
    type = models.CharField(_("type"), max_length=100)
    reference = models.CharField(_("provider reference"), max_length=255, blank=True, db_index=True)
    payload = models.JSONField(_("payload"), default=dict)
    received_at = models.DateTimeField(_("received"), auto_now_add=True)
    processed_at = models.DateTimeField(_("processed"), null=True, blank=True)

    class Meta:
        ordering = ("-id",)
        verbose_name = _("webhook event")
        verbose_name_plural = _("webhook events")
        constraints = [models.UniqueConstraint(fields=("provider", "event_id"), name="webhook_event_unique")]

    def __str__(self) -> str:
        return f"{self.provider} {self.type} {self.event_id}"
