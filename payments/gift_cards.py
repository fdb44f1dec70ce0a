"""Gift cards: issued for an amount, delivered by e-mail on a chosen day, then spent at checkout or
redeemed into the holder's store credit.

**Codes.** A code is 20 characters from an alphabet without look-alikes (no 0/O, 1/I/L, U),
about 98 bits of randomness, shown in groups of four (``7KQ2-...``). It is shown once, when the
card is issued, and never stored: the row keeps its HMAC-SHA256 under ``GIFT_CARD_SECRET`` (the
lookup key, unique) and its last four characters. Input is read without case, spaces or dashes.
Lookups also try ``GIFT_CARD_SECRET_FALLBACKS``, so the secret can be rotated.

**Delivery.** The recipient gets the code by e-mail on ``deliver_on``, so until then it must be
recoverable without being stored. The card keeps a random 256-bit seed instead, and the code *is*
``HMAC-SHA256(GIFT_CARD_SECRET, seed)`` written in the code alphabet: the database alone (a dump,
a backup, a read-only leak) does not give the code, the secret alone does not either. The seed is
wiped once the e-mail is sent (and when the card is redeemed or voided). This is what encrypting
the code for the pending delivery gives (the secret is the key), with the standard library only:
the ``cryptography`` package is not among the project's dependencies, and ``django.core.signing``
signs but does not hide.

**Money.** Every change of a balance appends a :class:`~payments.models.GiftCardEntry` (append-only)
under ``SELECT ... FOR UPDATE`` of the card row, in one transaction: two redemptions of one card,
or a redemption and a spend, run one after the other. Spends are idempotent per card and
reference ("order:<number>"); :func:`gift_card_release` gives back every spend of a reference.

Any code that cannot be used (never issued, used up, redeemed, voided) is refused with the same
:class:`~payments.exceptions.InvalidGiftCard`, so guessing tells nothing. Views that take codes
limit attempts (``RATE_LIMITS["gift_card"]``) per user and per client address.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _

from core import events, outbox
from core.exceptions import ApplicationError, Conflict, IdempotencyKeyReused, PermissionDenied
from core.money import format_money
from payments import events as payment_events
from payments import store_credit
from payments.exceptions import InvalidGiftCard
from payments.models import GiftCard, GiftCardEntry, StoreCreditEntry

Kind = GiftCardEntry.Kind
Status = GiftCard.Status

ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 20
GROUP = 4
VOID_PERMISSION = "payments.void_gift_card"
ISSUE_PERMISSION = "payments.issue_gift_card"
# The latest delivery date a card may be given, in days from today.
MAX_DELIVERY_DAYS = 366
SEND_TASK = "payments.tasks.send_gift_card_email"

_LOOKUP_SALT = "bazaar.payments.gift_card.lookup"
_CODE_SALT = "bazaar.payments.gift_card.code"


# --- codes ---------------------------------------------------------------------------------


def _secrets() -> list[str]:
    found = []
    for secret in [settings.GIFT_CARD_SECRET, *getattr(settings, "GIFT_CARD_SECRET_FALLBACKS", ())]:
        if secret and secret not in found:
            found.append(secret)
    return found


def normalize_code(raw: Any) -> str | None:
    """The code as stored and hashed (upper case, no spaces or dashes), or None if it cannot be one."""
    if not isinstance(raw, str) or len(raw) > 64:
        return None
    code = "".join(raw.split()).replace("-", "").upper()
    if len(code) != CODE_LENGTH or any(c not in ALPHABET for c in code):
        return None
    return code


def format_code(code: str) -> str:
    """``7KQ2MX...`` -> ``7KQ2-MX..-....``: how a code is shown and e-mailed."""
    return "-".join(code[i:i + GROUP] for i in range(0, len(code), GROUP))


def code_hash(code: str, *, secret: str | None = None) -> str:
    """The keyed hash a normalized code is stored and looked up by."""
    return salted_hmac(_LOOKUP_SALT, code, secret=secret or settings.GIFT_CARD_SECRET, algorithm="sha256").hexdigest()


def code_hashes(raw: Any) -> list[str]:
    """The hashes ``raw`` may be stored under (the secret and its fallbacks); empty if it is no code."""
    code = normalize_code(raw)
    return [code_hash(code, secret=secret) for secret in _secrets()] if code else []


def _derive(seed: str, secret: str) -> str:
    digest = salted_hmac(_CODE_SALT, seed, secret=secret, algorithm="sha256").digest()
    number = int.from_bytes(digest, "big")
    chars = []
    for _i in range(CODE_LENGTH):
        number, index = divmod(number, len(ALPHABET))
        chars.append(ALPHABET[index])
    return "".join(chars)


def delivery_code(card: GiftCard) -> str | None:
    """The code of a card whose e-mail is pending, derived again from its seed (formatted); None once
    the seed is wiped, or if no configured secret gives the code the card was issued with."""
    if not card.delivery_seed:
        return None
    for secret in _secrets():
        code = _derive(card.delivery_seed, secret)
        if hmac.compare_digest(code_hash(code, secret=secret), card.code_hash):
            return format_code(code)
    return None


# --- amounts and details -------------------------------------------------------------------


def amount_choices() -> tuple[Decimal, ...]:
    return tuple(sorted(Decimal(str(v)) for v in getattr(settings, "GIFT_CARD_DENOMINATIONS", ())))


def amount_limits() -> tuple[Decimal, Decimal]:
    return Decimal(str(settings.GIFT_CARD_MIN_AMOUNT)), Decimal(str(settings.GIFT_CARD_MAX_AMOUNT))


# What the gift card page offers (payments.services re-exports them under these names).
gift_card_amount_choices = amount_choices
gift_card_amount_limits = amount_limits


def clean_gift_card_amount(amount: Any, *, currency: str, field: str = "amount") -> Decimal:
    """One of ``GIFT_CARD_DENOMINATIONS``, or from ``GIFT_CARD_MIN_AMOUNT`` to ``GIFT_CARD_MAX_AMOUNT``."""
    try:
        value = store_credit.clean_amount(amount, currency=currency, field=field)
    except ApplicationError:
        value = None  # not a positive amount: the same explanation as any amount outside the range
    low, high = amount_limits()
    if value is not None and (value in amount_choices() or low <= value <= high):
        return value
    fixed = ", ".join(format_money(v, currency) for v in amount_choices())
    if low <= high:
        message = _("Choose %(fixed)s, or an amount from %(low)s to %(high)s.") % {
            "fixed": fixed, "low": format_money(low, currency), "high": format_money(high, currency)}
    else:
        message = _("Choose %(fixed)s.") % {"fixed": fixed}
    raise ApplicationError(message, code="invalid_amount", fields={field: [message]})


def _text(value: Any, *, field: str, limit: int) -> str:
    text = str(value or "").strip()
    if len(text) > limit:
        message = _("At most %(n)d characters.") % {"n": limit}
        raise ApplicationError(message, fields={field: [message]})
    return text


def _recipient_email(value: Any) -> str:
    email = str(value or "").strip()
    if not email:
        return ""
    try:
        validate_email(email)
    except ValidationError:
        message = _("Enter a valid e-mail address.")
        raise ApplicationError(message, fields={"recipient_email": [message]}) from None
    return email[:254]


def _deliver_on(value: date | None, *, email: str, today: date) -> date | None:
    if not email:
        if value is not None:
            message = _("Give the e-mail address to deliver the card to.")
            raise ApplicationError(message, fields={"recipient_email": [message]})
        return None
    if value is None:
        return today
    if isinstance(value, datetime):
        value = timezone.localdate(value) if timezone.is_aware(value) else value.date()
    if not isinstance(value, date):
        message = _("Enter a valid date.")
        raise ApplicationError(message, fields={"deliver_on": [message]})
    if value < today or value > today + timedelta(days=MAX_DELIVERY_DAYS):
        message = _("Choose a date from today to %(n)d days ahead.") % {"n": MAX_DELIVERY_DAYS}
        raise ApplicationError(message, fields={"deliver_on": [message]})
    return value


class GiftCardDetails(NamedTuple):
    """What a shopper chose for a gift card they buy, checked (see :func:`gift_card_details_clean`)."""

    amount: Decimal
    currency: str
    recipient_email: str
    recipient_name: str
    sender_name: str
    message: str
    deliver_on: date


def gift_card_details_clean(*, amount: Any, currency: str | None = None, recipient_email: Any,
                            recipient_name: Any = "", sender_name: Any = "", message: Any = "",
                            deliver_on: Any = None) -> GiftCardDetails:
    """Check a gift card a shopper puts in their cart, with the rules :func:`gift_card_issue` will
    apply when the order is paid: an allowed amount, a recipient's e-mail (a bought card reaches
    its recipient only by e-mail: the buyer may give their own), a delivery day from today to a
    year ahead (default today), names and a message within their lengths. Raises ApplicationError
    with the field at fault."""
    currency = store_credit.clean_currency(currency)
    value = clean_gift_card_amount(amount, currency=currency)
    email = _recipient_email(recipient_email)
    if not email:
        message_text = _("Give the e-mail address to send the gift card to (it can be your own).")
        raise ApplicationError(message_text, fields={"recipient_email": [message_text]})
    if isinstance(deliver_on, str):
        try:
            deliver_on = date.fromisoformat(deliver_on.strip()) if deliver_on.strip() else None
        except ValueError:
            error = _("Enter a valid date.")
            raise ApplicationError(error, fields={"deliver_on": [error]}) from None
    day = _deliver_on(deliver_on, email=email, today=timezone.localdate())
    return GiftCardDetails(
        amount=value, currency=currency, recipient_email=email,
        recipient_name=_text(recipient_name, field="recipient_name", limit=100),
        sender_name=_text(sender_name, field="sender_name", limit=100),
        message=_text(message, field="message", limit=500), deliver_on=day,
    )


# --- the card ledger -----------------------------------------------------------------------


def _post(card: GiftCard, *, kind: str, amount: Decimal, reference: str, actor=None, note: str = "",
          fields: tuple[str, ...] = ()) -> GiftCardEntry:
    """Append an entry to a locked card and move its balance with it; ``fields`` of the card that
    the caller changed are saved in the same UPDATE."""
    balance = card.balance + amount
    entry = GiftCardEntry.objects.create(card=card, kind=kind, amount=amount, balance_after=balance,
                                         reference=reference, note=note, created_by=actor)
    card.balance = balance
    card.save(update_fields=["balance", "updated_at", *fields])
    _record(card, entry)
    return entry


def _record(card: GiftCard, entry: GiftCardEntry) -> None:
    events.record(
        payment_events.GIFT_CARD_POSTED, aggregate=payment_events.GIFT_CARD_AGGREGATE, aggregate_id=card.pk,
        entry_id=entry.pk, card_id=card.pk, kind=str(entry.kind), amount=str(entry.amount),
        balance=str(entry.balance_after), currency=card.currency, reference=entry.reference,
    )


def _locked(raw_code: Any, *, field: str = "code") -> GiftCard:
    hashes = code_hashes(raw_code)
    card = GiftCard.objects.select_for_update().filter(code_hash__in=hashes).first() if hashes else None
    if card is None:
        raise InvalidGiftCard(field=field)
    return card


def _hand_over(card: GiftCard, now) -> bool:
    """Mark the card delivered and enqueue its e-mail, in the caller's transaction (both or neither;
    a card already handed over is left alone)."""
    if not GiftCard.objects.filter(pk=card.pk, delivered_at__isnull=True).update(delivered_at=now, updated_at=now):
        return False
    card.delivered_at = now
    outbox.enqueue(SEND_TASK, card.pk)
    return True


# --- services ------------------------------------------------------------------------------


class IssuedGiftCard(NamedTuple):
    card: GiftCard
    # The code, formatted, shown once; None when ``reference`` had issued the card already.
    code: str | None


def gift_card_issue(*, amount: Decimal | str, currency: str | None = None, recipient_email: str = "",
                    recipient_name: str = "", sender_name: str = "", message: str = "",
                    deliver_on: date | None = None, purchaser=None, issued_by=None,
                    reference: str = "") -> IssuedGiftCard:
    """Issue a card for ``amount`` (``GIFT_CARD_DENOMINATIONS`` or within the custom limits).

    With ``recipient_email`` it is e-mailed on ``deliver_on`` (default today: at once, after the
    commit; at most a year ahead) with the names and message; without, nobody is e-mailed and the
    returned code is the only copy. Returns ``(card, code)``. Idempotent per ``reference`` (an
    order line: "order_line:<id>"): called again it returns ``(card, None)``, the code being shown
    only once; the same reference with other details is refused."""
    currency = store_credit.clean_currency(currency)
    value = clean_gift_card_amount(amount, currency=currency)
    email = _recipient_email(recipient_email)
    today = timezone.localdate()
    deliver_on = _deliver_on(deliver_on, email=email, today=today)
    details = {
        "recipient_name": _text(recipient_name, field="recipient_name", limit=100),
        "sender_name": _text(sender_name, field="sender_name", limit=100),
        "message": _text(message, field="message", limit=500),
    }
    reference = _text(reference, field="reference", limit=100)
    if reference:
        existing = GiftCard.objects.filter(reference=reference).first()
        if existing is not None:
            return IssuedGiftCard(_same_card(existing, value, currency, email), None)
    seed = secrets.token_hex(32)
    secret = settings.GIFT_CARD_SECRET
    code = _derive(seed, secret)
    try:
        with transaction.atomic():
            card = GiftCard.objects.create(
                code_hash=code_hash(code, secret=secret), last4=code[-4:], currency=currency, initial_amount=value,
                balance=value, recipient_email=email, deliver_on=deliver_on, delivery_seed=seed if email else "",
                purchaser=purchaser, issued_by=issued_by, reference=reference, **details,
            )
            entry = GiftCardEntry.objects.create(card=card, kind=Kind.ISSUED, amount=value, balance_after=value,
                                                 reference=reference or "issued", created_by=issued_by)
            _record(card, entry)
            if deliver_on is not None and deliver_on <= today:
                _hand_over(card, timezone.now())
    except IntegrityError:
        existing = GiftCard.objects.filter(reference=reference).first() if reference else None
        if existing is None:
            raise
        return IssuedGiftCard(_same_card(existing, value, currency, email), None)  # a concurrent twin won
    return IssuedGiftCard(card, format_code(code))


def _same_card(card: GiftCard, amount: Decimal, currency: str, email: str) -> GiftCard:
    if (card.initial_amount, card.currency, card.recipient_email) != (amount, currency, email):
        raise IdempotencyKeyReused(_("That reference already issued a different gift card."))
    return card


def gift_card_redeem(*, code: str, user) -> StoreCreditEntry:
    """Move the card's whole balance into the user's store credit (in the card's currency), in one
    transaction with the card row locked. Returns the store credit entry. A second redemption by
    the same customer is refused as "already redeemed"; by anyone else, as any unusable code."""
    if user is None or not getattr(user, "pk", None):
        raise ApplicationError(_("Sign in to redeem a gift card."), code="not_authenticated")
    with transaction.atomic():
        card = _locked(code)
        if card.status == Status.REDEEMED and card.redeemed_by_id == user.pk:
            message = _("You have already redeemed this gift card: its balance is in your store credit.")
            raise ApplicationError(message, code="already_redeemed", fields={"code": [message]})
        if card.status != Status.ACTIVE or card.balance <= 0:
            raise InvalidGiftCard()
        amount = card.balance
        number = card.entries.filter(kind=Kind.REDEEMED).count() + 1  # a card given back spends may be redeemed again
        card.status, card.redeemed_by, card.redeemed_at, card.delivery_seed = (
            Status.REDEEMED, user, timezone.now(), "")
        _post(card, kind=Kind.REDEEMED, amount=-amount, reference=f"user:{user.pk}:{number}", actor=user,
              fields=("status", "redeemed_by", "redeemed_at", "delivery_seed"))
        return store_credit.store_credit_grant(
            user=user, amount=amount, kind=store_credit.Kind.GIFT_CARD, reference=f"gift_card:{card.pk}:{number}",
            currency=card.currency, description=_("Gift card ending %(last4)s") % {"last4": card.last4},
        )


def gift_card_spend(*, code: str, amount: Decimal | str, reference: str, currency: str | None = None,
                    field: str = "code") -> GiftCardEntry:
    """Take ``amount`` from the card for ``reference`` (an order: "order:<number>").

    Idempotent per card and reference: spending again returns the first entry. Refuses an unusable
    code (:class:`InvalidGiftCard` on ``field``), a card in another currency, more than its balance
    (400 ``insufficient_gift_card_balance``, the message says what is left) and a reference whose
    spend was given back (409)."""
    currency = store_credit.clean_currency(currency)
    value = store_credit.clean_amount(amount, currency=currency)
    reference = store_credit.clean_reference(reference)
    with transaction.atomic():
        card = _locked(code, field=field)
        done = {e.kind: e for e in card.entries.filter(kind__in=[Kind.SPEND, Kind.SPEND_RELEASE], reference=reference)}
        if Kind.SPEND_RELEASE in done:
            raise Conflict(_("The gift card spend of %(reference)s was given back; use a new reference.")
                           % {"reference": reference}, code="gift_card_released")
        if Kind.SPEND in done:
            if done[Kind.SPEND].amount != -value:
                raise IdempotencyKeyReused(_("That reference already spent another amount of this gift card."))
            return done[Kind.SPEND]
        if card.status != Status.ACTIVE or card.balance <= 0:
            raise InvalidGiftCard(field=field)
        if card.currency != currency:
            message = _("This gift card is in %(currency)s.") % {"currency": card.currency}
            raise ApplicationError(message, code="gift_card_currency", fields={field: [message]})
        if value > card.balance:
            message = _("This gift card has %(balance)s left.") % {"balance": format_money(card.balance, currency)}
            raise ApplicationError(message, code="insufficient_gift_card_balance", fields={field: [message]})
        return _post(card, kind=Kind.SPEND, amount=-value, reference=reference)


def gift_card_release(*, reference: str) -> list[GiftCardEntry]:
    """Give back what ``reference`` spent of every gift card (cards locked in id order). Idempotent:
    called again it returns the same releases. A card redeemed in the meantime becomes usable again
    for the amount given back; a voided card keeps it, voided."""
    reference = store_credit.clean_reference(reference)
    card_ids = sorted(set(GiftCardEntry.objects.filter(kind=Kind.SPEND, reference=reference)
                          .values_list("card_id", flat=True)))
    if not card_ids:
        return []
    released = []
    with transaction.atomic():
        for card in GiftCard.objects.select_for_update().filter(pk__in=card_ids).order_by("pk"):
            entries = {e.kind: e for e in card.entries.filter(kind__in=[Kind.SPEND, Kind.SPEND_RELEASE],
                                                              reference=reference)}
            if Kind.SPEND_RELEASE in entries:
                released.append(entries[Kind.SPEND_RELEASE])
                continue
            fields: tuple[str, ...] = ()
            if card.status == Status.REDEEMED:
                card.status, fields = Status.ACTIVE, ("status",)
            released.append(_post(card, kind=Kind.SPEND_RELEASE, amount=-entries[Kind.SPEND].amount,
                                  reference=reference, fields=fields))
    return released


def gift_card_refund(*, spent_reference: str, amount: Decimal | str, reference: str,
                     currency: str | None = None) -> list[GiftCardEntry]:
    """Put ``amount`` back onto the gift cards ``spent_reference`` (an order) paid with, for a
    refund named ``reference`` ("refund:<id>"): card by card in the order they were spent, each at
    most what it paid less what was given back to it already (cards locked in id order). Idempotent
    per card and ``reference``. Refuses more than the cards paid and have not had back."""
    currency = store_credit.clean_currency(currency)
    value = store_credit.clean_amount(amount, currency=currency)
    spent_reference = store_credit.clean_reference(spent_reference)
    reference = store_credit.clean_reference(reference)
    spends = list(GiftCardEntry.objects.filter(kind=Kind.SPEND, reference=spent_reference).order_by("pk"))
    done = list(GiftCardEntry.objects.filter(kind=Kind.REFUND, reference=reference))
    if done:
        return done
    with transaction.atomic():
        cards = {c.pk: c for c in GiftCard.objects.select_for_update().filter(
            pk__in=sorted({e.card_id for e in spends})).order_by("pk")}
        left, made = value, []
        for spend in spends:
            card = cards[spend.card_id]
            # what this order's spend of the card got back already: a release, or earlier refunds
            given = sum((e.amount for e in card.entries.filter(kind=Kind.SPEND_RELEASE, reference=spent_reference)),
                        Decimal(0)) + sum((e.amount for e in card.entries.filter(kind=Kind.REFUND,
                                                                                 note=spent_reference)), Decimal(0))
            room = -spend.amount - given
            part = min(left, room)
            if part <= 0:
                continue
            fields: tuple[str, ...] = ()
            if card.status == Status.REDEEMED:
                card.status, fields = Status.ACTIVE, ("status",)
            made.append(_post(card, kind=Kind.REFUND, amount=part, reference=reference, note=spent_reference,
                              fields=fields))
            left -= part
        if left > 0:
            raise ApplicationError(_("The gift cards of %(reference)s cannot take %(amount)s more back.")
                                   % {"reference": spent_reference, "amount": format_money(left, currency)},
                                   code="gift_card_refund_too_large")
    return made


def gift_card_void(*, card_id: int, actor, reason: str = "") -> GiftCard:
    """Staff stop a card (lost, sold by mistake): its balance goes to zero, its pending e-mail is
    not sent. Needs ``payments.void_gift_card``. Voiding a voided card changes nothing; a card
    already redeemed is refused (its value is in a customer's store credit: adjust that)."""
    if actor is None or not actor.has_perm(VOID_PERMISSION):
        raise PermissionDenied(_("You may not void gift cards."))
    with transaction.atomic():
        card = GiftCard.objects.select_for_update().filter(pk=card_id).first()
        if card is None:
            raise ApplicationError(_("No such gift card."), code="not_found")
        if card.status == Status.VOIDED:
            return card
        if card.status == Status.REDEEMED:
            raise ApplicationError(_("This gift card was redeemed into store credit: adjust the customer's store "
                                     "credit instead."), code="already_redeemed")
        card.status, card.voided_at, card.delivery_seed = Status.VOIDED, timezone.now(), ""
        fields = ("status", "voided_at", "delivery_seed")
        if card.balance > 0:
            _post(card, kind=Kind.VOIDED, amount=-card.balance, reference="void", actor=actor,
                  note=_text(reason, field="reason", limit=500), fields=fields)
        else:
            card.save(update_fields=["updated_at", *fields])
    return card


def gift_card_withdraw(*, reference: str) -> bool | None:
    """Take back the card issued for ``reference`` (an order's gift card, when the order is cancelled
    or refunded): it is voided, its pending e-mail never sent. Only a card nobody has used: returns
    True when withdrawn now or before, None when ``reference`` issued no card, and False (nothing
    changed) when its balance was spent or redeemed, in part or whole. Joins the caller's
    transaction (the card row locked), so a withdrawal and a spend of the same card never both win."""
    reference = store_credit.clean_reference(reference)
    with transaction.atomic():
        card = GiftCard.objects.select_for_update().filter(reference=reference).first()
        if card is None:
            return None
        if card.status == Status.VOIDED:
            return True
        if card.status != Status.ACTIVE or card.balance != card.initial_amount:
            return False
        card.status, card.voided_at, card.delivery_seed = Status.VOIDED, timezone.now(), ""
        _post(card, kind=Kind.VOIDED, amount=-card.balance, reference=f"withdrawn:{reference}"[:100],
              note=_("Taken back: the order that bought it was cancelled or refunded"),
              fields=("status", "voided_at", "delivery_seed"))
    return True


def gift_card_deliver_due(*, today: date | None = None, batch_size: int = 200) -> int:
    """Hand the e-mail of every active card whose delivery day has come (and that was not handed
    over yet) to a worker: ``delivered_at`` is set in the transaction that enqueues it, so each card
    is e-mailed once however often this runs. Rows another run holds are skipped. Returns how many."""
    today = today or timezone.localdate()
    done = 0
    while True:
        with transaction.atomic():
            cards = list(
                GiftCard.objects.select_for_update(skip_locked=True)
                .filter(status=Status.ACTIVE, delivered_at__isnull=True, deliver_on__lte=today)
                .exclude(recipient_email="").order_by("pk")[:batch_size]
            )
            now = timezone.now()
            done += sum(_hand_over(card, now) for card in cards)
        if len(cards) < batch_size:
            return done


def gift_card_delivery_sent(*, card_id: int, seed: str) -> bool:
    """The e-mail carrying the code was sent: wipe the seed it was derived from (if it is still the
    one the sender read). Returns whether this call wiped it."""
    if not seed:
        return False
    return bool(GiftCard.objects.filter(pk=card_id, delivery_seed=seed).update(delivery_seed="",
                                                                                updated_at=timezone.now()))
