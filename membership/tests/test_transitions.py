"""The status machine: every pair of statuses is either a legal transition or refused."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from core.exceptions import Conflict
from membership import services
from membership.models import Subscription, SubscriptionEvent
from membership.tests.conftest import make_plan
from tests.factories import UserFactory

S = Subscription.Status

LEGAL = {
    (S.TRIALING, S.ACTIVE), (S.TRIALING, S.PAST_DUE), (S.TRIALING, S.CANCELLED), (S.TRIALING, S.EXPIRED),
    (S.ACTIVE, S.PAST_DUE), (S.ACTIVE, S.CANCELLED), (S.ACTIVE, S.EXPIRED),
    (S.PAST_DUE, S.ACTIVE), (S.PAST_DUE, S.EXPIRED),
    (S.CANCELLED, S.TRIALING), (S.CANCELLED, S.ACTIVE), (S.CANCELLED, S.EXPIRED),
}


def subscription_in(status: str) -> Subscription:
    now = timezone.now()
    return Subscription.objects.create(
        user=UserFactory(), plan=make_plan(), status=status, current_period_start=now,
        current_period_end=now + timedelta(days=30), payment_method="pm_test_ok_4242",
    )


def test_the_table_is_what_the_services_use():
    assert {(a, b) for a, targets in services.TRANSITIONS.items() for b in targets} == LEGAL
    assert set(services.TRANSITIONS) == set(S.values)


@pytest.mark.django_db
@pytest.mark.parametrize(("start", "end"), [(a, b) for a in S.values for b in S.values])
def test_every_transition_is_allowed_or_refused_as_the_machine_says(start, end):
    subscription = subscription_in(start)
    if (start, end) in LEGAL:
        services.subscription_transition(subscription=subscription, to=end, note="test")
        assert Subscription.objects.get(pk=subscription.pk).status == end
        event = SubscriptionEvent.objects.get(subscription=subscription)
        assert (event.from_status, event.to_status, event.note) == (start, end, "test")
    else:
        with pytest.raises(services.IllegalTransition) as exc:
            services.subscription_transition(subscription=subscription, to=end)
        assert exc.value.status_code == 409
        assert Subscription.objects.get(pk=subscription.pk).status == start
        assert not SubscriptionEvent.objects.exists()


@pytest.mark.django_db
def test_an_unknown_status_is_refused():
    with pytest.raises(services.IllegalTransition, match="Unknown"):
        services.subscription_transition(subscription=subscription_in(S.ACTIVE), to="paused")


@pytest.mark.django_db
def test_a_stale_copy_cannot_overwrite_a_newer_status():
    subscription = subscription_in(S.ACTIVE)
    stale = Subscription.objects.get(pk=subscription.pk)
    services.subscription_transition(subscription=subscription, to=S.CANCELLED)
    with pytest.raises(Conflict, match="changed meanwhile"):
        services.subscription_transition(subscription=stale, to=S.PAST_DUE)
    assert Subscription.objects.get(pk=subscription.pk).status == S.CANCELLED
    assert SubscriptionEvent.objects.count() == 1
