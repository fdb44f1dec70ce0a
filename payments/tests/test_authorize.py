from __future__ import annotations

from decimal import Decimal

import pytest

from core.exceptions import ApplicationError, Conflict
from payments import services
from payments.exceptions import PaymentDeclined, PaymentInProgress, PaymentUnavailable
from payments.models import Payment, PaymentStatus
from payments.providers.test import luhn_valid
from tests.concurrency import race

pytestmark = pytest.mark.django_db


def authorize(card="4242 4242 4242 4242", key="order-1", amount="25.00", **kw):
    return services.payment_authorize(
        amount=Decimal(amount), currency="USD", payment_method=card, reference="B-1001", idempotency_key=key, **kw
    )


def test_success_card_authorizes_and_records():
    payment = authorize()
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.AUTHORIZED
    assert payment.provider == "test"
    assert payment.provider_reference.startswith("test_pi_")
    assert payment.amount == Decimal("25.00")
    assert payment.currency == "USD"
    assert payment.captured_amount == 0
    assert payment.locked_until is None


@pytest.mark.parametrize(
    ("card", "code", "message"),
    [
        ("4000 0000 0000 0002", "card_declined", "Your card was declined."),
        ("4000 0000 0000 9995", "insufficient_funds", "Insufficient funds."),
        ("4242 4242 4242 4241", "invalid_number", "That card number is not valid."),
        ("not a card", "invalid_number", "That card number is not valid."),
    ],
)
def test_declined_cards_record_the_payment_and_raise(card, code, message):
    with pytest.raises(PaymentDeclined) as exc:
        authorize(card=card)
    assert exc.value.message == message
    assert exc.value.status_code == 402
    stored = Payment.objects.get(idempotency_key="order-1")
    assert exc.value.payment.pk == stored.pk
    assert (stored.status, stored.decline_code) == (PaymentStatus.DECLINED, code)


def test_luhn():
    assert luhn_valid("4242424242424242")
    assert luhn_valid("4000000000000002")
    assert not luhn_valid("4242424242424241")
    assert not luhn_valid("42")


def test_same_key_returns_same_payment_and_calls_provider_once(recorder):
    first = authorize(provider="recording")
    second = authorize(provider="recording")
    assert first.pk == second.pk
    assert Payment.objects.count() == 1
    assert recorder.count("authorize") == 1


def test_declined_replay_raises_again_without_calling_provider(recorder):
    for _ in range(2):
        with pytest.raises(PaymentDeclined):
            authorize(card="4000000000000002", provider="recording")
    assert recorder.count("authorize") == 1
    assert Payment.objects.count() == 1


def test_same_key_with_other_amount_is_refused(recorder):
    authorize(provider="recording")
    with pytest.raises(Conflict):
        authorize(amount="30.00", provider="recording")
    assert recorder.count("authorize") == 1


def test_provider_unreachable_leaves_pending_and_retry_asks_again(recorder):
    recorder.fail = True
    with pytest.raises(PaymentUnavailable):
        authorize(provider="recording")
    assert Payment.objects.get().status == PaymentStatus.PENDING
    recorder.fail = False
    payment = authorize(provider="recording")
    assert payment.status == PaymentStatus.AUTHORIZED
    assert recorder.count("authorize") == 2  # same idempotency key both times: safe at the provider
    assert {key for _name, key in recorder.calls} == {"order-1"}


def test_in_flight_payment_is_not_sent_twice(recorder):
    Payment.objects.create(
        provider="recording", amount=Decimal("25.00"), currency="USD", reference="B-1001", idempotency_key="order-1",
        locked_until="2999-01-01T00:00:00Z",
    )
    with pytest.raises(PaymentInProgress):
        authorize(provider="recording")
    assert recorder.count("authorize") == 0


@pytest.mark.parametrize(
    ("amount", "currency"), [("0", "USD"), ("-1", "USD"), ("abc", "USD"), ("10", "US"), ("10", "")]
)
def test_bad_input_is_an_application_error(amount, currency):
    with pytest.raises(ApplicationError):
        services.payment_authorize(
            amount=amount, currency=currency, payment_method="4242424242424242", reference="B", idempotency_key="k"
        )
    assert not Payment.objects.exists()


def test_unknown_provider_is_refused():
    with pytest.raises(ApplicationError):
        authorize(provider="nope")


@pytest.mark.django_db(transaction=True)
def test_concurrent_same_key_makes_one_payment_and_one_provider_call(recorder):
    recorder.delay = 0.3
    outcomes = race(lambda: authorize(provider="recording"), [()] * 5, catch=(PaymentInProgress,))
    results = [r.pk for r in outcomes if isinstance(r, Payment)]
    errors = [r.payment.pk for r in outcomes if isinstance(r, PaymentInProgress)]
    assert Payment.objects.count() == 1
    assert recorder.count("authorize") == 1
    assert len(results) + len(errors) == 5
    assert set(results + errors) == {Payment.objects.get().pk}
    assert Payment.objects.get().status == PaymentStatus.AUTHORIZED
