"""The local Stripe behaves like Stripe where the shop relies on it: form encoding, idempotency keys,
error shapes the ``stripe`` library turns into its exceptions, and the test cards."""

from __future__ import annotations

import pytest
import stripe

from tests.stripe_standin.fake import (
    DECLINED_CARD,
    GOOD_CARD,
    SETUP_THREE_D_SECURE_CARD,
    THREE_D_SECURE_CARD,
    FakeStripe,
    decode_form,
)


@pytest.fixture
def fake():
    return FakeStripe()


@pytest.fixture
def api(fake):
    return stripe.StripeClient(fake.secret_key, http_client=fake.http_client, max_network_retries=0)


def test_form_encoding_is_decoded_like_stripe_reads_it():
    assert decode_form("amount=100&metadata[reference]=B-1&expand[0]=a&expand[1]=b&items[]=x&items[]=y&a[b][c]=1") == {
        "amount": "100", "metadata": {"reference": "B-1"}, "expand": ["a", "b"], "items": ["x", "y"],
        "a": {"b": {"c": "1"}}}


def test_the_same_idempotency_key_replays_and_other_parameters_are_refused(fake, api):
    params = {"amount": 1000, "currency": "usd", "capture_method": "manual"}
    first = api.v1.payment_intents.create(params, {"idempotency_key": "k1"})
    again = api.v1.payment_intents.create(params, {"idempotency_key": "k1"})
    assert first.id == again.id
    assert len(fake.intents) == 1
    with pytest.raises(stripe.IdempotencyError):
        api.v1.payment_intents.create({**params, "amount": 2000}, {"idempotency_key": "k1"})


def test_a_declined_card_is_a_card_error_with_its_intent_and_replays_as_one(fake, api):
    params = {"amount": 1000, "currency": "usd", "confirm": True, "payment_method": fake.payment_method(DECLINED_CARD)}
    with pytest.raises(stripe.CardError) as first:
        api.v1.payment_intents.create(params, {"idempotency_key": "d1"})
    error = first.value.json_body["error"]
    assert (error["code"], error["decline_code"]) == ("card_declined", "generic_decline")
    assert error["payment_intent"]["status"] == "requires_payment_method"
    with pytest.raises(stripe.CardError) as again:
        api.v1.payment_intents.create(params, {"idempotency_key": "d1"})
    assert again.value.json_body["error"]["payment_intent"]["id"] == error["payment_intent"]["id"]


def test_wrong_keys_unknown_objects_and_outages(fake, api):
    with pytest.raises(stripe.AuthenticationError):
        stripe.StripeClient("sk_test_other", http_client=fake.http_client).v1.customers.create({})
    with pytest.raises(stripe.InvalidRequestError):
        api.v1.payment_intents.retrieve("pi_missing")
    with fake.down(), pytest.raises(stripe.APIConnectionError):
        api.v1.customers.create({})
    assert not fake.customers
    with fake.down(drop_responses=True), pytest.raises(stripe.APIConnectionError):
        api.v1.customers.create({})
    assert len(fake.customers) == 1  # done at Stripe, the answer lost


def test_3d_secure_cards(fake, api):
    customer = api.v1.customers.create({}).id
    always = api.v1.payment_intents.create({"amount": 1000, "currency": "usd", "confirm": True, "customer": customer,
                                            "payment_method": fake.payment_method(THREE_D_SECURE_CARD)})
    assert always.status == "requires_action"
    assert fake.authenticate(always.client_secret, complete=False)["error"]["code"] == \
        "payment_intent_authentication_failure"

    setup = api.v1.setup_intents.create({"customer": customer})
    assert fake.confirm(setup.client_secret, SETUP_THREE_D_SECURE_CARD)["intent"]["status"] == "requires_action"
    assert fake.authenticate(setup.client_secret)["intent"]["status"] == "succeeded"
    method = fake.setup(setup.id)["payment_method"]
    on_session = api.v1.payment_intents.create({"amount": 1000, "currency": "usd", "confirm": True,
                                                "customer": customer, "payment_method": method})
    assert on_session.status == "requires_action"
    off_session = api.v1.payment_intents.create({"amount": 1000, "currency": "usd", "confirm": True,
                                                 "customer": customer, "payment_method": method, "off_session": True})
    assert off_session.status == "succeeded"


def test_a_card_confirmed_in_the_browser_cannot_be_reused_or_confirmed_twice(fake, api):
    intent = api.v1.payment_intents.create({"amount": 1000, "currency": "usd", "capture_method": "manual"})
    assert fake.confirm(intent.client_secret, GOOD_CARD)["intent"]["status"] == "requires_capture"
    assert fake.confirm(intent.client_secret, GOOD_CARD)["error"]["code"] == "payment_intent_unexpected_state"
    assert fake.confirm(intent.client_secret.replace("_secret_", "_secret_x"), GOOD_CARD)["error"]["code"] == \
        "resource_missing"
    assert "error" in fake.confirm(intent.client_secret, GOOD_CARD, publishable_key="pk_test_other")
    mismatch = fake.confirm(api.v1.payment_intents.create({"amount": 1000, "currency": "usd"}).client_secret,
                            GOOD_CARD, elements={"mode": "payment", "currency": "usd", "captureMethod": "manual"})
    assert mismatch["error"]["code"] == "integration_error"
