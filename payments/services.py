"""Payment services: authorize, capture, refund, cancel, and apply provider webhooks.

The rule for every call to a provider : record the intent and commit,
call the provider outside any transaction or row lock, then record the outcome with a conditional
UPDATE so that a retry, a concurrent request or a webhook that got there first is harmless.
Callers must therefore not wrap these services in their own ``transaction.atomic()``.

Status changes emit ``payments.payment_<status>`` events (authorized, declined, failed, captured,
cancelled, refunded) with ``payment_id``, ``reference``, ``status``, ``amount``, ``currency``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _

from core import events, outbox
from core.exceptions import ApplicationError, Conflict, IdempotencyKeyReused
from core.money import format_money, quantize
from payments import events as payment_events
from payments.exceptions import PaymentDeclined, PaymentInProgress, PaymentUnavailable, RefundFailed

# Store credit and gift cards have modules of their own; other contexts call them from here, as
# every payments service (see README "Store credit and gift cards").
from payments.gift_cards import GiftCardDetails as GiftCardDetails
from payments.gift_cards import IssuedGiftCard as IssuedGiftCard
from payments.gift_cards import gift_card_amount_choices as gift_card_amount_choices
from payments.gift_cards import gift_card_amount_limits as gift_card_amount_limits
from payments.gift_cards import gift_card_deliver_due as gift_card_deliver_due
from payments.gift_cards import gift_card_details_clean as gift_card_details_clean
from payments.gift_cards import gift_card_issue as gift_card_issue
from payments.gift_cards import gift_card_redeem as gift_card_redeem
from payments.gift_cards import gift_card_refund as gift_card_refund
from payments.gift_cards import gift_card_release as gift_card_release
from payments.gift_cards import gift_card_spend as gift_card_spend
from payments.gift_cards import gift_card_void as gift_card_void
from payments.gift_cards import gift_card_withdraw as gift_card_withdraw
from payments.models import Payment, PaymentStatus, ProviderCustomer, Refund, RefundStatus, WebhookEvent
from payments.providers import base as providers
from payments.providers.base import PaymentProvider, ProviderError, ProviderEvent, ProviderResult
from payments.store_credit import StoreCreditKind as StoreCreditKind
from payments.store_credit import store_credit_adjust as store_credit_adjust
from payments.store_credit import store_credit_grant as store_credit_grant
from payments.store_credit import store_credit_release as store_credit_release
from payments.store_credit import store_credit_spend as store_credit_spend

# How long one caller may hold a pending payment while it talks to the provider.
PROVIDER_LEASE = timedelta(seconds=60)

logger = logging.getLogger(__name__)

_RESULT_TO_STATUS = {
    providers.REQUIRES_ACTION: PaymentStatus.REQUIRES_ACTION,
    providers.REQUIRES_PAYMENT_METHOD: PaymentStatus.REQUIRES_ACTION,
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
    """Record that the payment reached a status (in the caller's transaction), for the statuses
    that move money or end it (``payments.events.RECORDED_STATUSES``)."""
    if str(name) not in payment_events.RECORDED_STATUSES:
        return
    events.record(
        payment_events.status_event(str(name)), aggregate=payment_events.AGGREGATE, aggregate_id=payment.pk,
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


# --- recording what the provider said -----------------------------------------------------------

_OPEN = (PaymentStatus.PENDING, PaymentStatus.REQUIRES_ACTION)


OnPaid = Callable[[Payment], None]


def _record(payment: Payment, result: ProviderResult, *, off_session: bool = False,
            on_paid: OnPaid | None = None) -> Payment:
    """Store the provider's answer on an open payment (pending, or waiting for the customer) with one
    conditional UPDATE, so a webhook, a return page and a retry that race record it once; returns
    the payment as stored. ``on_paid(payment)`` runs in the same transaction when this call
    recorded an authorization or capture (the caller's reaction commits with it, or neither does)."""
    status = _RESULT_TO_STATUS.get(result.status, PaymentStatus.FAILED)
    decline_code, message = result.decline_code[:64], result.message
    if status == PaymentStatus.REQUIRES_ACTION and off_session:
        # Nobody is there to authenticate (a renewal): a decline the customer fixes by updating the card.
        status, decline_code = PaymentStatus.DECLINED, "authentication_required"
    now = timezone.now()
    fields: dict[str, Any] = {
        "status": status, "decline_code": decline_code, "message": message, "locked_until": None, "updated_at": now,
    }
    if result.reference:
        fields["provider_reference"] = result.reference
    if status == PaymentStatus.REQUIRES_ACTION and result.client_secret:
        fields["client_secret"] = result.client_secret
    if result.card is not None and not payment.payment_method:
        fields["payment_method"] = result.card.token[:255]
    elif result.payment_method and not payment.payment_method:
        fields["payment_method"] = result.payment_method[:255]
    if status in (PaymentStatus.AUTHORIZED, PaymentStatus.CAPTURED):
        fields["authorized_at"] = now
    if status == PaymentStatus.AUTHORIZED:
        fields["authorization_expires_at"] = result.authorization_expires_at or now + authorization_validity()
    if status == PaymentStatus.CAPTURED:
        fields["captured_amount"] = payment.amount
    with transaction.atomic():
        updated = Payment.objects.filter(pk=payment.pk, status__in=_OPEN).update(**fields)
        if updated:  # what we wrote is what is stored: no need to read it back
            for name, value in fields.items():
                setattr(payment, name, value)
        else:  # somebody (a webhook, a twin request) recorded it first: theirs stands
            payment.refresh_from_db()
        if updated and status not in _OPEN:
            _emit_status(payment, status)
        if updated and on_paid is not None and status in (PaymentStatus.AUTHORIZED, PaymentStatus.CAPTURED):
            on_paid(payment)
    return payment


def authorization_validity() -> timedelta:
    """How long a card authorization holds when the provider does not say (7 days at Stripe)."""
    return timedelta(days=int(getattr(settings, "PAYMENT_AUTHORIZATION_DAYS", 7)))


def _refused(payment: Payment, exc: providers.ProviderRefused) -> Payment:
    """The provider answered with an error of the request itself: the payment failed, for good."""
    logger.error("payment %s refused by %s: %s (%s)", payment.pk, payment.provider, exc.message, exc.code)
    return _record(payment, ProviderResult(providers.FAILED, decline_code=exc.code or "provider_refused",
                                           message=exc.message))


def _unknown(payment: Payment, exc: ProviderError) -> PaymentUnavailable:
    """Outcome unknown: release the lease so a retry with the same key asks again (idempotently)."""
    Payment.objects.filter(pk=payment.pk, status=PaymentStatus.PENDING).update(
        locked_until=None, message=str(exc)[:2000], updated_at=timezone.now()
    )
    return PaymentUnavailable(_("We could not reach the payment provider. Please try again in a moment."))


# --- saved cards and their owners --------------------------------------------------------------


@dataclass(frozen=True)
class SavedPaymentMethod:
    """A reusable token to charge later (off-session), never a card number."""

    provider: str
    token: str
    label: str  # e.g. "Card ending 4242"; may be empty
    fingerprint: str = ""  # the same card number gives the same fingerprint


def payment_customer(*, owner: str, provider: str | None = None) -> str:
    """The provider's customer record for ``owner`` ("user:<id>"), made once and remembered.
    Raises :class:`PaymentUnavailable` if the provider cannot be reached."""
    if not owner:
        raise ApplicationError(_("Sign in to save a card."), code="not_authenticated")
    code = provider or providers.default_provider_code()
    known = ProviderCustomer.objects.filter(owner=owner, provider=code).values_list("customer_id", flat=True).first()
    if known:
        return known
    gateway = providers.get_provider(code)
    try:
        customer_id = gateway.ensure_customer(owner)
    except (ProviderError, providers.ProviderRefused):
        raise PaymentUnavailable(_("We could not reach the payment provider. Please try again in a moment."))
    try:
        with transaction.atomic():
            ProviderCustomer.objects.create(owner=owner, provider=code, customer_id=customer_id)
    except IntegrityError:  # a concurrent request recorded it first (the same customer: same idempotency key)
        return ProviderCustomer.objects.get(owner=owner, provider=code).customer_id
    return customer_id


def _check_owner(*, payment_method: str, owner: str, provider: str) -> None:
    """A saved card (``<customer>|<method>``) may pay only for the owner whose customer it is on;
    the answer is the same whether the card exists or not."""
    customer, _method = providers.split_saved(payment_method)
    if not customer:
        return
    if not owner or not ProviderCustomer.objects.filter(owner=owner, provider=provider, customer_id=customer).exists():
        message = _("That saved card is not one of yours.")
        raise ApplicationError(message, code="payment_method_not_yours", fields={"payment_method": [message]})


def payment_method_check_owner(*, payment_method: str, owner: str, provider: str | None = None) -> None:
    """Refuse (400 ``payment_method_not_yours``) a saved card that is not ``owner``'s, before anything
    is reserved or charged for it; anything else passes (the provider judges it when paying)."""
    _check_owner(payment_method=str(payment_method or "").strip(), owner=owner,
                 provider=provider or providers.default_provider_code())


def _stored_method(gateway: PaymentProvider, payment_method: str) -> str:
    """What to keep of the payment method on the Payment: a provider id or token as it is; a card
    number typed into the test provider's form becomes its token (never stored as a number)."""
    value = str(payment_method or "").strip()
    if not value or value.startswith("pm_") or providers.SAVED_SEPARATOR in value or gateway.confirms_in_browser:
        return value[:255]
    try:
        return providers.split_saved(gateway.tokenize(value, "").token)[1][:255]
    except providers.InvalidPaymentMethod:
        return "invalid"


def payment_method_tokenize(*, payment_method: str, owner: str, provider: str | None = None) -> SavedPaymentMethod:
    """Save what a client sent (a card number on the test provider's form, a ``pm_...`` id from
    Stripe's SDK, or one of the owner's saved ``cus_...|pm_...`` cards) on the owner's customer
    record, for :func:`payment_authorize` to charge later (renewals, off-session).

    Raises :class:`~core.exceptions.ApplicationError` (field ``payment_method``) for input that
    is not a payment method or a saved card of somebody else, :class:`PaymentUnavailable` if the
    provider cannot be reached. It does not check that the card can pay: authorize (and cancel)
    an amount for that.
    """
    value = str(payment_method or "").strip()
    if not value:
        raise ApplicationError(_("Enter a card number."), fields={"payment_method": [_("Required.")]})
    code = provider or providers.default_provider_code()
    gateway = providers.get_provider(code)
    _check_owner(payment_method=value, owner=owner, provider=code)
    customer = payment_customer(owner=owner, provider=code)
    try:
        card = gateway.tokenize(value, customer)
    except providers.InvalidPaymentMethod as exc:
        raise ApplicationError(exc.message, code=exc.code, fields={"payment_method": [exc.message]})
    except (ProviderError, providers.ProviderRefused):
        raise PaymentUnavailable(_("We could not reach the payment provider. Please try again in a moment."))
    _check_owner(payment_method=card.token, owner=owner, provider=code)
    return SavedPaymentMethod(provider=code, token=card.token, label=str(card.label)[:40],
                              fingerprint=card.fingerprint[:64])


@dataclass(frozen=True)
class CardSetup:
    """A card-saving intent for the browser: the page mounts the provider's element with
    ``client_secret`` and confirms it; :func:`payment_setup_finish` reads the result."""

    provider: str
    reference: str
    client_secret: str


def payment_setup_start(*, owner: str, idempotency_key: str, provider: str | None = None) -> CardSetup:
    """Start saving a card in the browser (Stripe SetupIntent) on ``owner``'s customer record."""
    code = provider or providers.default_provider_code()
    gateway = providers.get_provider(code)
    customer = payment_customer(owner=owner, provider=code)
    try:
        setup = gateway.create_setup(customer, idempotency_key)
    except providers.ProviderRefused as exc:
        raise ApplicationError(exc.message, code=exc.code or "setup_refused")
    except ProviderError:
        raise PaymentUnavailable(_("We could not reach the payment provider. Please try again in a moment."))
    return CardSetup(provider=code, reference=setup.reference, client_secret=setup.client_secret)


def payment_setup_finish(*, owner: str, reference: str, provider: str | None = None) -> SavedPaymentMethod:
    """The card the shopper saved in the browser, once the provider says the setup succeeded and
    only if it was made for ``owner``'s customer record (a reference from somebody else's setup is
    refused exactly like an unknown one)."""
    code = provider or providers.default_provider_code()
    gateway = providers.get_provider(code)
    reference = str(reference or "").strip()[:255]
    not_yours = ApplicationError(_("That card setup is not one of yours."), code="setup_not_found")
    if not reference or not owner:
        raise not_yours
    try:
        setup = gateway.retrieve_setup(reference)
    except providers.ProviderRefused:
        raise not_yours
    except ProviderError:
        raise PaymentUnavailable(_("We could not reach the payment provider. Please try again in a moment."))
    if not ProviderCustomer.objects.filter(owner=owner, provider=code, customer_id=setup.customer).exists():
        raise not_yours
    if setup.status != providers.SUCCEEDED or setup.card is None:
        message = setup.message or _("Your card was not saved. Please try again or use another card.")
        raise ApplicationError(message, code="setup_incomplete", fields={"payment_method": [message]})
    card = setup.card
    return SavedPaymentMethod(provider=code, token=card.token, label=card.label[:40], fingerprint=card.fingerprint[:64])


# --- authorize ---------------------------------------------------------------------------------


def _validate(amount: Any, currency: str, idempotency_key: str) -> tuple[Decimal, str]:
    currency = (currency or "").upper()
    if len(currency) != 3 or not currency.isalpha():
        raise ApplicationError(_("Unknown currency."), fields={"currency": [_("Unknown currency.")]})
    amount = _money(amount, currency)
    if amount <= 0:
        raise ApplicationError(_("The amount to pay must be more than zero."))
    if not idempotency_key or len(idempotency_key) > 255:
        raise ApplicationError(_("A payment needs an idempotency key (at most 255 characters)."))
    return amount, currency


def _create_or_get(*, idempotency_key: str, **fields: Any) -> tuple[Payment, bool]:
    """The payment recorded under this key: a new one (one INSERT, no transaction of its own) or the
    existing one when the key was used before (the unique key decides, also for two at once)."""
    if transaction.get_connection().in_atomic_block:
        return Payment.objects.get_or_create(idempotency_key=idempotency_key, defaults=fields)
    try:
        return Payment.objects.create(idempotency_key=idempotency_key, **fields), True
    except IntegrityError:
        return Payment.objects.get(idempotency_key=idempotency_key), False


def _claim(payment: Payment) -> bool:
    """Take the lease on a pending payment (nobody else is talking to the provider about it)."""
    now = timezone.now()
    return bool(
        Payment.objects.filter(pk=payment.pk, status=PaymentStatus.PENDING)
        .filter(Q(locked_until__isnull=True) | Q(locked_until__lt=now))
        .update(locked_until=now + PROVIDER_LEASE, updated_at=now)
    )


def payment_authorize(
    *,
    amount: Decimal,
    currency: str,
    payment_method: str,
    reference: str,
    idempotency_key: str,
    provider: str | None = None,
    off_session: bool = False,
    owner: str = "",
    on_paid: OnPaid | None = None,
) -> Payment:
    """Authorize ``amount`` on ``payment_method``, confirmed here on the server (capture later with
    :func:`payment_capture`). ``off_session``: the customer is not there (a membership renewal).
    ``owner`` ("user:<id>") may pay with their own saved cards only. ``on_paid(payment)``: the
    caller's reaction to an authorization this call records, run in the transaction that records it.

    Returns the Payment: authorized, or (on-session) *requires action* with a client secret when
    the bank asks for 3-D Secure, which the customer's app or page completes. Idempotent: the same
    ``idempotency_key`` returns the recorded Payment and never calls the provider again (a declined
    one raises :class:`PaymentDeclined` again). The same key with another amount, reference or
    payment method raises :class:`~core.exceptions.IdempotencyKeyReused` (422). While another
    request with the key is talking to the provider this raises :class:`PaymentInProgress`; if the
    provider was unreachable (:class:`PaymentUnavailable`) the next call with the key asks again,
    with the payment method given then or, if none is given, the one stored.
    """
    amount, currency = _validate(amount, currency, idempotency_key)
    code = provider or providers.default_provider_code()
    gateway = providers.get_provider(code)
    method = _stored_method(gateway, payment_method)
    _check_owner(payment_method=method, owner=owner, provider=code)

    payment, created = _create_or_get(
        idempotency_key=idempotency_key, provider=code, amount=amount, currency=currency, reference=reference,
        payment_method=method, owner=owner[:64], locked_until=timezone.now() + PROVIDER_LEASE,
    )
    if not created:
        if (payment.provider, payment.amount, payment.currency, payment.reference) != (
            code, amount, currency, reference,
        ) or (method and payment.payment_method and method != payment.payment_method):
            raise IdempotencyKeyReused(_("This idempotency key was already used for a different payment."))
        if payment.status == PaymentStatus.REQUIRES_ACTION:  # back after confirming with the bank?
            return _authorization_outcome(payment_sync(payment=payment))
        if payment.status != PaymentStatus.PENDING:
            return _authorization_outcome(payment)
        if not _claim(payment):
            payment.refresh_from_db()
            if payment.status != PaymentStatus.PENDING:
                return _authorization_outcome(payment)
            raise PaymentInProgress(_("Your payment is already being processed."), payment=payment)
        if not method:  # a retry without the method: pay with the one given the first time
            if not payment.payment_method:
                Payment.objects.filter(pk=payment.pk).update(locked_until=None)
                raise ApplicationError(_("Enter a card number."), fields={"payment_method": [_("Required.")]})
            payment_method = payment.payment_method
    if not payment_method:
        Payment.objects.filter(pk=payment.pk, status=PaymentStatus.PENDING).update(locked_until=None)
        raise ApplicationError(_("Enter a card number."), fields={"payment_method": [_("Required.")]})
    return _authorize_at_provider(payment, gateway, payment_method, off_session=off_session, on_paid=on_paid)


def _authorize_at_provider(
    payment: Payment, gateway: PaymentProvider, payment_method: str, *, off_session: bool = False,
    on_paid: OnPaid | None = None,
) -> Payment:
    metadata = {"reference": payment.reference, "payment_id": str(payment.pk)}
    if off_session:
        metadata["off_session"] = "true"
    try:
        result = gateway.authorize(payment.amount, payment.currency, payment_method, payment.idempotency_key, metadata)
    except ProviderError as exc:
        raise _unknown(payment, exc)
    except providers.ProviderRefused as exc:
        return _authorization_outcome(_refused(payment, exc))
    return _authorization_outcome(_record(payment, result, off_session=off_session, on_paid=on_paid))


def provider_confirms_in_browser(provider: str | None = None) -> bool:
    """Whether the shop's provider takes the card in its own element in the browser (Stripe): our
    pages then never show a card field."""
    return bool(providers.get_provider(provider or providers.default_provider_code()).confirms_in_browser)


def raise_outcome(*, payment: Payment) -> None:
    """Raise what a declined, failed or cancelled payment means for the customer (PaymentDeclined)."""
    _authorization_outcome(payment)


def _authorization_outcome(payment: Payment) -> Payment:
    if payment.status == PaymentStatus.DECLINED:
        raise PaymentDeclined(decline_message(payment.decline_code), payment=payment, code="payment_declined")
    if payment.status in (PaymentStatus.FAILED, PaymentStatus.CANCELLED):
        raise PaymentDeclined(
            _("Your payment could not be completed and nothing was charged. Please try again or use another card."),
            payment=payment, code="payment_failed",
        )
    return payment


# --- payments the customer confirms in the browser ------------------------------------------------


def payment_start(
    *, amount: Decimal, currency: str, reference: str, idempotency_key: str, owner: str = "",
    provider: str | None = None, capture: bool = False, save_card: bool = False,
) -> Payment:
    """An intent for the customer to confirm in the browser with the provider's own element (the
    card number never reaches us): the Payment waits for the customer (*requires action*) and
    carries the client secret their page needs. ``capture``: charged at once when confirmed (else
    authorized and captured when the order ships); ``save_card``: the card is kept on ``owner``'s
    customer record for later charges. The return page (:func:`payment_sync`) and the provider's
    webhook record the outcome, whichever comes first, once.

    Idempotent per ``idempotency_key``: the same key returns the same Payment (and intent).
    """
    amount, currency = _validate(amount, currency, idempotency_key)
    code = provider or providers.default_provider_code()
    gateway = providers.get_provider(code)
    if not gateway.confirms_in_browser:
        raise ApplicationError(_("Enter a card number."), code="payment_method_required",
                               fields={"payment_method": [_("Required.")]})
    customer = payment_customer(owner=owner, provider=code) if (owner and save_card) else ""
    options = {"browser": True, "capture": bool(capture), "save_card": bool(save_card), "customer": customer}
    payment, created = Payment.objects.get_or_create(
        idempotency_key=idempotency_key,
        defaults={"provider": code, "amount": amount, "currency": currency, "reference": reference,
                  "owner": owner[:64], "intent_options": options, "locked_until": timezone.now() + PROVIDER_LEASE},
    )
    if not created:
        if (payment.provider, payment.amount, payment.currency, payment.reference) != (code, amount, currency,
                                                                                       reference):
            raise IdempotencyKeyReused(_("This idempotency key was already used for a different payment."))
        if payment.status != PaymentStatus.PENDING:
            return payment
        if not _claim(payment):
            raise PaymentInProgress(_("Your payment is already being processed."), payment=payment)
    return _start_at_provider(payment, gateway)


def _start_at_provider(payment: Payment, gateway: PaymentProvider) -> Payment:
    options = payment.intent_options or {}
    try:
        result = gateway.create_intent(
            payment.amount, payment.currency, payment.idempotency_key,
            {"reference": payment.reference, "payment_id": str(payment.pk)},
            customer=options.get("customer", ""), capture=bool(options.get("capture")),
            save_card=bool(options.get("save_card")),
        )
    except ProviderError as exc:
        raise _unknown(payment, exc)
    except providers.ProviderRefused as exc:
        return _refused(payment, exc)
    return _record(payment, result)


def payment_sync(*, payment: Payment) -> Payment:
    """Ask the provider where an open payment stands and record it (a return page, a retry, the
    settle job). A payment whose first call never got an answer asks again with the same
    idempotency key, which the provider answers with the original outcome. Calls the provider:
    never inside a transaction. A closed payment is returned as it is. Raises
    :class:`PaymentUnavailable` when the provider still cannot be reached."""
    payment = Payment.objects.get(pk=payment.pk)
    if payment.status not in _OPEN:
        return payment
    gateway = providers.get_provider(payment.provider)
    if not payment.provider_reference:
        if payment.status != PaymentStatus.PENDING or not _claim(payment):
            return payment  # somebody is asking right now
        if (payment.intent_options or {}).get("browser"):
            return _start_at_provider(payment, gateway)
        if not payment.payment_method or payment.payment_method == "invalid":
            return _record(payment, ProviderResult(providers.FAILED, message="No payment method to try again."))
        try:
            return _authorize_at_provider(payment, gateway, payment.payment_method)
        except PaymentDeclined:
            return Payment.objects.get(pk=payment.pk)
    try:
        result = gateway.retrieve(payment.provider_reference)
    except ProviderError as exc:
        raise PaymentUnavailable(
            _("We could not reach the payment provider. Please try again in a moment.")) from exc
    except providers.ProviderRefused as exc:
        return _refused(payment, exc)
    if result.status in (providers.REQUIRES_ACTION, providers.REQUIRES_PAYMENT_METHOD, providers.PENDING):
        return payment  # still waiting for the customer (or the bank)
    return _record(payment, result)


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
    try:
        result = _call_provider(lambda: gateway.capture(payment.provider_reference, amount, payment.currency, key))
    except providers.ProviderRefused as exc:
        raise ApplicationError(_("The payment provider refused the capture: %(reason)s") % {"reason": exc.message},
                               code="capture_failed")
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
    """Make sure a payment that will not be captured never takes money: release an authorization,
    or cancel an intent still waiting for the customer (so a late confirmation cannot authorize
    it). A payment whose first call got no answer asks the provider first. Idempotent; a captured
    payment is refunded instead (:func:`payment_refund`)."""
    payment = Payment.objects.get(pk=payment.pk)
    if payment.status in (PaymentStatus.CANCELLED, PaymentStatus.DECLINED, PaymentStatus.FAILED):
        return payment
    if payment.status == PaymentStatus.PENDING and not payment.provider_reference:
        payment = payment_sync(payment=payment)  # learn whether the provider holds anything
        if payment.status == PaymentStatus.PENDING and not payment.provider_reference:
            if payment.locked_until and payment.locked_until > timezone.now():
                raise PaymentInProgress(_("Your payment is already being processed."), payment=payment)
            return _record(payment, ProviderResult(providers.CANCELLED, message="Cancelled before it was made."))
        if payment.status in (PaymentStatus.CANCELLED, PaymentStatus.DECLINED, PaymentStatus.FAILED):
            return payment
    if payment.status not in (PaymentStatus.AUTHORIZED, *_OPEN):
        raise Conflict(_("Only an authorized payment can be cancelled; refund a captured one."))
    gateway = providers.get_provider(payment.provider)
    try:
        result = _call_provider(
            lambda: gateway.cancel(payment.provider_reference, f"{payment.idempotency_key}:cancel"))
    except providers.ProviderRefused as exc:
        # Already over at the provider (expired, or captured meanwhile): ask where it stands.
        logger.warning("cancel of payment %s refused: %s", payment.pk, exc.message)
        current = _call_provider(lambda: gateway.retrieve(payment.provider_reference))
        result = current
    if result.status == providers.CAPTURED:
        _record_capture(payment)
        raise Conflict(_("The payment was captured meanwhile; refund it instead."), code="already_captured")
    if result.status != providers.CANCELLED:
        raise ApplicationError(_("The payment provider refused the cancellation."), code="cancel_failed")
    with transaction.atomic():
        updated = Payment.objects.filter(pk=payment.pk, status__in=(PaymentStatus.AUTHORIZED, *_OPEN)).update(
            status=PaymentStatus.CANCELLED, locked_until=None, client_secret="", updated_at=timezone.now()
        )
        payment.refresh_from_db()
        if updated:
            _emit_status(payment, PaymentStatus.CANCELLED)
    return payment


def payment_close(*, payment: Payment) -> None:
    """A payment that failed in the browser leaves an intent the customer's page could still
    confirm (with another card). Cancel it at the provider, so nothing can authorize it after its
    order was given up. Best effort: an intent that cannot be cancelled is left as it is."""
    payment = Payment.objects.get(pk=payment.pk)
    if not (payment.intent_options or {}).get("browser") or not payment.provider_reference:
        return
    if payment.status in _OPEN:
        payment_cancel(payment=payment)
        return
    if payment.status not in (PaymentStatus.DECLINED, PaymentStatus.FAILED):
        return
    gateway = providers.get_provider(payment.provider)
    try:
        gateway.cancel(payment.provider_reference, f"{payment.idempotency_key}:cancel")
    except (ProviderError, providers.ProviderRefused) as exc:
        logger.warning("could not cancel the intent of declined payment %s: %s", payment.pk, exc)


def payment_void_at_provider(*, payment: Payment) -> bool:
    """Release at the provider an authorization of a payment we already closed (a late one).
    Idempotent; raises PaymentUnavailable while the provider cannot be reached."""
    payment = Payment.objects.get(pk=payment.pk)
    if not payment.provider_reference or payment.status not in (
        PaymentStatus.CANCELLED, PaymentStatus.DECLINED, PaymentStatus.FAILED
    ):
        return False
    gateway = providers.get_provider(payment.provider)
    try:
        result = _call_provider(lambda: gateway.cancel(payment.provider_reference,
                                                       f"{payment.idempotency_key}:late-cancel"))
    except providers.ProviderRefused as exc:  # already cancelled or expired there: nothing is held
        logger.info("late authorization of payment %s: %s", payment.pk, exc.message)
        return False
    return result.status == providers.CANCELLED


def _record_capture(payment: Payment) -> None:
    with transaction.atomic():
        updated = Payment.objects.filter(pk=payment.pk, status__in=(PaymentStatus.AUTHORIZED, *_OPEN)).update(
            status=PaymentStatus.CAPTURED, captured_amount=F("amount"), locked_until=None, updated_at=timezone.now()
        )
        payment.refresh_from_db()
        if updated:
            _emit_status(payment, PaymentStatus.CAPTURED, captured_amount=str(payment.amount))


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
    try:
        result = _call_provider(
            lambda: gateway.refund(payment.provider_reference, refund.amount, payment.currency, refund.idempotency_key)
        )
    except providers.ProviderRefused as exc:  # answered and refused: the refund failed, for good
        result = ProviderResult(providers.FAILED, message=exc.message)
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
            payment = _apply_event(provider, event)
            stored.processed_at = timezone.now()
            stored.save(update_fields=["processed_at"])
            if payment is not None:
                # Durable, in this transaction: whoever the payment was for learns it (an order is
                # paid or undone, see EVENT_CONSUMERS), even if the broker is down right now.
                events.record(payment_events.PAYMENT_UPDATED, aggregate=payment_events.AGGREGATE,
                              aggregate_id=payment.pk, payment_id=payment.pk, status=str(payment.status))
    return stored


def _apply_event(provider: str, event: ProviderEvent) -> Payment | None:
    """Apply the event to its payment; returns the payment if the event changed it."""
    handler = _EVENT_HANDLERS.get(event.type)
    if handler is None or not event.reference:
        return None
    payment = (
        Payment.objects.select_for_update()
        .filter(provider=provider, provider_reference=event.reference)
        .order_by("id")
        .first()
    )
    if payment is None:
        return None
    before = (payment.status, payment.refunded_amount)
    handler(payment, event.data)
    return payment if (payment.status, payment.refunded_amount) != before else None


def _set_status(payment: Payment, status: str, *, event: str | None = None, **fields: Any) -> None:
    for name, value in fields.items():
        setattr(payment, name, value)
    payment.status = status
    payment.save(update_fields=["status", "updated_at", *fields])
    _emit_status(payment, event or status)


def _on_requires_action(payment: Payment, data: dict) -> None:
    if payment.status == PaymentStatus.PENDING:
        _set_status(payment, PaymentStatus.REQUIRES_ACTION, locked_until=None)


def _on_authorized(payment: Payment, data: dict) -> None:
    if payment.status in _OPEN:
        now = timezone.now()
        _set_status(payment, PaymentStatus.AUTHORIZED, locked_until=None, authorized_at=now,
                    authorization_expires_at=now + authorization_validity(), client_secret="")
    elif payment.status in (PaymentStatus.CANCELLED, PaymentStatus.DECLINED, PaymentStatus.FAILED):
        # Authorized at the provider after we gave it up (a page confirmed a cancelled intent):
        # release that hold too, after the commit.
        from payments.tasks import void_late_authorization  # tasks import services

        outbox.enqueue(void_late_authorization, payment.pk)


def _on_succeeded(payment: Payment, data: dict) -> None:
    if payment.status in (*_OPEN, PaymentStatus.AUTHORIZED):
        captured = data.get("amount_captured") or payment.amount
        _set_status(payment, PaymentStatus.CAPTURED, captured_amount=min(captured, payment.amount), locked_until=None,
                    authorized_at=payment.authorized_at or timezone.now(), client_secret="")


def _on_failed(payment: Payment, data: dict) -> None:
    if payment.status in _OPEN:
        code = str(data.get("decline_code") or "")[:64]
        status = PaymentStatus.DECLINED if code else PaymentStatus.FAILED
        _set_status(payment, status, decline_code=code, message=str(data.get("message") or ""), locked_until=None,
                    client_secret="")


def _on_canceled(payment: Payment, data: dict) -> None:
    if payment.status in (*_OPEN, PaymentStatus.AUTHORIZED):
        _set_status(payment, PaymentStatus.CANCELLED, locked_until=None, client_secret="")


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
    "payment_intent.requires_action": _on_requires_action,
    "payment_intent.amount_capturable_updated": _on_authorized,
    "payment_intent.succeeded": _on_succeeded,
    "payment_intent.payment_failed": _on_failed,
    "payment_intent.canceled": _on_canceled,
    "charge.refunded": _on_refunded,
}
