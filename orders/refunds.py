"""Partial refunds: money given back for some units of some lines, for shipping and for gift cards
the order bought, on an order that is paid, shipping, delivered or completed, as many times as
needed up to what was paid.

Every amount is explained and sums exactly. Units of a line return their cumulative share of the
line's total (its discount and tax included): after k of n units, exactly ``total x k / n``
rounded to the cent has been given back, so refunding a line in several steps gives back exactly
its total, whatever the steps. The same rule splits the tax, and invoices' credit notes and the
seller's ledger use it too (:func:`core.money.cumulative_share`). A package's shipping is given back
whole (its price and tax), once. A gift card the order bought is given back whole, once, and only
while nobody has used it: it is taken back (voided, its e-mail never sent) in the refund's
transaction, so a spend of the card and its refund never both win.

The refund is decided in one transaction under the order's lock (two at once are serialised; a
unit is never refunded twice), then paid back by a task after the commit (the provider is never
called inside a transaction; each provider refund has a key derived from the refund, so a retry
never refunds twice). The seller's ledger takes its share through ``orders.order_partially_refunded``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from core import events, outbox
from core.exceptions import ApplicationError, Conflict, IdempotencyKeyReused
from core.money import cumulative_share, format_money
from orders import events as order_events
from orders.models import Order, OrderGiftCard, OrderLine, OrderRefund, OrderRefundLine, Package
from orders.services import IllegalTransition, order_lock, order_note, order_payment_problem
from payments import selectors as payment_selectors
from payments import services as payment_services
from payments.exceptions import PaymentUnavailable, RefundFailed
from payments.selectors import PaymentStatus

S = Order.Status
CENT = Decimal("0.01")
REFUNDABLE = (S.PAID, S.PARTIALLY_SHIPPED, S.SHIPPED, S.DELIVERED, S.COMPLETED)
UNITS_LEAVE = (Package.Status.SHIPPED, Package.Status.DELIVERED)  # units refunded once they have left


def share(total: Decimal, units: int, quantity: int, units_done: int, currency: str) -> Decimal:
    """What ``units`` more units of a line of ``quantity`` units worth ``total`` return, when
    ``units_done`` units were refunded already: their cumulative share, as invoices' credit notes
    and the seller's ledger count it (:func:`core.money.cumulative_share`)."""
    return cumulative_share(total, done=units_done, more=units, of=quantity, currency=currency)


@dataclass
class RefundQuote:
    """What a refund would give back, line by line: (line, units, amount, tax), (package, amount)
    and the gift cards bought it takes back."""

    lines: list[tuple[OrderLine, int, Decimal, Decimal]] = field(default_factory=list)
    shipping: list[tuple[Package, Decimal]] = field(default_factory=list)
    gift_cards: list[OrderGiftCard] = field(default_factory=list)

    @property
    def items_amount(self) -> Decimal:
        return sum((amount for _l, _u, amount, _t in self.lines), Decimal("0.00"))

    @property
    def items_tax(self) -> Decimal:
        return sum((tax for _l, _u, _a, tax in self.lines), Decimal("0.00"))

    @property
    def shipping_amount(self) -> Decimal:
        return sum((amount for _p, amount in self.shipping), Decimal("0.00"))

    @property
    def gift_cards_amount(self) -> Decimal:
        return sum((card.amount for card in self.gift_cards), Decimal("0.00"))

    @property
    def amount(self) -> Decimal:
        return self.items_amount + self.shipping_amount + self.gift_cards_amount


def _whole(value, what: str) -> int:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        number = -1
    if number < 0 or number > 1_000_000:
        raise ApplicationError(_("%(what)s: a whole number of units, 0 or more.") % {"what": what},
                               fields={"lines": [_("Not a number of units.")]})
    return number


def refund_quote(*, order: Order, lines: dict, shipping=(), gift_cards=()) -> RefundQuote:
    """The refund of ``lines`` (order line id -> units), ``shipping`` (ids of packages whose
    shipping is given back, all of it) and ``gift_cards`` (ids of gift cards the order bought,
    given back whole) on ``order`` as it is now, refused with a clear message for anything that
    cannot be refunded. Whether a gift card is still unused is decided when it is taken back."""
    quote = RefundQuote()
    own_lines = {line.pk: line for line in OrderLine.objects.filter(order=order).select_related("package")}
    for key, value in (lines or {}).items():
        line = own_lines.get(_whole(key, _("Line")))
        if line is None:
            raise ApplicationError(_("That line is not part of order %(number)s.") % {"number": order.number},
                                   fields={"lines": [_("Unknown line.")]})
        units = _whole(value, line.product_title)
        if not units:
            continue
        left = line.quantity - line.refunded_quantity
        if units > left:
            raise ApplicationError(
                _("%(title)s: at most %(left)s more unit(s) can be refunded.") % {"title": line.product_title,
                                                                                   "left": left},
                fields={"lines": [_("Too many units.")]})
        if line.package.status not in UNITS_LEAVE:
            raise ApplicationError(
                _("%(title)s has not shipped yet: cancel the order instead, or refund it once it has shipped.")
                % {"title": line.product_title}, fields={"lines": [_("Not shipped yet.")]})
        # What the shopper paid for the line: its total, and its tax when prices were shown without it.
        paid = line.total if order.prices_include_tax else line.total + line.tax
        amount = share(paid, units, line.quantity, line.refunded_quantity, order.currency)
        tax = share(line.tax, units, line.quantity, line.refunded_quantity, order.currency)
        quote.lines.append((line, units, amount, tax))
    packages = {package.pk: package for package in Package.objects.filter(order=order)}
    for key in shipping or ():
        package = packages.get(_whole(key, _("Package")))
        if package is None:
            raise ApplicationError(_("That package is not part of order %(number)s.") % {"number": order.number},
                                   fields={"shipping": [_("Unknown package.")]})
        left = package.shipping_price + package.shipping_tax - package.shipping_refunded
        if left <= 0:
            raise ApplicationError(_("The shipping from %(seller)s was free or is refunded already.")
                                   % {"seller": package.seller_name}, fields={"shipping": [_("Nothing to refund.")]})
        quote.shipping.append((package, left))
    bought = {card.pk: card for card in OrderGiftCard.objects.filter(order=order)} if gift_cards else {}
    for key in dict.fromkeys(_whole(key, _("Gift card")) for key in gift_cards or ()):
        card = bought.get(key)
        if card is None:
            raise ApplicationError(_("That gift card was not bought with order %(number)s.") % {"number": order.number},
                                   fields={"gift_cards": [_("Unknown gift card.")]})
        if card.status == OrderGiftCard.Status.WITHDRAWN:
            raise ApplicationError(_("The gift card for %(email)s is taken back already.")
                                   % {"email": card.recipient_email}, fields={"gift_cards": [_("Nothing to refund.")]})
        quote.gift_cards.append(card)
    if quote.amount <= 0:
        raise ApplicationError(_("Choose units, shipping or gift cards to refund."),
                               fields={"lines": [_("Nothing chosen.")]})
    return quote


def _take_back(card: OrderGiftCard, refund: OrderRefund) -> None:
    """In the refund's transaction (order locked): the gift card bought is taken back, or never
    issued; refused, rolling the refund back, when someone has used it."""
    if card.status == OrderGiftCard.Status.ISSUED and payment_services.gift_card_withdraw(
            reference=card.reference) is False:
        raise ApplicationError(
            _("The gift card for %(email)s has been used, so it cannot be refunded.") % {"email": card.recipient_email},
            code="gift_card_used", fields={"gift_cards": [_("Used already.")]})
    OrderGiftCard.objects.filter(pk=card.pk).update(status=OrderGiftCard.Status.WITHDRAWN, refund=refund)


def money_back_left(order: Order) -> tuple[Decimal, Decimal, Decimal]:
    """(to the card, as store credit, onto gift cards): what refunds of ``order`` can still give
    back. The card's part is what its payments captured less their refunds (those in flight
    reserved); store credit's and gift cards' what the order spent of them less what refunds
    returned to them. Store credit given for card money (a refund the customer took as credit) is
    money the card keeps."""
    captured = refunded = Decimal("0.00")
    for p in payment_selectors.payment_list_for_reference(reference=order.number):
        if p.status in (PaymentStatus.CAPTURED, PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED):
            captured, refunded = captured + p.captured_amount, refunded + p.refunded_amount
    sums = OrderRefund.objects.filter(order=order).aggregate(credit=Sum("credit_amount"), gift=Sum("gift_card_amount"))
    credited, gifted = sums["credit"] or Decimal(0), sums["gift"] or Decimal(0)
    card_kept = max(credited - order.store_credit_used, Decimal("0.00"))
    return (max(captured - refunded - card_kept, Decimal("0.00")),
            max(order.store_credit_used - credited, Decimal("0.00")),
            max(order.gift_card_used - gifted, Decimal("0.00")))


def _paid_back_available(order: Order) -> Decimal:
    return sum(money_back_left(order), Decimal("0.00"))


def _deduction(value, label: str) -> tuple[Decimal, str]:
    try:
        amount = Decimal(str(value if value is not None else "0").strip())
    except ArithmeticError:
        amount = Decimal("-1")
    if not amount.is_finite() or amount < 0 or amount != amount.quantize(CENT):
        raise ApplicationError(_("A deduction is an amount of 0 or more, in cents."),
                               fields={"deduction": [_("Not an amount.")]})
    label = (label or "").strip()
    if amount and not label:
        raise ApplicationError(_("Say what is deducted."), fields={"deduction_label": [_("Required.")]})
    return amount, label[:200] if amount else ""


def _same_refund(existing: OrderRefund, *, lines: dict, shipping, gift_cards, to_store_credit: bool,
                 deduction: Decimal, reason: str) -> OrderRefund:
    """``existing`` (the refund under the key sent again) if this is the same request; refused when the
    key comes back for other units, shipping, gift cards, destination, deduction or reason."""
    try:
        asked = {_whole(k, ""): _whole(v, "") for k, v in (lines or {}).items()}
        same = (existing.reason == reason[:300]
                and {k: v for k, v in asked.items() if v} == dict(existing.lines.values_list("line_id", "quantity"))
                and {_whole(k, "") for k in shipping or ()} == set(existing.shipping_packages or ())
                and {_whole(k, "") for k in gift_cards or ()} == set(
                    existing.bought_gift_cards.values_list("pk", flat=True))
                and bool(to_store_credit) == existing.to_store_credit and deduction == existing.deduction)
    except ApplicationError:
        same = False
    if not same:
        raise IdempotencyKeyReused(_("This key was already used for refund %(id)s of this order with other details. "
                                     "Use a new key for another refund.") % {"id": existing.pk})
    return existing


def order_refund_partial(*, order: Order, lines: dict, shipping=(), reason: str,
                         idempotency_key: str, actor=None, to_store_credit: bool = False,
                         deduction: Decimal | None = None, deduction_label: str = "",
                         gift_cards=(), for_return: int | None = None) -> OrderRefund:
    """Refund some units, shipping and/or gift cards bought of ``order`` (see the module's rules). Idempotent per
    ``idempotency_key``: the same key gives back the same refund (a different request under it
    is a conflict). The money goes back to the card by a task after the commit, or, with
    ``to_store_credit`` (orders with an account), to the customer's store credit at once.
    ``deduction`` (explained by ``deduction_label``, e.g. a return label the shopper pays) is taken
    off what the units, shipping and gift cards give back; something must be left to give back.
    Open returns asking back the units refunded are cancelled (``for_return``: the return this
    refund is for, which goes on)."""
    deduction, deduction_label = _deduction(deduction, deduction_label)
    reason = (reason or "").strip()
    if not reason:
        raise ApplicationError(_("Say why the money is given back."), fields={"reason": [_("Required.")]})
    key = (idempotency_key or "").strip()
    if not key or len(key) > 100:
        raise ApplicationError(_("A refund needs an idempotency key (at most 100 characters)."))
    with transaction.atomic():
        locked = order_lock(order_id=order.pk)
        existing = OrderRefund.objects.filter(idempotency_key=key).first()
        if existing is not None:
            if existing.order_id != order.pk:
                raise Conflict(_("This idempotency key was already used for another order's refund."))
            return _same_refund(existing, lines=lines, shipping=shipping, gift_cards=gift_cards,
                                to_store_credit=to_store_credit, deduction=deduction, reason=reason)
        if locked is None or locked.status not in REFUNDABLE:
            raise IllegalTransition(_("Order %(number)s cannot be refunded in part: it is %(status)s.") % {
                "number": order.number, "status": S(locked.status).label.lower() if locked else "gone"})
        if to_store_credit and locked.user_id is None:
            raise ApplicationError(_("Store credit needs an account: this order was placed as a guest."),
                                   fields={"to_store_credit": [_("Not for a guest order.")]})
        quote = refund_quote(order=locked, lines=lines, shipping=shipping, gift_cards=gift_cards)
        refund_amount = quote.amount - deduction
        if refund_amount <= 0:
            raise ApplicationError(_("The deduction (%(deduction)s) leaves nothing to give back of %(amount)s.")
                                   % {"deduction": deduction, "amount": quote.amount},
                                   fields={"deduction": [_("Too large.")]})
        available = _paid_back_available(locked)
        if refund_amount > available:
            raise ApplicationError(
                _("At most %(amount)s can be given back now: the card is charged when the first package ships "
                  "or the order's gift cards are issued. Until then, cancel the order to release the whole "
                  "payment.") % {"amount": available}, code="refund_too_large")
        card_left, credit_left, gift_left = money_back_left(locked)
        # Back where it came from: to the card first, then the store credit the order spent, then
        # onto its gift cards (or all of it as store credit, when the customer asked).
        past_card = max(refund_amount - card_left, Decimal("0.00"))
        gift = Decimal("0.00") if to_store_credit else max(past_card - credit_left, Decimal("0.00"))
        if gift > gift_left:  # cannot happen: the total was checked against all three
            raise ApplicationError(_("This refund cannot be given back."), code="refund_too_large")
        credit = refund_amount if to_store_credit else past_card - gift
        refund = OrderRefund.objects.create(
            order=locked, amount=refund_amount, items_amount=quote.items_amount, items_tax=quote.items_tax,
            shipping_amount=quote.shipping_amount, gift_cards_bought_amount=quote.gift_cards_amount,
            deduction=deduction, deduction_label=deduction_label,
            shipping_packages=[p.pk for p, _a in quote.shipping],
            reason=reason[:300], idempotency_key=key, to_store_credit=to_store_credit, credit_amount=credit,
            gift_card_amount=gift,
            status=OrderRefund.Status.SUCCEEDED if credit + gift == refund_amount else OrderRefund.Status.PENDING,
            created_by=actor if getattr(actor, "pk", None) else None)
        OrderRefundLine.objects.bulk_create([
            OrderRefundLine(refund=refund, line=line, quantity=units, amount=amount, tax=tax)
            for line, units, amount, tax in quote.lines])
        for line, units, amount, _tax in quote.lines:
            OrderLine.objects.filter(pk=line.pk).update(refunded_quantity=F("refunded_quantity") + units,
                                                        refunded_amount=F("refunded_amount") + amount)
        for package, amount in quote.shipping:
            Package.objects.filter(pk=package.pk).update(shipping_refunded=F("shipping_refunded") + amount)
        for card in quote.gift_cards:
            _take_back(card, refund)
            order_note(locked, _("Gift card of %(amount)s for %(email)s taken back") % {
                "amount": format_money(card.amount, locked.currency), "email": card.recipient_email}, actor)
        Order.objects.filter(pk=locked.pk).update(refunded_amount=F("refunded_amount") + refund_amount,
                                                  updated_at=timezone.now())
        order_note(locked, _("Refunded %(amount)s: %(reason)s") % {
            "amount": format_money(refund_amount, locked.currency), "reason": reason}, actor)
        from orders.tasks import pay_back_refund, send_refund_email  # tasks import services

        if credit:
            payment_services.store_credit_grant(
                user=locked.user, amount=credit, kind=payment_services.StoreCreditKind.REFUND,
                reference=f"refund:{refund.pk}", currency=locked.currency,
                description=_("Refund for order %(number)s") % {"number": locked.number}, actor=actor)
        if gift:
            payment_services.gift_card_refund(spent_reference=f"order:{locked.number}", amount=gift,
                                              reference=f"refund:{refund.pk}", currency=locked.currency)
        if credit + gift < refund_amount:
            outbox.enqueue(pay_back_refund, refund.pk)
        outbox.enqueue(send_refund_email, refund.pk)
        events.record(order_events.ORDER_PARTIALLY_REFUNDED, aggregate=order_events.AGGREGATE,
                      aggregate_id=locked.pk, order_id=locked.pk, refund_id=refund.pk, amount=str(refund_amount))
        from orders.returns import returns_close_refunded  # returns build on refunds

        returns_close_refunded(order_id=locked.pk, keep=for_return, actor=actor)
    return refund


def _provider_key(refund: OrderRefund, payment, attempt: int) -> str:
    return f"order-refund:{refund.pk}:{payment.pk}" + (f":{attempt}" if attempt else "")


def refund_retry(*, refund: OrderRefund, actor=None) -> OrderRefund:
    """Try a failed refund again (staff, once the provider's refusal is sorted out): it becomes
    pending and is paid back by a task after the commit, with new provider keys (what an earlier
    try did give back counts). Only a failed refund is retried."""
    with transaction.atomic():
        updated = OrderRefund.objects.filter(pk=refund.pk, status=OrderRefund.Status.FAILED).update(
            status=OrderRefund.Status.PENDING, retries=F("retries") + 1)
        if not updated:
            raise Conflict(_("Only a failed refund is tried again."), code="refund_not_failed")
        locked = OrderRefund.objects.select_related("order").get(pk=refund.pk)
        order_note(locked.order, _("Refund %(id)s tried again") % {"id": locked.pk}, actor)
        from orders.tasks import pay_back_refund  # tasks import services

        outbox.enqueue(pay_back_refund, locked.pk)
    return locked


def refund_pay_back(*, refund_id: int) -> str:
    """Give the refund's money back through the order's captured payments (task; idempotent: each
    provider refund is keyed by this refund and payment). Returns the refund's status. Raises
    :class:`PaymentUnavailable` when the provider cannot be reached (the task retries)."""
    refund = OrderRefund.objects.select_related("order").get(pk=refund_id)
    if refund.status != OrderRefund.Status.PENDING:
        return refund.status
    left = refund.amount - refund.credit_amount - refund.gift_card_amount  # the card's part (the rest at once)
    try:
        for payment in payment_selectors.payment_list_for_reference(reference=refund.order.number):
            if left <= 0:
                break
            if payment.status not in (PaymentStatus.CAPTURED, PaymentStatus.PARTIALLY_REFUNDED):
                continue
            keys = [_provider_key(refund, payment, attempt) for attempt in range(refund.retries + 1)]
            earlier = [payment_selectors.refund_for_key(idempotency_key=k) for k in keys[:-1]]
            left -= sum((r.amount for r in earlier if r is not None and r.status == "succeeded"), Decimal(0))
            if left <= 0:
                break
            already = payment_selectors.refund_for_key(idempotency_key=keys[-1])
            amount = already.amount if already is not None else min(left, payment.captured_amount
                                                                     - payment.refunded_amount)
            if amount <= 0:
                continue
            payment_services.payment_refund(payment=payment, amount=amount, reason=refund.reason[:255],
                                            idempotency_key=keys[-1])
            left -= amount
    except RefundFailed:
        OrderRefund.objects.filter(pk=refund.pk, status=OrderRefund.Status.PENDING).update(
            status=OrderRefund.Status.FAILED)
        order_payment_problem(order=refund.order, problem="refund_failed",
                              note=_("Refund %(id)s of %(amount)s was refused by the provider.")
                              % {"id": refund.pk, "amount": refund.amount})
        return OrderRefund.Status.FAILED
    except PaymentUnavailable:
        raise
    if left > 0:
        OrderRefund.objects.filter(pk=refund.pk, status=OrderRefund.Status.PENDING).update(
            status=OrderRefund.Status.FAILED)
        order_payment_problem(order=refund.order, problem="refund_failed",
                              note=_("Refund %(id)s: %(left)s could not be given back (nothing left to refund).")
                              % {"id": refund.pk, "left": left})
        return OrderRefund.Status.FAILED
    OrderRefund.objects.filter(pk=refund.pk, status=OrderRefund.Status.PENDING).update(
        status=OrderRefund.Status.SUCCEEDED)
    return OrderRefund.Status.SUCCEEDED


def refund_give_up(*, refund_id: int, problem: str) -> str:
    """The refund could not be paid back after every retry: it fails and staff are told (the
    order's payment problem), who retry from admin."""
    refund = OrderRefund.objects.select_related("order").get(pk=refund_id)
    OrderRefund.objects.filter(pk=refund.pk, status=OrderRefund.Status.PENDING).update(
        status=OrderRefund.Status.FAILED)
    order_payment_problem(order=refund.order, problem="refund_failed",
                          note=_("Refund %(id)s of %(amount)s: %(problem)s") % {
                              "id": refund.pk, "amount": refund.amount, "problem": problem})
    return OrderRefund.Status.FAILED
