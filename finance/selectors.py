"""Reads of finance: the referral fee a sale costs its seller.

The fee schedule (every rule, and which seller is the house seller, who pays none) is cached
until a rule is saved or deleted, so pricing an order's fees reads no table: one cache round
trip for the schedule and one for the category tree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db.models import Max, Q, Sum

from catalog import selectors as catalog_selectors
from core import cache as vcache
from core.money import default_currency, minor_units
from finance.models import LedgerEntry, Payout, ReferralFeeRule, SellerHealth
from marketplace import selectors as marketplace_selectors
from orders import selectors as orders_selectors

NAMESPACE = "finance:referral-fees"  # bumped on commit whenever a rule changes
SCHEDULE_TIMEOUT = 60 * 60

Rate = tuple[Decimal, Decimal]  # (percent, minimum per unit)


@dataclass(frozen=True)
class FeeSchedule:
    rules: dict[tuple[int | None, int | None], Rate]  # (category id, seller id) -> rate; None: every
    house_seller_id: int | None


@dataclass(frozen=True)
class FeeLine:
    """A line of a sale as the fee sees it: who sold it, in which category, how many, and what
    the buyer pays for them before tax (after discounts)."""

    seller_id: int
    category_id: int | None
    quantity: int
    amount: Decimal
    currency: str


@dataclass(frozen=True)
class ReferralFee:
    percent: Decimal
    amount: Decimal


NO_FEE = ReferralFee(Decimal("0.00"), Decimal("0.00"))


def _load_schedule() -> FeeSchedule:
    rules = {
        (r.category_id, r.seller_id): (r.percent, r.minimum_per_unit)
        for r in ReferralFeeRule.objects.only("category_id", "seller_id", "percent", "minimum_per_unit")
    }
    house = marketplace_selectors.house_seller_id()
    return FeeSchedule(rules=rules, house_seller_id=house)


def fee_schedule() -> FeeSchedule:
    return vcache.cached_in(NAMESPACE, "finance:fee-schedule", _load_schedule, SCHEDULE_TIMEOUT)


def referral_fee_rule_list():
    return ReferralFeeRule.objects.select_related("category", "seller")


def rate_for(schedule: FeeSchedule, *, seller_id: int, categories: Sequence[int]) -> Rate | None:
    """The rule that applies to a seller's sale in a category (``categories``: the product's
    category and its ancestors, nearest first), most specific first; None when none does."""
    rules = schedule.rules
    for key in [*((c, seller_id) for c in categories), (None, seller_id), *((c, None) for c in categories),
                (None, None)]:
        if key in rules:
            return rules[key]
    return None


def fee_of(rate: Rate | None, *, quantity: int, amount: Decimal, currency: str) -> ReferralFee:
    """``percent`` of ``amount``, at least ``minimum`` per unit, rounded half up to the currency's
    minor unit."""
    if rate is None:
        return NO_FEE
    percent, minimum = rate
    exponent = Decimal(1).scaleb(-minor_units(currency))
    fee = max(amount * percent / 100, minimum * quantity)
    return ReferralFee(percent, fee.quantize(exponent, rounding=ROUND_HALF_UP))


def referral_fees(lines: Sequence[FeeLine]) -> list[ReferralFee]:
    """The referral fee of each line, as it would be charged if sold now (the house seller pays
    none). Read when an order is placed, and snapshotted on its lines."""
    if not lines:
        return []
    schedule = fee_schedule()
    tree = catalog_selectors.category_tree()
    fees = []
    for line in lines:
        if line.seller_id == schedule.house_seller_id:
            fees.append(NO_FEE)
            continue
        categories = [node.id for node in reversed(tree.ancestors(line.category_id))] if line.category_id else []
        rate = rate_for(schedule, seller_id=line.seller_id, categories=categories)
        fees.append(fee_of(rate, quantity=line.quantity, amount=line.amount, currency=line.currency))
    return fees


# --- the seller ledger ------------------------------------------------------------------------


@dataclass(frozen=True)
class Balance:
    available: Decimal  # the sum of every entry: what a payout would pay (negative: owed to Bazaar)
    reserved: Decimal  # held until the packages have been delivered long enough
    currency: str


def seller_balance(*, seller_id: int, currency: str = "") -> Balance:
    """The seller's balance, from the sum of their entries (two sums, one query)."""
    K = LedgerEntry.Kind
    totals = LedgerEntry.objects.filter(seller_id=seller_id).aggregate(
        available=Sum("amount"), reserve=Sum("amount", filter=Q(kind__in=[K.RESERVE_HOLD, K.RESERVE_RELEASE])),
    )
    return Balance(available=totals["available"] or Decimal("0.00"), reserved=-(totals["reserve"] or Decimal("0.00")),
                   currency=currency or default_currency())


def ledger_entries(*, seller_id: int | None = None):
    """Entries, newest first (one seller's, or everyone's for platform staff)."""
    entries = LedgerEntry.objects.select_related("seller")
    return entries.filter(seller_id=seller_id) if seller_id is not None else entries


def entries_of_package(package) -> list[LedgerEntry]:
    """What was posted for a package and its lines."""
    line_ids = [line.pk for line in package.lines.all()]
    S = LedgerEntry.Source
    return list(LedgerEntry.objects.filter(Q(source_type=S.PACKAGE, source_id=package.pk)
                                           | Q(source_type=S.ORDER_LINE, source_id__in=line_ids)))


def packages_with_reserve_held() -> list[int]:
    """Packages whose reserve is held and not yet released, oldest first."""
    K, S = LedgerEntry.Kind, LedgerEntry.Source
    released = LedgerEntry.objects.filter(kind=K.RESERVE_RELEASE, source_type=S.PACKAGE).values("source_id")
    return list(LedgerEntry.objects.filter(kind=K.RESERVE_HOLD, source_type=S.PACKAGE)
                .exclude(source_id__in=released).order_by("id").values_list("source_id", flat=True))


def payable_balances() -> dict[int, tuple[Decimal, str]]:
    """Per seller with entries: the available balance less what pending payouts will take, and the
    currency. Two queries, whatever the number of sellers and entries."""
    available = {
        row["seller_id"]: (row["total"], row["currency"])
        for row in LedgerEntry.objects.values("seller_id").annotate(total=Sum("amount"), currency=Max("currency"))
    }
    pending = dict(Payout.objects.filter(status=Payout.Status.PENDING).values("seller_id")
                   .annotate(total=Sum("amount")).values_list("seller_id", "total"))
    return {
        seller_id: (total - pending.get(seller_id, 0), currency) for seller_id, (total, currency) in available.items()
    }


def pending_payout_total(*, seller_id: int) -> Decimal:
    """What the seller's pending payouts will take from their available balance."""
    total = Payout.objects.filter(seller_id=seller_id, status=Payout.Status.PENDING).aggregate(t=Sum("amount"))["t"]
    return total or Decimal("0.00")


def sellers_paid_for(*, settled_on) -> set[int]:
    """Sellers that have a payout (pending or paid) for this settlement date."""
    return set(Payout.objects.filter(settled_on=settled_on).values_list("seller_id", flat=True))


def pending_payout_ids() -> list[int]:
    return list(Payout.objects.filter(status=Payout.Status.PENDING).order_by("id").values_list("pk", flat=True))


def payout_list(*, seller_id: int | None = None):
    payouts = Payout.objects.select_related("seller")
    return payouts.filter(seller_id=seller_id) if seller_id is not None else payouts


STATEMENT_COLUMNS = ("posted", "kind", "order", "description", "amount", "currency", "source", "source id")


def statement_rows(entries) -> list[tuple]:
    """The rows of a statement (CSV): every entry with its order, oldest first."""
    return [
        (e.created_at.isoformat(timespec="seconds"), e.get_kind_display(), e.order_number, e.description,
         f"{e.amount:.2f}", e.currency, e.source_type, e.source_id)
        for e in sorted(entries, key=lambda e: (e.created_at, e.pk))
    ]


def payout_statement(*, payout: Payout) -> list[LedgerEntry]:
    """What a paid payout paid: the seller's entries after their previous payout's entry, up to and
    including this payout's own (none for a payout not paid yet)."""
    K, S = LedgerEntry.Kind, LedgerEntry.Source
    mine = LedgerEntry.objects.filter(kind=K.PAYOUT, source_type=S.PAYOUT, source_id=payout.pk).first()
    if mine is None:
        return []
    previous = (LedgerEntry.objects.filter(seller_id=payout.seller_id, kind=K.PAYOUT, id__lt=mine.pk)
                .order_by("-id").values_list("id", flat=True).first()) or 0
    return list(LedgerEntry.objects.filter(seller_id=payout.seller_id, id__gt=previous, id__lte=mine.pk).order_by("id"))


def settlement_date(today: date) -> date:
    """The latest settlement date on or before ``today`` (every ``FINANCE_PAYOUT_PERIOD_DAYS`` from
    ``FINANCE_PAYOUT_EPOCH``)."""
    epoch = date.fromisoformat(settings.FINANCE_PAYOUT_EPOCH)
    period = settings.FINANCE_PAYOUT_PERIOD_DAYS
    return epoch + timedelta(days=(today - epoch).days // period * period)


def next_settlement_date(today: date) -> date:
    """The first settlement date after ``today``."""
    return settlement_date(today) + timedelta(days=settings.FINANCE_PAYOUT_PERIOD_DAYS)


# --- the seller centre ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SellerCentre:
    seller: object
    sales: dict[str, tuple[Decimal, int]]  # "today", "7 days", "30 days" -> (amount, units)
    to_ship: list  # packages waiting to ship, the most overdue first
    health: SellerHealth | None
    targets: dict
    balance: Balance
    next_payout_on: object
    expected_payout: Decimal
    losing_buy_box: list  # marketplace.selectors.LostBuyBox rows (the first ones)
    losing_buy_box_count: int = 0  # all of them
    to_ship_count: int = 0  # all the packages waiting (to_ship: the first of them)


def seller_centre(*, seller, today, now, inputs) -> SellerCentre:
    """Everything a seller's home shows: a constant number of queries, whatever their history.
    ``inputs``: the strategy the buy box is reckoned with (stock, shipping and deals)."""
    start_of_today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    sales = orders_selectors.seller_sales(seller_id=seller.pk, windows={
        "today": start_of_today, "7 days": now - timedelta(days=7), "30 days": now - timedelta(days=30)})
    balance = seller_balance(seller_id=seller.pk)
    expected = max(balance.available - pending_payout_total(seller_id=seller.pk), Decimal("0.00"))
    return SellerCentre(
        seller=seller, sales=sales, to_ship=orders_selectors.packages_to_ship(seller_id=seller.pk),
        to_ship_count=orders_selectors.packages_to_ship_count(seller_id=seller.pk),
        health=SellerHealth.objects.filter(seller=seller).order_by("-computed_on").first(),
        targets=settings.FINANCE_HEALTH_TARGETS, balance=balance, next_payout_on=next_settlement_date(today),
        expected_payout=expected,
        losing_buy_box=marketplace_selectors.offers_losing_buy_box(seller_id=seller.pk, inputs=inputs),
        losing_buy_box_count=marketplace_selectors.offers_losing_buy_box_count(seller_id=seller.pk),
    )
