"""Renewals with time travel: trial end, renewal, declines with retries and dunning, the grace
period, expiry, cancelled memberships, and never charging twice (reruns, concurrent runs)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core import mail

from membership import selectors, services, tasks
from membership.models import Subscription, SubscriptionCharge, SubscriptionEvent
from membership.tests.conftest import START, beat, card_now_declines, card_number, join, make_plan, reload, renew
from payments.models import Payment, PaymentStatus
from tests.commit import committed
from tests.concurrency import race
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
S = Subscription.Status
C = SubscriptionCharge.Status
TRIAL_END = START + timedelta(days=30)  # 2026-02-14 10:00 UTC
DAY = timedelta(days=1)


@pytest.fixture
def member(user, plan, provider, travel):
    """Joined on 2026-01-15 with a 30-day trial and a good card; the joining e-mail is cleared."""
    subscription = join(user, plan)
    mail.outbox.clear()
    provider.calls.clear()
    return subscription


def subjects() -> list[str]:
    return [m.subject for m in mail.outbox]


def test_nothing_happens_before_the_trial_ends(member, provider, travel):
    travel(TRIAL_END - timedelta(minutes=1))
    assert renew(member) == services.NOT_DUE
    assert beat() == 0
    assert provider.calls == []
    assert reload(member).status == S.TRIALING


def test_trial_end_charges_the_first_month_and_the_member_becomes_active(member, provider, travel):
    travel(TRIAL_END + timedelta(minutes=5))
    assert beat() == 1
    sub = reload(member)
    assert sub.status == S.ACTIVE
    assert (sub.current_period_start, sub.current_period_end) == (TRIAL_END, TRIAL_END.replace(month=3))
    assert sub.failed_attempts == 0
    assert provider.charged() == [Decimal("12.99")]
    charge = SubscriptionCharge.objects.get()
    assert (charge.status, charge.attempt, charge.amount) == (C.PAID, 1, Decimal("12.99"))
    assert charge.idempotency_key == f"membership:{sub.pk}:202602141000:1"
    assert charge.payment.status == PaymentStatus.CAPTURED
    assert subjects() == ["Your Bazaar Plus receipt"]
    assert "$12.99" in mail.outbox[0].body
    assert "March 14, 2026" in mail.outbox[0].body
    event = SubscriptionEvent.objects.filter(subscription=sub).first()
    assert (event.from_status, event.to_status) == (S.TRIALING, S.ACTIVE)


def test_an_active_membership_renews_each_month_on_its_date(member, provider, travel):
    for month in (2, 3, 4):
        travel(TRIAL_END.replace(month=month) + timedelta(minutes=1))
        assert renew(member) == services.PAID
    sub = reload(member)
    assert sub.status == S.ACTIVE
    assert sub.current_period_end == TRIAL_END.replace(month=5)
    assert provider.charged() == [Decimal("12.99")] * 3
    assert SubscriptionCharge.objects.filter(status=C.PAID).count() == 3
    # Renewals keep the status, and each is in the history.
    assert SubscriptionEvent.objects.filter(subscription=sub, from_status=S.ACTIVE, to_status=S.ACTIVE).count() == 2


def test_yearly_billing_charges_the_annual_price_for_a_year(user, plan, provider, travel):
    subscription = join(user, plan, interval="year")
    travel(TRIAL_END + DAY)
    assert renew(subscription) == services.PAID
    sub = reload(subscription)
    assert sub.current_period_end == TRIAL_END.replace(year=2027)
    assert provider.charged() == [Decimal("119.00")]


def test_periods_follow_the_anchor_day_through_short_months(user, paid_plan, provider, travel):
    travel(datetime(2026, 1, 31, 9, 0, tzinfo=UTC))
    subscription = join(user, paid_plan)
    ends = [reload(subscription).current_period_end]
    for _ in range(3):
        travel(ends[-1] + timedelta(minutes=1))
        assert renew(subscription) == services.PAID
        ends.append(reload(subscription).current_period_end)
    assert [e.date().isoformat() for e in ends] == ["2026-02-28", "2026-03-31", "2026-04-30", "2026-05-31"]


def test_a_renewal_run_twice_charges_once(member, provider, travel):
    travel(TRIAL_END + DAY)
    assert renew(member) == services.PAID
    assert renew(member) == services.NOT_DUE
    beat()
    with committed():
        tasks.renew_subscription(member.pk)
    assert provider.count("authorize") == 1
    assert Payment.objects.filter(reference=f"membership:{member.pk}").count() == 1
    assert SubscriptionCharge.objects.count() == 1
    assert subjects() == ["Your Bazaar Plus receipt"]


def test_a_charge_left_pending_by_a_crashed_worker_is_finished_with_the_same_key(member, provider, travel):
    travel(TRIAL_END + DAY)
    provider.down = True  # the provider call never answers: the attempt stays pending
    assert renew(member) == services.UNAVAILABLE
    charge = SubscriptionCharge.objects.get()
    assert charge.status == C.PENDING
    assert reload(member).status == S.TRIALING  # not a decline: nothing changes for the member
    provider.down = False
    travel(TRIAL_END + DAY + timedelta(minutes=15))
    assert beat() == 1
    charge.refresh_from_db()
    assert charge.status == C.PAID
    assert {key for name, key, _amount in provider.calls if name == "authorize"} == {charge.idempotency_key}
    assert provider.charged() == [Decimal("12.99")]
    assert SubscriptionCharge.objects.count() == 1


def test_a_charge_being_made_by_another_worker_is_left_alone(member, provider, travel):
    travel(TRIAL_END + DAY)
    SubscriptionCharge.objects.create(
        subscription=member, period_start=TRIAL_END, period_end=TRIAL_END.replace(month=3), attempt=1,
        amount=Decimal("12.99"), currency="USD", idempotency_key="held", locked_until=TRIAL_END + 2 * DAY)
    assert renew(member) == services.IN_PROGRESS
    assert provider.calls == []


def test_decline_makes_the_member_past_due_retries_with_backoff_and_dunning(member, provider, travel):
    card_now_declines(member)
    due = TRIAL_END
    travel(due + timedelta(minutes=5))
    assert beat() == 1
    sub = reload(member)
    assert sub.status == S.PAST_DUE
    assert sub.failed_attempts == 1
    assert sub.next_attempt_at == due + 1 * DAY
    assert sub.grace_until == due + 7 * DAY
    assert sub.current_period_end == due  # the unpaid period has not started
    assert sub.has_benefits  # kept during the grace period
    assert subjects() == ["Action needed: your Bazaar Plus payment did not go through"]
    dunning = mail.outbox[0]
    assert "We could not charge $12.99 to Card ending 4242" in dunning.body
    assert "Your card was declined." in dunning.body
    assert "We will try again on Feb. 15, 2026." in dunning.body
    assert "Your benefits continue until Feb. 21, 2026" in dunning.body
    assert "http://127.0.0.1:8000/membership/account/card/" in dunning.body
    assert "/membership/account/card/" in dunning.alternatives[0][0]

    # Not again before the retry date, however often the beat runs.
    travel(due + DAY - timedelta(minutes=1))
    assert beat() == 0
    assert renew(member) == services.NOT_DUE
    # Retries on day 1, 3 and 5 after the renewal date, each with its own e-mail.
    for attempt, (day, next_day) in enumerate([(1, 3), (3, 5), (5, None)], start=2):
        travel(due + day * DAY + timedelta(minutes=1))
        assert beat() == 1
        sub = reload(member)
        assert (sub.status, sub.failed_attempts) == (S.PAST_DUE, attempt)
        assert sub.next_attempt_at == (due + next_day * DAY if next_day else None)
        assert len(mail.outbox) == attempt
        last = mail.outbox[-1].body
        assert ("That was our last try." in last) == (next_day is None)
    assert provider.count("authorize") == 4
    assert list(SubscriptionCharge.objects.order_by("attempt").values_list("attempt", "status")) == [
        (1, C.DECLINED), (2, C.DECLINED), (3, C.DECLINED), (4, C.DECLINED)]
    assert provider.charged() == []

    # Grace over: expired, benefits gone, told so; nothing is charged any more.
    travel(due + 7 * DAY - timedelta(minutes=1))
    assert beat() == 0
    assert selectors.benefits_for(member.user) is not None
    travel(due + 7 * DAY)
    assert selectors.benefits_for(member.user) is None  # at once, before any worker ran
    assert beat() == 1
    sub = reload(member)
    assert sub.status == S.EXPIRED
    assert sub.ended_at == due + 7 * DAY
    assert mail.outbox[-1].subject == "Your Bazaar Plus membership has ended"
    travel(due + 40 * DAY)
    assert beat() == 0
    assert provider.count("authorize") == 4


def test_payment_on_a_retry_makes_the_member_active_again(member, provider, travel):
    card_now_declines(member, "pm_test_insufficient_funds_9995")
    travel(TRIAL_END + timedelta(minutes=1))
    assert renew(member) == services.DECLINED
    assert "Insufficient funds." in mail.outbox[-1].body
    card_now_declines(member, "pm_test_ok_4242")  # money came in
    travel(TRIAL_END + DAY + timedelta(minutes=1))
    assert renew(member) == services.PAID
    sub = reload(member)
    assert sub.status == S.ACTIVE
    assert (sub.failed_attempts, sub.next_attempt_at, sub.grace_until) == (0, None, None)
    # The period paid for starts at the renewal date, not at the retry.
    assert (sub.current_period_start, sub.current_period_end) == (TRIAL_END, TRIAL_END.replace(month=3))
    assert provider.charged() == [Decimal("12.99")]
    assert mail.outbox[-1].subject == "Your Bazaar Plus receipt"
    travel(TRIAL_END.replace(month=3) + timedelta(minutes=1))
    assert renew(member) == services.PAID  # next month starts again from attempt 1
    assert SubscriptionCharge.objects.filter(period_start=TRIAL_END.replace(month=3)).get().attempt == 1


def test_a_new_card_retries_an_overdue_payment_at_once(member, provider, travel):
    card_now_declines(member)
    travel(TRIAL_END + timedelta(hours=2))
    renew(member)
    assert reload(member).status == S.PAST_DUE
    with committed():
        services.membership_update_card(user=member.user, payment_method="5555 5555 5555 4444")
    sub = reload(member)
    assert sub.status == S.ACTIVE
    assert sub.card_label == "Card ending 4444"
    assert provider.charged() == [Decimal("12.99")]


def test_a_cancelled_membership_expires_at_period_end_without_a_charge(member, provider, travel):
    travel(START + 10 * DAY)
    with committed():
        services.membership_cancel(user=member.user)
    provider.calls.clear()
    travel(TRIAL_END - timedelta(minutes=1))
    assert beat() == 0
    assert selectors.benefits_for(member.user) is not None
    travel(TRIAL_END)
    assert selectors.benefits_for(member.user) is None
    assert beat() == 1
    sub = reload(member)
    assert (sub.status, sub.ended_at) == (S.EXPIRED, TRIAL_END)
    assert provider.calls == []
    assert not SubscriptionCharge.objects.exists()
    assert subjects()[-1] == "Your Bazaar Plus membership has ended"


def test_a_paid_member_who_cancels_keeps_the_paid_month_then_expires(user, paid_plan, provider, travel):
    subscription = join(user, paid_plan)
    services.membership_cancel(user=user)
    end = START.replace(month=2)
    travel(end - DAY)
    assert selectors.benefits_for(user) is not None
    travel(end + timedelta(minutes=1))
    assert renew(subscription) == services.EXPIRED
    assert provider.charged() == [Decimal("12.99")]  # the first month only


def test_a_member_who_joins_again_after_expiry_starts_a_new_subscription(member, plan, provider, travel):
    services.subscription_expire(subscription=member)
    again = join(member.user, plan)
    assert again.pk != member.pk
    assert again.status == S.ACTIVE
    assert Subscription.objects.filter(user=member.user).count() == 2


def test_staff_retry_now_charges_an_overdue_membership(member, provider, travel):
    card_now_declines(member)
    travel(TRIAL_END + timedelta(hours=1))
    renew(member)
    card_now_declines(member, "pm_test_ok_4242")
    assert services.subscription_retry_now(subscription=member) == services.PAID
    assert reload(member).status == S.ACTIVE
    with pytest.raises(services.Conflict, match="Nothing is due"):
        services.subscription_retry_now(subscription=member)


def test_a_membership_ended_by_staff_during_a_charge_gets_its_money_back(member, provider, travel):
    travel(TRIAL_END + DAY)
    original = services.payment_services.payment_capture

    def capture_then_staff_expires(*, payment, amount=None):
        result = original(payment=payment, amount=amount)
        services.subscription_expire(subscription=reload(member))
        return result

    services.payment_services.payment_capture = capture_then_staff_expires
    try:
        assert renew(member) == services.PAID
    finally:
        services.payment_services.payment_capture = original
    payment = SubscriptionCharge.objects.get().payment
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.REFUNDED
    assert reload(member).status == S.EXPIRED


@pytest.mark.django_db(transaction=True)
def test_two_renewal_runs_at_once_charge_once(provider, travel):
    subscription = join(UserFactory(), make_plan())
    travel(TRIAL_END + DAY)
    provider.calls.clear()
    provider.delay = 0.3
    results = race(lambda: services.subscription_renew(subscription_id=subscription.pk), [()] * 3)
    assert results.count(services.PAID) == 1
    assert set(results) - {services.PAID} <= {services.IN_PROGRESS, services.NOT_DUE}  # the twins: left alone
    assert provider.count("authorize") == 1
    assert provider.charged() == [Decimal("12.99")]
    assert SubscriptionCharge.objects.get().status == C.PAID
    assert reload(subscription).status == S.ACTIVE


@pytest.mark.django_db(transaction=True)
def test_two_beat_runs_at_once_charge_each_member_once(provider, travel):
    plan = make_plan()
    members = [join(UserFactory(), plan, card=card_number(i)) for i in range(4)]
    travel(TRIAL_END + DAY)
    provider.calls.clear()
    provider.delay = 0.05
    handed_over = race(lambda: tasks.renew_due_subscriptions(batch_size=3), [()] * 2)
    assert all(isinstance(n, int) for n in handed_over), handed_over  # neither run failed
    assert provider.count("authorize") == 4
    assert provider.charged() == [Decimal("12.99")] * 4
    assert set(Subscription.objects.values_list("status", flat=True)) == {S.ACTIVE}
    assert SubscriptionCharge.objects.filter(status=C.PAID).count() == len(members)


def test_a_card_accepted_when_joining_can_fail_off_session_at_renewal(user, plan, provider, travel):
    """The test card 4000 0000 0000 0341 passes the card check when joining (the customer is
    there) and is declined when the renewal charges it off-session: dunning from the demo shop."""
    subscription = join(user, plan, card="4000 0000 0000 0341")
    assert reload(subscription).status == S.TRIALING
    assert reload(subscription).payment_method.endswith("|pm_test_offsession_declined_0341")
    mail.outbox.clear()
    travel(TRIAL_END + timedelta(minutes=1))
    assert renew(subscription) == "declined"
    assert reload(subscription).status == S.PAST_DUE
    assert provider.charged() == []
    assert len(mail.outbox) == 1
