"""Payments: what was authorized, captured and refunded at a provider, and the webhooks it sent;
and the tenders that hold money for a customer: store credit and gift cards.

Amounts are Decimal in the payment's currency (``DecimalField(12, 2)``). Rows are written only by
:mod:`payments.services` (payments), :mod:`payments.store_credit` and :mod:`payments.gift_cards`;
the CHECK constraints keep ``0 <= refunded <= captured <= amount`` and no balance below zero.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.money import check_at_least, check_at_most


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
                condition=check_at_most("refunded_amount", F("captured_amount")), name="payment_refunded_le_captured"
            ),
            models.CheckConstraint(condition=check_at_most("captured_amount", F("amount")),
                                   name="payment_captured_le_amount"),
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


# --- store credit ------------------------------------------------------------------------------


class StoreCreditAccount(models.Model):
    """A customer's store credit in one currency. ``balance`` is the sum of the account's entries:
    it changes only in :mod:`payments.store_credit`, under ``SELECT ... FOR UPDATE`` of this row and
    in the transaction that appends the entry; a CHECK keeps it from going below zero."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                             verbose_name=_("customer"))
    currency = models.CharField(_("currency"), max_length=3)
    balance = models.DecimalField(_("balance"), max_digits=12, decimal_places=2, default=Decimal("0"))
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ("-id",)
        verbose_name = _("store credit account")
        verbose_name_plural = _("store credit accounts")
        permissions = [("adjust_store_credit", _("Can adjust customers' store credit"))]
        constraints = [
            models.UniqueConstraint(fields=["user", "currency"], name="store_credit_one_account_per_currency"),
            models.CheckConstraint(condition=Q(balance__gte=0), name="store_credit_balance_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.balance} {self.currency}"


class StoreCreditEntry(models.Model):
    """One movement of store credit (append-only: the model refuses changes and a PostgreSQL
    trigger refuses UPDATE and DELETE). Positive amounts add credit, negative ones take it.

    ``reference`` names the source ("order:<number>", "refund:<id>", "gift_card:<id>:<n>",
    "adjustment:<key>"); an entry is unique per kind and reference, so a retried grant, spend or
    release posts nothing twice."""

    class Kind(models.TextChoices):
        REFUND = "refund", _("Refund")
        GIFT_CARD = "gift_card", _("Gift card redeemed")
        SPEND = "spend", _("Spent")
        SPEND_RELEASE = "spend_release", _("Spend given back")
        ADJUSTMENT = "adjustment", _("Adjustment")

    account = models.ForeignKey(StoreCreditAccount, on_delete=models.PROTECT, related_name="entries",
                                verbose_name=_("account"))
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    amount = models.DecimalField(_("amount"), max_digits=12, decimal_places=2)
    balance_after = models.DecimalField(_("balance after"), max_digits=12, decimal_places=2)
    reference = models.CharField(_("reference"), max_length=100)
    # What the customer reads in their history ("Order B-123", "Gift card ending 7KQ2").
    description = models.CharField(_("description"), max_length=200, blank=True)
    # Staff only: the reason of an adjustment.
    note = models.CharField(_("note"), max_length=500, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+", verbose_name=_("by"))
    created_at = models.DateTimeField(_("posted"), default=timezone.now)

    class Meta:
        ordering = ("-id",)
        verbose_name = _("store credit entry")
        verbose_name_plural = _("store credit entries")
        constraints = [
            models.UniqueConstraint(fields=["kind", "reference"], name="store_credit_entry_once_per_kind_reference"),
            models.CheckConstraint(condition=~Q(amount=0), name="store_credit_entry_amount_not_zero"),
            models.CheckConstraint(condition=Q(balance_after__gte=0), name="store_credit_entry_balance_not_negative"),
        ]
        indexes = [models.Index(fields=["reference"], name="store_credit_entry_reference")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount} ({self.reference})"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValueError("Store credit entries are never changed; post a correcting entry instead.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Store credit entries are never deleted.")


# --- gift cards ---------------------------------------------------------------------------------


class GiftCard(models.Model):
    """A gift card: an amount anyone holding its code can spend at checkout or move into their
    store credit. The code is never stored: only its keyed hash (HMAC-SHA256, looked up by) and its
    last four characters (shown to staff and owners). While an e-mail delivery is pending the row
    keeps ``delivery_seed``, from which the code is derived again with a secret that is not in the
    database (see :mod:`payments.gift_cards`); it is wiped once the e-mail is sent."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        REDEEMED = "redeemed", _("Redeemed into store credit")
        VOIDED = "voided", _("Voided")

    code_hash = models.CharField(max_length=64, unique=True, editable=False)
    last4 = models.CharField(_("code ends with"), max_length=4, editable=False)
    currency = models.CharField(_("currency"), max_length=3)
    initial_amount = models.DecimalField(_("initial amount"), max_digits=12, decimal_places=2)
    balance = models.DecimalField(_("balance"), max_digits=12, decimal_places=2)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.ACTIVE,
                              db_index=True)
    recipient_name = models.CharField(_("recipient's name"), max_length=100, blank=True)
    recipient_email = models.EmailField(_("recipient's e-mail"), blank=True)
    sender_name = models.CharField(_("sender's name"), max_length=100, blank=True)
    message = models.TextField(_("message"), max_length=500, blank=True)
    deliver_on = models.DateField(_("deliver on"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered"), null=True, blank=True)
    delivery_seed = models.CharField(max_length=64, blank=True, editable=False)
    purchaser = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="+", verbose_name=_("purchaser"))
    issued_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="+", verbose_name=_("issued by"))
    # What the card was issued for ("order_line:<id>", "admin:<key>"): one card per reference.
    reference = models.CharField(_("reference"), max_length=100, blank=True)
    redeemed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+", verbose_name=_("redeemed by"))
    redeemed_at = models.DateTimeField(_("redeemed"), null=True, blank=True)
    voided_at = models.DateTimeField(_("voided"), null=True, blank=True)
    created_at = models.DateTimeField(_("issued"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ("-id",)
        verbose_name = _("gift card")
        verbose_name_plural = _("gift cards")
        permissions = [
            ("issue_gift_card", _("Can issue gift cards")),
            ("void_gift_card", _("Can void gift cards")),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(initial_amount__gt=0), name="gift_card_initial_amount_positive"),
            models.CheckConstraint(condition=check_at_least("balance", 0), name="gift_card_balance_not_negative"),
            models.CheckConstraint(condition=check_at_most("balance", F("initial_amount")),
                                   name="gift_card_balance_le_initial_amount"),
            models.UniqueConstraint(fields=["reference"], condition=~Q(reference=""),
                                    name="gift_card_one_per_reference"),
        ]
        indexes = [
            models.Index(fields=["deliver_on"], condition=Q(delivered_at__isnull=True) & ~Q(recipient_email=""),
                         name="gift_card_delivery_due"),
        ]

    def __str__(self) -> str:
        return f"•••• {self.last4}"


class GiftCardEntry(models.Model):
    """One movement of a gift card's balance (append-only, like the store credit ledger): issued,
    spent at checkout and given back, redeemed into store credit, voided. ``reference`` is unique
    per card and kind, so a retried spend or release moves nothing twice."""

    class Kind(models.TextChoices):
        ISSUED = "issued", _("Issued")
        SPEND = "spend", _("Spent")
        SPEND_RELEASE = "spend_release", _("Spend given back")
        REDEEMED = "redeemed", _("Redeemed into store credit")
        VOIDED = "voided", _("Voided")
        REFUND = "refund", _("Refunded onto the card")

    card = models.ForeignKey(GiftCard, on_delete=models.PROTECT, related_name="entries", verbose_name=_("gift card"))
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    amount = models.DecimalField(_("amount"), max_digits=12, decimal_places=2)
    balance_after = models.DecimalField(_("balance after"), max_digits=12, decimal_places=2)
    reference = models.CharField(_("reference"), max_length=100)
    # Staff only: why a card was voided.
    note = models.CharField(_("note"), max_length=500, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+", verbose_name=_("by"))
    created_at = models.DateTimeField(_("posted"), default=timezone.now)

    class Meta:
        ordering = ("id",)
        verbose_name = _("gift card entry")
        verbose_name_plural = _("gift card entries")
        constraints = [
            models.UniqueConstraint(fields=["card", "kind", "reference"], name="gift_card_entry_once_per_reference"),
            models.CheckConstraint(condition=~Q(amount=0), name="gift_card_entry_amount_not_zero"),
            models.CheckConstraint(condition=Q(balance_after__gte=0), name="gift_card_entry_balance_not_negative"),
        ]
        indexes = [models.Index(fields=["reference"], name="gift_card_entry_reference")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount} ({self.reference})"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValueError("Gift card entries are never changed; post a correcting entry instead.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Gift card entries are never deleted.")
