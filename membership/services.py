"""Writes for membership: join, cancel, resume, change card or billing, and renew.

Status machine (``TRANSITIONS``): a change is one conditional UPDATE on the current status plus a
history row, so two concurrent changes never both win.

Money : the provider is never called inside a transaction or while a
row is locked. A renewal records the charge attempt first (``SubscriptionCharge``, unique per
subscription, period and attempt; its idempotency key is also the payment's), commits, charges,
then records the outcome only if the attempt is still pending. Running a renewal twice, or twice
at once, therefore finds the same attempt and never charges twice.

Renewal schedule (settings): a declined renewal makes the membership *past due*; it is retried
``MEMBERSHIP_RETRY_DAYS`` days after the renewal date (1, 3 and 5 by default) while inside the
grace period of ``MEMBERSHIP_GRACE_DAYS`` (7); each decline e-mails the member (dunning) with
the next retry date and a link to update the card. Benefits continue during the grace period;
at its end an unpaid membership expires. A cancelled membership keeps its benefits to the end of
the period paid for and then expires, without a charge. The first charge after a free trial is
a renewal like any other.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from calendar import monthrange
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from core import cache as vcache
from core import events, outbox
from core.exceptions import ApplicationError, Conflict, NotFound
from core.money import format_money
from membership import events as membership_events
from membership import selectors
from membership.models import Plan, Subscription, SubscriptionCharge, SubscriptionEvent
from payments import selectors as payment_selectors
from payments import services as payment_services
from payments.exceptions import PaymentActionRequired, PaymentDeclined, PaymentInProgress
from payments.models import Payment  # type hints only (an exception in the models contract)
from payments.selectors import PaymentStatus

logger = logging.getLogger(__name__)

S = Subscription.Status
I = Subscription.Interval  # noqa: E741 - mirrors S

# Which status may follow which. Anything else is refused.
TRANSITIONS: dict[str, frozenset[str]] = {
    S.TRIALING: frozenset({S.ACTIVE, S.PAST_DUE, S.CANCELLED, S.EXPIRED}),
    S.ACTIVE: frozenset({S.PAST_DUE, S.CANCELLED, S.EXPIRED}),
    S.PAST_DUE: frozenset({S.ACTIVE, S.EXPIRED}),  # cancelling while overdue ends it at once
    S.CANCELLED: frozenset({S.TRIALING, S.ACTIVE, S.EXPIRED}),  # resumed before the period ends, or over
    S.EXPIRED: frozenset(),  # joining again makes a new subscription
}

# How long one worker may hold a charge attempt while it talks to the provider.
CHARGE_LEASE = timedelta(minutes=2)


class IllegalTransition(ApplicationError):
    code = "illegal_transition"
    status_code = 409


class AlreadyMember(Conflict):
    code = "already_member"


class NotAMember(NotFound):
    code = "not_a_member"


class TrialUsed(Conflict):
    """The card (or the customer) already had a free trial: join without one, or not at all."""

    code = "trial_used"


def owner_of(user) -> str:
    """Whose saved cards these are, for payments: the customer."""
    return f"user:{user.pk}"


# --- small helpers -------------------------------------------------------------------------


def _date(value: datetime) -> str:
    return formats.date_format(timezone.localtime(value), "DATE_FORMAT")


def _money(amount: Decimal, currency: str) -> str:
    return format_money(amount, currency)


def _bump(subscription: Subscription) -> None:
    vcache.bump_on_commit(selectors.user_namespace(subscription.user_id))


def _email_on_commit(subscription: Subscription, kind: str, charge_id: int | None = None) -> None:
    from membership.tasks import send_membership_email  # tasks import services

    subscription_id = subscription.pk
    outbox.enqueue(send_membership_email, subscription_id, kind, charge_id)


def add_interval(anchor: datetime, count: int, interval: str) -> datetime:
    """``anchor`` plus ``count`` months or years; the 31st becomes the last day of shorter months."""
    months = count * (12 if interval == I.YEAR else 1)
    month_index = anchor.month - 1 + months
    year, month = anchor.year + month_index // 12, month_index % 12 + 1
    return anchor.replace(year=year, month=month, day=min(anchor.day, monthrange(year, month)[1]))


def period_end_after(*, anchor: datetime, start: datetime, interval: str) -> datetime:
    """The end of the billing period that starts at ``start``: the first anchor date after it."""
    step = 12 if interval == I.YEAR else 1
    months = (start.year - anchor.year) * 12 + start.month - anchor.month
    count = max(months // step, 0)
    while add_interval(anchor, count, interval) <= start:
        count += 1
    return add_interval(anchor, count, interval)


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:16]


def already_member_error(subscription: Subscription) -> AlreadyMember:
    if subscription.status == S.PAST_DUE:
        return AlreadyMember(_("You are already a member, but your last payment did not go through: "
                               "update your card to keep your membership."))
    if subscription.status == S.CANCELLED:
        return AlreadyMember(_("You are already a member until %(date)s. Resume your membership to keep it "
                               "after that.") % {"date": _date(subscription.current_period_end)})
    return AlreadyMember(_("You are already a member until %(date)s.")
                         % {"date": _date(subscription.current_period_end)})


def _live_or_404(user) -> Subscription:
    subscription = selectors.live_subscription(user)
    if subscription is None:
        raise NotAMember(_("You are not a member."))
    return subscription


# --- the status machine --------------------------------------------------------------------


def subscription_transition(
    *, subscription: Subscription, to: str, note: str = "", actor=None, **fields: Any
) -> Subscription:
    """Move ``subscription`` to status ``to`` if that is legal from where it is now, setting
    ``fields`` in the same conditional UPDATE; writes the history and invalidates the member's
    cached benefits on commit."""
    if to not in S.values:
        raise IllegalTransition(_("Unknown membership status."))
    current = subscription.status
    if to not in TRANSITIONS[current]:
        raise IllegalTransition(
            _("A membership that is “%(current)s” cannot become “%(to)s”.")
            % {"current": S(current).label, "to": S(to).label}
        )
    with transaction.atomic():
        updated = Subscription.objects.filter(pk=subscription.pk, status=current).update(
            status=to, updated_at=timezone.now(), **fields
        )
        if not updated:
            raise Conflict(_("Your membership changed meanwhile; reload the page and try again."))
        SubscriptionEvent.objects.create(
            subscription=subscription, from_status=current, to_status=to, note=note[:300],
            actor=actor if getattr(actor, "pk", None) else None,
        )
        events.record(membership_events.STATUS_CHANGED, aggregate=membership_events.AGGREGATE,
                      aggregate_id=subscription.pk, subscription_id=subscription.pk, user_id=subscription.user_id,
                     from_status=current, to_status=to)
        _bump(subscription)
    subscription.status = to
    for name, value in fields.items():
        setattr(subscription, name, value)
    return subscription


def _update_keeping_status(subscription: Subscription, *, note: str, actor=None, **fields: Any) -> Subscription:
    """Change other fields (a renewal, a new card) while the status stays; recorded in the history."""
    with transaction.atomic():
        updated = Subscription.objects.filter(pk=subscription.pk, status=subscription.status).update(
            updated_at=timezone.now(), **fields
        )
        if not updated:
            raise Conflict(_("Your membership changed meanwhile; reload the page and try again."))
        SubscriptionEvent.objects.create(
            subscription=subscription, from_status=subscription.status, to_status=subscription.status,
            note=note[:300], actor=actor if getattr(actor, "pk", None) else None,
        )
        _bump(subscription)
    for name, value in fields.items():
        setattr(subscription, name, value)
    return subscription


# --- plans -----------------------------------------------------------------------------------


def plan_save(*, plan: Plan) -> Plan:
    """Create or edit a plan (admin); every member's cached benefits follow on commit."""
    with transaction.atomic():
        plan.full_clean()
        plan.save()
        vcache.bump_on_commit(selectors.PLANS_NAMESPACE)
    return plan


def plan_ensure_demo() -> Plan:
    """The demo plan, "Bazaar Plus" (idempotent: an existing one is left as it is)."""
    plan, created = Plan.objects.get_or_create(
        slug="bazaar-plus",
        defaults={
            "name": "Bazaar Plus",
            "description": "Free fast delivery on items fulfilled by Bazaar, member prices and members-only "
                           "deals. Cancel any time.",
            "monthly_price": Decimal("12.99"), "annual_price": Decimal("119.00"), "currency": settings.SHOP_CURRENCY,
            "trial_days": 30, "free_shipping": True, "fast_shipping": True, "member_prices": True,
            "member_deals": True, "is_active": True,
        },
    )
    if created:
        vcache.bump_on_commit(selectors.PLANS_NAMESPACE)
    return plan


# --- paying ----------------------------------------------------------------------------------


def _declined(exc: PaymentDeclined) -> PaymentDeclined:
    return PaymentDeclined(
        _("%(reason)s Nothing was charged; please try another card.") % {"reason": exc.message},
        payment=exc.payment, code=exc.code,
    )


def _needs_action(payment: Payment) -> PaymentActionRequired:
    return PaymentActionRequired(
        _("Your bank asks you to confirm this payment. Nothing is charged until you do."), payment=payment)


def _card_check(*, saved: payment_services.SavedPaymentMethod, currency: str, reference: str, key: str,
                owner: str) -> None:
    """Make sure the card can pay: authorize a small amount and release it at once."""
    amount = Decimal(str(getattr(settings, "MEMBERSHIP_CARD_CHECK_AMOUNT", "1.00")))
    try:
        payment = payment_services.payment_authorize(
            amount=amount, currency=currency, payment_method=saved.token, reference=reference,
            idempotency_key=key, provider=saved.provider, owner=owner,
        )
    except PaymentDeclined as exc:
        raise _declined(exc)
    if payment.status == PaymentStatus.REQUIRES_ACTION:
        raise _needs_action(payment)
    try:
        payment_services.payment_cancel(payment=payment)
    except ApplicationError:  # the hold lapses at the provider on its own; the card is good
        logger.warning("could not release the card check %s", payment.pk, exc_info=True)


def _charge_now(*, saved: payment_services.SavedPaymentMethod, amount: Decimal, currency: str, reference: str,
                key: str, owner: str) -> Payment:
    """Authorize and capture ``amount`` now (the first period when joining without a trial). When
    the bank asks the customer to confirm (3-D Secure), :class:`PaymentActionRequired` carries what
    their page needs; sending the same join again afterwards finishes it with the same key."""
    try:
        payment = payment_services.payment_authorize(
            amount=amount, currency=currency, payment_method=saved.token, reference=reference,
            idempotency_key=key, provider=saved.provider, owner=owner,
        )
    except PaymentDeclined as exc:
        raise _declined(exc)
    if payment.status == PaymentStatus.REQUIRES_ACTION:
        raise _needs_action(payment)
    try:
        return payment_services.payment_capture(payment=payment)
    except ApplicationError:
        payment_services.payment_cancel(payment=payment)
        raise


def _give_back(payment: Payment, *, reason: str) -> None:
    """Refund a captured payment that bought nothing (a lost race, an ended membership)."""
    payment = payment_selectors.payment_get(pk=payment.pk)
    if payment.status == PaymentStatus.AUTHORIZED:
        payment_services.payment_cancel(payment=payment)
    elif payment.refundable_amount > 0:
        payment_services.payment_refund(payment=payment, amount=payment.refundable_amount, reason=reason,
                                        idempotency_key=f"{payment.idempotency_key}:refund")


# --- joining ---------------------------------------------------------------------------------


def _saved_card(*, user, payment_method: str, setup_reference: str) -> tuple[payment_services.SavedPaymentMethod,
                                                                               bool]:
    """The card to save, and whether the bank already verified it (a card-saving intent the
    customer confirmed in the browser, 3-D Secure included)."""
    if setup_reference:
        return payment_services.payment_setup_finish(owner=owner_of(user), reference=setup_reference), True
    return payment_services.payment_method_tokenize(payment_method=payment_method, owner=owner_of(user)), False


# How long one join may hold the customer's join guard: the provider's longest answer (about 23 s).
JOIN_GUARD_SECONDS = 30


def membership_join(
    *, user, plan: Plan, interval: str, payment_method: str = "", setup_reference: str = "",
    join_key: str | None = None, skip_trial: bool = False,
) -> Subscription:
    """Join ``plan``, billed every ``interval``, paying with a card that is saved for renewals:
    ``payment_method`` (the test provider's card form, or a ``pm_...`` id from a client app) or
    ``setup_reference``, a card-saving intent the customer confirmed in the browser.

    A first membership with ``plan.trial_days`` starts a free trial (the card is checked, not
    charged); otherwise, or with ``skip_trial``, the first period is charged now. One free trial
    per customer and per card: a card that already had one raises :class:`TrialUsed`. A second
    live membership, a card that is not valid, not the customer's, or is declined, are refused
    with a clear message, and nothing is created or kept. When the bank asks the customer to
    confirm the first charge, :class:`PaymentActionRequired` is raised; the same join sent again
    (the same ``join_key``) after they confirmed finishes it. ``join_key`` (one per join form)
    makes a double submission charge at most once.
    """
    if not getattr(user, "is_authenticated", False):
        raise ApplicationError(_("Sign in to join."), code="not_authenticated")
    if interval not in I.values:
        raise ApplicationError(_("Choose monthly or yearly billing."),
                               fields={"interval": [_("Choose monthly or yearly billing.")]})
    if plan is None or not plan.is_active:
        raise ApplicationError(_("This plan is not offered any more."), fields={"plan": [_("Not on sale.")]})
    existing = selectors.live_subscription(user)
    if existing is not None:
        raise already_member_error(existing)
    # One join per customer at a time (two tabs, two API calls): the second waits for the first
    # rather than charging the card too (its charge was refunded, but showed on the statement).
    guard = f"membership:joining:{user.pk}"
    held = cache.add(guard, 1, timeout=JOIN_GUARD_SECONDS)  # None: the cache is down, go on unguarded
    if held is False:
        deadline = time.monotonic() + JOIN_GUARD_SECONDS
        while cache.get(guard) is not None and time.monotonic() < deadline:
            time.sleep(0.2)
        existing = selectors.live_subscription(user)
        if existing is not None:
            raise already_member_error(existing)
        held = cache.add(guard, 1, timeout=JOIN_GUARD_SECONDS)  # the other failed (a declined card): this one goes on
        if held is False:
            raise Conflict(_("Your membership is still being set up; reload the page in a moment."),
                           code="join_in_progress")
    try:
        return _join(user=user, plan=plan, interval=interval, payment_method=payment_method,
                     setup_reference=setup_reference, join_key=join_key, skip_trial=skip_trial)
    finally:
        if held:
            cache.delete(guard)


def _join(*, user, plan: Plan, interval: str, payment_method: str, setup_reference: str, join_key: str | None,
          skip_trial: bool) -> Subscription:
    join_key = (join_key or uuid.uuid4().hex)[:80]

    saved, verified = _saved_card(user=user, payment_method=payment_method, setup_reference=setup_reference)
    now = timezone.now()
    amount = plan.price_for(interval)
    trial = plan.trial_days > 0 and not skip_trial and selectors.trial_eligible(user=user)
    if trial and selectors.card_had_trial(fingerprint=saved.fingerprint):
        raise TrialUsed(_("This card has already had a free trial. You can join without the trial; the first "
                          "period is then charged now."))
    reference = f"membership-join:{user.pk}"
    attempt_key = f"{user.pk}:{join_key}:{_token_digest(saved.token)}"
    owner = owner_of(user)
    payment = None
    if trial:
        if not verified:
            _card_check(saved=saved, currency=plan.currency, reference=reference,
                        key=f"membership-check:{attempt_key}", owner=owner)
        status, start = S.TRIALING, now
        end = trial_end = anchor = now + timedelta(days=plan.trial_days)
    else:
        payment = _charge_now(saved=saved, amount=amount, currency=plan.currency, reference=reference,
                              key=f"membership-join:{attempt_key}", owner=owner)
        status, start, trial_end, anchor = S.ACTIVE, now, None, now
        end = period_end_after(anchor=anchor, start=start, interval=interval)
    try:
        with transaction.atomic():
            subscription = Subscription.objects.create(
                user=user, plan=plan, interval=interval, status=status, current_period_start=start,
                current_period_end=end, trial_end=trial_end, billing_anchor=anchor, payment_method=saved.token,
                card_label=saved.label, card_fingerprint=saved.fingerprint, payment_provider=saved.provider,
                created_at=now,
            )
            if trial:
                note = _("Joined with a free trial until %(date)s") % {"date": _date(end)}
            else:
                note = _("Joined; paid %(amount)s until %(date)s") % {
                    "amount": _money(amount, plan.currency), "date": _date(end)}
            SubscriptionEvent.objects.create(subscription=subscription, from_status="", to_status=status, note=note)
            charge = None
            if payment is not None:
                charge = SubscriptionCharge.objects.create(
                    subscription=subscription, period_start=start, period_end=end, attempt=1, amount=amount,
                    currency=plan.currency, status=SubscriptionCharge.Status.PAID, payment=payment,
                    idempotency_key=payment.idempotency_key,
                )
            events.record(membership_events.JOINED, aggregate=membership_events.AGGREGATE,
                          aggregate_id=subscription.pk, subscription_id=subscription.pk, user_id=user.pk,
                          plan=plan.slug, interval=interval, status=status)
            _bump(subscription)
            _email_on_commit(subscription, "welcome", charge.pk if charge else None)
    except IntegrityError:
        # Another join of this customer committed first (a double click, two tabs): keep theirs.
        if payment is not None and not SubscriptionCharge.objects.filter(payment=payment).exists():
            _give_back(payment, reason="membership joined twice")
        existing = selectors.live_subscription(user)
        if existing is None:  # pragma: no cover - the constraint that fired names a live one
            raise
        raise already_member_error(existing)
    return subscription


# --- cancel, resume, card, billing interval -------------------------------------------------


def subscription_cancel(*, subscription: Subscription, actor=None, now: datetime | None = None) -> Subscription:
    """Cancel at period end: benefits last until the end of the period paid for (or of the trial),
    nothing more is charged. A membership whose payment is overdue ends at once."""
    now = now or timezone.now()
    if subscription.status == S.CANCELLED:
        raise Conflict(
            _("Your membership is already cancelled; your benefits last until %(date)s.")
            % {"date": _date(subscription.current_period_end)}, code="already_cancelled",
        )
    if subscription.status == S.EXPIRED:
        raise Conflict(_("This membership has already ended."), code="already_ended")
    with transaction.atomic():
        if subscription.status == S.PAST_DUE:
            subscription_transition(
                subscription=subscription, to=S.EXPIRED, actor=actor, cancelled_at=now, ended_at=now,
                next_attempt_at=None, note=_("Cancelled while a payment was overdue; ended at once"),
            )
        else:
            subscription_transition(
                subscription=subscription, to=S.CANCELLED, actor=actor, cancelled_at=now,
                note=_("Cancelled; benefits until %(date)s") % {"date": _date(subscription.current_period_end)},
            )
        _email_on_commit(subscription, "cancelled")
    return subscription


def membership_cancel(*, user, actor=None) -> Subscription:
    """The member cancels (see :func:`subscription_cancel`). Cancelling twice is a clear 409."""
    return subscription_cancel(subscription=_live_or_404(user), actor=actor or user)


def membership_resume(*, user, actor=None, now: datetime | None = None) -> Subscription:
    """Undo a cancellation before the period ends: billing goes on as before."""
    now = now or timezone.now()
    subscription = _live_or_404(user)
    if subscription.status != S.CANCELLED:
        raise Conflict(_("Your membership is not cancelled; there is nothing to resume."), code="not_cancelled")
    if subscription.current_period_end <= now:
        raise Conflict(_("Your membership has ended; join again to become a member."), code="already_ended")
    to = S.TRIALING if subscription.is_in_trial else S.ACTIVE
    return subscription_transition(
        subscription=subscription, to=to, actor=actor or user, cancelled_at=None,
        note=_("Resumed; renews on %(date)s") % {"date": _date(subscription.current_period_end)},
    )


def membership_update_card(*, user, payment_method: str = "", setup_reference: str = "", actor=None,
                           card_key: str | None = None) -> Subscription:
    """Save a new card for renewals: ``payment_method`` (checked first with a small hold) or
    ``setup_reference``, a card-saving intent the customer confirmed in the browser. When a
    payment is overdue, it is retried with the new card right away. ``card_key`` (one per form)
    lets the same request sent again after a bank's confirmation finish the same check."""
    subscription = _live_or_404(user)
    saved, verified = _saved_card(user=user, payment_method=payment_method, setup_reference=setup_reference)
    if not verified:
        key = f"membership-card:{subscription.pk}:{(card_key or uuid.uuid4().hex)[:80]}:{_token_digest(saved.token)}"
        _card_check(saved=saved, currency=subscription.plan.currency, reference=f"membership:{subscription.pk}",
                    key=key, owner=owner_of(user))
    subscription = Subscription.objects.select_related("plan").get(pk=subscription.pk)
    if subscription.status == S.EXPIRED:
        raise Conflict(_("This membership has already ended."), code="already_ended")
    fields: dict[str, Any] = {"payment_method": saved.token, "card_label": saved.label,
                              "card_fingerprint": saved.fingerprint, "payment_provider": saved.provider}
    retry = subscription.status == S.PAST_DUE
    if retry:
        fields["next_attempt_at"] = timezone.now()
    with transaction.atomic():
        _update_keeping_status(subscription, actor=actor or user, **fields,
                               note=_("Card updated (%(card)s)") % {"card": saved.label or saved.token[:12]})
        if retry:
            from membership.tasks import renew_subscription  # tasks import services

            subscription_id = subscription.pk
            outbox.enqueue(renew_subscription, subscription_id)
    subscription.refresh_from_db()
    return subscription


def membership_change_interval(*, user, interval: str, actor=None) -> Subscription:
    """Bill monthly or yearly from the next renewal on (the current period is unchanged)."""
    if interval not in I.values:
        raise ApplicationError(_("Choose monthly or yearly billing."),
                               fields={"interval": [_("Choose monthly or yearly billing.")]})
    subscription = _live_or_404(user)
    if subscription.status not in (S.TRIALING, S.ACTIVE):
        raise Conflict(_("You can change how you are billed while your membership is active."),
                       code="not_active")
    if subscription.interval == interval:
        raise Conflict(_("You are already billed %(interval)s.") % {"interval": I(interval).label.lower()},
                       code="unchanged")
    price = subscription.plan.price_for(interval)
    return _update_keeping_status(
        subscription, actor=actor or user, interval=interval, billing_anchor=subscription.current_period_end,
        note=_("Billing changed to %(interval)s (%(price)s) from %(date)s") % {
            "interval": I(interval).label.lower(), "price": _money(price, subscription.plan.currency),
            "date": _date(subscription.current_period_end)},
    )


# --- renewals ------------------------------------------------------------------------------

NOT_DUE, IN_PROGRESS, PAID, DECLINED, EXPIRED, UNAVAILABLE = (
    "not_due", "in_progress", "paid", "declined", "expired", "unavailable")


def _retry_at(*, due: datetime, failed: int, grace_until: datetime, now: datetime) -> datetime | None:
    """When to try again after ``failed`` declined attempts for the renewal ``due``; None when
    no retry fits in the grace period (the membership then expires at its end)."""
    days = tuple(getattr(settings, "MEMBERSHIP_RETRY_DAYS", (1, 3, 5)))
    if failed > len(days):
        return None
    at = max(due + timedelta(days=days[failed - 1]), now + timedelta(hours=1))
    return at if at < grace_until else None


def _expire(subscription: Subscription, *, note: str, actor=None, now: datetime) -> Subscription:
    with transaction.atomic():
        subscription_transition(subscription=subscription, to=S.EXPIRED, note=note, actor=actor, ended_at=now,
                                next_attempt_at=None)
        _email_on_commit(subscription, "expired")
    return subscription


def subscription_renew(*, subscription_id: int, now: datetime | None = None) -> str:
    """Do what is due for this subscription now: charge the next period (after the trial, at the
    period end, or a retry), or expire it (cancelled and at period end; unpaid after the grace
    period). Idempotent and safe to run concurrently: returns what happened (``not_due``,
    ``in_progress``, ``paid``, ``declined``, ``expired``, ``unavailable``)."""
    now = now or timezone.now()
    with transaction.atomic():
        subscription = (Subscription.objects.select_for_update().select_related("plan")
                        .filter(pk=subscription_id).first())
        if subscription is None or subscription.status == S.EXPIRED:
            return NOT_DUE
        period_start = subscription.current_period_end
        attempt = subscription.failed_attempts + 1
        charge = SubscriptionCharge.objects.filter(
            subscription=subscription, period_start=period_start, attempt=attempt).first()
        if charge is not None and charge.status == SubscriptionCharge.Status.PENDING:
            if charge.locked_until and charge.locked_until > timezone.now():
                return IN_PROGRESS  # another worker is talking to the provider about it
            # Left pending by a worker that stopped mid-call: finish it with the same idempotency
            # key (the provider answers what it did, or charges now if it never got the call).
            SubscriptionCharge.objects.filter(pk=charge.pk).update(locked_until=timezone.now() + CHARGE_LEASE)
        elif subscription.status == S.CANCELLED:
            if period_start > now:
                return NOT_DUE
            _expire(subscription, now=now, note=_("The cancelled membership reached the end of its period"))
            return EXPIRED
        elif subscription.status == S.PAST_DUE and subscription.grace_until and subscription.grace_until <= now:
            _expire(subscription, now=now, note=_("Not paid by the end of the grace period"))
            return EXPIRED
        else:
            due = (subscription.status in (S.TRIALING, S.ACTIVE) and period_start <= now) or (
                subscription.status == S.PAST_DUE and subscription.next_attempt_at is not None
                and subscription.next_attempt_at <= now)
            if not due or charge is not None:  # (an attempt is recorded together with its outcome's status)
                return NOT_DUE
            anchor = subscription.billing_anchor or subscription.current_period_end
            charge = SubscriptionCharge.objects.create(
                subscription=subscription, period_start=period_start, attempt=attempt,
                period_end=period_end_after(anchor=anchor, start=period_start, interval=subscription.interval),
                amount=subscription.plan.price_for(subscription.interval), currency=subscription.plan.currency,
                locked_until=timezone.now() + CHARGE_LEASE,
                idempotency_key=f"membership:{subscription.pk}:{period_start:%Y%m%d%H%M}:{attempt}",
            )
        token, provider = subscription.payment_method, subscription.payment_provider or None
        owner = f"user:{subscription.user_id}"

    # Outside any transaction: the provider call (idempotent by the charge's key).
    payment, message = None, ""
    try:
        payment = payment_services.payment_authorize(
            amount=charge.amount, currency=charge.currency, payment_method=token or "-",
            reference=f"membership:{subscription_id}", idempotency_key=charge.idempotency_key, provider=provider,
            off_session=True, owner=owner,
        )
        payment = payment_services.payment_capture(payment=payment)
        outcome = SubscriptionCharge.Status.PAID
    except PaymentDeclined as exc:
        payment, message = exc.payment, exc.message
        outcome = (SubscriptionCharge.Status.FAILED if exc.payment.status == PaymentStatus.FAILED
                   else SubscriptionCharge.Status.DECLINED)
    except PaymentInProgress:
        return IN_PROGRESS
    except ApplicationError:  # provider unreachable, capture refused: the next run asks again, same key
        logger.warning("renewal of subscription %s could not reach the provider", subscription_id, exc_info=True)
        SubscriptionCharge.objects.filter(pk=charge.pk, status=SubscriptionCharge.Status.PENDING).update(
            locked_until=None)
        return UNAVAILABLE
    return _record_outcome(charge=charge, outcome=outcome, payment=payment, message=message)


def _record_outcome(*, charge: SubscriptionCharge, outcome: str, payment: Payment | None, message: str) -> str:
    now = timezone.now()
    refund = False
    with transaction.atomic():
        subscription = Subscription.objects.select_for_update().select_related("plan").get(pk=charge.subscription_id)
        recorded = SubscriptionCharge.objects.filter(pk=charge.pk, status=SubscriptionCharge.Status.PENDING).update(
            status=outcome, payment=payment, decline_message=message[:255], locked_until=None, updated_at=now,
        )
        if not recorded:
            return IN_PROGRESS  # a twin run recorded it first
        amount = _money(charge.amount, charge.currency)
        if outcome == SubscriptionCharge.Status.PAID:
            fields = {"current_period_start": charge.period_start, "current_period_end": charge.period_end,
                      "failed_attempts": 0, "next_attempt_at": None, "grace_until": None}
            note = _("Paid %(amount)s; member until %(date)s") % {"amount": amount, "date": _date(charge.period_end)}
            if subscription.status in (S.TRIALING, S.PAST_DUE):
                subscription_transition(subscription=subscription, to=S.ACTIVE, note=note, **fields)
            elif subscription.status in (S.ACTIVE, S.CANCELLED):  # cancelled while it was being charged
                _update_keeping_status(subscription, note=note, **fields)
            else:  # ended meanwhile (by staff): the money goes back
                refund = True
            if not refund:
                _email_on_commit(subscription, "receipt", charge.pk)
        else:
            failed = charge.attempt
            grace_until = charge.period_start + timedelta(days=getattr(settings, "MEMBERSHIP_GRACE_DAYS", 7))
            retry_at = _retry_at(due=charge.period_start, failed=failed, grace_until=grace_until, now=now)
            fields = {"failed_attempts": failed, "next_attempt_at": retry_at, "grace_until": grace_until}
            note = _("Payment of %(amount)s declined (%(reason)s)") % {"amount": amount, "reason": message}
            if subscription.status in (S.TRIALING, S.ACTIVE):
                subscription_transition(subscription=subscription, to=S.PAST_DUE, note=note, **fields)
            elif subscription.status == S.PAST_DUE:
                _update_keeping_status(subscription, note=note, **fields)
            if subscription.status == S.PAST_DUE:
                _email_on_commit(subscription, "payment_failed", charge.pk)
    if refund and payment is not None:
        _give_back(payment, reason="membership ended")
    return PAID if outcome == SubscriptionCharge.Status.PAID else DECLINED


# --- staff -----------------------------------------------------------------------------------


def subscription_expire(*, subscription: Subscription, actor=None, note: str = "") -> Subscription:
    """End a membership now (staff): benefits stop at once, nothing more is charged."""
    if subscription.status == S.EXPIRED:
        raise Conflict(_("This membership has already ended."), code="already_ended")
    return _expire(subscription, actor=actor, now=timezone.now(), note=note or _("Ended by staff"))


def subscription_retry_now(*, subscription: Subscription, actor=None) -> str:
    """Staff: charge an overdue membership now instead of at the next retry date; or run a renewal
    that is due. Refused when nothing is due."""
    now = timezone.now()
    subscription = Subscription.objects.get(pk=subscription.pk)
    if subscription.status == S.PAST_DUE and (subscription.grace_until is None or subscription.grace_until > now):
        _update_keeping_status(subscription, actor=actor, next_attempt_at=now, note=_("Payment retried by staff"))
    elif not Subscription.objects.filter(selectors.due_filter(now), pk=subscription.pk).exists():
        raise Conflict(_("Nothing is due for this membership: it renews on %(date)s.")
                       % {"date": _date(subscription.current_period_end)}, code="not_due")
    return subscription_renew(subscription_id=subscription.pk, now=now)
