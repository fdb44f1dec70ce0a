"""Joining: free trial, paid first period, declined and invalid cards, joining twice (also at once)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail

from core.exceptions import ApplicationError
from membership import services
from membership.models import Subscription, SubscriptionCharge, SubscriptionEvent
from membership.tests.conftest import (
    DECLINED_CARD,
    GOOD_CARD,
    INVALID_CARD,
    NO_FUNDS_CARD,
    START,
    join,
    make_plan,
)
from payments.exceptions import PaymentDeclined
from payments.models import Payment, PaymentStatus
from payments.providers.test import customer_for
from tests.concurrency import race
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
S = Subscription.Status


def test_join_with_a_free_trial_checks_the_card_but_charges_nothing(user, plan, provider, travel):
    subscription = join(user, plan)
    assert subscription.status == S.TRIALING
    assert subscription.current_period_start == START
    assert subscription.trial_end == subscription.current_period_end == START + timedelta(days=30)
    assert subscription.billing_anchor == subscription.trial_end
    assert subscription.payment_method == f"{customer_for(f'user:{subscription.user_id}')}|pm_test_ok_4242"
    assert subscription.card_label == "Card ending 4242"
    assert subscription.payment_provider == "counting"
    # The card check: one small authorization, released at once; nothing captured.
    check = Payment.objects.get()
    assert (check.amount, check.status) == (Decimal("1.00"), PaymentStatus.CANCELLED)
    assert provider.charged() == []
    assert not SubscriptionCharge.objects.exists()
    event = SubscriptionEvent.objects.get()
    assert (event.from_status, event.to_status) == ("", S.TRIALING)
    assert "free trial until" in event.note
    assert len(mail.outbox) == 1
    welcome = mail.outbox[0]
    assert welcome.to == [user.email]
    assert "Welcome to Bazaar Plus" in welcome.subject
    assert "free trial runs until Feb. 14, 2026" in welcome.body
    assert "$12.99" in welcome.body
    assert "Card ending 4242" in welcome.body
    assert "Welcome to Bazaar Plus" in welcome.alternatives[0][0]


def test_no_card_number_is_ever_stored(user, plan):
    subscription = join(user, plan, card="5555 5555 5555 4444")
    stored = Subscription.objects.filter(pk=subscription.pk).values()[0]
    assert not any("5555555555554444" in str(value) for value in stored.values())


def test_join_without_trial_charges_the_first_period_now(user, paid_plan, provider, travel):
    subscription = join(user, paid_plan, interval="year")
    assert subscription.status == S.ACTIVE
    assert subscription.trial_end is None
    assert subscription.current_period_end == START.replace(year=2027)
    assert provider.charged() == [Decimal("119.00")]
    charge = SubscriptionCharge.objects.get()
    assert (charge.status, charge.amount, charge.attempt) == (SubscriptionCharge.Status.PAID, Decimal("119.00"), 1)
    assert (charge.period_start, charge.period_end) == (START, START.replace(year=2027))
    assert charge.payment.status == PaymentStatus.CAPTURED
    assert "We charged $119.00 to Card ending 4242" in mail.outbox[0].body


def test_a_second_membership_never_gets_another_free_trial(user, plan, provider):
    first = join(user, plan)
    services.subscription_expire(subscription=first)
    second = join(user, plan)
    assert second.status == S.ACTIVE
    assert second.trial_end is None
    assert provider.charged() == [Decimal("12.99")]


@pytest.mark.parametrize(("card", "message"), [
    (DECLINED_CARD, "Your card was declined. Nothing was charged; please try another card."),
    (NO_FUNDS_CARD, "Insufficient funds. Nothing was charged; please try another card."),
])
@pytest.mark.parametrize("with_trial", [True, False])
def test_a_declined_card_refuses_the_join_and_leaves_nothing(user, plan, paid_plan, card, message, with_trial):
    with pytest.raises(PaymentDeclined) as exc:
        join(user, plan if with_trial else paid_plan, card=card)
    assert exc.value.message == message
    assert exc.value.status_code == 402
    assert not Subscription.objects.exists()
    assert not SubscriptionCharge.objects.exists()
    assert not Payment.objects.exclude(status=PaymentStatus.DECLINED).exists()
    assert mail.outbox == []


def test_an_invalid_card_number_is_refused_on_the_field(user, plan, provider):
    with pytest.raises(ApplicationError) as exc:
        join(user, plan, card=INVALID_CARD)
    assert exc.value.fields == {"payment_method": ["That card number is not valid."]}
    assert not Subscription.objects.exists()
    assert provider.calls == []


def test_another_card_after_a_decline_is_tried_even_with_the_same_form(user, paid_plan, provider):
    with pytest.raises(PaymentDeclined):
        join(user, paid_plan, card=DECLINED_CARD, join_key="form-1")
    subscription = join(user, paid_plan, card=GOOD_CARD, join_key="form-1")
    assert subscription.status == S.ACTIVE
    assert provider.charged() == [Decimal("12.99")]


def test_joining_twice_is_refused_clearly_and_changes_nothing(user, plan, provider, travel):
    first = join(user, plan)
    calls = len(provider.calls)
    with pytest.raises(services.AlreadyMember) as exc:
        join(user, plan)
    assert exc.value.status_code == 409
    assert exc.value.message == "You are already a member until Feb. 14, 2026."
    assert list(Subscription.objects.values_list("pk", flat=True)) == [first.pk]
    assert len(provider.calls) == calls  # no card check, no charge
    assert len(mail.outbox) == 1


def test_joining_while_cancelled_or_past_due_says_what_to_do(user, plan):
    subscription = join(user, plan)
    services.membership_cancel(user=user)
    with pytest.raises(services.AlreadyMember, match="Resume your membership"):
        join(user, plan)
    services.membership_resume(user=user)
    services.subscription_transition(subscription=subscription, to=S.PAST_DUE)
    with pytest.raises(services.AlreadyMember, match="update your card"):
        join(user, plan)


def test_a_plan_off_sale_or_a_bad_interval_is_refused(user):
    old = make_plan(slug="old", is_active=False)
    with pytest.raises(ApplicationError, match="not offered"):
        join(user, old)
    with pytest.raises(ApplicationError) as exc:
        join(user, make_plan(slug="new"), interval="weekly")
    assert "interval" in exc.value.fields
    assert not Subscription.objects.exists()


def test_a_double_submitted_join_form_charges_once(user, paid_plan, provider):
    join(user, paid_plan, join_key="form-1")
    with pytest.raises(services.AlreadyMember):
        join(user, paid_plan, join_key="form-1")
    assert provider.charged() == [Decimal("12.99")]


def test_demo_plan_is_created_once():
    first = services.plan_ensure_demo()
    second = services.plan_ensure_demo()
    assert first.pk == second.pk
    assert (first.name, first.monthly_price, first.annual_price, first.trial_days) == (
        "Bazaar Plus", Decimal("12.99"), Decimal("119.00"), 30)
    assert all((first.free_shipping, first.fast_shipping, first.member_prices, first.member_deals))


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("trial", "cache_up"), [(True, True), (False, True), (False, False)])
def test_two_joins_at_once_make_one_membership_and_keep_no_extra_money(provider, trial, cache_up, monkeypatch):
    """The second join waits for the first and charges nothing; with the cache down (no guard) a
    second charge that happens is given back."""
    if not cache_up:
        monkeypatch.setattr(services.cache, "add", lambda *args, **kwargs: None)  # django-redis, Redis gone
    plan = make_plan(trial_days=30 if trial else 0)
    user = UserFactory()
    provider.delay = 0.3  # both pass the "already a member?" check before either commits
    results = race(lambda key: join(user, plan, join_key=key), [("tab-0",), ("tab-1",)],
                   catch=(services.AlreadyMember,))
    outcomes = [r.message if isinstance(r, services.AlreadyMember) else r.pk for r in results]
    assert Subscription.objects.count() == 1
    winner = Subscription.objects.get()
    refusal = services.already_member_error(winner).message
    assert sorted(outcomes, key=str) == sorted([winner.pk, refusal], key=str)
    assert refusal.startswith("You are already a member until")
    if not trial:
        # Exactly one period is kept: charged once, or the loser's charge went back.
        kept = [p.captured_amount - p.refunded_amount for p in Payment.objects.all()]
        assert sum(kept) == Decimal("12.99")
        assert provider.count("refund") == provider.count("capture") - 1
        if cache_up:  # the second join waited for the first: the card was charged once
            assert provider.count("authorize") == 1, provider.calls
    assert not Payment.objects.filter(status=PaymentStatus.AUTHORIZED).exists()
