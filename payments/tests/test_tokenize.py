"""Saved payment methods: a reusable token (never the card number) that authorize accepts later."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.exceptions import ApplicationError
from payments import services
from payments.exceptions import PaymentDeclined, PaymentUnavailable
from payments.models import Payment, PaymentStatus, ProviderCustomer
from payments.providers import base as providers
from payments.providers.stripe import StripeProvider
from payments.providers.test import TestProvider, customer_for
from tests.providers import payment_provider

pytestmark = pytest.mark.django_db
OWNER = "user:42"


@pytest.mark.parametrize(
    ("card", "token"),
    [
        ("4242 4242 4242 4242", "pm_test_ok_4242"),
        ("5555-5555-5555-4444", "pm_test_ok_4444"),
        ("4000 0000 0000 0002", "pm_test_card_declined_0002"),
        ("4000000000009995", "pm_test_insufficient_funds_9995"),
    ],
)
def test_a_card_becomes_a_token_that_keeps_only_the_last_four_digits(card, token):
    saved = services.payment_method_tokenize(payment_method=card, owner=OWNER)
    assert saved.provider == "test"
    assert saved.token == f"{customer_for(OWNER)}|{token}"
    assert saved.label == f"Card ending {token[-4:]}"
    digits = card.replace(" ", "").replace("-", "")
    assert digits[:12] not in saved.token
    assert digits not in saved.fingerprint
    assert ProviderCustomer.objects.filter(owner=OWNER, provider="test", customer_id=customer_for(OWNER)).count() == 1


def test_the_same_card_has_the_same_fingerprint_whoever_saves_it():
    first = services.payment_method_tokenize(payment_method="4242 4242 4242 4242", owner="user:1")
    again = services.payment_method_tokenize(payment_method="4242424242424242", owner="user:2")
    other = services.payment_method_tokenize(payment_method="5555555555554444", owner="user:1")
    assert first.fingerprint == again.fingerprint != other.fingerprint
    assert first.token != again.token  # each on its owner's customer record


@pytest.mark.parametrize(
    ("card", "outcome", "code"),
    [
        ("4242424242424242", PaymentStatus.AUTHORIZED, ""),
        ("4000000000000002", PaymentStatus.DECLINED, "card_declined"),
        ("4000000000009995", PaymentStatus.DECLINED, "insufficient_funds"),
    ],
)
def test_authorize_answers_for_a_token_as_for_the_card(card, outcome, code):
    token = services.payment_method_tokenize(payment_method=card, owner=OWNER).token
    for method, key in ((card, "by-card"), (token, "by-token")):
        try:
            payment = services.payment_authorize(
                amount=Decimal("5.00"), currency="USD", payment_method=method, reference="R", idempotency_key=key,
                owner=OWNER,
            )
        except PaymentDeclined as exc:
            payment = exc.payment
        payment.refresh_from_db()
        assert (payment.status, payment.decline_code) == (outcome, code)


def test_a_saved_card_of_the_owner_is_returned_as_it_is():
    token = f"{customer_for(OWNER)}|pm_test_card_declined_0002"
    services.payment_customer(owner=OWNER)
    saved = services.payment_method_tokenize(payment_method=token, owner=OWNER)
    assert (saved.token, saved.label) == (token, "Card ending 0002")


def test_a_saved_card_of_another_customer_is_refused_everywhere():
    """An attacker who learns (or guesses) a saved card's id can neither save nor charge it."""
    victim = services.payment_method_tokenize(payment_method="4242424242424242", owner="user:1").token
    services.payment_customer(owner="user:2")
    for owner in ("user:2", ""):
        with pytest.raises(ApplicationError) as exc:
            services.payment_method_tokenize(payment_method=victim, owner=owner or "user:3")
        assert exc.value.code == "payment_method_not_yours"
        with pytest.raises(ApplicationError) as exc:
            services.payment_authorize(amount=Decimal("5.00"), currency="USD", payment_method=victim, reference="R",
                                       idempotency_key=f"steal-{owner}", owner=owner)
        assert exc.value.code == "payment_method_not_yours"
        assert exc.value.status_code == 400
    assert not Payment.objects.exists()
    # Its owner may.
    paid = services.payment_authorize(amount=Decimal("5.00"), currency="USD", payment_method=victim, reference="R",
                                      idempotency_key="own", owner="user:1")
    assert paid.status == PaymentStatus.AUTHORIZED


@pytest.mark.parametrize("bad", ["4242 4242 4242 4241", "hello", "pm_test_whatever_12", "pm_test_stolen_1234"])
def test_something_that_is_not_a_card_is_a_clear_error_on_the_field(bad):
    with pytest.raises(ApplicationError) as exc:
        services.payment_method_tokenize(payment_method=bad, owner=OWNER)
    assert exc.value.status_code == 400
    assert exc.value.code == "invalid_payment_method"
    assert exc.value.fields == {"payment_method": [exc.value.message]}


def test_an_empty_card_number_is_refused():
    with pytest.raises(ApplicationError, match="Enter a card number"):
        services.payment_method_tokenize(payment_method="  ", owner=OWNER)


def test_an_invalid_token_is_declined_as_invalid_number():
    with pytest.raises(PaymentDeclined) as exc:
        services.payment_authorize(amount=Decimal("5.00"), currency="USD", payment_method="pm_test_invalid_0000",
                                   reference="R", idempotency_key="k")
    assert exc.value.payment.decline_code == "invalid_number"


def test_provider_down_while_tokenizing_is_unavailable():
    class Down(TestProvider):
        code = "down"

        def tokenize(self, payment_method, customer):
            raise providers.ProviderError("timeout")

    with payment_provider("down", Down), pytest.raises(PaymentUnavailable):
        services.payment_method_tokenize(payment_method="4242424242424242", provider="down", owner=OWNER)


def test_stripe_keeps_a_saved_card_and_refuses_anything_but_a_payment_method_without_a_call():
    gateway = StripeProvider(secret_key="sk_test_x", webhook_secret="whsec_x")  # no network here
    assert gateway.tokenize("cus_1|pm_1Abc", "cus_1") == providers.SavedCard("cus_1|pm_1Abc")
    with pytest.raises(providers.InvalidPaymentMethod):
        gateway.tokenize("4242424242424242", "cus_1")
