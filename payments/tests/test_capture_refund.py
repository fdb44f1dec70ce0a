from __future__ import annotations

from decimal import Decimal

import pytest

from core.exceptions import ApplicationError, Conflict
from payments import services
from payments.models import Payment, PaymentStatus, Refund, RefundStatus
from tests.commit import committed
from tests.events import RecordedEvents

pytestmark = pytest.mark.django_db


@pytest.fixture
def seen(db):
    return RecordedEvents()


def authorized(key="order-1", amount="100.00", provider=None):
    return services.payment_authorize(
        amount=Decimal(amount), currency="USD", payment_method="4242424242424242", reference="B-1",
        idempotency_key=key, provider=provider,
    )


def test_capture_in_full_and_again_is_a_no_op(recorder, seen):
    with committed():
        payment = authorized(provider="recording")
        captured = services.payment_capture(payment=payment)
    assert (captured.status, captured.captured_amount) == (PaymentStatus.CAPTURED, Decimal("100.00"))
    with committed():
        services.payment_capture(payment=payment)
    assert recorder.count("capture") == 1
    names = [e.name for e in seen]
    assert names == ["payments.payment_captured"]  # an authorization moves no money: no event of its own
    assert seen[-1].payload["reference"] == "B-1"


def test_partial_capture_and_limits():
    payment = authorized()
    with pytest.raises(ApplicationError):
        services.payment_capture(payment=payment, amount=Decimal("100.01"))
    payment = services.payment_capture(payment=payment, amount=Decimal("60.00"))
    assert payment.captured_amount == Decimal("60.00")


def test_refunds_never_exceed_captured_minus_refunded(recorder):
    payment = services.payment_capture(payment=authorized(provider="recording"), amount=Decimal("80.00"))
    first = services.payment_refund(payment=payment, amount=Decimal("30.00"), reason="damaged", idempotency_key="r1")
    assert first.status == RefundStatus.SUCCEEDED
    payment.refresh_from_db()
    assert (payment.status, payment.refunded_amount) == (PaymentStatus.PARTIALLY_REFUNDED, Decimal("30.00"))
    with pytest.raises(ApplicationError) as exc:
        services.payment_refund(payment=payment, amount=Decimal("50.01"), idempotency_key="r2")
    assert exc.value.message == "You can refund at most $50.00."
    assert not Refund.objects.filter(idempotency_key="r2").exists()
    services.payment_refund(payment=payment, amount=Decimal("50.00"), idempotency_key="r3")
    payment.refresh_from_db()
    assert (payment.status, payment.refunded_amount) == (PaymentStatus.REFUNDED, Decimal("80.00"))
    with pytest.raises(ApplicationError):
        services.payment_refund(payment=payment, amount=Decimal("0.01"), idempotency_key="r4")
    assert recorder.count("refund") == 2


def test_refund_is_idempotent_per_key(recorder):
    payment = services.payment_capture(payment=authorized(provider="recording"))
    a = services.payment_refund(payment=payment, amount=Decimal("10.00"), idempotency_key="r1")
    b = services.payment_refund(payment=payment, amount=Decimal("10.00"), idempotency_key="r1")
    assert a.pk == b.pk
    assert recorder.count("refund") == 1
    assert Payment.objects.get().refunded_amount == Decimal("10.00")
    with pytest.raises(Conflict):
        services.payment_refund(payment=payment, amount=Decimal("11.00"), idempotency_key="r1")


def test_refund_of_an_uncaptured_payment_is_refused():
    payment = authorized()
    with pytest.raises(ApplicationError):
        services.payment_refund(payment=payment, amount=Decimal("1.00"), idempotency_key="r1")
    with pytest.raises(ApplicationError):
        services.payment_refund(payment=payment, amount=Decimal("-1.00"), idempotency_key="r1")


def test_cancel_an_authorization():
    payment = services.payment_cancel(payment=authorized())
    assert payment.status == PaymentStatus.CANCELLED
    with pytest.raises(Conflict):
        services.payment_capture(payment=payment)
    assert services.payment_cancel(payment=payment).status == PaymentStatus.CANCELLED


def test_database_refuses_refunded_above_captured():
    from django.db import IntegrityError, transaction

    payment = authorized()
    with pytest.raises(IntegrityError), transaction.atomic():
        Payment.objects.filter(pk=payment.pk).update(refunded_amount=Decimal("1.00"))
