"""Writes of finance: the referral fee rules (staff, in admin) and the seller ledger's postings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from core import cache as vcache
from core import outbox
from core.exceptions import ApplicationError
from core.money import cumulative_share, default_currency, max_price
from finance import selectors as finance_selectors
from finance.models import Adjustment, LedgerEntry, Payout, ReferralFeeRule, SellerHealth
from finance.providers import PayoutFailed, get_provider
from finance.selectors import NAMESPACE
from fulfillment import selectors as fulfillment_selectors
from marketplace import selectors as marketplace_selectors
from marketplace import services as marketplace_services
from orders import selectors as orders_selectors

MERCHANT = "merchant"  # a package the seller ships themselves (orders' fulfilment channel)


@transaction.atomic
def referral_fee_rule_save(*, rule: ReferralFeeRule) -> ReferralFeeRule:
    """Save a rule (validated: percent 0-100, minimum not negative, one rule per category and
    seller). Orders placed from the commit on use it; orders already placed keep the fee they
    were sold with (snapshotted on their lines)."""
    rule.updated_at = timezone.now()
    rule.full_clean()
    rule.save()
    vcache.bump_on_commit(NAMESPACE)
    return rule


def referral_fee_rule_set(*, category_id: int | None, seller_id: int | None, percent: Decimal,
                          minimum_per_unit: Decimal) -> ReferralFeeRule:
    """The rule for this category and seller (None: every), created or changed to these values."""
    rule = ReferralFeeRule.objects.filter(category_id=category_id, seller_id=seller_id).first()
    rule = rule or ReferralFeeRule(category_id=category_id, seller_id=seller_id)
    rule.percent, rule.minimum_per_unit = percent, minimum_per_unit
    return referral_fee_rule_save(rule=rule)


@transaction.atomic
def referral_fee_rule_delete(*, rule: ReferralFeeRule) -> None:
    rule.delete()
    vcache.bump_on_commit(NAMESPACE)


# --- the seller ledger: postings from orders' events ----------------------------------------------

E = LedgerEntry.Kind
SRC = LedgerEntry.Source


def _post(entries: list[LedgerEntry]) -> int:
    """Append ``entries``; one already posted (same kind and source: a replayed or retried event)
    is left as it is. Returns how many were new."""
    if not entries:
        return 0
    existing = set(
        LedgerEntry.objects.filter(kind__in={e.kind for e in entries}, source_id__in={e.source_id for e in entries})
        .values_list("kind", "source_type", "source_id")
    )
    fresh = [e for e in entries if (e.kind, e.source_type, e.source_id) not in existing]
    LedgerEntry.objects.bulk_create(fresh, ignore_conflicts=True)  # a concurrent posting of the same event
    return len(fresh)


def _house(seller_id: int) -> bool:
    return seller_id == finance_selectors.fee_schedule().house_seller_id


@transaction.atomic
def ledger_post_package_shipped(*, package_id: int, event_id: int | None = None) -> int:
    """A seller's package shipped: the sale of each line (what the buyer was charged for it before
    tax and before the platform's own discounts), its referral fee (as snapshotted on the line),
    Bazaar's fulfilment fee per unit when Bazaar shipped it (by the unit's size tier, see
    :mod:`fulfillment.sizing`), the shipping the buyer paid when the seller ships it themselves,
    and a reserve holding all of
    it until the package has been delivered for ``FINANCE_RESERVE_DAYS``. The house seller's
    packages post nothing. Idempotent."""
    package = orders_selectors.package_with_lines(package_id=package_id)
    if package is None or _house(package.seller_id):
        return 0
    order = package.order
    common = {"seller_id": package.seller_id, "currency": order.currency, "order_number": order.number,
              "event_id": event_id}
    entries = []
    for line in package.lines.all():
        entries.append(LedgerEntry(kind=E.SALE, amount=line.subtotal, source_type=SRC.ORDER_LINE, source_id=line.pk,
                                   description=f"{line.quantity} x {line.product_title}"[:200], **common))
        if line.referral_fee:
            entries.append(LedgerEntry(kind=E.REFERRAL_FEE, amount=-line.referral_fee, source_type=SRC.ORDER_LINE,
                                       source_id=line.pk, description=f"{line.referral_fee_percent}%", **common))
    if package.fulfillment_channel != MERCHANT:  # Bazaar shipped it: its fulfilment fee per unit
        lines = list(package.lines.all())
        # (a line whose product was deleted since is charged as an unmeasured unit: id 0)
        quotes = fulfillment_selectors.fee_quotes(product_ids={line.product_id or 0 for line in lines})
        for line in lines:
            quote = quotes[line.product_id or 0]
            if quote is None or not quote.fee:
                continue
            entries.append(LedgerEntry(
                kind=E.FULFILMENT_FEE, amount=-(quote.fee * line.quantity), source_type=SRC.ORDER_LINE,
                source_id=line.pk, description=f"{line.quantity} x {quote.fee} ({quote.tier_name}"
                f"{'' if quote.measured else ', not measured yet'})"[:200], **common))
    if package.fulfillment_channel == MERCHANT and package.shipping_price:
        entries.append(LedgerEntry(kind=E.SHIPPING_CREDIT, amount=package.shipping_price, source_type=SRC.PACKAGE,
                                   source_id=package.pk, **common))
    held = sum((e.amount for e in entries), Decimal("0.00"))
    if held:
        entries.append(LedgerEntry(kind=E.RESERVE_HOLD, amount=-held, source_type=SRC.PACKAGE, source_id=package.pk,
                                   **common))
    return _post(entries)


@transaction.atomic
def ledger_post_storage_charge(*, charge_id: int, event_id: int | None = None) -> int:
    """A month's storage fee charged by fulfillment: an entry against the seller's available balance
    (no reserve: the stock was stored), and one for the aged inventory surcharge. Idempotent."""
    charge = fulfillment_selectors.storage_charge_get(pk=charge_id)
    if charge is None or _house(charge.seller_id):
        return 0
    month = charge.month.strftime("%B %Y")
    entries = [LedgerEntry(seller_id=charge.seller_id, kind=kind, amount=-amount, currency=default_currency(),
                           source_type=SRC.STORAGE_CHARGE, source_id=charge.pk, description=text % {"month": month},
                           event_id=event_id)
               for kind, amount, text in ((E.STORAGE_FEE, charge.amount, _("Storage, %(month)s")),
                                          (E.AGED_INVENTORY_FEE, charge.aged_amount,
                                           _("Aged inventory surcharge, %(month)s")))
               if amount]
    return _post(entries)


@transaction.atomic
def ledger_post_removal(*, removal_id: int, event_id: int | None = None) -> int:
    """Units a seller asked back were sent: the removal fee per unit, once."""
    removal = fulfillment_selectors.removal_get(pk=removal_id)
    if removal is None or not removal.fee_per_unit or _house(removal.seller_id):
        return 0
    return _post([LedgerEntry(seller_id=removal.seller_id, kind=E.REMOVAL_FEE,
                              amount=-(removal.fee_per_unit * removal.quantity), currency=default_currency(),
                              source_type=SRC.REMOVAL_ORDER, source_id=removal.pk,
                              description=f"{removal.quantity} x {removal.fee_per_unit} ({removal})",
                              event_id=event_id)])


def _release(package_id: int, *, event_id: int | None = None) -> list[LedgerEntry]:
    hold = LedgerEntry.objects.filter(kind=E.RESERVE_HOLD, source_type=SRC.PACKAGE, source_id=package_id).first()
    if hold is None:
        return []
    return [LedgerEntry(kind=E.RESERVE_RELEASE, amount=-hold.amount, source_type=SRC.PACKAGE, source_id=package_id,
                        seller_id=hold.seller_id, currency=hold.currency, order_number=hold.order_number,
                        event_id=event_id)]


def ledger_release_reserves(*, now=None, batch: int = 500) -> int:
    """Release the reserve of every package delivered at least ``FINANCE_RESERVE_DAYS`` ago (a beat
    task; idempotent, safe to run twice or at once). Returns how many reserves were released."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.FINANCE_RESERVE_DAYS)
    released = 0
    held = finance_selectors.packages_with_reserve_held()
    for start in range(0, len(held), batch):
        due = orders_selectors.packages_delivered_before(package_ids=held[start:start + batch], before=cutoff)
        with transaction.atomic():
            released += _post([entry for package_id in due for entry in _release(package_id)])
    return released


def refund_admin_fee(referral_fee: Decimal) -> Decimal:
    """The lesser of ``FINANCE_REFUND_ADMIN_FEE_MAX`` and ``FINANCE_REFUND_ADMIN_FEE_PERCENT`` of the
    referral fee, rounded half up to the cent."""
    share = (referral_fee * settings.FINANCE_REFUND_ADMIN_FEE_PERCENT / 100).quantize(Decimal("0.01"), ROUND_HALF_UP)
    return min(share, settings.FINANCE_REFUND_ADMIN_FEE_MAX)


@transaction.atomic
def ledger_post_order_refunded(*, order_id: int, event_id: int | None = None) -> int:
    """An order was refunded in full: for every line whose sale was posted (it shipped), the sale
    is taken back, its referral fee returned less the refund administration fee, the shipping
    credit taken back, and a reserve still held released (the refund settles it). Lines that
    never shipped posted nothing and post nothing. Idempotent."""
    entries = []
    for package in orders_selectors.order_packages_with_lines(order_id=order_id):
        if _house(package.seller_id):
            continue
        posted = {(e.kind, e.source_type, e.source_id): e for e in finance_selectors.entries_of_package(package)}
        if (E.RESERVE_HOLD, SRC.PACKAGE, package.pk) not in posted:
            continue  # never shipped: nothing was posted
        if (E.RESERVE_RELEASE, SRC.PACKAGE, package.pk) not in posted:
            entries += _release(package.pk, event_id=event_id)
        order = package.order
        common = {"seller_id": package.seller_id, "currency": order.currency, "order_number": order.number,
                  "event_id": event_id}
        for line in package.lines.all():
            sale = posted.get((E.SALE, SRC.ORDER_LINE, line.pk))
            if sale is None:
                continue
            # what partial refunds of this line gave back already is not given back twice
            shares = _partial_shares(line).values()
            sale_left = sale.amount - sum((s for s, _f in shares), Decimal("0.00"))
            if sale_left:
                entries.append(LedgerEntry(kind=E.REFUND, amount=-sale_left, source_type=SRC.ORDER_LINE,
                                           source_id=line.pk, **common))
            fee = posted.get((E.REFERRAL_FEE, SRC.ORDER_LINE, line.pk))
            fee_left = -fee.amount - sum((f for _s, f in shares), Decimal("0.00")) if fee is not None else 0
            if fee_left:
                entries.append(LedgerEntry(kind=E.REFERRAL_FEE_REFUND, amount=fee_left, source_type=SRC.ORDER_LINE,
                                           source_id=line.pk, **common))
                admin_fee = refund_admin_fee(fee_left)
                if admin_fee:
                    entries.append(LedgerEntry(kind=E.REFUND_ADMIN_FEE, amount=-admin_fee, source_type=SRC.ORDER_LINE,
                                               source_id=line.pk, **common))
        credit = posted.get((E.SHIPPING_CREDIT, SRC.PACKAGE, package.pk))
        given_back = LedgerEntry.objects.filter(kind=E.REFUND, source_type=SRC.REFUND_SHIPPING,
                                                source_id=package.pk).exists()  # by a partial refund
        if credit is not None and not given_back:
            entries.append(LedgerEntry(kind=E.REFUND, amount=-credit.amount, source_type=SRC.PACKAGE,
                                       source_id=package.pk, description="shipping", **common))
    return _post(entries)


def _partial_shares(line) -> dict[int, tuple[Decimal, Decimal]]:
    """refund line id -> (sale share, referral fee share) of each partial refund of ``line``, oldest
    first: its units' cumulative share of the line's sale and fee (:func:`core.money.cumulative_share`),
    so the shares of a whole line sum to its sale and fee exactly."""
    shares, done = {}, 0
    currency = line.order.currency
    for row in sorted(line.refund_lines.all(), key=lambda r: r.pk):
        shares[row.pk] = (cumulative_share(line.subtotal, done=done, more=row.quantity, of=line.quantity,
                                           currency=currency),
                          cumulative_share(line.referral_fee, done=done, more=row.quantity, of=line.quantity,
                                           currency=currency))
        done += row.quantity
    return shares


@transaction.atomic
def ledger_post_order_partially_refunded(*, refund_id: int, event_id: int | None = None) -> int:
    """Some units (and perhaps a package's shipping) were refunded: for each seller's units, their
    share of the sale is taken back and their share of the referral fee returned less the refund
    administration fee; a seller's own shipping credit is taken back with its package's shipping.
    The house seller posts nothing. Idempotent (one posting per refunded line and package)."""
    refund = orders_selectors.refund_detail(refund_id=refund_id)
    if refund is None:
        return 0
    order = refund.order
    entries = []
    for row in refund.lines.all():
        line = orders_selectors.order_line_with_refunds(line_id=row.line_id)
        if _house(line.seller_id):
            continue
        sale, fee = _partial_shares(line)[row.pk]
        common = {"seller_id": line.seller_id, "currency": order.currency, "order_number": order.number,
                  "event_id": event_id, "source_type": SRC.REFUND_LINE, "source_id": row.pk}
        entries.append(LedgerEntry(kind=E.REFUND, amount=-sale,
                                   description=f"{row.quantity} x {line.product_title}"[:200], **common))
        if fee:
            entries.append(LedgerEntry(kind=E.REFERRAL_FEE_REFUND, amount=fee, **common))
            admin_fee = refund_admin_fee(fee)
            if admin_fee:
                entries.append(LedgerEntry(kind=E.REFUND_ADMIN_FEE, amount=-admin_fee, **common))
    for package in orders_selectors.packages_with_shipping_refunded(refund=refund):
        if _house(package.seller_id) or package.fulfillment_channel != MERCHANT or not package.shipping_price:
            continue  # only a seller's own shipping was credited to it
        entries.append(LedgerEntry(kind=E.REFUND, amount=-package.shipping_price, seller_id=package.seller_id,
                                   currency=order.currency, order_number=order.number, event_id=event_id,
                                   source_type=SRC.REFUND_SHIPPING, source_id=package.pk, description="shipping"))
    return _post(entries)


# --- payouts ---------------------------------------------------------------------------------------


@dataclass
class PayoutRun:
    settled_on: date
    created: int = 0
    paid: int = 0
    failed: int = 0


def payout_run(*, today: date | None = None) -> PayoutRun:
    """Pay every seller their available balance for the latest settlement date, then send every
    payout still pending (this one's and earlier failures).

    At most one payout per seller and settlement date, whoever runs it and however often (the
    database's unique constraint decides a concurrent run); a zero or negative balance pays
    nothing and is carried forward; money that became available after a pending payout was
    created waits for the next settlement. Three queries for the balances whatever the number of
    sellers and entries, then one transfer per payout."""
    run = PayoutRun(settled_on=finance_selectors.settlement_date(today or timezone.localdate()))
    provider = get_provider()
    done = finance_selectors.sellers_paid_for(settled_on=run.settled_on)
    payouts = [
        Payout(seller_id=seller_id, settled_on=run.settled_on, amount=amount, currency=currency,
               provider=provider.name)
        for seller_id, (amount, currency) in finance_selectors.payable_balances().items()
        if amount > 0 and seller_id not in done
    ]
    if payouts:  # a concurrent run's rows win the unique constraint; ours are then skipped
        Payout.objects.bulk_create(payouts, ignore_conflicts=True)
        run.created = len(payouts)
    for payout_id in finance_selectors.pending_payout_ids():
        if payout_send(payout_id=payout_id, provider=provider):
            run.paid += 1
        else:
            run.failed += 1
    return run


def payout_send(*, payout_id: int, provider=None) -> bool:
    """Transfer a pending payout and, once the money moved, post it to the ledger and mark it paid
    (one transaction). The transfer's idempotency key is the payout's, so sending twice (a retry,
    two workers) moves the money once; the ledger entry is unique per payout. A failed transfer
    leaves the payout pending (retried by the next run) and the balance untouched."""
    payout = Payout.objects.filter(pk=payout_id, status=Payout.Status.PENDING).first()
    if payout is None:
        return False
    provider = provider or get_provider()
    try:
        transfer = provider.transfer(amount=payout.amount, currency=payout.currency, seller_id=payout.seller_id,
                                     idempotency_key=f"payout:{payout.pk}")
    except PayoutFailed as exc:
        Payout.objects.filter(pk=payout.pk, status=Payout.Status.PENDING).update(
            attempts=F("attempts") + 1, last_error=str(exc)[:300])
        return False
    with transaction.atomic():
        locked = Payout.objects.select_for_update().get(pk=payout.pk)
        if locked.status != Payout.Status.PENDING:
            return False  # recorded by a concurrent send of the same transfer
        _post([LedgerEntry(kind=E.PAYOUT, amount=-locked.amount, currency=locked.currency, seller_id=locked.seller_id,
                           source_type=SRC.PAYOUT, source_id=locked.pk, description=transfer.reference[:200])])
        locked.status, locked.provider_reference = Payout.Status.PAID, transfer.reference
        locked.paid_at, locked.attempts = timezone.now(), locked.attempts + 1
        locked.save(update_fields=["status", "provider_reference", "paid_at", "attempts"])
    return True


# --- manual adjustments -----------------------------------------------------------------------------


@transaction.atomic
def ledger_adjust(*, seller_id: int, amount: Decimal, reason: str, actor=None) -> Adjustment:
    """Correct a seller's balance (platform staff): the adjustment and its ledger entry, with the
    reason, in one transaction. Refuses a zero amount, an amount with more than two decimals, and an
    empty reason."""
    reason = (reason or "").strip()
    if not reason:
        raise ApplicationError(_("Say why the balance is adjusted."), fields={"reason": [_("Required.")]})
    if amount == 0 or amount != amount.quantize(Decimal("0.01")) or abs(amount) > max_price():
        raise ApplicationError(_("Enter an amount other than zero, in cents."), fields={"amount": [_("Not valid.")]})
    adjustment = Adjustment.objects.create(seller_id=seller_id, amount=amount, reason=reason[:200],
                                           created_by=actor if getattr(actor, "pk", None) else None)
    _post([LedgerEntry(kind=E.ADJUSTMENT, amount=amount, currency=default_currency(), seller_id=seller_id,
                       source_type=SRC.ADJUSTMENT, source_id=adjustment.pk, description=reason[:200])])
    return adjustment


# --- account health ---------------------------------------------------------------------------------

HEALTH_LABELS = {
    "order_defect_rate": _lazy("order defect rate"),
    "cancel_rate": _lazy("pre-fulfilment cancel rate"),
    "late_shipment_rate": _lazy("late shipment rate"),
    "valid_tracking_rate": _lazy("valid tracking rate"),
    "on_time_delivery_rate": _lazy("on-time delivery rate"),
}
AT_LEAST = {"valid_tracking_rate", "on_time_delivery_rate"}  # the others must stay below their target


def _percent(part: int, whole: int) -> Decimal:
    return (Decimal(part) * 100 / whole).quantize(Decimal("0.01"), ROUND_HALF_UP) if whole else Decimal("0.00")


def health_compute(*, today: date | None = None) -> int:
    """Every seller's account health for ``today`` (one row per seller and day; a later run that day
    brings it up to date), and
    their buy-box eligibility: outside any target (with enough orders to judge), the seller does
    not win buy boxes and is told which rate is out (an e-mail, and their seller centre); back
    inside, they win again and are told so. Five queries for
    the counts whatever the number of sellers; returns how many sellers changed eligibility."""
    today = today or timezone.localdate()
    now = timezone.now()
    targets = settings.FINANCE_HEALTH_TARGETS
    performance = orders_selectors.seller_performance(
        defect_since=now - timedelta(days=targets["order_defect_rate"][1]),
        cancel_since=now - timedelta(days=targets["cancel_rate"][1]),
        shipping_since=now - timedelta(days=targets["late_shipment_rate"][1]),
        delivery_since=now - timedelta(days=targets["on_time_delivery_rate"][1]),
    )
    minimum = settings.FINANCE_HEALTH_MIN_ORDERS
    house = finance_selectors.fee_schedule().house_seller_id
    rows, changed = [], 0
    for seller_id in marketplace_selectors.seller_ids():
        if seller_id == house:
            continue
        perf = performance.get(seller_id) or orders_selectors.SellerPerformance()
        rates = {
            "order_defect_rate": _percent(perf.defective_orders, perf.orders),
            "cancel_rate": _percent(perf.cancelled, perf.packages),
            "late_shipment_rate": _percent(perf.shipped_late, perf.shipped),
            "valid_tracking_rate": _percent(perf.tracked, perf.shipped) if perf.shipped else Decimal("100.00"),
            "on_time_delivery_rate": _percent(perf.on_time, perf.due) if perf.due else Decimal("100.00"),
        }
        judged = {"order_defect_rate": perf.orders, "cancel_rate": perf.packages,
                  "late_shipment_rate": perf.shipped, "valid_tracking_rate": perf.shipped,
                  "on_time_delivery_rate": perf.due}
        problems = [
            (_("%(metric)s %(rate)s%% (target: at least %(target)s%%)") if name in AT_LEAST
             else _("%(metric)s %(rate)s%% (target: below %(target)s%%)"))
            % {"metric": HEALTH_LABELS[name], "rate": rate, "target": targets[name][0]}
            for name, rate in rates.items()
            if judged[name] >= minimum and (rate < targets[name][0] if name in AT_LEAST
                                             else rate >= targets[name][0])
        ]
        note = "; ".join(problems)[:300]
        rows.append(SellerHealth(seller_id=seller_id, computed_on=today, orders=perf.orders, shipped=perf.shipped,
                                 delivered=perf.due,
                                 eligible=not problems, problems=note, **rates))
        if marketplace_services.seller_buy_box_eligibility_set(seller_id=seller_id, eligible=not problems, note=note):
            changed += 1
            from finance.tasks import send_health_email  # tasks import services

            outbox.enqueue(send_health_email, seller_id, not problems, note)
    if rows:
        SellerHealth.objects.bulk_create(
            rows, update_conflicts=True, unique_fields=["seller", "computed_on"],
            update_fields=["order_defect_rate", "cancel_rate", "late_shipment_rate", "valid_tracking_rate",
                           "on_time_delivery_rate", "delivered", "orders",
                           "shipped", "eligible", "problems"])
    return changed
