from __future__ import annotations

import json
import time
from decimal import Decimal

import pytest

from payments import services
from payments.models import Payment, PaymentStatus, WebhookEvent
from payments.providers.base import InvalidSignature
from payments.providers.test import SIGNATURE_HEADER, sign

pytestmark = pytest.mark.django_db
URL = "/payments/webhooks/test/"


def body_for(event_id="evt_1", type_="payment_intent.succeeded", **data) -> bytes:
    return json.dumps({"id": event_id, "type": type_, "data": data}).encode()


@pytest.fixture
def payment():
    return services.payment_authorize(
        amount=Decimal("40.00"), currency="USD", payment_method="4242424242424242", reference="B-9",
        idempotency_key="order-9",
    )


def test_valid_signature_applies_the_event(payment):
    body = body_for(reference=payment.provider_reference, amount_captured="40.00")
    event = services.webhook_receive(provider="test", body=body, headers=sign(body))
    assert event.processed_at is not None
    assert event.type == "payment_intent.succeeded"
    payment.refresh_from_db()
    assert (payment.status, payment.captured_amount) == (PaymentStatus.CAPTURED, Decimal("40.00"))


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {SIGNATURE_HEADER: "garbage"},
        {SIGNATURE_HEADER: "t=1,v1=00"},
        sign(b"another body"),
        sign(body_for(), secret="not-our-secret"),
    ],
)
def test_invalid_signatures_are_refused(headers):
    with pytest.raises(InvalidSignature):
        services.webhook_receive(provider="test", body=body_for(), headers=headers)
    assert not WebhookEvent.objects.exists()


def test_stale_signature_is_refused_as_a_replay():
    body = body_for()
    with pytest.raises(InvalidSignature):
        services.webhook_receive(provider="test", body=body, headers=sign(body, timestamp=int(time.time()) - 301))
    fresh = sign(body, timestamp=int(time.time()) - 200)
    assert services.webhook_receive(provider="test", body=body, headers=fresh).event_id == "evt_1"


def test_replay_is_a_no_op(payment):
    services.payment_capture(payment=payment)
    body = body_for("evt_r", "charge.refunded", reference=payment.provider_reference, amount_refunded="15.00")
    first = services.webhook_receive(provider="test", body=body, headers=sign(body))
    payment.refresh_from_db()
    assert (payment.status, payment.refunded_amount) == (PaymentStatus.PARTIALLY_REFUNDED, Decimal("15.00"))
    # Simulate someone changing the row after: a replay must not apply the event again.
    again = services.webhook_receive(provider="test", body=body, headers=sign(body))
    assert again.pk == first.pk
    assert again.processed_at == first.processed_at
    assert WebhookEvent.objects.count() == 1
    payment.refresh_from_db()
    assert payment.refunded_amount == Decimal("15.00")


def test_failed_and_cancelled_events(payment):
    # An authorization is not undone by a failure event (the provider never sends one for it)...
    body = body_for("evt_f0", "payment_intent.payment_failed", reference=payment.provider_reference,
                    decline_code="card_declined", message="declined")
    services.webhook_receive(provider="test", body=body, headers=sign(body))
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.AUTHORIZED
    # ...but a payment still waiting for the customer is.
    Payment.objects.filter(pk=payment.pk).update(status=PaymentStatus.REQUIRES_ACTION, client_secret="pi_secret")
    body = body_for("evt_f", "payment_intent.payment_failed", reference=payment.provider_reference,
                    decline_code="card_declined", message="declined")
    services.webhook_receive(provider="test", body=body, headers=sign(body))
    payment.refresh_from_db()
    assert (payment.status, payment.decline_code, payment.client_secret) == (
        PaymentStatus.DECLINED, "card_declined", "")
    body = body_for("evt_c", "payment_intent.canceled", reference=payment.provider_reference)
    services.webhook_receive(provider="test", body=body, headers=sign(body))
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.DECLINED  # a final state stays final


def test_unknown_payment_is_stored_and_ignored():
    body = body_for(reference="test_pi_unknown")
    event = services.webhook_receive(provider="test", body=body, headers=sign(body))
    assert event.processed_at is not None
    assert event.reference == "test_pi_unknown"


# --- the view ---------------------------------------------------------------------------------


def post(client, body: bytes, headers: dict, url: str = URL):
    return client.post(url, data=body, content_type="application/json", headers=headers)


def test_view_returns_200_and_200_on_replay(client, payment):
    body = body_for(reference=payment.provider_reference)
    headers = sign(body)
    first = post(client, body, headers)
    assert first.status_code == 200
    assert first.json()["event_id"] == "evt_1"
    assert post(client, body, headers).status_code == 200
    assert WebhookEvent.objects.count() == 1


@pytest.mark.parametrize(
    "body", [b"", b"not json", b"\xff\xfe\x00", b"[]", b'{"id": "x"}', b'{"id": "x", "type": "t", "data": 5}']
)
def test_view_never_500s_on_garbage(client, body):
    assert post(client, body, {}).status_code == 400
    assert post(client, body, sign(body)).status_code == 400


def test_view_bad_signature_and_unknown_provider_are_400(client):
    body = body_for()
    assert post(client, body, {SIGNATURE_HEADER: "t=1,v1=bad"}).status_code == 400
    response = post(client, body, sign(body), url="/payments/webhooks/nope/")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unknown_provider"


def test_view_only_accepts_post(client):
    assert client.get(URL).status_code == 405
