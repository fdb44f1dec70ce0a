from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model

from payments import services
from payments.models import Payment, PaymentStatus, WebhookEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    user = get_user_model().objects.create_superuser(email="admin@example.com", password="pw-12345678")
    client.force_login(user)
    return client


def test_admin_pages_and_actions(staff_client):
    payment = services.payment_authorize(
        amount=Decimal("12.00"), currency="USD", payment_method="4242424242424242", reference="B-5",
        idempotency_key="order-5",
    )
    WebhookEvent.objects.create(provider="test", event_id="evt_1", type="t", payload={"a": 1})
    assert staff_client.get("/admin/payments/payment/?status=authorized&q=B-5").status_code == 200
    assert staff_client.get(f"/admin/payments/payment/{payment.pk}/change/").status_code == 200
    assert staff_client.get("/admin/payments/webhookevent/").status_code == 200
    url = "/admin/payments/payment/"
    staff_client.post(url, {"action": "capture", "_selected_action": [payment.pk]})
    assert Payment.objects.get().status == PaymentStatus.CAPTURED
    response = staff_client.post(url, {"action": "refund_in_full", "_selected_action": [payment.pk]}, follow=True)
    assert response.status_code == 200
    payment.refresh_from_db()
    assert (payment.status, payment.refunded_amount) == (PaymentStatus.REFUNDED, Decimal("12.00"))
    response = staff_client.post(url, {"action": "refund_in_full", "_selected_action": [payment.pk]}, follow=True)
    assert "B-5" in response.content.decode()  # the refusal is shown as a message
