"""Membership pages: landing, join (sign-in required), the member page, cancel, resume, card,
billing; every refusal is a readable message, never an error page."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from membership import services
from membership.models import Subscription
from membership.tests.conftest import DECLINED_CARD, INVALID_CARD, join, reload

pytestmark = pytest.mark.django_db
S = Subscription.Status


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


@pytest.fixture
def signed_in(client, user):
    client.force_login(user)
    return client


def join_data(**changes) -> dict:
    return {"interval": "month", "payment_method": "4242 4242 4242 4242", "join_key": "form-key", **changes}


def test_landing_shows_plans_prices_trial_and_benefits_to_guests(client, plan, django_assert_max_num_queries):
    with django_assert_max_num_queries(3):
        response = client.get(reverse("membership:landing"))
    html = response.content.decode()
    assert response.status_code == 200
    for text in ("Bazaar Plus", "$12.99", "$119.00", "save $36.88", "Try it free for 30 days",
                 "Free shipping on everything fulfilled by Bazaar", "Start your free trial", "sign in"):
        assert text in html
    assert reverse("membership:join", args=["bazaar-plus"]) in html


def test_landing_for_a_member_links_to_their_page(signed_in, user, plan):
    join(user, plan)
    html = signed_in.get(reverse("membership:landing")).content.decode()
    assert "You are a Bazaar Plus member." in html
    assert "Start your free trial" not in html


def test_join_needs_sign_in_and_comes_back_after(client, plan):
    url = reverse("membership:join", args=["bazaar-plus"])
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('accounts:login')}?next={url}"
    assert client.post(url, join_data()).status_code == 302
    assert not Subscription.objects.exists()


def test_join_page_and_free_trial(signed_in, user, plan):
    url = reverse("membership:join", args=["bazaar-plus"])
    html = signed_in.get(url).content.decode()
    assert "Your first 30 days are free" in html
    assert "Monthly: $12.99 a month" in html
    assert "Yearly: $119.00 a year (save $36.88)" in html
    assert "4000 0000 0000 0002 is declined" in html  # test provider: the test cards are listed
    response = signed_in.post(url, join_data(interval="year"), follow=True)
    assert response.redirect_chain[-1][0] == reverse("membership:account")
    subscription = Subscription.objects.get(user=user)
    assert (subscription.status, subscription.interval) == (S.TRIALING, "year")
    assert any("Your free trial runs until" in m for m in messages_of(response))


def test_unknown_plan_is_404(signed_in, plan):
    assert signed_in.get(reverse("membership:join", args=["nope"])).status_code == 404


@pytest.mark.parametrize(("card", "message", "status"), [
    (DECLINED_CARD, "Your card was declined. Nothing was charged; please try another card.", 402),
    (INVALID_CARD, "That card number is not valid.", 400),
    ("", "This field is required.", 400),
])
def test_join_errors_are_shown_on_the_form(signed_in, plan, card, message, status):
    response = signed_in.post(reverse("membership:join", args=["bazaar-plus"]), join_data(payment_method=card))
    assert response.status_code == status
    assert message in response.content.decode()
    assert 'class="error-summary"' in response.content.decode()
    card_inputs = re.findall(r'<input[^>]*name="payment_method"[^>]*>', response.content.decode())
    assert card_inputs  # the form is shown again, and the card number is never written back into it
    assert all('value="' not in tag or 'value=""' in tag for tag in card_inputs), card_inputs
    assert not Subscription.objects.exists()


def test_joining_twice_says_so_and_keeps_the_membership(signed_in, user, plan):
    first = join(user, plan)
    url = reverse("membership:join", args=["bazaar-plus"])
    response = signed_in.get(url, follow=True)
    assert any("You are already a member until" in m for m in messages_of(response))
    response = signed_in.post(url, join_data(), follow=True)
    assert response.redirect_chain[-1][0] == reverse("membership:account")
    assert any("You are already a member until" in m for m in messages_of(response))
    assert list(Subscription.objects.values_list("pk", flat=True)) == [first.pk]


def test_member_page_needs_sign_in(client):
    response = client.get(reverse("membership:account"))
    assert response.status_code == 302
    assert reverse("accounts:login") in response["Location"]


def test_member_page_for_a_non_member_offers_to_join(signed_in, plan):
    html = signed_in.get(reverse("membership:account")).content.decode()
    assert "You are not a member yet" in html


def test_member_page_shows_status_billing_card_and_payments(signed_in, user, plan, provider, travel,
                                                            django_assert_max_num_queries):
    subscription = join(user, plan)
    travel(subscription.current_period_end + timedelta(minutes=1))
    services.subscription_renew(subscription_id=subscription.pk)
    with django_assert_max_num_queries(8):
        response = signed_in.get(reverse("membership:account"))
    html = response.content.decode()
    for text in ("Bazaar Plus", "Active", "$12.99 on March 14, 2026", "Card ending 4242", "Paid",
                 "Cancel membership", "Update card", "Change billing"):
        assert text in html, text


def test_member_page_of_a_past_due_member_asks_for_a_new_card(signed_in, user, plan, travel):
    subscription = join(user, plan)
    Subscription.objects.filter(pk=subscription.pk).update(payment_method="pm_test_card_declined_0002")
    travel(subscription.current_period_end + timedelta(minutes=1))
    services.subscription_renew(subscription_id=subscription.pk)
    html = signed_in.get(reverse("membership:account")).content.decode()
    assert "Payment overdue" in html
    assert "Your last payment did not go through" in html
    assert "Declined: Your card was declined." in html


def test_cancel_asks_then_cancels_and_twice_is_a_message(signed_in, user, plan):
    subscription = join(user, plan)
    url = reverse("membership:cancel")
    html = signed_in.get(url).content.decode()
    assert "You keep your benefits until" in html
    response = signed_in.post(url, follow=True)
    assert reload(subscription).status == S.CANCELLED
    assert any("Your membership is cancelled. Your benefits last until" in m for m in messages_of(response))
    assert "Resume membership" in response.content.decode()
    response = signed_in.post(url, follow=True)
    assert any("already cancelled; your benefits last until" in m for m in messages_of(response))
    response = signed_in.get(url, follow=True)
    assert any("already cancelled" in m for m in messages_of(response))
    assert reload(subscription).status == S.CANCELLED


def test_cancel_and_resume_without_membership_are_messages(signed_in):
    for name in ("cancel", "resume"):
        response = signed_in.post(reverse(f"membership:{name}"), follow=True)
        assert response.status_code == 200
        assert "You are not a member." in messages_of(response)


def test_resume_and_resume_twice(signed_in, user, plan):
    subscription = join(user, plan)
    services.membership_cancel(user=user)
    response = signed_in.post(reverse("membership:resume"), follow=True)
    assert reload(subscription).status == S.TRIALING
    assert any("Welcome back! Your free trial goes on; the first charge is on" in m for m in messages_of(response))
    response = signed_in.post(reverse("membership:resume"), follow=True)
    assert any("nothing to resume" in m for m in messages_of(response))
    assert signed_in.get(reverse("membership:resume")).status_code == 405


def test_update_card_page(signed_in, user, plan):
    subscription = join(user, plan)
    url = reverse("membership:card")
    assert "Card ending 4242" in signed_in.get(url).content.decode()
    response = signed_in.post(url, {"payment_method": DECLINED_CARD})
    assert "Your card was declined." in response.content.decode()
    response = signed_in.post(url, {"payment_method": "5555555555554444"}, follow=True)
    assert reload(subscription).card_label == "Card ending 4444"
    assert "Your card is saved for your renewals." in messages_of(response)


def test_card_page_without_membership_redirects_with_a_message(signed_in):
    response = signed_in.get(reverse("membership:card"), follow=True)
    assert "You are not a member." in messages_of(response)


def test_change_billing(signed_in, user, plan):
    subscription = join(user, plan)
    response = signed_in.post(reverse("membership:interval"), {"interval": "year"}, follow=True)
    assert reload(subscription).interval == "year"
    assert any("you will be billed yearly" in m for m in messages_of(response))
    response = signed_in.post(reverse("membership:interval"), {"interval": "year"}, follow=True)
    assert any("already billed yearly" in m for m in messages_of(response))
    response = signed_in.post(reverse("membership:interval"), {"interval": "daily"}, follow=True)
    assert "Choose monthly or yearly billing." in messages_of(response)
