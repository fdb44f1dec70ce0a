"""Store credit: a customer's balance per currency, kept as an append-only ledger.

Every change appends one :class:`~payments.models.StoreCreditEntry` and moves the account's
``balance`` in the same transaction, with the account row locked (``SELECT ... FOR UPDATE``), so
concurrent spends of one balance run one after the other and never overdraw it (a CHECK
constraint refuses a negative balance in any case). The balance is always the sum of the entries.

An entry is unique per kind and reference: a grant, a spend or a release retried with the same
reference returns the entry of the first call and moves nothing again; the same reference with a
different amount is refused (:class:`~core.exceptions.IdempotencyKeyReused`).

What checkout and orders call (each owns its transaction; inside the caller's transaction it is a
savepoint and the account lock is held until the caller commits):

- :func:`store_credit_spend` (``reference`` = "order:<number>") in the transaction that creates
  the order, and :func:`store_credit_release` (same reference) when its payment fails or it is
  cancelled;
- :func:`store_credit_grant` with ``kind=REFUND`` ("refund:<id>") to refund to store credit.

Lock order, for callers that spend several tenders in one transaction: gift cards first (by id,
as :mod:`payments.gift_cards` does), then the store credit account, as redeeming a gift card does.
"""

from __future__ import annotations

import uuid
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from core import events
from core.exceptions import ApplicationError, Conflict, IdempotencyKeyReused, PermissionDenied
from core.money import AMOUNT_COLUMN_MAX, default_currency, format_money, minor_units, validate_price
from payments import events as payment_events
from payments.models import StoreCreditAccount, StoreCreditEntry

Kind = StoreCreditEntry.Kind
StoreCreditKind = Kind  # what other contexts name it (payments.services.StoreCreditKind.REFUND)
# Kinds a caller may grant with store_credit_grant; staff adjustments go through store_credit_adjust.
GRANT_KINDS = frozenset({Kind.REFUND, Kind.GIFT_CARD})
ADJUST_PERMISSION = "payments.adjust_store_credit"
REFERENCE_MAX = 100


# --- input ---------------------------------------------------------------------------------


def clean_currency(currency: str | None) -> str:
    code = (currency or default_currency()).strip().upper()
    if len(code) != 3 or not code.isalpha() or not code.isascii():
        message = _("Not a currency code.")
        raise ApplicationError(message, fields={"currency": [message]})
    return code


def clean_amount(amount: Any, *, currency: str, field: str = "amount") -> Decimal:
    """A positive amount with no more decimals than the currency has, at most ``MAX_PRICE``
    (:func:`core.money.validate_price`); never a float. Refused with a message on ``field``."""
    value = validate_price(amount, field=field, currency=currency)
    raw = amount.strip() if isinstance(amount, str) else amount
    try:
        exponent = Decimal(raw).as_tuple().exponent
    except (InvalidOperation, TypeError, ValueError):  # pragma: no cover - validate_price refused it
        exponent = 0
    if isinstance(exponent, int) and -exponent > minor_units(currency):
        message = _("At most %(n)d decimal places.") % {"n": minor_units(currency)}
        raise ApplicationError(message, code="invalid_price", fields={field: [message]})
    return value


def clean_reference(reference: Any, *, field: str = "reference") -> str:
    value = str(reference or "").strip()
    if not value or len(value) > REFERENCE_MAX:
        message = _("A reference of 1 to %(n)d characters is required.") % {"n": REFERENCE_MAX}
        raise ApplicationError(message, fields={field: [message]})
    return value


def _check_user(user) -> None:
    if user is None or not getattr(user, "pk", None):
        raise ApplicationError(_("Sign in to use store credit."), code="not_authenticated")


# --- the ledger ----------------------------------------------------------------------------


def _locked_account(user, currency: str, *, create: bool) -> StoreCreditAccount | None:
    """The user's account in ``currency``, its row locked until the transaction ends (made first
    when ``create``; a concurrent creation is caught by the unique constraint and read instead)."""
    accounts = StoreCreditAccount.objects.select_for_update()
    if create:
        return accounts.get_or_create(user=user, currency=currency)[0]
    return accounts.filter(user=user, currency=currency).first()


def _post(account: StoreCreditAccount, *, kind: str, amount: Decimal, reference: str, description: str = "",
          note: str = "", actor=None) -> StoreCreditEntry:
    """Append an entry to a locked account and move its balance with it (same transaction)."""
    balance = account.balance + amount
    if balance < 0:  # pragma: no cover - callers check first; the CHECK constraint would refuse it too
        raise ApplicationError(_("That is more than the store credit balance."))
    if balance > AMOUNT_COLUMN_MAX:
        message = _("That would take the store credit balance over %(max)s.") % {
            "max": format_money(AMOUNT_COLUMN_MAX, account.currency)}
        raise ApplicationError(message, fields={"amount": [message]})
    try:
        with transaction.atomic():
            entry = StoreCreditEntry.objects.create(
                account=account, kind=kind, amount=amount, balance_after=balance, reference=reference,
                description=description[:200], note=note[:500], created_by=actor,
            )
    except IntegrityError:  # the same kind and reference on another customer's account
        raise IdempotencyKeyReused(_("That reference was already used for other store credit.")) from None
    account.balance = balance
    account.save(update_fields=["balance", "updated_at"])
    events.record(
        payment_events.STORE_CREDIT_POSTED, aggregate=payment_events.STORE_CREDIT_AGGREGATE, aggregate_id=account.pk,
        entry_id=entry.pk, user_id=account.user_id, kind=str(kind), amount=str(amount), balance=str(balance),
        currency=account.currency, reference=reference,
    )
    return entry


def _replayed(kind: str, reference: str, *, account: StoreCreditAccount | None,
              amount: Decimal) -> StoreCreditEntry | None:
    """The entry a previous call with this kind and reference posted, if any (the same call again:
    nothing moves); a different account or amount under that reference is refused."""
    entry = StoreCreditEntry.objects.filter(kind=kind, reference=reference).first()
    if entry is None:
        return None
    if account is None or entry.account_id != account.pk or entry.amount != amount:
        raise IdempotencyKeyReused(_("That reference was already used with another amount or customer."))
    return entry


def _insufficient(balance: Decimal, amount: Decimal, currency: str) -> ApplicationError:
    message = _("Your store credit is %(balance)s, less than %(amount)s.") % {
        "balance": format_money(balance, currency), "amount": format_money(amount, currency)}
    return ApplicationError(message, code="insufficient_store_credit", fields={"store_credit": [message]})


# --- services ------------------------------------------------------------------------------


def store_credit_grant(*, user, amount: Decimal | str, kind: str, reference: str, currency: str | None = None,
                       description: str = "", actor=None) -> StoreCreditEntry:
    """Add ``amount`` to the user's store credit: a refund (``kind=Kind.REFUND``, reference
    "refund:<id>") or a redeemed gift card (``Kind.GIFT_CARD``). Idempotent per kind and reference:
    called again it returns the first entry and adds nothing."""
    _check_user(user)
    if kind not in GRANT_KINDS:
        raise ValueError(f"store_credit_grant takes a kind of {sorted(GRANT_KINDS)}, not {kind!r}")
    currency = clean_currency(currency)
    value = clean_amount(amount, currency=currency)
    reference = clean_reference(reference)
    with transaction.atomic():
        account = _locked_account(user, currency, create=True)
        replay = _replayed(kind, reference, account=account, amount=value)
        if replay is not None:
            return replay
        return _post(account, kind=kind, amount=value, reference=reference, description=description, actor=actor)


def store_credit_spend(*, user, amount: Decimal | str, reference: str, currency: str | None = None,
                       description: str = "") -> StoreCreditEntry:
    """Take ``amount`` from the user's store credit for ``reference`` (an order: "order:<number>").

    Idempotent per reference: the same order spending again returns its first entry and takes
    nothing more. Refuses (400 ``insufficient_store_credit``) more than the balance, and a
    reference whose spend was already given back (409: a new attempt needs a new reference).
    Concurrent spends of one balance are serialized by the account's row lock."""
    _check_user(user)
    currency = clean_currency(currency)
    value = clean_amount(amount, currency=currency)
    reference = clean_reference(reference)
    with transaction.atomic():
        account = _locked_account(user, currency, create=False)
        if StoreCreditEntry.objects.filter(kind=Kind.SPEND_RELEASE, reference=reference).exists():
            raise Conflict(_("The store credit of %(reference)s was given back; use a new reference.")
                           % {"reference": reference}, code="store_credit_released")
        replay = _replayed(Kind.SPEND, reference, account=account, amount=-value)
        if replay is not None:
            return replay
        balance = account.balance if account is not None else Decimal("0")
        if balance < value:
            raise _insufficient(balance, value, currency)
        return _post(account, kind=Kind.SPEND, amount=-value, reference=reference, description=description)


def store_credit_release(*, reference: str) -> StoreCreditEntry | None:
    """Give back what ``reference`` spent (its payment failed, it was cancelled). Idempotent: called
    again it returns the first release; None when the reference spent nothing."""
    reference = clean_reference(reference)
    spend = StoreCreditEntry.objects.filter(kind=Kind.SPEND, reference=reference).first()
    if spend is None:
        return None
    with transaction.atomic():
        account = StoreCreditAccount.objects.select_for_update().get(pk=spend.account_id)
        replay = StoreCreditEntry.objects.filter(kind=Kind.SPEND_RELEASE, reference=reference).first()
        if replay is not None:
            return replay
        return _post(account, kind=Kind.SPEND_RELEASE, amount=-spend.amount, reference=reference,
                     description=spend.description)


def parse_signed_amount(amount: Any, *, currency: str, field: str = "amount") -> Decimal:
    """A non-zero amount that may be negative ("-5.00"): its size is checked as :func:`clean_amount`."""
    if isinstance(amount, float | bool):
        return clean_amount(amount, currency=currency, field=field)  # refused there, with its message
    text = str(amount).strip() if amount is not None else ""
    negative = text.startswith("-")
    size = clean_amount(text[1:] if negative else text.lstrip("+"), currency=currency, field=field)
    return -size if negative else size


def store_credit_adjust(*, user, amount: Decimal | str, reason: str, actor, currency: str | None = None,
                        key: str | None = None) -> StoreCreditEntry:
    """A staff adjustment: ``amount`` added (positive) or taken (negative, at most the balance),
    with the ``reason`` kept for staff. Needs ``payments.adjust_store_credit``. ``key`` (e.g. the
    form's) makes a double submission post once."""
    if actor is None or not actor.has_perm(ADJUST_PERMISSION):
        raise PermissionDenied(_("You may not adjust store credit."))
    _check_user(user)
    currency = clean_currency(currency)
    value = parse_signed_amount(amount, currency=currency)
    reason = str(reason or "").strip()
    if not reason:
        message = _("Say why (customers do not see it).")
        raise ApplicationError(message, fields={"reason": [message]})
    reference = clean_reference(f"adjustment:{key or uuid.uuid4().hex}"[:REFERENCE_MAX])
    with transaction.atomic():
        account = _locked_account(user, currency, create=value > 0)
        replay = _replayed(Kind.ADJUSTMENT, reference, account=account, amount=value)
        if replay is not None:
            return replay
        balance = account.balance if account is not None else Decimal("0")
        if balance + value < 0:
            message = _("The balance is %(balance)s: at most that can be taken.") % {
                "balance": format_money(balance, currency)}
            raise ApplicationError(message, code="insufficient_store_credit", fields={"amount": [message]})
        return _post(account, kind=Kind.ADJUSTMENT, amount=value, reference=reference, note=reason[:500],
                     description=_("Adjustment by %(shop)s") % {"shop": settings.SHOP_NAME}, actor=actor)
