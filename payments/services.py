"""Payment services: authorize, capture, refund, cancel, and apply provider webhooks.

The rule for every call to a provider (STYLE.md "Data integrity"): record the intent and commit,
call the provider outside any transaction or row lock, then record the outcome with a conditional
UPDATE so that a retry, a concurrent request or a webhook that got there first is harmless.
Callers must therefore not wrap these services in their own ``transaction.atomic()``.

Status changes emit ``payments.payment_<status>`` events (authorized, declined, failed, captured,
cancelled, refunded) with ``payment_id``, ``reference``, ``status``, ``amount``, ``currency``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _

from core.events import emit
from core.exceptions import ApplicationError, Conflict
from core.money import format_money, quantize
from payments.exceptions import PaymentDeclined, PaymentInProgress, PaymentUnavailable, RefundFailed
from payments.models import Payment, PaymentStatus, Refund, RefundStatus, WebhookEvent
from payments.providers import base as providers
from payments.providers.base import PaymentProvider, ProviderError, ProviderEvent, ProviderResult

# How long one caller may hold a pending payment while it talks to the provider.
PROVIDER_LEASE = timedelta(seconds=60)

_RESULT_TO_STATUS = {
    providers.AUTHORIZED: PaymentStatus.AUTHORIZED,
    providers.CAPTURED: PaymentStatus.CAPTURED,
    providers.DECLINED: PaymentStatus.DECLINED,
    providers.FAILED: PaymentStatus.FAILED,
    providers.PENDING: PaymentStatus.PENDING,
    providers.CANCELLED: PaymentStatus.CANCELLED,
}
_CAPTURED_STATES = (PaymentStatus.CAPTURED, PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED)


def decline_message(decline_code: str) -> str:
    """What to tell the shopper about a decline."""
    messages = {
        "card_declined": _("Your card was declined."),
        "insufficient_funds": _("Insufficient funds."),
        "invalid_number": _("That card number is not valid."),
        "expired_card": _("Your card has expired."),
        "incorrect_cvc": _("The card's security code is not correct."),
    }
    return messages.get(decline_code, _("Your card was declined."))


def _money(amount: Any, currency: str) -> Decimal:
    try:
        return quantize(amount, currency)
    except (TypeError, ValueError):
        raise ApplicationError(_("That is not a valid amount."), fields={"amount": [_("Not a number.")]})


def _emit_status(payment: Payment, name: str, **extra: Any) -> None:
    emit(
        f"payments.payment_{str(name)}",
        payment_id=payment.pk,
        reference=payment.reference,
        status=str(payment.status),
        amount=str(payment.amount),
        currency=payment.currency,
        **extra,
    )


def _call_provider(fn: Callable[[], ProviderResult]) -> ProviderResult:
    try:
        return fn()
    except ProviderError:
        raise PaymentUnavailable(_("We could not reach the payment provider. Please try again in a moment."))


# --- authorize ---------------------------------------------------------------------------------


def payment_authorize(
    *,
    amount: Decimal,
    currency: str,
    payment_method: str,
    reference: str,
    idempotency_key: str,
    provider: str | None = None,
    off_session: bool = False,
) -> Payment:
    """Authorize ``amount`` on ``payment_method`` (capture later with :func:`payment_capture`).
    ``off_session``: the customer is not there to confirm (a membership renewal on a saved card).

    Idempotent: the same ``idempotency_key`` returns the recorded Payment and never calls the
    provider again (a declined one raises :class:`PaymentDeclined` again). While another request
    with the key is still talking to the provider this raises :class:`PaymentInProgress`; if the
    provider was unreachable (:class:`PaymentUnavailable`) the next call with the key retries it.
    """
    currency = (currency or "").upper()
    if len(currency) != 3 or not currency.isalpha():
        raise ApplicationError(_("Unknown currency."), fields={"currency": [_("Unknown currency.")]})
    amount = _money(amount, currency)
    if amount <= 0:
        raise ApplicationError(_("The amount to pay must be more than zero."))
    if not idempotency_key or len(idempotency_key) > 255:
        raise ApplicationError(_("A payment needs an idempotency key (at most 255 characters)."))
    code = provider or providers.default_provider_code()
    gateway = providers.get_provider(code)

    payment, created = Payment.objects.get_or_create(
        idempotency_key=idempotency_key,
        defaults={
            "provider": code,
            "amount": amount,
            "currency": currency,
            "reference": reference,
            "locked_until": timezone.now() + PROVIDER_LEASE,
        },
    )
    if not created:
        if (payment.provider, payment.amount, payment.currency, payment.reference) != (
            code, amount, currency, reference,
        ):
            raise Conflict(_("This idempotency key was already used for a different payment."))
        if payment.status != PaymentStatus.PENDING:
            return _authorization_outcome(payment)
        now = timezone.now()
        claimed = (
            Payment.objects.filter(pk=payment.pk, status=PaymentStatus.PENDING)
            .filter(Q(locked_until__isnull=True) | Q(locked_until__lt=now))
            .update(locked_until=now + PROVIDER_LEASE, updated_at=now)
        )
        if not claimed:
            payment.refresh_from_db()
            if payment.status != PaymentStatus.PENDING:
                return _authorization_outcome(payment)
            raise PaymentInProgress(_("Your payment is already being processed."), payment=payment)
    return _authorize_at_provider(payment, gateway, payment_method, off_session=off_session)


def _authorize_at_provider(
    payment: Payment, gateway: PaymentProvider, payment_method: str, *, off_session: bool = False
) -> Payment:
    metadata = {"reference": payment.reference, "payment_id": str(payment.pk)}
    if off_session:
        metadata["off_session"] = "true"
    try:
        result = gateway.authorize(payment.amount, payment.currency, payment_method, payment.idempotency_key, metadata)
    except ProviderError as exc:
        # Outcome unknown: release the lease so a retry with the same key asks again (idempotently).
        Payment.objects.filter(pk=payment.pk, status=PaymentStatus.PENDING).update(
            locked_until=None, message=str(exc)[:2000], updated_at=timezone.now()
        )
        raise PaymentUnavailable(_("We could not reach the payment provider. Please try again in a moment."))
    status = _RESULT_TO_STATUS.get(result.status, PaymentStatus.FAILED)
    fields: dict[str, Any] = {
        "status": status,
        "provider_reference": result.reference,
        "decline_code": result.decline_code[:64],
        "message": result.message,
        "locked_until": None,
        "updated_at": timezone.now(),
    }
    if status == PaymentStatus.CAPTURED:
        fields["captured_amount"] = payment.amount
    with transaction.atomic():
        updated = Payment.objects.filter(pk=payment.pk, status=PaymentStatus.PENDING).update(**fields)
        payment.refresh_from_db()
        if updated and status != PaymentStatus.PENDING:
            _emit_status(payment, status)
    return _authorization_outcome(payment)


def _authorization_outcome(payment: Payment) -> Payment:
    if payment.status == PaymentStatus.DECLINED:
        raise PaymentDeclined(decline_message(payment.decline_code), payment=payment, code="payment_declined")
    if payment.status == PaymentStatus.FAILED:
        raise PaymentDeclined(_("Your payment could not be completed."), payment=payment, code="payment_failed")
    return payment


# --- saved payment methods ---------------------------------------------------------------------


@dataclass(frozen=True)
class SavedPaymentMethod:
    """A reusable token to charge later (off-session), never a card number."""

    provider: str
    token: str
    label: str  # e.g. "Card ending 4242"; may be empty


def payment_method_tokenize(*, payment_method: str, provider: str | None = None) -> SavedPaymentMethod:
    """Turn what the shopper entered (a card number for the test provider, a ``pm_...`` id for
    Stripe) into a token that :func:`payment_authorize` accepts later for renewals.

    Raises :class:`~core.exceptions.ApplicationError` (field ``payment_method``) for input that
    is not a payment method, :class:`PaymentUnavailable` if the provider cannot be reached. It
    does not check that the card can pay: authorize (and cancel) an amount for that.
    """
    value = str(payment_method or "").strip()
    if not value:
        raise ApplicationError(_("Enter a card number."), fields={"payment_method": [_("Required.")]})
    code = provider or providers.default_provider_code()
    gateway = providers.get_provider(code)
    try:
        token, label = gateway.tokenize(value)
    except providers.InvalidPaymentMethod as exc:
        raise ApplicationError(exc.message, code=exc.code, fields={"payment_method": [exc.message]})
    except ProviderError:
        raise PaymentUnavailable(_("We could not reach the payment provider. Please try again in a moment."))
    return SavedPaymentMethod(provider=code, token=token, label=str(label)[:40])


# --- capture, cancel ---------------------------------------------------------------------------


def payment_capture(*, payment: Payment, amount: Decimal | None = None) -> Payment:
    """Capture an authorized payment, in full or for less (the rest is released). Idempotent."""
    payment = Payment.objects.get(pk=payment.pk)
    if payment.status in _CAPTURED_STATES:
        return payment
    if payment.status != PaymentStatus.AUTHORIZED:
        raise Conflict(_("Only an authorized payment can be captured."))
    amount = payment.amount if amount is None else _money(amount, payment.currency)
    if not 0 < amount <= payment.amount:
        raise ApplicationError(
            _("You can capture at most %(amount)s.") % {"amount": format_money(payment.amount, payment.currency)}
        )
    gateway = providers.get_provider(payment.provider)
    key = f"{payment.idempotency_key}:capture"
    result = _call_provider(lambda: gateway.capture(payment.provider_reference, amount, payment.currency, key))
    if result.status != providers.CAPTURED:
        raise ApplicationError(_("The payment provider refused the capture."), code="capture_failed")
    with transaction.atomic():
        updated = Payment.objects.filter(pk=payment.pk, status=PaymentStatus.AUTHORIZED).update(
            status=PaymentStatus.CAPTURED, captured_amount=amount, updated_at=timezone.now()
        )
        payment.refresh_from_db()
        if updated:
            _emit_status(payment, PaymentStatus.CAPTURED, captured_amount=str(amount))
    return payment


def payment_cancel(*, payment: Payment) -> Payment:
    """Release an authorization that will not be captured. Idempotent."""
    payment = Payment.objects.get(pk=payment.pk)
    if payment.status in (PaymentStatus.CANCELLED, PaymentStatus.DECLINED, PaymentStatus.FAILED):
        return payment
    if payment.status != PaymentStatus.AUTHORIZED:
        raise Conflict(_("Only an authorized payment can be cancelled; refund a captured one."))
    gateway = providers.get_provider(payment.provider)
    result = _call_provider(lambda: gateway.cancel(payment.provider_reference, f"{payment.idempotency_key}:cancel"))
    if result.status != providers.CANCELLED:
        raise ApplicationError(_("The payment provider refused the cancellation."), code="cancel_failed")
    with transaction.atomic():
        updated = Payment.objects.filter(pk=payment.pk, status=PaymentStatus.AUTHORIZED).update(
            status=PaymentStatus.CANCELLED, updated_at=timezone.now()
        )
        payment.refresh_from_db()
        if updated:
            _emit_status(payment, PaymentStatus.CANCELLED)
    return payment


# --- refunds -----------------------------------------------------------------------------------


def payment_refund(*, payment: Payment, amount: Decimal, reason: str = "", idempotency_key: str) -> Refund:
    """Refund part or all of what was captured; never more than captured minus refunded.

    The amount is reserved on the payment (one conditional UPDATE) and committed before the
    provider is called, so concurrent refunds cannot exceed the captured amount; a refund the
    provider refuses gives its reservation back and raises :class:`RefundFailed`.
    Idempotent per ``idempotency_key``.
    """
    amount = _money(amount, payment.currency)
    if amount <= 0:
        raise ApplicationError(_("The amount to refund must be more than zero."))
    if not idempotency_key or len(idempotency_key) > 255:
        raise ApplicationError(_("A refund needs an idempotency key (at most 255 characters)."))
    existing = Refund.objects.filter(idempotency_key=idempotency_key).first()
    if existing is None:
        try:
            with transaction.atomic():
                reserved = Payment.objects.filter(
                    pk=payment.pk,
                    status__in=(PaymentStatus.CAPTURED, PaymentStatus.PARTIALLY_REFUNDED),
                    captured_amount__gte=F("refunded_amount") + amount,
                ).update(refunded_amount=F("refunded_amount") + amount, updated_at=timezone.now())
                if not reserved:
                    current = Payment.objects.get(pk=payment.pk)
                    available = current.refundable_amount if current.status in _CAPTURED_STATES else Decimal(0)
                    raise ApplicationError(
                        _("You can refund at most %(amount)s.")
                        % {"amount": format_money(available, current.currency)},
                        code="refund_too_large",
                    )
                refund = Refund.objects.create(
                    payment_id=payment.pk, amount=amount, reason=reason[:255], idempotency_key=idempotency_key
                )
        except IntegrityError:
            existing = Refund.objects.get(idempotency_key=idempotency_key)  # a concurrent twin won
    if existing is not None:
        if existing.payment_id != payment.pk or existing.amount != amount:
            raise Conflict(_("This idempotency key was already used for a different refund."))
        if existing.status != RefundStatus.PENDING:
            return existing
        refund = existing
    return _refund_at_provider(refund)


def _refund_at_provider(refund: Refund) -> Refund:
    payment = Payment.objects.get(pk=refund.payment_id)
    gateway = providers.get_provider(payment.provider)
    result = _call_provider(
        lambda: gateway.refund(payment.provider_reference, refund.amount, payment.currency, refund.idempotency_key)
    )
    now = timezone.now()
    with transaction.atomic():
        if result.status == providers.REFUNDED:
            done = Refund.objects.filter(pk=refund.pk, status=RefundStatus.PENDING).update(
                status=RefundStatus.SUCCEEDED, provider_reference=result.reference, updated_at=now
            )
            if done:
                Payment.objects.filter(pk=payment.pk).update(status=_refunded_status(), updated_at=now)
                payment.refresh_from_db()
                _emit_status(payment, PaymentStatus.REFUNDED, refund_id=refund.pk, refunded=str(refund.amount))
        elif result.status == providers.PENDING:
            Refund.objects.filter(pk=refund.pk).update(provider_reference=result.reference, updated_at=now)
        else:
            failed = Refund.objects.filter(pk=refund.pk, status=RefundStatus.PENDING).update(
                status=RefundStatus.FAILED, provider_reference=result.reference, message=result.message, updated_at=now
            )
            if failed:  # give the reservation back
                Payment.objects.filter(pk=payment.pk).update(
                    refunded_amount=F("refunded_amount") - refund.amount, updated_at=now
                )
    refund.refresh_from_db()
    if refund.status == RefundStatus.FAILED:
        raise RefundFailed(_("The payment provider refused the refund."), refund=refund)
    return refund


def _refunded_status() -> Case:
    return Case(
        When(refunded_amount=F("captured_amount"), then=Value(PaymentStatus.REFUNDED)),
        default=Value(PaymentStatus.PARTIALLY_REFUNDED),
    )


# --- webhooks ----------------------------------------------------------------------------------


def webhook_receive(*, provider: str, body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
    """Verify a provider's webhook, store it once by its event id, and apply it once.

    Raises :class:`~payments.providers.base.InvalidSignature` (a 400) for a bad signature or body,
    :class:`~payments.providers.base.UnknownProvider` for an unknown provider. A replayed event is
    a no-op that returns the stored WebhookEvent.
    """
    gateway = providers.get_provider(provider)
    event = gateway.verify_webhook(body, headers)
    with transaction.atomic():
        stored, _created = WebhookEvent.objects.get_or_create(
            provider=provider,
            event_id=event.event_id[:255],
            defaults={"type": event.type[:100], "reference": event.reference[:255], "payload": event.payload},
        )
        stored = WebhookEvent.objects.select_for_update().get(pk=stored.pk)
        if stored.processed_at is None:
            _apply_event(provider, event)
            stored.processed_at = timezone.now()
            stored.save(update_fields=["processed_at"])
    return stored


def _apply_event(provider: str, event: ProviderEvent) -> None:
    handler = _EVENT_HANDLERS.get(event.type)
    if handler is None or not event.reference:
        return
    payment = (
        Payment.objects.select_for_update()
        .filter(provider=provider, provider_reference=event.reference)
        .order_by("id")
        .first()
    )
    if payment is not None:
        handler(payment, event.data)


def _set_status(payment: Payment, status: str, *, event: str | None = None, **fields: Any) -> None:
    for name, value in fields.items():
        setattr(payment, name, value)
    payment.status = status
    payment.save(update_fields=["status", "updated_at", *fields])
    _emit_status(payment, event or status)


def _on_authorized(payment: Payment, data: dict) -> None:
    if payment.status == PaymentStatus.PENDING:
        _set_status(payment, PaymentStatus.AUTHORIZED, locked_until=None)


def _on_succeeded(payment: Payment, data: dict) -> None:
    if payment.status in (PaymentStatus.PENDING, PaymentStatus.AUTHORIZED):
        captured = data.get("amount_captured") or payment.amount
        _set_status(payment, PaymentStatus.CAPTURED, captured_amount=min(captured, payment.amount), locked_until=None)


def _on_failed(payment: Payment, data: dict) -> None:
    if payment.status in (PaymentStatus.PENDING, PaymentStatus.AUTHORIZED):
        code = str(data.get("decline_code") or "")[:64]
        status = PaymentStatus.DECLINED if code else PaymentStatus.FAILED
        _set_status(payment, status, decline_code=code, message=str(data.get("message") or ""), locked_until=None)


def _on_canceled(payment: Payment, data: dict) -> None:
    if payment.status in (PaymentStatus.PENDING, PaymentStatus.AUTHORIZED):
        _set_status(payment, PaymentStatus.CANCELLED, locked_until=None)


def _on_refunded(payment: Payment, data: dict) -> None:
    total = data.get("amount_refunded")
    if payment.status not in _CAPTURED_STATES or total is None or total <= payment.refunded_amount:
        return  # refunds we made ourselves are already counted
    payment.refunded_amount = min(total, payment.captured_amount)
    status = (
        PaymentStatus.REFUNDED if payment.refunded_amount == payment.captured_amount
        else PaymentStatus.PARTIALLY_REFUNDED
    )
    _set_status(payment, status, event=PaymentStatus.REFUNDED, refunded_amount=payment.refunded_amount)


_EVENT_HANDLERS: dict[str, Callable[[Payment, dict], None]] = {
    "payment_intent.amount_capturable_updated": _on_authorized,
    "payment_intent.succeeded": _on_succeeded,
    "payment_intent.payment_failed": _on_failed,
    "payment_intent.canceled": _on_canceled,
    "charge.refunded": _on_refunded,
}
