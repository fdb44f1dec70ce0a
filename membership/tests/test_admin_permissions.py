"""Membership actions in admin each need their own permission: cancelling
(``membership.cancel_subscription``), ending at once (``membership.expire_subscription``) and
retrying a renewal, which charges the card (``membership.retry_renewal``). A view-only staff member
sees none of them, and a forged POST changes no subscription and charges nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from membership.models import Subscription, SubscriptionCharge, SubscriptionEvent
from membership.tests.conftest import card_now_declines, join, reload
from tests.factories import admin_action, admin_actions, staff_user

pytestmark = pytest.mark.django_db
S = Subscription.Status
URL = "/admin/membership/subscription/"

ACTIONS = [
    pytest.param("cancel_at_period_end", "membership.cancel_subscription", id="cancel"),
    pytest.param("expire_now", "membership.expire_subscription", id="expire"),
    pytest.param("retry_renewal_now", "membership.retry_renewal", id="retry"),
]


@pytest.fixture
def due(user, plan, provider, travel):
    """A membership whose renewal is due and whose card now declines: every action would change it."""
    subscription = join(user, plan)
    card_now_declines(subscription)
    travel(subscription.current_period_end + timedelta(minutes=5))
    return subscription


def _state(subscription) -> tuple:
    current = reload(subscription)
    return (current.status, current.failed_attempts, current.cancelled_at, current.ended_at,
            SubscriptionCharge.objects.filter(subscription=subscription).count(),
            SubscriptionEvent.objects.filter(subscription=subscription).count())


def test_view_only_staff_sees_no_membership_action(client, due):
    client.force_login(staff_user("membership.view_subscription"))
    response = client.get(URL)
    assert response.status_code == 200
    assert admin_actions(response) == set()


@pytest.mark.parametrize(("action", "perm"), ACTIONS)
@pytest.mark.parametrize(
    "held", [("membership.view_subscription",), ("membership.view_subscription", "membership.change_subscription")],
    ids=["view-only", "view-and-change"],
)
def test_forged_membership_action_without_its_permission_changes_nothing(client, due, provider, action, perm,
                                                                         held):
    before, calls = _state(due), len(provider.calls)
    client.force_login(staff_user(*held))

    assert admin_action(client, URL, action, due, follow=True).status_code == 200

    assert _state(due) == before
    assert len(provider.calls) == calls  # the card was not charged


@pytest.mark.parametrize(("action", "perm"), ACTIONS)
def test_the_specific_permission_allows_the_membership_action(client, due, provider, action, perm):
    before, calls = _state(due), len(provider.calls)
    client.force_login(staff_user("membership.view_subscription", perm))
    assert admin_actions(client.get(URL)) == {action}

    admin_action(client, URL, action, due)

    assert _state(due) != before
    if action == "retry_renewal_now":
        assert len(provider.calls) > calls
        assert reload(due).status == S.PAST_DUE
    elif action == "expire_now":
        assert reload(due).status == S.EXPIRED
    else:
        assert reload(due).cancelled_at is not None
