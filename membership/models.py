"""Membership: paid plans with benefits, and each member's subscription to one."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.money import clean_prices


class Plan(models.Model):
    """What a member pays (monthly or yearly) and what it gives."""

    name = models.CharField(_("name"), max_length=80)
    slug = models.SlugField(_("slug"), max_length=80, unique=True)
    description = models.TextField(_("description"), blank=True)
    monthly_price = models.DecimalField(_("monthly price"), max_digits=10, decimal_places=2)
    annual_price = models.DecimalField(_("annual price"), max_digits=10, decimal_places=2)
    currency = models.CharField(_("currency"), max_length=3, default="USD")
    trial_days = models.PositiveSmallIntegerField(_("free trial days"), default=30)
    free_shipping = models.BooleanField(
        _("free shipping"), default=True,
        help_text=_("Every shipping option of a package fulfilled by Bazaar is free."),
    )
    fast_shipping = models.BooleanField(
        _("faster shipping"), default=True, help_text=_("Members-only shipping methods (e.g. one-day) are offered."),
    )
    member_prices = models.BooleanField(_("member prices"), default=True,
                                        help_text=_("Offers with a member price sell at it."))
    member_deals = models.BooleanField(_("members-only promotions and deals"), default=True)
    is_active = models.BooleanField(_("on sale"), default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("plan")
        verbose_name_plural = _("plans")
        ordering = ("monthly_price", "id")
        constraints = [
            models.CheckConstraint(condition=Q(monthly_price__gt=0), name="plan_monthly_price_positive"),
            models.CheckConstraint(condition=Q(annual_price__gt=0), name="plan_annual_price_positive"),
            models.CheckConstraint(condition=Q(trial_days__lte=365), name="plan_trial_at_most_a_year"),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        super().clean()
        clean_prices({"monthly_price": self.monthly_price, "annual_price": self.annual_price})

    def price_for(self, interval: str) -> Decimal:
        """What one period of ``interval`` ("month" or "year") costs."""
        return self.annual_price if interval == Subscription.Interval.YEAR else self.monthly_price

    @property
    def annual_saving(self) -> Decimal:
        """How much a year costs less when paid yearly (0 when it does not)."""
        return max(self.monthly_price * 12 - self.annual_price, Decimal(0))


class Subscription(models.Model):
    """One customer's membership. Only the services change ``status``, along TRANSITIONS."""

    class Status(models.TextChoices):
        TRIALING = "trialing", _("Free trial")
        ACTIVE = "active", _("Active")
        PAST_DUE = "past_due", _("Payment overdue")
        CANCELLED = "cancelled", _("Cancelled at period end")
        EXPIRED = "expired", _("Expired")

    class Interval(models.TextChoices):
        MONTH = "month", _("Monthly")
        YEAR = "year", _("Yearly")

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="subscriptions")
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="subscriptions")
    interval = models.CharField(_("billing"), max_length=5, choices=Interval.choices, default=Interval.MONTH)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.TRIALING)
    current_period_start = models.DateTimeField(_("period start"))
    current_period_end = models.DateTimeField(_("period end"), db_index=True)
    trial_end = models.DateTimeField(_("trial ends"), null=True, blank=True)
    payment_method = models.CharField(
        _("saved payment method"), max_length=255, blank=True,
        help_text=_("A reusable token from the payments provider, never a card number."),
    )
    card_label = models.CharField(_("card"), max_length=40, blank=True)  # e.g. "Card ending 4242"
    # The provider's fingerprint of the card number (the same card gives the same one), kept so
    # that one card gets one free trial, whoever joins with it.
    card_fingerprint = models.CharField(_("card fingerprint"), max_length=64, blank=True, db_index=True)
    payment_provider = models.CharField(
        _("payment provider"), max_length=32, blank=True,
        help_text=_("The provider that issued the saved payment method; renewals are charged there."),
    )
    # Periods are counted from this instant (the first paid period's start), so a member who joined
    # on the 31st is billed on the last day of shorter months and back on the 31st after.
    billing_anchor = models.DateTimeField(_("billing anchor"), null=True, blank=True)
    failed_attempts = models.PositiveSmallIntegerField(_("failed renewal attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next renewal attempt"), null=True, blank=True, db_index=True)
    grace_until = models.DateTimeField(_("grace period ends"), null=True, blank=True)
    cancelled_at = models.DateTimeField(_("cancelled"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)
    created_at = models.DateTimeField(_("joined"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("subscription")
        verbose_name_plural = _("subscriptions")
        ordering = ("-created_at", "-id")
        permissions = [
            ("cancel_subscription", _("Can cancel memberships at period end")),
            ("expire_subscription", _("Can end memberships at once")),
            ("retry_renewal", _("Can retry renewal payments (charges the card)")),
        ]
        constraints = [
            # At most one subscription per customer that is not over yet.
            models.UniqueConstraint(fields=["user"], condition=~Q(status="expired"), name="one_live_subscription"),
        ]

    def __str__(self) -> str:
        return f"{self.user} — {self.plan} ({self.get_status_display()})"

    @property
    def benefits_until(self) -> datetime | None:
        """When the benefits stop unless a service changes the subscription first (None: never
        had them or over). See :func:`benefits_end` for the rule per status."""
        return benefits_end(
            status=self.status, period_end=self.current_period_end, grace_until=self.grace_until
        )

    @property
    def has_benefits(self) -> bool:
        until = self.benefits_until
        return until is not None and timezone.now() < until

    @property
    def is_in_trial(self) -> bool:
        return self.trial_end is not None and self.current_period_end == self.trial_end


def benefits_end(*, status: str, period_end: datetime, grace_until: datetime | None) -> datetime | None:
    """The instant a subscription in ``status`` stops giving benefits, if nothing happens first.

    * trialing, active: the period is paid (or free); a renewal due at its end is charged by the
      beat task within minutes, so benefits run on through the grace period after it (a late worker
      never takes them away), and stop then if nothing renewed or moved it on;
    * past due: the renewal failed; benefits continue during the grace period (Prime-like), then stop;
    * cancelled: until the end of the period already paid for;
    * expired: none.
    """
    grace = timedelta(days=getattr(settings, "MEMBERSHIP_GRACE_DAYS", 7))
    if status in (Subscription.Status.TRIALING, Subscription.Status.ACTIVE):
        return period_end + grace
    if status == Subscription.Status.PAST_DUE:
        return grace_until or period_end + grace
    if status == Subscription.Status.CANCELLED:
        return period_end
    return None


class SubscriptionCharge(models.Model):
    """One attempt to charge one period. Recorded (pending) before the provider is called; the
    unique ``idempotency_key`` is also the payment's, so a rerun finds it and never charges twice."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        PAID = "paid", _("Paid")
        DECLINED = "declined", _("Declined")
        FAILED = "failed", _("Failed")

    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="charges")
    period_start = models.DateTimeField(_("period start"))
    period_end = models.DateTimeField(_("period end"))
    attempt = models.PositiveSmallIntegerField(_("attempt"), default=1)
    amount = models.DecimalField(_("amount"), max_digits=12, decimal_places=2)
    currency = models.CharField(_("currency"), max_length=3)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    payment = models.ForeignKey(
        "payments.Payment", on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("payment"),
    )
    decline_message = models.CharField(_("decline message"), max_length=255, blank=True)
    idempotency_key = models.CharField(_("idempotency key"), max_length=255, unique=True)
    # While one worker talks to the provider about this charge, another one does not.
    locked_until = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("subscription charge")
        verbose_name_plural = _("subscription charges")
        ordering = ("-period_start", "-attempt")
        constraints = [
            models.UniqueConstraint(fields=["subscription", "period_start", "attempt"], name="one_charge_per_attempt"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="subscription_charge_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.amount} {self.currency} {self.period_start:%Y-%m-%d} #{self.attempt} ({self.status})"


class SubscriptionEvent(models.Model):
    """The history of a subscription: every status change (and renewals, which keep the status)."""

    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="events")
    from_status = models.CharField(_("from"), max_length=10, blank=True)
    to_status = models.CharField(_("to"), max_length=10)
    note = models.CharField(_("note"), max_length=300, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        verbose_name=_("by"),
    )
    created_at = models.DateTimeField(_("when"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("subscription event")
        verbose_name_plural = _("subscription events")
        ordering = ("-created_at", "-id")

    def __str__(self) -> str:
        return f"{self.from_status or '-'} -> {self.to_status}: {self.note}"
