"""Writes for orders: create an order from a priced draft, and move it through its status
machine (only legal transitions, each recorded in the history)."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Avg, Count, F, Max
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from catalog import selectors as catalog_selectors
from core import events, outbox
from core.compiled_query import known_related
from core.exceptions import ApplicationError, Conflict, NotFound, PermissionDenied
from core.money import format_money
from fulfillment import selectors as fulfillment_selectors
from fulfillment import services as fulfillment_services
from marketplace import selectors as marketplace_selectors
from marketplace import services as marketplace_services
from orders import events as order_events
from orders import selectors
from orders.models import (
    Claim,
    DeliveryConfirmation,
    Order,
    OrderDiscount,
    OrderEvent,
    OrderGiftCard,
    OrderLine,
    OrderReservation,
    Package,
    PaymentProblem,
    ReturnRequest,
    SellerFeedback,
)
from payments import selectors as payment_selectors
from payments import services as payment_services
from payments.selectors import PaymentStatus

logger = logging.getLogger(__name__)
S = Order.Status

# Which status may follow which. Anything else is refused.
TRANSITIONS: dict[str, frozenset[str]] = {
    S.PLACED: frozenset({S.PAID, S.CANCELLED}),
    # paid -> completed: an order of gift cards only, once they are issued (nothing ships)
    S.PAID: frozenset({S.PARTIALLY_SHIPPED, S.SHIPPED, S.CANCELLED, S.REFUNDED, S.COMPLETED}),
    S.PARTIALLY_SHIPPED: frozenset({S.SHIPPED}),
    S.SHIPPED: frozenset({S.DELIVERED, S.REFUNDED}),  # refunded in transit: only a granted claim (lost)
    S.DELIVERED: frozenset({S.COMPLETED, S.REFUNDED}),
    S.COMPLETED: frozenset({S.REFUNDED}),
    S.CANCELLED: frozenset(),
    S.REFUNDED: frozenset(),
}

# Unambiguous characters for order numbers people read out on the phone (no 0/O, 1/I/L).
_NUMBER_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


class IllegalTransition(ApplicationError):
    code = "illegal_transition"
    status_code = 409


@dataclass(frozen=True)
class LineDraft:
    offer_id: int
    product_id: int
    seller_id: int
    seller_name: str
    product_title: str
    product_slug: str
    sku: str
    quantity: int
    unit_price: Decimal
    subtotal: Decimal
    discount: Decimal
    tax_rate: Decimal
    tax: Decimal
    total: Decimal
    # What the platform charges the seller for the sale (finance's rules when the order is placed).
    referral_fee_percent: Decimal = Decimal("0.00")
    referral_fee: Decimal = Decimal("0.00")


@dataclass(frozen=True)
class DiscountDraft:
    label: str
    amount: Decimal
    code: str = ""


@dataclass(frozen=True)
class PackageDraft:
    seller_id: int
    seller_name: str
    channel: str
    method_code: str
    method_name: str
    shipping_price: Decimal
    shipping_tax: Decimal
    earliest: date | None
    latest: date | None
    lines: tuple[LineDraft, ...]


@dataclass(frozen=True)
class GiftCardDraft:
    amount: Decimal
    recipient_email: str
    deliver_on: date
    recipient_name: str = ""
    sender_name: str = ""
    message: str = ""


@dataclass(frozen=True)
class OrderDraft:
    user: object | None
    email: str
    currency: str
    prices_include_tax: bool
    subtotal: Decimal
    discount: Decimal
    shipping: Decimal
    tax: Decimal
    total: Decimal
    shipping_address: dict
    billing_address: dict
    packages: tuple[PackageDraft, ...]
    note: str = ""  # added to the "Order placed" history entry (e.g. the voucher code applied)
    discounts: tuple[DiscountDraft, ...] = ()  # each explained discount, as the shopper saw it
    gift_cards: tuple[GiftCardDraft, ...] = ()  # gift cards bought (in ``total``, not in ``subtotal``)
    visitor_id: str = ""  # the browser's anonymous visitor id (insights), when placed from one


@dataclass(frozen=True)
class ReservationRecord:
    stock_item_id: int
    offer_id: int
    quantity: int


def order_number_new() -> str:
    """e.g. ``BZ-261123-7K3F9QXA``: the date it was placed and eight random characters (31^8: a clash
    is a once-in-billions IntegrityError, answered "try again")."""
    suffix = "".join(secrets.choice(_NUMBER_ALPHABET) for _ in range(8))
    return f"BZ-{timezone.localdate():%y%m%d}-{suffix}"


def order_create(
    *, draft: OrderDraft, idempotency_key: str, idempotency_owner: str = "", request_digest: str = "",
    reservations: Sequence[ReservationRecord] = (), number: str = "",
) -> Order:
    """Store the order with snapshot lines and packages. Runs inside the caller's transaction
    (``order_place`` reserves stock in the same one); raises IntegrityError if the idempotency
    key was used by another order committed meanwhile, so the caller can return that one.
    ``number``: one taken beforehand with :func:`order_number_new` (so the stock reserved first
    already names the order); a new one by default."""
    if not draft.gift_cards and (not draft.packages or not any(p.lines for p in draft.packages)):
        raise ApplicationError(_("An order needs at least one item."), code="empty_order")
    user = draft.user if getattr(draft.user, "is_authenticated", False) else None
    # One INSERT, no savepoint: a clash of the idempotency key (or, once in billions, of the
    # random number) raises IntegrityError and the caller's transaction rolls back as a whole.
    order = Order.objects.create(
        number=number or order_number_new(), user=user, email=draft.email, currency=draft.currency,
        prices_include_tax=draft.prices_include_tax, subtotal=draft.subtotal, discount=draft.discount,
        shipping=draft.shipping, tax=draft.tax, total=draft.total,
        shipping_address=draft.shipping_address, billing_address=draft.billing_address,
        idempotency_key=idempotency_key, idempotency_owner=idempotency_owner, request_digest=request_digest,
        gift_cards_total=sum((card.amount for card in draft.gift_cards), Decimal(0)),
        visitor_id=(draft.visitor_id or "")[:36],
    )
    # One INSERT for the packages (PostgreSQL returns their ids), one for the lines.
    packages = Package.objects.bulk_create([
        Package(
            order=order, seller_id=pd.seller_id, seller_name=pd.seller_name, fulfillment_channel=pd.channel,
            shipping_method_code=pd.method_code, shipping_method_name=pd.method_name,
            shipping_price=pd.shipping_price, shipping_tax=pd.shipping_tax,
            estimated_earliest=pd.earliest, estimated_latest=pd.latest,
        )
        for pd in draft.packages
    ])
    lines = []
    for pd, package in zip(draft.packages, packages, strict=True):
        lines += [
            OrderLine(
                order=order, package=package, offer_id=ld.offer_id, product_id=ld.product_id,
                seller_id=ld.seller_id, seller_name=ld.seller_name, product_title=ld.product_title,
                product_slug=ld.product_slug, sku=ld.sku, quantity=ld.quantity, unit_price=ld.unit_price,
                subtotal=ld.subtotal, discount=ld.discount, tax_rate=ld.tax_rate, tax=ld.tax, total=ld.total,
                referral_fee_percent=ld.referral_fee_percent, referral_fee=ld.referral_fee,
            )
            for ld in pd.lines
        ]
    OrderLine.objects.bulk_create(lines)
    discounts = OrderDiscount.objects.bulk_create([
        OrderDiscount(order=order, position=i, code=d.code[:64], label=d.label[:200], amount=d.amount)
        for i, d in enumerate(draft.discounts)
    ])
    OrderReservation.objects.bulk_create(
        [OrderReservation(order=order, stock_item_id=r.stock_item_id, offer_id=r.offer_id, quantity=r.quantity)
         for r in reservations]
    )
    gift_cards = OrderGiftCard.objects.bulk_create([
        OrderGiftCard(order=order, amount=c.amount, recipient_email=c.recipient_email,
                      recipient_name=c.recipient_name, sender_name=c.sender_name, message=c.message,
                      deliver_on=c.deliver_on)
        for c in draft.gift_cards
    ]) if draft.gift_cards else []
    message = _("Order placed") + (f" ({draft.note})" if draft.note else "")
    OrderEvent.objects.create(order=order, to_status=order.status, message=message[:300])
    events.record(order_events.ORDER_PLACED, aggregate=order_events.AGGREGATE, aggregate_id=order.pk, order_id=order.pk,
                  total=str(order.total), currency=order.currency)
    # What was just written is what the order holds: its answer needs no second read (see
    # selectors.order_answer). A new order has no refunds.
    for package in packages:
        known_related(package, lines=[line for line in lines if line.package is package])
    # Gift cards bought are left out: they may be issued right after the commit (eager mode), and
    # their answer must say so; such an order is read again (selectors.order_answer).
    if not gift_cards:
        known_related(order, packages=packages, discounts=discounts, refunds=[], gift_cards=[])
    return order


def order_transition(*, order: Order, to: str, actor=None, message: str = "") -> Order:
    """Move ``order`` to status ``to`` if that is legal from where it is now.

    A conditional UPDATE on the current status, so two concurrent transitions never both win.
    """
    if to not in S.values:
        raise IllegalTransition(_("Unknown order status."))
    if to not in TRANSITIONS[order.status]:
        raise IllegalTransition(
            _("An order that is %(current)s cannot become %(to)s.")
            % {"current": S(order.status).label.lower(), "to": S(to).label.lower()}
        )
    with transaction.atomic():
        current = Order.objects.filter(pk=order.pk, status=order.status)
        updated = current.update(status=to, updated_at=timezone.now())
        if not updated:
            raise Conflict(_("The order changed meanwhile; reload it and try again."))
        OrderEvent.objects.create(
            order=order, from_status=order.status, to_status=to, message=message[:300],
            actor=actor if getattr(actor, "pk", None) else None,
        )
        events.record(order_events.STATUS_CHANGED, aggregate=order_events.AGGREGATE, aggregate_id=order.pk,
                      order_id=order.pk, from_status=order.status, to_status=to)
    order.status = to
    return order


def order_reservations(*, order: Order, released: bool = False) -> list[OrderReservation]:
    return list(OrderReservation.objects.filter(order=order, released=released).order_by("stock_item_id"))


def order_lock(*, order_id: int) -> Order | None:
    """Lock the order's row until the caller's transaction ends (None if it is gone). Every path
    that releases its stock or decides its fate takes this lock first: decline, settle, cancel,
    refund and shipping wait for each other instead of each acting on what it read before."""
    return Order.objects.select_for_update().filter(pk=order_id).first()


def order_release_stock(*, order: Order, reference: str) -> int:
    """Give back the stock the order still holds, exactly once: each reservation is released only
    when the conditional UPDATE that marks it released took its row, so a second caller (a decline
    racing a cancel, a settle job racing either) releases nothing. Runs in the caller's
    transaction, after :func:`order_lock`. Returns how many reservations were released."""
    released = []
    for record in OrderReservation.objects.filter(order=order, released=False).order_by("stock_item_id"):
        if OrderReservation.objects.filter(pk=record.pk, released=False).update(released=True):
            released.append(record)
    if released:
        fulfillment_services.stock_release(
            reservations=[fulfillment_services.Reservation(r.stock_item_id, r.offer_id, r.quantity) for r in released],
            reference=reference,
        )
    return len(released)


def order_mark_reservations_released(*, order: Order) -> int:
    return OrderReservation.objects.filter(order=order, released=False).update(released=True)


def order_store_credit_record(*, order: Order, amount: Decimal) -> Order:
    """The part of ``order``'s total paid from the customer's store credit (spent by the caller in
    the same transaction); the card pays the rest."""
    Order.objects.filter(pk=order.pk).update(store_credit_used=amount)
    order.store_credit_used = amount
    return order


def order_gift_cards_record(*, order: Order, amount: Decimal) -> Order:
    """The part of ``order``'s total paid with gift cards (spent by the caller in the same transaction)."""
    Order.objects.filter(pk=order.pk).update(gift_card_used=amount)
    order.gift_card_used = amount
    return order


def order_card_amount(*, order: Order) -> Decimal:
    """What the card pays: the total less the gift cards and store credit used."""
    return order.total - order.gift_card_used - order.store_credit_used


def order_discard_unpaid(*, order: Order) -> bool:
    """Remove an order that was never paid (declined, failed, abandoned: invariant 3 in docs/architecture.md, no
    order is left). Its stock must have been released first (:func:`order_release_stock`).
    Returns False if it was no longer unpaid (paid or cancelled meanwhile): nothing is removed."""
    deleted, _rows = Order.objects.filter(pk=order.pk, status=S.PLACED).delete()
    if deleted:
        events.record(order_events.ORDER_DISCARDED, aggregate=order_events.AGGREGATE, aggregate_id=order.pk,
                      order_id=order.pk, order_number=order.number)
    return bool(deleted)


# --- after placing: paid, cancelled, refunded ---------------------------------------------


def _send_email_on_commit(order: Order, kind: str, package_id: int | None = None) -> None:
    from orders.tasks import send_order_email  # tasks import services

    if package_id is None:
        outbox.enqueue(send_order_email, order.pk, kind)
    else:
        outbox.enqueue(send_order_email, order.pk, kind, package_id)


def order_mark_paid(*, order: Order, message: str = "") -> bool:
    """The payment is authorized: a placed order becomes paid (one conditional UPDATE, so a return
    page and a webhook racing mark it once) and the customer gets a confirmation. False, and
    nothing changed, if the order was no longer placed. Joins the caller's transaction (no
    savepoint: nothing in it can fail half-way)."""
    with transaction.atomic(savepoint=False):
        if not Order.objects.filter(pk=order.pk, status=S.PLACED).update(status=S.PAID, updated_at=timezone.now()):
            return False
        OrderEvent.objects.create(order=order, from_status=S.PLACED, to_status=S.PAID,
                                  message=(message or _("Payment authorized"))[:300])
        events.record(order_events.STATUS_CHANGED, aggregate=order_events.AGGREGATE, aggregate_id=order.pk,
                      order_id=order.pk, from_status=S.PLACED, to_status=S.PAID)
        _send_email_on_commit(order, "confirmation")
        if order.gift_cards_total:
            from orders.tasks import issue_order_gift_cards  # tasks import services

            outbox.enqueue(issue_order_gift_cards, order.pk)
    order.status = S.PAID
    return True


# --- gift cards bought ---------------------------------------------------------------------

GIFT_CARD_HOLDERS = frozenset({S.PAID, S.PARTIALLY_SHIPPED, S.SHIPPED, S.DELIVERED, S.COMPLETED})


def order_gift_cards_issue(*, order: Order) -> int:
    """Issue the gift cards a paid order bought (a worker, after the commit that marked it paid).

    The payment is captured first (a gift card is handed over at once, so it is charged at once;
    the provider is called outside any transaction, and a failure leaves the cards unissued for the
    retry). Then each card is issued by payments under the order's lock, idempotently (the card's
    reference is the order's gift card), and e-mailed to its recipient on its day. An order
    cancelled meanwhile issues nothing. An order of gift cards only is then completed. Returns how
    many cards this call issued."""
    if order.status not in GIFT_CARD_HOLDERS or not order.gift_cards_total:
        return 0
    try:
        order_capture_payment(order=order)
    except ApplicationError:
        # A cancellation that released the authorization first makes the capture fail: that is
        # its outcome, not an error (the cancellation gives the money back and withdrew the cards).
        if Order.objects.filter(pk=order.pk, status__in=GIFT_CARD_HOLDERS).exists():
            raise
        return 0
    issued = 0
    with transaction.atomic():
        locked = order_lock(order_id=order.pk)
        if locked is None or locked.status not in GIFT_CARD_HOLDERS:
            return 0
        today = timezone.localdate()
        pending = OrderGiftCard.objects.select_for_update().filter(order=locked, status=OrderGiftCard.Status.PENDING)
        for bought in pending:
            card, _code = payment_services.gift_card_issue(
                amount=bought.amount, currency=locked.currency, recipient_email=bought.recipient_email,
                recipient_name=bought.recipient_name, sender_name=bought.sender_name, message=bought.message,
                deliver_on=max(bought.deliver_on, today), purchaser=locked.user, reference=bought.reference,
            )
            bought.status, bought.gift_card = OrderGiftCard.Status.ISSUED, card
            bought.save(update_fields=["status", "gift_card"])
            order_note(locked, _("Gift card of %(amount)s for %(email)s issued, e-mailed on %(day)s") % {
                "amount": format_money(bought.amount, locked.currency), "email": bought.recipient_email,
                "day": date_format(card.deliver_on, "DATE_FORMAT")})
            issued += 1
        if locked.status == S.PAID and not Package.objects.filter(order=locked).exists():
            order_transition(order=locked, to=S.COMPLETED, message=_("Gift cards issued"))
    order.status = locked.status
    return issued


def _withdraw_gift_cards(order: Order, *, refusal: str) -> None:
    """In the caller's transaction (order locked): every gift card the order bought is taken back,
    or never issued; refused, rolling everything back, if anyone has used one (``refusal`` then
    says so, with ``%(email)s`` for the card's recipient)."""
    for bought in OrderGiftCard.objects.select_for_update().filter(order=order).exclude(
            status=OrderGiftCard.Status.WITHDRAWN):
        if bought.status == OrderGiftCard.Status.ISSUED and payment_services.gift_card_withdraw(
                reference=bought.reference) is False:
            raise IllegalTransition(refusal % {"email": bought.recipient_email}, code="gift_card_used")
        bought.status = OrderGiftCard.Status.WITHDRAWN
        bought.save(update_fields=["status"])


CANCELLABLE = frozenset({S.PLACED, S.PAID})


def _return_money_on_commit(order: Order, reason: str) -> None:
    from orders.tasks import return_order_payment  # tasks import services

    order_id = order.pk
    outbox.enqueue(return_order_payment, order_id, reason)


def order_cancel(*, order: Order, actor=None, reason: str = "") -> Order:
    """Cancel before anything shipped: stock goes back (exactly once), the customer is told, and
    the payment is released or refunded by a task after the commit, retried until it succeeds or
    staff are told (:func:`order_return_payment`). Refused once a package has left."""
    with transaction.atomic():
        locked = order_lock(order_id=order.pk)
        if locked is not None and locked.status == S.CANCELLED:  # a double click, two tabs
            raise IllegalTransition(_("This order is already cancelled."), code="already_cancelled")
        if locked is None:
            raise IllegalTransition(_("This order no longer exists."))
        if locked.status not in CANCELLABLE:
            raise IllegalTransition(_("This order can no longer be cancelled: it is %(status)s.")
                                    % {"status": S(locked.status).label.lower()})
        if locked.packages.exclude(status=Package.Status.PENDING).exists():
            raise IllegalTransition(_("This order can no longer be cancelled: part of it has shipped."))
        # Said to the shopper, who cannot refund items: what is left to them is a return.
        _withdraw_gift_cards(locked, refusal=_(
            "The gift card for %(email)s bought with this order has been used, so the order can no longer be "
            "cancelled. Its other items can be returned once they arrive."))
        order_transition(order=locked, to=S.CANCELLED, actor=actor, message=reason or _("Cancelled"))
        order_release_stock(order=locked, reference=f"cancel:{locked.number}")
        Package.objects.filter(order=locked).update(status=Package.Status.CANCELLED)
        _send_email_on_commit(locked, "cancellation")
        _return_money_on_commit(locked, "cancelled")
        events.record(order_events.ORDER_CANCELLED, aggregate=order_events.AGGREGATE, aggregate_id=locked.pk,
                      order_id=locked.pk, order_number=locked.number)
    order.status = locked.status
    return order


def order_refund(*, order: Order, actor=None, reason: str = "", in_transit: bool = False) -> Order:
    """Refund a paid order in full (admin action). Stock it still holds (nothing shipped yet) goes
    back exactly once; the money goes back by a task after the commit, as for a cancellation.
    An order still in transit is refunded only with ``in_transit`` (a granted claim: the package
    never arrived)."""
    with transaction.atomic():
        locked = order_lock(order_id=order.pk)
        if locked is None:
            raise IllegalTransition(_("This order no longer exists."))
        if locked.status == S.SHIPPED and not in_transit:
            raise IllegalTransition(_("An order that is shipped cannot become refunded: it is still in transit."))
        _withdraw_gift_cards(locked, refusal=_(
            "The gift card for %(email)s bought with this order has been used, so the order cannot be refunded "
            "as a whole; refund its other items instead."))
        order_transition(order=locked, to=S.REFUNDED, actor=actor, message=reason or _("Refunded"))
        # Everything is given back (what partial refunds returned already, and the rest now).
        Order.objects.filter(pk=locked.pk).update(refunded_amount=F("total"))
        OrderLine.objects.filter(order=locked).update(refunded_quantity=F("quantity"), refunded_amount=F("total"))
        Package.objects.filter(order=locked).update(shipping_refunded=F("shipping_price") + F("shipping_tax"))
        if order_release_stock(order=locked, reference=f"refund:{locked.number}"):
            Package.objects.filter(order=locked, status=Package.Status.PENDING).update(
                status=Package.Status.CANCELLED)
        _send_email_on_commit(locked, "refund")
        _return_money_on_commit(locked, "refunded")
        events.record(order_events.ORDER_REFUNDED, aggregate=order_events.AGGREGATE, aggregate_id=locked.pk,
                      order_id=locked.pk)
        from orders.returns import returns_close_refunded  # returns build on these services

        returns_close_refunded(order_id=locked.pk, actor=actor)  # nothing is left to send back
    order.status = locked.status
    return order


def order_return_payment(*, order: Order, reason: str) -> int:
    """Release the authorization or refund what was captured, for a cancelled or refunded order.
    Idempotent (each provider call has a key derived from the order). Calls the provider: never
    inside a transaction. Raises :class:`~payments.exceptions.PaymentUnavailable` when the
    provider cannot be reached (the task retries) and other ApplicationErrors when it refuses."""
    done = 0
    from orders.refunds import money_back_left  # refunds build on these services

    card_left, credit_left, gift_left = money_back_left(order)
    if gift_left > 0:  # what the order paid with gift cards goes back onto them (once)
        payment_services.gift_card_refund(spent_reference=f"order:{order.number}", amount=gift_left,
                                          reference=f"order-{reason}:{order.number}", currency=order.currency)
        done += 1
    if credit_left > 0:  # what the order paid with store credit goes back to it (once)
        payment_services.store_credit_grant(
            user=order.user, amount=credit_left, kind=payment_services.StoreCreditKind.REFUND,
            reference=f"order-{reason}:{order.number}", currency=order.currency,
            description=_("Order %(number)s %(reason)s") % {"number": order.number, "reason": reason})
        done += 1
    for payment in payment_selectors.payment_list_for_reference(reference=order.number):
        if payment.status in (PaymentStatus.AUTHORIZED, PaymentStatus.PENDING, PaymentStatus.REQUIRES_ACTION):
            try:
                payment_services.payment_cancel(payment=payment)
                done += 1
                continue
            except Conflict as exc:
                # Captured meanwhile (a gift card's capture, the provider's dashboard): the capture
                # is recorded now, so the money goes back as a refund instead, in this same call.
                if exc.code != "already_captured":
                    raise
                payment = payment_selectors.payment_get(pk=payment.pk) or payment
                card_left += payment.captured_amount - payment.refunded_amount
        if payment.status in (PaymentStatus.CAPTURED, PaymentStatus.PARTIALLY_REFUNDED):
            remaining = min(payment.captured_amount - payment.refunded_amount, card_left)
            card_left -= remaining
            if remaining > 0:
                payment_services.payment_refund(
                    payment=payment, amount=remaining, reason=reason,
                    idempotency_key=f"{reason}:{order.number}:{payment.pk}",
                )
                done += 1
    if order.payment_problem == PaymentProblem.REFUND_FAILED:
        order_payment_problem_clear(order=order, message=_("Payment returned after a retry"))
    return done


def order_payment_problem(*, order: Order, problem: str, note: str = "") -> bool:
    """Flag the order for staff: its money needs a person (an authorization that expired, a payment
    cancelled or failed at the provider, a refund that keeps failing). Returns False if the order
    already had this problem (staff are told once)."""
    with transaction.atomic():
        flagged = Order.objects.filter(pk=order.pk).exclude(payment_problem=problem).update(
            payment_problem=problem, payment_problem_note=note[:300], updated_at=timezone.now())
        if flagged:
            order_note(order, _("Payment problem: %(problem)s. %(note)s")
                  % {"problem": PaymentProblem(problem).label, "note": note})
            events.record(order_events.PAYMENT_PROBLEM, aggregate=order_events.AGGREGATE, aggregate_id=order.pk,
                          order_id=order.pk, problem=str(problem))
    order.payment_problem = problem if flagged else order.payment_problem
    return bool(flagged)


def order_payment_problem_clear(*, order: Order, actor=None, message: str = "") -> bool:
    """Staff (or the retry that fixed it) resolved the order's payment problem."""
    with transaction.atomic():
        cleared = Order.objects.filter(pk=order.pk).exclude(payment_problem="").update(
            payment_problem="", payment_problem_note="", updated_at=timezone.now())
        if cleared:
            order_note(order, message or _("Payment problem resolved"), actor)
    order.payment_problem = ""
    return bool(cleared)


def order_has_live_payment(*, order: Order, now=None) -> bool:
    """Whether the order's money is secured: captured, or authorized and not yet expired (a free
    order needs none). Nothing ships without it."""
    if order.total <= 0:
        return True
    now = now or timezone.now()
    for payment in payment_selectors.payment_list_for_reference(reference=order.number):
        if payment.status in (PaymentStatus.CAPTURED, PaymentStatus.PARTIALLY_REFUNDED):
            return True
        if payment.status == PaymentStatus.AUTHORIZED and (
            payment.authorization_expires_at is None or payment.authorization_expires_at > now
        ):
            return True
    return False


def order_secure_expiring_payments(*, margin: timedelta = timedelta(hours=24), now=None) -> dict[str, int]:
    """Card authorizations lapse (7 days at Stripe). Capture the payment of every paid order that
    has not shipped while its authorization still holds (within ``margin`` of expiry); one that
    cannot be captured, or has lapsed already, is flagged for staff and cannot ship. Safe to run
    again and again (Celery beat)."""
    now = now or timezone.now()
    result = {"captured": 0, "flagged": 0}
    references = payment_selectors.authorizations_expiring(before=now + margin)
    for order in Order.objects.filter(number__in=references, status=S.PAID).order_by("pk"):
        try:
            captured = order_capture_payment(order=order)
        except ApplicationError as exc:  # lapsed, refused, or unreachable: a person decides
            logger.warning("could not capture the expiring payment of %s: %s", order.number, exc.message)
            captured = 0
        if captured:
            order_note(order, _("Payment captured before its authorization expired"))
            result["captured"] += 1
        elif not order_has_live_payment(order=order, now=now + margin) and order_payment_problem(
            order=order, problem=PaymentProblem.AUTHORIZATION_EXPIRED,
            note=_("The card authorization expires or has expired before shipping; capture failed."),
        ):
            result["flagged"] += 1
    return result


# --- shipping, delivery, completion -------------------------------------------------------

SHIPPABLE = frozenset({S.PAID, S.PARTIALLY_SHIPPED})
COMPLETE_AFTER_DAYS = 14
P = Package.Status


def order_note(order: Order, message: str, actor=None) -> None:
    """A history entry that is not a status change (one package of several moved, a refund, a
    return asked for), in the caller's transaction (refunds and returns write theirs too)."""
    OrderEvent.objects.create(
        order=order, from_status=order.status, to_status=order.status, message=message[:300],
        actor=actor if getattr(actor, "pk", None) else None,
    )


def _locked(package: Package) -> tuple[Order, Package]:
    """Lock the order, then the package (always in that order, so two sellers shipping packages of
    one order at once wait for each other instead of both deciding the order's status)."""
    order = Order.objects.select_for_update().get(pk=package.order_id)
    return order, Package.objects.select_for_update().get(pk=package.pk)


def package_set_tracking(*, package: Package, tracking_number: str, carrier_name: str | None = None) -> Package:
    """Record the carrier's tracking number (and, for a seller's own shipping, the carrier's name)
    while the package is still being prepared."""
    tracking = (tracking_number or "").strip()[:64]
    changes = {"tracking_number": tracking}
    if carrier_name is not None:
        changes["carrier_name"] = carrier_name.strip()[:60]
    updated = Package.objects.filter(pk=package.pk, status=P.PENDING).update(**changes)
    if not updated:
        raise IllegalTransition(_("The tracking number can only be changed before the package ships."))
    for field, value in changes.items():
        setattr(package, field, value)
    return package


def _shipping_proof_missing(package: Package) -> str | None:
    """Why ``package`` may not leave yet: Bazaar's own packages ship only with a label bought
    through Bazaar (so their tracking is followed); a seller's with a carrier and a tracking number."""
    if package.fulfillment_channel != selectors.MERCHANT:
        if not (package.carrier and package.tracking_number):
            return _("Buy the label first: a package Bazaar fulfils ships only with a label bought through "
                     "Bazaar.")
        return None
    if not package.tracking_number or not (package.carrier or package.carrier_name):
        return _("Enter the carrier and the tracking number before marking the package shipped.")
    return None


def package_ship(*, package: Package, tracking_number: str = "", carrier_name: str = "", actor=None) -> Package:
    """The package leaves: it is marked shipped, its reserved stock goes out of the warehouse, the
    order becomes partially shipped or shipped, and the customer is told. The first package
    shipped captures the payment, after the commit (a worker calls the provider). It needs its
    proof of shipping: a Bazaar label (Bazaar's packages) or a carrier and a tracking number."""
    tracking = (tracking_number or "").strip()[:64]
    with transaction.atomic():
        order, package = _locked(package)
        if refusal := selectors.package_ship_refusal(package=package, actor=actor):
            raise PermissionDenied(refusal)
        if package.status == P.PENDING:
            if tracking and not package.carrier:  # a bought label's number is not overwritten
                package.tracking_number = tracking
            if carrier_name.strip():
                package.carrier_name = carrier_name.strip()[:60]
            if missing := _shipping_proof_missing(package):
                raise ApplicationError(missing, code="shipping_proof_missing")
        if package.status != P.PENDING:
            raise IllegalTransition(
                _("This package cannot be shipped: it is %(status)s.")
                % {"status": P(package.status).label.lower()}
            )
        if order.status not in SHIPPABLE:
            raise IllegalTransition(
                _("Packages of an order that is %(status)s cannot be shipped.")
                % {"status": S(order.status).label.lower()}
            )
        if not order_has_live_payment(order=order):
            raise IllegalTransition(
                _("Order %(number)s has no live payment (the authorization expired or the payment was cancelled), "
                  "so it cannot ship. Resolve its payment problem first.") % {"number": order.number},
                code="no_live_payment",
            )
        first_shipment = order.status == S.PAID
        package.status = P.SHIPPED
        package.shipped_at = timezone.now()

        offer_ids = {i for i in package.lines.values_list("offer_id", flat=True) if i is not None}
        held = list(
            OrderReservation.objects.filter(order=order, released=False, offer_id__in=offer_ids).order_by(
                "stock_item_id"
            )
        )
        origin = next(iter(fulfillment_selectors.warehouses_of_stock_items(
            stock_item_ids=[r.stock_item_id for r in held])), None) if held else None
        package.shipped_from_id = origin.pk if origin else None
        package.save(update_fields=["status", "shipped_at", "tracking_number", "carrier_name", "shipped_from"])
        if held:
            fulfillment_services.stock_ship(
                reservations=[fulfillment_services.Reservation(r.stock_item_id, r.offer_id, r.quantity) for r in held],
                reference=f"ship:{order.number}",
                actor=actor,
            )
            # Shipped units are no longer held: a later cancel or refund must not release them again.
            OrderReservation.objects.filter(pk__in=[r.pk for r in held]).update(released=True)

        if package.tracking_number:
            message = _("Package from %(seller)s shipped, tracking number %(tracking)s") % {
                "seller": package.seller_name, "tracking": package.tracking_number}
        else:
            message = _("Package from %(seller)s shipped") % {"seller": package.seller_name}
        still_pending = Package.objects.filter(order=order, status=P.PENDING).exists()
        to = S.PARTIALLY_SHIPPED if still_pending else S.SHIPPED
        if to == order.status:
            order_note(order, message, actor)
        else:
            order_transition(order=order, to=to, actor=actor, message=message)
        _send_email_on_commit(order, "shipped", package.pk)
        if first_shipment:
            from orders.tasks import capture_order_payment  # tasks import services

            order_id = order.pk
            outbox.enqueue(capture_order_payment, order_id)
    events.record(order_events.PACKAGE_SHIPPED, aggregate=order_events.AGGREGATE, aggregate_id=order.pk,
                      order_id=order.pk, package_id=package.pk, seller_id=package.seller_id)
    return package


def order_capture_payment(*, order: Order) -> int:
    """Capture the order's authorized payment (once its first package has shipped). Idempotent:
    a captured payment is left as it is. Calls the provider: never inside a transaction."""
    captured = 0
    for payment in payment_selectors.payment_list_for_reference(reference=order.number):
        if payment.status == PaymentStatus.AUTHORIZED:
            payment_services.payment_capture(payment=payment)
            captured += 1
    return captured


def package_deliver(*, package: Package, actor=None, now=None, confirmed_by: str = DeliveryConfirmation.STAFF
                    ) -> Package:
    """The package arrived (``confirmed_by`` the carrier's tracking, staff, or assumed when long
    overdue); when every package has arrived the order is delivered."""
    with transaction.atomic():
        order, package = _locked(package)
        if refusal := (selectors.package_ship_refusal(package=package, actor=actor)
                       or selectors.package_deliver_refusal(package=package, actor=actor)):
            raise PermissionDenied(refusal)
        if package.status != P.SHIPPED:
            raise IllegalTransition(
                _("Only a shipped package can be delivered; this one is %(status)s.")
                % {"status": P(package.status).label.lower()}
            )
        package.status = P.DELIVERED
        # Never before it left (a carrier's event stamped by a clock behind ours, say).
        package.delivered_at = max(now or timezone.now(), package.shipped_at or timezone.now())
        package.delivery_confirmed_by = DeliveryConfirmation(confirmed_by)
        package.save(update_fields=["status", "delivered_at", "delivery_confirmed_by"])
        message = _("Package from %(seller)s delivered") % {"seller": package.seller_name}
        outstanding = Package.objects.filter(order=order, status__in=[P.PENDING, P.SHIPPED]).exists()
        if not outstanding and order.status == S.SHIPPED:
            order_transition(order=order, to=S.DELIVERED, actor=actor, message=message)
        else:
            order_note(order, message, actor)
    events.record(order_events.PACKAGE_DELIVERED, aggregate=order_events.AGGREGATE, aggregate_id=order.pk,
                      order_id=order.pk, package_id=package.pk)
    return package


# --- labels and tracking (carriers through fulfillment) ----------------------------------------------

PACKAGE_REFERENCE = "package:"


def _parcel(package: Package) -> fulfillment_services.Parcel:
    lines = list(package.lines.all())
    sizes = catalog_selectors.product_sizes(product_ids={line.product_id for line in lines if line.product_id})
    weight = package.packed_weight_lb or sum(
        (sizes[line.product_id][3] if line.product_id in sizes else Decimal("1")) * line.quantity
        for line in lines) or Decimal("1")
    stock_items = OrderReservation.objects.filter(order_id=package.order_id,
                                                  offer_id__in=[line.offer_id for line in lines if line.offer_id])
    origin = next(iter(fulfillment_selectors.warehouses_of_stock_items(
        stock_item_ids=stock_items.values_list("stock_item_id", flat=True))), None)
    address = {key: str(value) for key, value in (package.order.shipping_address or {}).items()}
    return fulfillment_services.Parcel(
        weight_lb=Decimal(weight), from_city=origin.city if origin else "",
        from_country=origin.country if origin else "",
        to_city=address.get("city", ""), to_postcode=address.get("postal_code", ""),
        to_country=address.get("country", ""),
        from_name=origin.name if origin else "", from_street=origin.street if origin else "",
        from_state=origin.region if origin else "", from_postcode=origin.postal_code if origin else "",
        from_phone=origin.phone if origin else "",
        to_name=address.get("full_name", ""), to_street=address.get("line1", ""),
        to_street2=address.get("line2", ""), to_state=address.get("region", ""), to_phone=address.get("phone", ""))


def package_pack(*, package: Package, weight_lb, actor=None) -> Package:
    """The package is packed and weighed (a label then uses this weight). Whoever may ship it."""
    if refusal := selectors.package_ship_refusal(package=package, actor=actor):
        raise PermissionDenied(refusal)
    try:
        weight = Decimal(str(weight_lb).strip()).quantize(Decimal("0.001"))
    except (ArithmeticError, ValueError):
        weight = Decimal("-1")
    if not Decimal("0") < weight <= Decimal("1000"):
        raise ApplicationError(_("The weight: pounds above 0, at most 1,000."),
                               fields={"weight_lb": [_("0 to 1,000.")]})
    updated = Package.objects.filter(pk=package.pk, status=P.PENDING).update(packed_at=timezone.now(),
                                                                           packed_weight_lb=weight)
    if not updated:
        raise IllegalTransition(_("Only a package still being prepared is packed."))
    package.packed_weight_lb = weight
    return package


def package_buy_label(*, package: Package, actor=None, service: str = "ground"):
    """Buy the carrier label of a package being prepared (once: a second call returns the first):
    its tracking number is set and the carrier's tracking followed from then on. Whoever may ship
    the package may buy its label. Calls the carrier: never inside a transaction."""
    package = selectors.package_with_lines(package_id=package.pk)
    if refusal := selectors.package_ship_refusal(package=package, actor=actor):
        raise PermissionDenied(refusal)
    if package.status != P.PENDING:
        raise IllegalTransition(_("A label is bought for a package still being prepared."))
    try:
        shipment = fulfillment_services.parcel_label_buy(reference=f"{PACKAGE_REFERENCE}{package.pk}",
                                                         parcel=_parcel(package), service=service)
    except fulfillment_services.CarrierError as exc:
        raise ApplicationError(_("The carrier did not sell a label: %(reason)s") % {"reason": exc},
                               code="carrier_unavailable") from None
    with transaction.atomic():
        package_set_tracking(package=package, tracking_number=shipment.tracking_number)
        Package.objects.filter(pk=package.pk).update(carrier=shipment.carrier)
    return shipment


TRACKING_EMAILS = {"out_for_delivery": "out_for_delivery", "delivered": "delivered", "exception": "exception",
                   "failed_attempt": "exception"}


def package_tracking_update(*, reference: str, status: str, occurred_at: str = "") -> str:
    """The carrier's news about a package: delivered marks it delivered (the carrier says so, not
    the seller); out for delivery, delivered and problems are e-mailed to the buyer. Returns what
    was done."""
    if not reference.startswith(PACKAGE_REFERENCE) or not reference[len(PACKAGE_REFERENCE):].isdigit():
        return "ignored"
    package = Package.objects.select_related("order").filter(pk=int(reference[len(PACKAGE_REFERENCE):])).first()
    if package is None:
        return "ignored"
    done = "noted"
    if status == "delivered" and package.status == P.SHIPPED:
        when = datetime.fromisoformat(occurred_at) if occurred_at else None
        package_deliver(package=package, now=when, confirmed_by=DeliveryConfirmation.CARRIER)
        done = "delivered"
    if status in TRACKING_EMAILS and package.status != P.CANCELLED:
        _send_email_on_commit(package.order, TRACKING_EMAILS[status], package.pk)
    return done


def packages_deliver_overdue(*, today=None) -> int:
    """Beat: a package shipped without a Bazaar label (its carrier's tracking is not followed) is
    taken as delivered ``ORDERS_ASSUME_DELIVERED_DAYS`` after its latest promised day, at that day's
    end. Returns how many."""
    today = today or timezone.localdate()
    done = 0
    for package_id in selectors.packages_assumed_delivered(
            before=today - timedelta(days=settings.ORDERS_ASSUME_DELIVERED_DAYS)):
        package = Package.objects.filter(pk=package_id).first()
        try:
            when = datetime.combine(package.estimated_latest, datetime.max.time(),
                                    tzinfo=timezone.get_current_timezone())
            package_deliver(package=package, now=when, confirmed_by=DeliveryConfirmation.ASSUMED)
            done += 1
        except (IllegalTransition, Conflict):
            continue  # delivered meanwhile
    return done


def order_complete(*, order: Order, actor=None, reason: str = "") -> Order:
    """A delivered order is done (no more returns through the normal flow)."""
    if order.status != S.DELIVERED:
        raise IllegalTransition(
            _("Only a delivered order can be completed; this one is %(status)s.")
            % {"status": S(order.status).label.lower()}
        )
    return order_transition(order=order, to=S.COMPLETED, actor=actor, message=reason or _("Completed"))


def order_complete_delivered(*, after_days: int = COMPLETE_AFTER_DAYS, now=None) -> int:
    """Complete every order whose last package was delivered more than ``after_days`` ago.
    Safe to run again and again (Celery beat): a completed order is not delivered any more."""
    cutoff = (now or timezone.now()) - timedelta(days=after_days)
    due = (
        Order.objects.filter(status=S.DELIVERED)
        .annotate(last_delivered=Max("packages__delivered_at"))
        .filter(last_delivered__lt=cutoff)
        .order_by("pk")
    )
    done = 0
    for order in due[:1000]:
        try:
            order_complete(order=order, reason=_("Completed automatically after delivery"))
        except (Conflict, IllegalTransition):
            continue  # changed meanwhile (refunded, or completed by someone else)
        done += 1
    return done


# --- guest links ---------------------------------------------------------------------------

_GUEST_GRANTS_KEPT = 20  # a session remembers the guest orders it opened most recently


def order_guest_links_revoke(*, order: Order, actor=None) -> Order:
    """Every guest link sent for ``order`` so far stops working (and so do the grants of browsers
    that opened one): the order gets a new guest nonce. A history note records who did it. The
    guest asks for a fresh link with the order number and e-mail address."""
    nonce = secrets.token_hex(8)
    with transaction.atomic():
        Order.objects.filter(pk=order.pk).update(guest_nonce=nonce, updated_at=timezone.now())
        order_note(order, _("Guest order links revoked"), actor)
    order.guest_nonce = nonce
    return order


def order_guest_access_grant(*, session, order: Order, issued_at: int | None = None) -> bool:
    """Let this browser session see the guest order ``order``: it opened a valid link made at
    ``issued_at`` (unix seconds; now when it just placed the order). The grant ends when that link
    would expire, or at once when the order's links are revoked. The session gets a new key, so a
    key planted in the browser beforehand does not gain the order. An order that belongs to an
    account is never granted (returns False)."""
    if order.user_id is not None:
        return False
    from orders.selectors import GUEST_GRANTS_SESSION_KEY, guest_grants  # kept beside its only use

    grants = {k: v for k, v in guest_grants(session=session).items() if k != order.number}
    issued_at = int(timezone.now().timestamp()) if issued_at is None else int(issued_at)
    grants[order.number] = {"k": order.guest_nonce, "t": issued_at}
    session[GUEST_GRANTS_SESSION_KEY] = dict(list(grants.items())[-_GUEST_GRANTS_KEPT:])
    session.cycle_key()
    return True


def order_guest_link_send(*, order: Order) -> None:
    """E-mail a fresh link to the guest order ``order`` (to the order's address), after commit."""
    from orders.tasks import send_guest_link_email  # tasks import services

    order_id = order.pk
    outbox.enqueue(send_guest_link_email, order_id)


# --- feedback on sellers ----------------------------------------------------------------------------


def check_buyer(order: Order, user, guest_access: bool) -> None:
    """(Also for returns.) Only the buyer acts on their order: its signed-in owner, or, for an order placed without an
    account, whoever holds its guest link (``guest_access``, checked by the caller). Another's order
    is not revealed."""
    if guest_access and order.user_id is None:
        return
    if order.user_id is None or order.user_id != getattr(user, "pk", None):
        raise NotFound(_("No such order."))


def seller_feedback_leave(*, order: Order, seller_id: int, user, rating, comment: str = "",
                          guest_access: bool = False) -> SellerFeedback:
    """The buyer rates the seller of a delivered package of their order (1-5, a comment): once per
    order and seller. The seller's rating becomes the average of all its feedback."""
    try:
        rating = int(str(rating).strip())
    except (TypeError, ValueError):
        rating = 0
    check_buyer(order, user, guest_access)
    if not 1 <= rating <= 5:
        raise ApplicationError(_("Choose from 1 to 5 stars."), fields={"rating": [_("From 1 to 5.")]})
    comment = (comment or "").strip()
    if len(comment) > 2000:
        raise ApplicationError(_("At most 2,000 characters."), fields={"comment": [_("Too long.")]})
    if not Package.objects.filter(order=order, seller_id=seller_id, status=Package.Status.DELIVERED).exists():
        raise ApplicationError(_("You can rate a seller once their package has been delivered."), code="not_delivered")
    with transaction.atomic():
        try:
            with transaction.atomic():
                feedback = SellerFeedback.objects.create(order=order, seller_id=seller_id, user=order.user,
                                                         rating=rating, comment=comment)
        except IntegrityError:
            raise Conflict(_("You rated this seller for this order already."), code="feedback_exists")
        totals = SellerFeedback.objects.filter(seller_id=seller_id).aggregate(avg=Avg("rating"), n=Count("id"))
        average = Decimal(totals["avg"]).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        marketplace_services.seller_rating_set(seller_id=seller_id, rating=average, count=totals["n"])
    return feedback


# --- claims: a buyer's complaint against a seller, decided by platform staff --------------------------


def _claim_text(value: str, field: str, *, required: bool, minimum: int = 0) -> str:
    text = (value or "").strip()
    if required and len(text) < max(minimum, 1):
        message = (_("Tell us what happened in at least %(n)s characters.") % {"n": minimum} if minimum
                   else _("This field is required."))
        raise ApplicationError(message, fields={field: [message]})
    if len(text) > 2000:
        raise ApplicationError(_("At most 2,000 characters."), fields={field: [_("Too long.")]})
    return text


def claim_open(*, order: Order, seller_id: int, user, reason: str, description: str,
               guest_access: bool = False) -> Claim:
    """The buyer claims against the seller of their order (once per order and seller): about a
    shipped package, within ``ORDERS_CLAIM_WINDOW_DAYS`` of shipping, or about a package late past
    its promised day (shipped or not). The seller is told and has ``ORDERS_CLAIM_ANSWER_HOURS`` to
    answer; platform staff decide once it has answered or that time is up."""
    check_buyer(order, user, guest_access)
    if reason not in Claim.Reason.values:
        raise ApplicationError(_("Choose what went wrong."), fields={"reason": [_("Choose a reason.")]})
    description = _claim_text(description, "description", required=True, minimum=10)
    late = selectors.package_late(order=order, seller_id=seller_id)
    # A refused return opens a claim about it within the claim window counted from the refusal.
    refused_at = (ReturnRequest.objects.filter(order=order, seller_id=seller_id, status=ReturnRequest.Status.REFUSED)
                  .order_by("-decided_at").values_list("decided_at", flat=True).first())
    if refused_at is not None:
        if timezone.now() - refused_at > timedelta(days=settings.ORDERS_CLAIM_WINDOW_DAYS):
            raise ApplicationError(_("Claims can be opened up to %(days)s days after a return is refused.")
                                   % {"days": settings.ORDERS_CLAIM_WINDOW_DAYS}, code="claim_window_closed")
        late = True  # neither the shipping date nor the window from shipping stand in its way
    elif reason == Claim.Reason.RETURN_REFUSED:
        raise ApplicationError(_("No return of yours was refused by this seller."),
                               fields={"reason": [_("No refused return.")]}, code="no_refused_return")
    if reason == Claim.Reason.LATE and not selectors.package_late(order=order, seller_id=seller_id):
        raise ApplicationError(_("The package is not late: it is delivered or its promised day has not passed."),
                               fields={"reason": [_("Not late.")]}, code="not_late")
    shipped = (Package.objects.filter(order=order, seller_id=seller_id, shipped_at__isnull=False)
               .order_by("shipped_at").values_list("shipped_at", flat=True).first())
    if shipped is None and not late:
        raise ApplicationError(_("You can open a claim once the seller has shipped your package, or once its "
                                 "promised day has passed."), code="not_shipped")
    if shipped is not None and not late and timezone.now() - shipped > timedelta(
            days=settings.ORDERS_CLAIM_WINDOW_DAYS):
        raise ApplicationError(_("Claims can be opened up to %(days)s days after shipping.")
                               % {"days": settings.ORDERS_CLAIM_WINDOW_DAYS}, code="claim_window_closed")
    if order.status in (S.REFUNDED, S.CANCELLED):
        raise ApplicationError(_("This order was refunded already."), code="order_refunded")
    try:
        with transaction.atomic():
            now = timezone.now()
            claim = Claim.objects.create(order=order, seller_id=seller_id, user=order.user, reason=reason,
                                         description=description, created_at=now, answer_by=now + timedelta(
                                             hours=settings.ORDERS_CLAIM_ANSWER_HOURS))
    except IntegrityError:
        raise Conflict(_("You opened a claim about this seller for this order already."), code="claim_exists") from None
    _claim_email_on_commit(claim, "opened")
    return claim


def _claim_email_on_commit(claim: Claim, kind: str) -> None:
    from orders.tasks import send_claim_email  # tasks import services

    outbox.enqueue(send_claim_email, claim.pk, kind)


def _claim_locked(claim: Claim) -> Claim:
    locked = Claim.objects.select_for_update().select_related("order").get(pk=claim.pk)
    if locked.status != Claim.Status.OPEN:
        raise Conflict(_("This claim was decided already (%(status)s).") % {"status": locked.get_status_display()},
                       code="claim_decided")
    return locked


def claim_respond(*, claim: Claim, actor, response: str) -> Claim:
    """The seller's answer to an open claim (its owners and managers), shown to the staff deciding."""
    if _seller_member_lacks(actor, claim.seller_id, "orders.change_claim"):
        raise PermissionDenied(_("Only the seller's owners and managers answer its claims."))
    response = _claim_text(response, "seller_response", required=True)
    with transaction.atomic():
        locked = _claim_locked(claim)
        locked.seller_response = response
        locked.save(update_fields=["seller_response"])
    return locked


def _seller_member_lacks(actor, seller_id: int, perm: str) -> bool:
    """Whether ``actor`` (a seller's member) lacks ``perm`` at ``seller_id``; platform staff are not
    judged here (their own permissions are)."""
    scope = marketplace_selectors.seller_scope_for_user(actor)
    return scope is not None and seller_id not in marketplace_selectors.seller_ids_with_permission(actor, perm)


def _check_decider(actor) -> None:
    if not (getattr(actor, "is_superuser", False) or getattr(actor, "has_perm", lambda p: False)(
            "orders.decide_claim")) or marketplace_selectors.seller_scope_for_user(actor) is not None:
        raise PermissionDenied(_("Only platform staff decide claims."))


def _check_seller_heard(claim: Claim) -> None:
    """A claim is decided once the seller has answered or its time to answer is up."""
    if not claim.seller_response and claim.answer_by and timezone.now() < claim.answer_by:
        raise Conflict(_("The seller has until %(when)s to answer this claim; decide after its answer or then.")
                       % {"when": timezone.localtime(claim.answer_by).strftime("%Y-%m-%d %H:%M")},
                       code="claim_awaiting_seller")


def claim_grant(*, claim: Claim, actor, resolution: str = "") -> Claim:
    """Grant the claim: the order is refunded in full (unless it was already) and the buyer told."""
    _check_decider(actor)
    resolution = _claim_text(resolution, "resolution", required=False)
    with transaction.atomic():
        locked = _claim_locked(claim)
        _check_seller_heard(locked)
        if locked.order.status != S.REFUNDED:
            order_refund(order=locked.order, actor=actor, in_transit=True,
                         reason=_("Claim granted: %(reason)s") % {"reason": locked.get_reason_display()})
        locked.status, locked.resolution = Claim.Status.GRANTED, resolution
        locked.decided_by, locked.decided_at = actor, timezone.now()
        locked.save(update_fields=["status", "resolution", "decided_by", "decided_at"])
        _claim_email_on_commit(locked, "decided")
    return locked


def claim_deny(*, claim: Claim, actor, resolution: str) -> Claim:
    """Deny the claim, with the reason the buyer is told (it no longer counts against the seller)."""
    _check_decider(actor)
    resolution = _claim_text(resolution, "resolution", required=True)
    with transaction.atomic():
        locked = _claim_locked(claim)
        _check_seller_heard(locked)
        locked.status, locked.resolution = Claim.Status.DENIED, resolution
        locked.decided_by, locked.decided_at = actor, timezone.now()
        locked.save(update_fields=["status", "resolution", "decided_by", "decided_at"])
        _claim_email_on_commit(locked, "decided")
    return locked
