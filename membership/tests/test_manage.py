"""Managing a membership: cancel (twice), resume (twice, too late), new card, billing interval."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail

from core.exceptions import ApplicationError, Conflict
from membership import services
from membership.models import Subscription, SubscriptionEvent
from membership.tests.conftest import DECLINED_CARD, INVALID_CARD, START, join, reload
from payments.exceptions import PaymentDeclined
from tests.commit import committed
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
S = Subscription.Status


def test_cancel_keeps_benefits_until_period_end_and_tells_the_member(user, plan, travel):
    subscription = join(user, plan)
    mail.outbox.clear()
    travel(START + timedelta(days=3))
    with committed():
        cancelled = services.membership_cancel(user=user)
    sub = reload(subscription)
    assert cancelled.status == sub.status == S.CANCELLED
    assert sub.cancelled_at == START + timedelta(days=3)
    assert sub.current_period_end == START + timedelta(days=30)  # unchanged: benefits until then
    assert sub.has_benefits
    assert [m.subject for m in mail.outbox] == ["Your Bazaar Plus membership is cancelled"]
    assert "Your benefits last until Feb. 14, 2026" in mail.outbox[0].body
    event = SubscriptionEvent.objects.filter(subscription=sub).first()
    assert (event.from_status, event.to_status, event.actor) == (S.TRIALING, S.CANCELLED, user)


def test_cancelling_twice_is_a_clear_conflict_and_nothing_is_lost(user, plan, travel):
    subscription = join(user, plan)
    with committed():
        services.membership_cancel(user=user)
    before = Subscription.objects.filter(pk=subscription.pk).values()[0]
    events = SubscriptionEvent.objects.count()
    mails = len(mail.outbox)
    with committed(), pytest.raises(Conflict) as exc:
        services.membership_cancel(user=user)
    assert exc.value.code == "already_cancelled"
    assert exc.value.message == "Your membership is already cancelled; your benefits last until Feb. 14, 2026."
    assert Subscription.objects.filter(pk=subscription.pk).values()[0] == before
    assert SubscriptionEvent.objects.count() == events
    assert len(mail.outbox) == mails


def test_cancelling_without_a_membership_is_not_found():
    with pytest.raises(services.NotAMember, match="You are not a member"):
        services.membership_cancel(user=UserFactory())


def test_cancelling_while_past_due_ends_the_membership_at_once(user, plan):
    subscription = join(user, plan)
    services.subscription_transition(subscription=subscription, to=S.PAST_DUE)
    with committed():
        services.membership_cancel(user=user)
    sub = reload(subscription)
    assert sub.status == S.EXPIRED
    assert not sub.has_benefits
    assert "Your membership has ended" in mail.outbox[-1].body


def test_resume_before_period_end_goes_back_to_where_it_was(user, plan, paid_plan):
    trial = join(user, plan)
    services.membership_cancel(user=user)
    assert services.membership_resume(user=user).status == S.TRIALING
    sub = reload(trial)
    assert (sub.status, sub.cancelled_at) == (S.TRIALING, None)
    services.subscription_expire(subscription=sub)
    paid = join(user, paid_plan)
    services.membership_cancel(user=user)
    assert services.membership_resume(user=user).status == S.ACTIVE
    assert reload(paid).status == S.ACTIVE


def test_resume_twice_or_too_late_is_refused_clearly(user, plan, travel):
    subscription = join(user, plan)
    with pytest.raises(Conflict, match="not cancelled; there is nothing to resume") as exc:
        services.membership_resume(user=user)
    assert exc.value.code == "not_cancelled"
    services.membership_cancel(user=user)
    travel(subscription.current_period_end + timedelta(minutes=1))
    with pytest.raises(Conflict, match="has ended; join again"):
        services.membership_resume(user=user)
    assert reload(subscription).status == S.CANCELLED


def test_update_card_checks_and_saves_the_new_card(user, plan, provider):
    subscription = join(user, plan)
    services.membership_update_card(user=user, payment_method="5555 5555 5555 4444")
    sub = reload(subscription)
    assert (sub.payment_method.split("|")[1], sub.card_label, sub.status) == (
        "pm_test_ok_4444", "Card ending 4444", S.TRIALING)
    assert provider.charged() == []
    assert "Card updated (Card ending 4444)" in SubscriptionEvent.objects.filter(subscription=sub).first().note


@pytest.mark.parametrize(("card", "error"), [(DECLINED_CARD, PaymentDeclined), (INVALID_CARD, ApplicationError)])
def test_a_bad_new_card_is_refused_and_the_old_one_kept(user, plan, card, error):
    subscription = join(user, plan)
    with pytest.raises(error):
        services.membership_update_card(user=user, payment_method=card)
    assert reload(subscription).payment_method.endswith("|pm_test_ok_4242")


def test_change_interval_applies_from_the_next_renewal(user, plan, provider, travel):
    subscription = join(user, plan)
    services.membership_change_interval(user=user, interval="year")
    sub = reload(subscription)
    assert sub.interval == "year"
    assert sub.current_period_end == START + timedelta(days=30)  # this period is unchanged
    with pytest.raises(Conflict, match="already billed yearly"):
        services.membership_change_interval(user=user, interval="year")
    with pytest.raises(ApplicationError):
        services.membership_change_interval(user=user, interval="weekly")
    travel(sub.current_period_end + timedelta(minutes=1))
    assert services.subscription_renew(subscription_id=sub.pk) == services.PAID
    assert provider.charged() == [Decimal("119.00")]
    assert reload(sub).current_period_end == sub.current_period_end.replace(year=2027)


def test_change_interval_is_refused_unless_active(user, plan):
    join(user, plan)
    services.membership_cancel(user=user)
    with pytest.raises(Conflict, match="while your membership is active"):
        services.membership_change_interval(user=user, interval="year")


def test_staff_expire_and_expire_twice(user, plan):
    subscription = join(user, plan)
    services.subscription_expire(subscription=subscription, actor=None)
    assert reload(subscription).status == S.EXPIRED
    with pytest.raises(Conflict, match="already ended"):
        services.subscription_expire(subscription=subscription)
    with pytest.raises(Conflict, match="already ended"):
        services.subscription_cancel(subscription=reload(subscription))
