"""Writes of finance: the referral fee rules (staff, in admin) and the seller ledger's postings."""

from __future__ import annotations

from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core import cache as vcache
from finance import selectors as finance_selectors
from finance.models import LedgerEntry, ReferralFeeRule
from finance.selectors import NAMESPACE
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
    the shipping the buyer paid when the seller ships it themselves, and a reserve holding all of
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
    if package.fulfillment_channel == MERCHANT and package.shipping_price:
        entries.append(LedgerEntry(kind=E.SHIPPING_CREDIT, amount=package.shipping_price, source_type=SRC.PACKAGE,
                                   source_id=package.pk, **common))
    held = sum((e.amount for e in entries), Decimal("0.00"))
    if held:
        entries.append(LedgerEntry(kind=E.RESERVE_HOLD, amount=-held, source_type=SRC.PACKAGE, source_id=package.pk,
                                   **common))
    return _post(entries)


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
            entries.append(LedgerEntry(kind=E.REFUND, amount=-sale.amount, source_type=SRC.ORDER_LINE,
                                       source_id=line.pk, **common))
            fee = posted.get((E.REFERRAL_FEE, SRC.ORDER_LINE, line.pk))
            if fee is not None:
                entries.append(LedgerEntry(kind=E.REFERRAL_FEE_REFUND, amount=-fee.amount, source_type=SRC.ORDER_LINE,
                                           source_id=line.pk, **common))
                admin_fee = refund_admin_fee(-fee.amount)
                if admin_fee:
                    entries.append(LedgerEntry(kind=E.REFUND_ADMIN_FEE, amount=-admin_fee, source_type=SRC.ORDER_LINE,
                                               source_id=line.pk, **common))
        credit = posted.get((E.SHIPPING_CREDIT, SRC.PACKAGE, package.pk))
        if credit is not None:
            entries.append(LedgerEntry(kind=E.REFUND, amount=-credit.amount, source_type=SRC.PACKAGE,
                                       source_id=package.pk, description="shipping", **common))
    return _post(entries)
