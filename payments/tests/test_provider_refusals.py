"""When the provider says no to a capture or a cancel, or the payment moved at the provider
meanwhile: the payment is never recorded as something it is not, and the caller gets a clear error."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.exceptions import ApplicationError, Conflict
from payments import services
from payments.models import PaymentStatus
from payments.providers import base as providers
from payments.providers.test import TestProvider
from tests.providers import payment_provider

pytestmark = pytest.mark.django_db


class StubbornProvider(TestProvider):
    """The test provider whose capture and cancel answer as the test says."""

    code = "stubborn"
    capture_answer: object = None  # None: as the test provider; an exception to raise, or a status
    cancel_answer: object = None
    held_status = providers.AUTHORIZED  # what ``retrieve`` says the payment is now

    def _answer(self, answer, reference, default):
        if answer is None:
            return default()
        if isinstance(answer, Exception):
            raise answer
        return providers.ProviderResult(answer, reference)

    def capture(self, reference, amount, currency, idempotency_key):
        return self._answer(StubbornProvider.capture_answer, reference,
                            lambda: super(StubbornProvider, self).capture(reference, amount, currency, idempotency_key))

    def cancel(self, reference, idempotency_key):
        return self._answer(StubbornProvider.cancel_answer, reference,
                            lambda: super(StubbornProvider, self).cancel(reference, idempotency_key))

    def retrieve(self, reference):
        return providers.ProviderResult(StubbornProvider.held_status, reference)


@pytest.fixture
def stubborn():
    StubbornProvider.capture_answer = StubbornProvider.cancel_answer = None
    StubbornProvider.held_status = providers.AUTHORIZED
    with payment_provider("stubborn", StubbornProvider):
        yield StubbornProvider


def authorized():
    return services.payment_authorize(amount=Decimal("40.00"), currency="USD", payment_method="4242424242424242",
                                      reference="B-9", idempotency_key="order-9", provider="stubborn")


@pytest.mark.parametrize("answer", [providers.ProviderRefused("This PaymentIntent has expired."),
                                    providers.DECLINED])
def test_a_capture_the_provider_refuses_leaves_the_payment_authorized(stubborn, answer):
    payment = authorized()
    stubborn.capture_answer = answer
    with pytest.raises(ApplicationError) as refused:
        services.payment_capture(payment=payment)
    assert refused.value.code == "capture_failed"
    payment.refresh_from_db()
    assert (payment.status, payment.captured_amount) == (PaymentStatus.AUTHORIZED, Decimal("0.00"))


def test_a_capture_while_the_provider_is_unreachable_changes_nothing(stubborn):
    payment = authorized()
    stubborn.capture_answer = providers.ProviderError("timed out")
    with pytest.raises(services.PaymentUnavailable):
        services.payment_capture(payment=payment)
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.AUTHORIZED


def test_capturing_more_than_authorized_or_a_cancelled_payment_is_refused(stubborn):
    payment = authorized()
    with pytest.raises(ApplicationError, match="at most"):
        services.payment_capture(payment=payment, amount=Decimal("40.01"))
    services.payment_cancel(payment=payment)
    with pytest.raises(Conflict, match="Only an authorized payment can be captured"):
        services.payment_capture(payment=payment)


def test_a_cancel_refused_because_the_payment_was_captured_meanwhile_records_the_capture(stubborn):
    """Captured at the provider (the dashboard, another process) before our cancel arrived: we must
    not record it as cancelled, or the money would be kept without anyone knowing."""
    payment = authorized()
    stubborn.cancel_answer = providers.ProviderRefused("This PaymentIntent has already been captured.")
    stubborn.held_status = providers.CAPTURED
    with pytest.raises(Conflict) as refused:
        services.payment_cancel(payment=payment)
    assert refused.value.code == "already_captured"
    payment.refresh_from_db()
    assert (payment.status, payment.captured_amount) == (PaymentStatus.CAPTURED, Decimal("40.00"))


def test_a_cancel_refused_for_an_authorization_that_already_lapsed_records_it_cancelled(stubborn):
    payment = authorized()
    stubborn.cancel_answer = providers.ProviderRefused("This PaymentIntent has expired.")
    stubborn.held_status = providers.CANCELLED
    assert services.payment_cancel(payment=payment).status == PaymentStatus.CANCELLED


def test_a_cancel_the_provider_answers_otherwise_is_an_error_and_the_payment_stays_authorized(stubborn):
    payment = authorized()
    stubborn.cancel_answer = providers.FAILED
    with pytest.raises(ApplicationError) as refused:
        services.payment_cancel(payment=payment)
    assert refused.value.code == "cancel_failed"
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.AUTHORIZED


def test_a_captured_payment_is_refunded_not_cancelled(stubborn):
    payment = services.payment_capture(payment=authorized())
    with pytest.raises(Conflict, match="refund a captured one"):
        services.payment_cancel(payment=payment)
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.CAPTURED
