"""One free trial per customer: a customer who ever had a membership (a trial or paid, of any plan,
ended or not) never gets another trial, through the service, the pages or the API."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from membership import selectors, services
from membership.models import Subscription
from membership.tests.conftest import card_number, join, make_plan

pytestmark = pytest.mark.django_db
S = Subscription.Status


def test_a_customer_who_first_paid_gets_no_trial_on_a_plan_with_one(user, plan, paid_plan, provider):
    first = join(user, paid_plan)  # no trial on this plan: charged at once
    assert first.trial_end is None
    services.subscription_expire(subscription=first)
    assert selectors.trial_eligible(user=user) is False
    second = join(user, plan)  # this plan has a 30-day trial, but not for this customer
    assert (second.status, second.trial_end) == (S.ACTIVE, None)
    assert provider.charged() == [Decimal("12.99"), Decimal("12.99")]


def test_a_trial_cancelled_at_once_still_counts(user, plan, provider):
    trial = join(user, plan)
    assert trial.status == S.TRIALING
    services.membership_cancel(user=user)
    services.subscription_expire(subscription=Subscription.objects.get(pk=trial.pk))
    other_plan = make_plan(name="Bazaar Max", slug="bazaar-max", monthly_price=Decimal("19.99"), trial_days=60)
    again = join(user, other_plan)  # another plan's trial is not a new trial either
    assert (again.status, again.trial_end) == (S.ACTIVE, None)
    assert provider.charged() == [Decimal("19.99")]


def test_other_customers_keep_their_trial(user, plan, provider, django_user_model):
    join(user, plan)
    newcomer = django_user_model.objects.create_user(email="new@example.com", password="x" * 12)
    assert selectors.trial_eligible(user=newcomer) is True
    assert join(newcomer, plan, card=card_number(7)).status == S.TRIALING  # with their own card


def test_the_pages_and_the_api_offer_no_second_trial(user, plan, provider, client):
    client.force_login(user)
    assert "free trial" in client.get(reverse("membership:join", args=[plan.slug])).content.decode().lower()
    services.subscription_expire(subscription=join(user, plan))
    page = client.get(reverse("membership:join", args=[plan.slug])).content.decode()
    assert "free trial" not in page.lower()
    api = APIClient()
    api.force_authenticate(user)
    response = api.post("/api/v1/membership/", {"plan": plan.slug, "payment_method": "4242424242424242"},
                        format="json")
    assert response.status_code == 201
    assert response.json()["status"] == "active"
    assert response.json()["trial_end"] is None
