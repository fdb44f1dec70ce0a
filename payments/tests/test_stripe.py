"""The Stripe adapter, offline: a stub HTTP client answers, and we sign webhooks ourselves."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from decimal import Decimal
from urllib.parse import parse_qs

import pytest
import stripe

from payments import services
from payments.exceptions import PaymentDeclined
from payments.models import PaymentStatus
from payments.providers import base as providers
from payments.providers.base import AUTHORIZED, CAPTURED, DECLINED, REFUNDED, InvalidSignature
from payments.providers.stripe import StripeProvider
from tests.providers import payment_provider

WHSEC = "whsec_test_secret"


class StubHTTPClient(stripe.HTTPClient):
    name = "stub"

    def __init__(self, responses: list[tuple[int, dict]]) -> None:
        super().__init__()
        self.responses = responses
        self.requests: list[dict] = []

    def request(self, method, url, headers, post_data=None, *, _usage=None):
        self.requests.append({"method": method, "url": url, "headers": dict(headers or {}), "data": post_data})
        status, body = self.responses.pop(0)
        return json.dumps(body), status, {"request-id": "req_stub"}

    def request_stream(self, *args, **kwargs):
        raise NotImplementedError

    def close(self):
        pass


def intent(status="requires_capture", **extra):
    return {"id": "pi_123", "object": "payment_intent", "status": status, "amount": 2550, "currency": "usd", **extra}


def provider(responses):
    http = StubHTTPClient(responses)
    return StripeProvider(secret_key="sk_test_x", webhook_secret=WHSEC, http_client=http), http


def stripe_sign(body: bytes, timestamp: int | None = None, secret: str = WHSEC) -> dict[str, str]:
    ts = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{ts}.{body.decode()}".encode(), hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={ts},v1={mac}"}


def test_authorize_success_sends_manual_capture_and_idempotency_key():
    gw, http = provider([(200, intent())])
    result = gw.authorize(Decimal("25.50"), "USD", "pm_card_visa", "order-7", {"reference": "B-7"})
    assert (result.status, result.reference) == (AUTHORIZED, "pi_123")
    sent = http.requests[0]
    assert sent["url"].endswith("/v1/payment_intents")
    assert sent["headers"]["Idempotency-Key"] == "order-7"
    form = parse_qs(sent["data"])
    assert form["amount"] == ["2550"]
    assert form["currency"] == ["usd"]
    assert form["capture_method"] == ["manual"]
    assert form["confirm"] == ["true"]
    assert form["metadata[reference]"] == ["B-7"]


def test_authorize_decline_is_a_result_not_an_exception():
    error = {
        "type": "card_error", "code": "card_declined", "decline_code": "insufficient_funds",
        "message": "Your card has insufficient funds.",
        "payment_intent": intent("requires_payment_method", id="pi_declined"),
    }
    gw, _http = provider([(402, {"error": error})])
    result = gw.authorize(Decimal("10"), "USD", "pm_card_chargeDeclinedInsufficientFunds", "k1", {})
    assert (result.status, result.reference, result.decline_code) == (DECLINED, "pi_declined", "insufficient_funds")


def test_generic_decline_maps_to_card_declined():
    error = {"type": "card_error", "code": "card_declined", "decline_code": "generic_decline", "message": "Declined."}
    gw, _http = provider([(402, {"error": error})])
    assert gw.authorize(Decimal("10"), "USD", "pm_x", "k1", {}).decline_code == "card_declined"


def test_server_error_is_a_provider_error():
    gw, _http = provider([(500, {"error": {"type": "api_error", "message": "boom"}})] * 3)
    with pytest.raises(providers.ProviderError):
        gw.authorize(Decimal("10"), "USD", "pm_x", "k1", {})


def test_capture_refund_cancel_pass_idempotency_keys():
    gw, http = provider([
        (200, intent("succeeded")),
        (200, {"id": "re_1", "object": "refund", "status": "succeeded", "amount": 500, "currency": "usd"}),
        (200, intent("canceled")),
    ])
    assert gw.capture("pi_123", Decimal("25.50"), "USD", "k:capture").status == CAPTURED
    assert gw.refund("pi_123", Decimal("5"), "USD", "r1") == providers.ProviderResult(REFUNDED, "re_1")
    assert gw.cancel("pi_123", "k:cancel").status == providers.CANCELLED
    assert [r["headers"]["Idempotency-Key"] for r in http.requests] == ["k:capture", "r1", "k:cancel"]
    assert parse_qs(http.requests[1]["data"])["amount"] == ["500"]
    assert parse_qs(http.requests[0]["data"])["amount_to_capture"] == ["2550"]


@pytest.mark.django_db
def test_services_with_stripe_record_declines(settings):
    error = {"type": "card_error", "code": "card_declined", "decline_code": "generic_decline", "message": "No."}
    gw, _http = provider([(200, intent()), (402, {"error": error})])
    with payment_provider("stripe", lambda: gw):
        ok = services.payment_authorize(
            amount=Decimal("25.50"), currency="USD", payment_method="pm_card_visa", reference="B-1",
            idempotency_key="s1", provider="stripe",
        )
        assert (ok.status, ok.provider_reference) == (PaymentStatus.AUTHORIZED, "pi_123")
        with pytest.raises(PaymentDeclined) as exc:
            services.payment_authorize(
                amount=Decimal("25.50"), currency="USD", payment_method="pm_card_visa", reference="B-2",
                idempotency_key="s2", provider="stripe",
            )
        assert exc.value.message == "Your card was declined."


def webhook_body(event_id="evt_1", type_="charge.refunded", obj=None) -> bytes:
    obj = obj or {"id": "ch_1", "object": "charge", "payment_intent": "pi_123", "amount_refunded": 1000,
                  "currency": "usd"}
    return json.dumps({"id": event_id, "object": "event", "type": type_, "data": {"object": obj}}).encode()


def test_webhook_construct_event_with_self_signed_payload():
    gw, _http = provider([])
    body = webhook_body()
    event = gw.verify_webhook(body, stripe_sign(body))
    assert (event.event_id, event.type, event.reference) == ("evt_1", "charge.refunded", "pi_123")
    assert event.data["amount_refunded"] == Decimal("10.00")


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Stripe-Signature": "nonsense"},
        "wrong-secret",
        "stale",
    ],
)
def test_webhook_bad_signatures(headers):
    gw, _http = provider([])
    body = webhook_body()
    if headers == "wrong-secret":
        headers = stripe_sign(body, secret="whsec_other")
    elif headers == "stale":
        headers = stripe_sign(body, timestamp=int(time.time()) - 600)
    with pytest.raises(InvalidSignature):
        gw.verify_webhook(body, headers)


@pytest.mark.django_db
def test_stripe_webhook_through_the_view(client, settings):
    settings.STRIPE_WEBHOOK_SECRET = WHSEC
    body = webhook_body("evt_ok", "payment_intent.succeeded", intent("succeeded", amount_received=2550))
    response = client.post(
        "/payments/webhooks/stripe/", data=body, content_type="application/json", headers=stripe_sign(body)
    )
    assert response.status_code == 200
    bad = client.post("/payments/webhooks/stripe/", data=body, content_type="application/json")
    assert bad.status_code == 400
    garbage = b"\xff not json"
    assert client.post(
        "/payments/webhooks/stripe/", data=garbage, content_type="application/json", headers=stripe_sign(b"x")
    ).status_code == 400


@pytest.mark.parametrize(
    "body", [b"[]", b'{"data": 5}', b'"str"', b"{}", b'{"id": "e", "type": "t", "data": {"object": 5}}', b"{bad"]
)
def test_webhook_signed_garbage_is_invalid(body):
    gw, _http = provider([])
    with pytest.raises(InvalidSignature):
        gw.verify_webhook(body, stripe_sign(body))


def test_tokenize_attaches_the_card_to_the_customer_and_renewals_charge_it_off_session():
    card = {"id": "pm_card_visa", "object": "payment_method", "customer": "cus_9",
            "card": {"brand": "visa", "last4": "4242", "fingerprint": "fp_abc"}}
    gw, http = provider([(200, card), (200, intent()), (200, intent())])
    saved = gw.tokenize("pm_card_visa", "cus_9")
    assert saved == providers.SavedCard("cus_9|pm_card_visa", "Visa ending 4242", "fp_abc")
    assert http.requests[0]["url"].endswith("/v1/payment_methods/pm_card_visa/attach")
    assert parse_qs(http.requests[0]["data"])["customer"] == ["cus_9"]
    assert gw.tokenize(saved.token, "cus_9") == providers.SavedCard(saved.token)  # kept as it is, no call
    assert len(http.requests) == 1

    gw.authorize(Decimal("1.00"), "USD", saved.token, "check-1", {"reference": "membership-check"})
    on_session = parse_qs(http.requests[1]["data"])
    assert (on_session["customer"], on_session["payment_method"]) == (["cus_9"], ["pm_card_visa"])
    assert "off_session" not in on_session
    gw.authorize(Decimal("12.99"), "USD", saved.token, "renew-1", {"reference": "m:1", "off_session": "true"})
    renewal = parse_qs(http.requests[2]["data"])
    assert renewal["off_session"] == ["true"]
    assert "metadata[off_session]" not in renewal


def test_tokenize_refuses_what_is_not_a_payment_method():
    gw, http = provider([(400, {"error": {"type": "invalid_request_error", "message": "No such PaymentMethod"}})])
    with pytest.raises(providers.InvalidPaymentMethod):
        gw.tokenize("4242424242424242", "cus_1")
    assert not http.requests
    with pytest.raises(providers.InvalidPaymentMethod, match="No such PaymentMethod"):
        gw.tokenize("pm_missing", "cus_1")


@pytest.mark.parametrize(("status", "error_type"), [
    (400, "invalid_request_error"), (401, "invalid_request_error"), (403, "invalid_request_error"),
    (400, "idempotency_error"),
])
def test_errors_stripe_answered_are_refusals_not_outages(status, error_type):
    """Stripe answered (bad request, wrong key, no permission, key reused): nothing happened and
    retrying will not help, so it is a refusal, never "provider unreachable"."""
    gw, http = provider([(status, {"error": {"type": error_type, "message": "Nope.", "code": "bad"}})])
    with pytest.raises(providers.ProviderRefused) as exc:
        gw.authorize(Decimal("10"), "USD", "pm_x", "k1", {})
    assert exc.value.message == "Nope."
    assert len(http.requests) == 1  # not retried


@pytest.mark.parametrize(("status", "calls"), [(429, 1), (500, 2), (503, 2)])
def test_stripe_overloaded_or_down_is_an_outage(status, calls, settings):
    """Stripe could not answer (its 5xx are retried once with the same key) or is rate limiting:
    the outcome is unknown or "later", so the same key is tried again later."""
    settings.PAYMENT_PROVIDER_RETRIES = 1
    gw, http = provider([(status, {"error": {"type": "api_error", "message": "busy"}})] * 2)
    with pytest.raises(providers.ProviderError):
        gw.authorize(Decimal("10"), "USD", "pm_x", "k1", {})
    assert len(http.requests) == calls
    assert {r["headers"]["Idempotency-Key"] for r in http.requests} == {"k1"}


def test_the_default_http_client_has_an_explicit_timeout(settings):
    settings.PAYMENT_PROVIDER_TIMEOUT = 7
    gw = StripeProvider(secret_key="sk_test_x", webhook_secret=WHSEC)
    http = gw.client._requestor._client
    assert http._timeout == (3.05, 7.0)


def test_three_d_secure_on_server_side_confirm_is_an_action_not_a_decline():
    gw, _http = provider([(200, intent("requires_action", client_secret="pi_123_secret_x"))])
    result = gw.authorize(Decimal("25.50"), "USD", "pm_card_threeDSecure2Required", "k3", {})
    assert (result.status, result.client_secret) == (providers.REQUIRES_ACTION, "pi_123_secret_x")


def test_an_intent_for_the_browser_is_made_without_a_card_and_handed_back_with_its_secret():
    gw, http = provider([(200, intent("requires_payment_method", client_secret="pi_123_secret_y"))])
    result = gw.create_intent(Decimal("25.50"), "USD", "order:k", {"reference": "B-1"})
    assert (result.status, result.client_secret) == (providers.REQUIRES_PAYMENT_METHOD, "pi_123_secret_y")
    form = parse_qs(http.requests[0]["data"])
    assert form["capture_method"] == ["manual"]
    assert "confirm" not in form
    assert "payment_method" not in form
    assert http.requests[0]["headers"]["Idempotency-Key"] == "order:k"


def test_retrieve_reads_the_authorization_expiry_and_the_decline():
    expires = 1_900_000_000
    charge = {"id": "ch_1", "object": "charge", "payment_method_details": {"card": {"capture_before": expires}}}
    declined = intent("requires_payment_method", last_payment_error={"code": "card_declined",
                                                                      "decline_code": "insufficient_funds",
                                                                      "message": "Insufficient funds."})
    gw, http = provider([(200, intent(latest_charge=charge)), (200, declined)])
    authorized = gw.retrieve("pi_123")
    assert authorized.status == AUTHORIZED
    assert authorized.authorization_expires_at.timestamp() == expires
    assert "expand[0]=latest_charge" in http.requests[0]["url"]
    assert gw.retrieve("pi_123").decline_code == "insufficient_funds"


def test_setup_intents_save_a_card_on_the_customer():
    setup = {"id": "seti_1", "object": "setup_intent", "status": "requires_payment_method", "customer": "cus_9",
             "client_secret": "seti_1_secret_z"}
    done = {**setup, "status": "succeeded", "payment_method": {
        "id": "pm_1", "object": "payment_method", "card": {"brand": "mastercard", "last4": "4444", "fingerprint": "f"}}}
    gw, http = provider([(200, setup), (200, done)])
    started = gw.create_setup("cus_9", "setup:k")
    assert (started.client_secret, started.status) == ("seti_1_secret_z", providers.REQUIRES_PAYMENT_METHOD)
    assert parse_qs(http.requests[0]["data"])["usage"] == ["off_session"]
    finished = gw.retrieve_setup("seti_1")
    assert finished.status == providers.SUCCEEDED
    assert finished.card == providers.SavedCard("cus_9|pm_1", "Mastercard ending 4444", "f")
