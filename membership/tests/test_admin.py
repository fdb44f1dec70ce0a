"""Admin: plans through the service, subscriptions read-only with actions calling the services."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model

from membership import selectors
from membership.models import Plan, Subscription, SubscriptionEvent
from membership.tests.conftest import card_now_declines, join, reload
from tests.commit import committed
from tests.factories import admin_form_data

pytestmark = pytest.mark.django_db
S = Subscription.Status
URL = "/admin/membership/subscription/"


@pytest.fixture
def staff(client):
    admin = get_user_model().objects.create_superuser(email="admin@example.com", password="pw-12345678")
    client.force_login(admin)
    client.admin = admin
    return client


def act(client, action: str, *subscriptions):
    return client.post(URL, {"action": action, "_selected_action": [s.pk for s in subscriptions]}, follow=True)


def test_pages_render_and_subscriptions_are_read_only(staff, user, plan, travel):
    subscription = join(user, plan)
    assert staff.get(f"{URL}?status=trialing&q={user.email}").status_code == 200
    page = staff.get(f"{URL}{subscription.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Joined with a free trial" in html  # the events inline
    assert 'name="status"' not in html  # no editable status
    assert staff.get(f"{URL}add/").status_code == 403
    assert staff.get("/admin/membership/plan/").status_code == 200
    assert staff.get(f"/admin/membership/subscriptioncharge/?q={user.email}").status_code == 200


def test_plan_edits_go_through_the_service(staff, user, plan):
    join(user, plan)
    assert selectors.benefits_for(user).member_deals
    url = f"/admin/membership/plan/{plan.pk}/change/"
    data = admin_form_data(staff.get(url))
    data.pop("member_deals", None)  # untick
    with committed():
        response = staff.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert not Plan.objects.get().member_deals
    assert not selectors.benefits_for(user).member_deals  # the cached benefits followed


def test_cancel_action_and_its_refusal_as_a_message(staff, user, plan):
    subscription = join(user, plan)
    response = act(staff, "cancel_at_period_end", subscription)
    assert reload(subscription).status == S.CANCELLED
    assert "1 membership(s) cancelled." in response.content.decode()
    assert SubscriptionEvent.objects.filter(subscription=subscription).first().actor == staff.admin
    response = act(staff, "cancel_at_period_end", subscription)
    assert "already cancelled" in response.content.decode()


def test_expire_now_action(staff, user, plan):
    subscription = join(user, plan)
    act(staff, "expire_now", subscription)
    assert reload(subscription).status == S.EXPIRED
    assert selectors.benefits_for(user) is None
    assert "already ended" in act(staff, "expire_now", subscription).content.decode()


def test_retry_renewal_now_action(staff, user, plan, provider, travel):
    subscription = join(user, plan)
    assert "Nothing is due" in act(staff, "retry_renewal_now", subscription).content.decode()
    card_now_declines(subscription)
    travel(subscription.current_period_end + timedelta(minutes=5))
    response = act(staff, "retry_renewal_now", subscription)
    assert "declined again; the member was e-mailed" in response.content.decode()
    assert reload(subscription).status == S.PAST_DUE
    card_now_declines(subscription, "pm_test_ok_4242")
    response = act(staff, "retry_renewal_now", subscription)
    assert ": paid" in response.content.decode()
    assert reload(subscription).status == S.ACTIVE
