"""Capturing and refunding in admin need ``payments.capture_payment`` / ``payments.refund_payment``:
a view-only staff member (or one who can "change" payments) sees neither action, and a forged POST
naming one changes nothing at the provider or in the database."""

from __future__ import annotations

from decimal import Decimal

import pytest

from payments import services
from payments.models import Payment, PaymentStatus, Refund
from tests.factories import admin_action, admin_actions, staff_user

pytestmark = pytest.mark.django_db
URL = "/admin/payments/payment/"


def _authorized(reference: str = "B-7") -> Payment:
    return services.payment_authorize(
        amount=Decimal("30.00"), currency="USD", payment_method="4242424242424242", reference=reference,
        idempotency_key=f"order-{reference}",
    )


def _state(payment: Payment) -> tuple:
    payment.refresh_from_db()
    return payment.status, payment.captured_amount, payment.refunded_amount, Refund.objects.count()


@pytest.mark.parametrize("held", [("payments.view_payment",), ("payments.view_payment", "payments.change_payment")],
                         ids=["view-only", "view-and-change"])
def test_staff_without_the_permissions_see_no_money_actions_and_forged_posts_do_nothing(client, held):
    authorized = _authorized("B-7")
    captured = _authorized("B-8")
    services.payment_capture(payment=captured)
    client.force_login(staff_user(*held))
    response = client.get(URL)
    assert response.status_code == 200
    assert admin_actions(response) == set()

    before = _state(authorized), _state(captured)
    admin_action(client, URL, "capture", authorized, follow=True)
    admin_action(client, URL, "refund_in_full", captured, follow=True)

    assert (_state(authorized), _state(captured)) == before
    assert authorized.status == PaymentStatus.AUTHORIZED
    assert (captured.status, captured.refunded_amount) == (PaymentStatus.CAPTURED, Decimal("0"))


def test_capture_needs_capture_payment_and_refund_needs_refund_payment(client):
    payment = _authorized()
    client.force_login(staff_user("payments.view_payment", "payments.capture_payment"))
    assert admin_actions(client.get(URL)) == {"capture"}
    admin_action(client, URL, "refund_in_full", payment)  # not theirs to refund
    assert _state(payment)[0] == PaymentStatus.AUTHORIZED
    admin_action(client, URL, "capture", payment)
    assert _state(payment)[:2] == (PaymentStatus.CAPTURED, Decimal("30.00"))

    client.force_login(staff_user("payments.view_payment", "payments.refund_payment"))
    assert admin_actions(client.get(URL)) == {"refund_in_full"}
    admin_action(client, URL, "refund_in_full", payment)
    assert _state(payment)[0] == PaymentStatus.REFUNDED
    assert payment.refunded_amount == Decimal("30.00")


def test_payments_are_read_only_even_with_change_payment(client):
    payment = _authorized()
    client.force_login(staff_user("payments.view_payment", "payments.change_payment"))
    page = client.get(f"{URL}{payment.pk}/change/")
    assert page.status_code == 200
    assert page.context["has_change_permission"] is False
    assert client.post(f"{URL}{payment.pk}/change/", {"status": "captured"}).status_code == 403
    assert _state(payment)[0] == PaymentStatus.AUTHORIZED
