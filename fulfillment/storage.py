"""Storage fees (writes): what sellers' units occupy in Bazaar's centres, charged monthly.

Every day a beat task records, per seller and storage class (from the unit's size tier), the
cubic feet its units take in Bazaar's centres (``storage_snapshot``; running it again the same day
replaces that day's figures). Once a month is over, ``storage_charge_month`` charges each seller
the month's average cubic feet (the sum of its daily figures over the days of the month) times the
rate of the class, the peak rate in ``FULFILLMENT_PEAK_MONTHS``, plus the aged inventory surcharge
on the cubic feet of units stored longer than ``FULFILLMENT_AGED_DAYS`` when the charge is made
(a stock row's units beyond those received in that time): one ``StorageCharge`` per seller
and month (a unique constraint decides between two runs), announced by an event that finance
posts to the seller's ledger. Bazaar's own stock is not charged. A unit not measured yet counts as
``FULFILLMENT_UNMEASURED_CUBIC_FEET`` of the unmeasured tier's class.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core import events
from core.exceptions import ApplicationError
from fulfillment import events as fulfillment_events
from fulfillment import selectors
from fulfillment.models import StorageCharge, StorageRate, StorageSnapshot
from marketplace import selectors as marketplace_selectors

CHUNK = 5000


def storage_snapshot(*, day: date | None = None) -> int:
    """Record ``day``'s cubic feet per seller and storage class (today by default). Returns rows."""
    day = day or timezone.localdate()
    house = marketplace_selectors.house_seller().pk
    stored = selectors.platform_units_by_seller_product(exclude_seller_id=house)
    volumes: dict[tuple[int, str], list] = defaultdict(lambda: [Decimal("0"), 0])
    products = sorted({product_id for _seller, product_id, _units in stored})
    quotes = {}
    for start in range(0, len(products), CHUNK):
        quotes.update(selectors.fee_quotes(product_ids=products[start:start + CHUNK]))
    unmeasured = settings.FULFILLMENT_UNMEASURED_CUBIC_FEET
    for seller_id, product_id, units in stored:
        quote = quotes.get(product_id)
        if quote is None:
            continue
        per_unit = quote.cubic_feet if quote.cubic_feet is not None else unmeasured
        entry = volumes[(seller_id, quote.storage_class)]
        entry[0] += per_unit * units
        entry[1] += units
    rows = [StorageSnapshot(seller_id=seller_id, day=day, storage_class=storage_class,
                            cubic_feet=cubic.quantize(Decimal("0.0001")), units=units)
            for (seller_id, storage_class), (cubic, units) in volumes.items()]
    with transaction.atomic():
        StorageSnapshot.objects.filter(day=day).delete()
        StorageSnapshot.objects.bulk_create(rows, batch_size=CHUNK)
    return len(rows)


def _month_bounds(month: date) -> tuple[date, date, int]:
    first = month.replace(day=1)
    days = calendar.monthrange(first.year, first.month)[1]
    following = date(first.year + (first.month == 12), first.month % 12 + 1, 1)
    return first, following, days


def storage_charge_month(*, month: date, today: date | None = None) -> int:
    """Charge every seller's storage for ``month`` (any day of it), once it is over. Returns the
    number of charges made now (0 when run again)."""
    first, following, days = _month_bounds(month)
    if following > (today or timezone.localdate()):
        raise ApplicationError(_("A month is charged once it is over."), code="month_not_over")
    peak = first.month in settings.FULFILLMENT_PEAK_MONTHS
    rates = {rate.storage_class: rate for rate in StorageRate.objects.filter(peak=peak)}
    totals: dict[int, dict[str, Decimal]] = defaultdict(dict)
    for seller_id, storage_class, cubic in selectors.storage_totals(first=first, following=following):
        totals[seller_id][storage_class] = cubic
    house = marketplace_selectors.house_seller().pk
    aged = _aged_cubic_feet(house)
    charged = set(StorageCharge.objects.filter(month=first).values_list("seller_id", flat=True))
    charged.add(house)  # Bazaar's own stock is not charged
    made = 0
    for seller_id in sorted(set(totals) | set(aged)):
        if seller_id in charged:
            continue
        detail, amount, aged_amount = {"days": days, "peak": peak}, Decimal("0"), Decimal("0")
        for storage_class, cubic in sorted(totals.get(seller_id, {}).items()):
            average = cubic / days
            rate = rates[storage_class].per_cubic_foot if storage_class in rates else Decimal("0")
            amount += average * rate
            detail[storage_class] = {"average_cubic_feet": str(average.quantize(Decimal("0.0001"))),
                                     "rate": str(rate)}
        for storage_class, cubic in sorted(aged.get(seller_id, {}).items()):
            rate = rates[storage_class].aged_per_cubic_foot if storage_class in rates else Decimal("0")
            aged_amount += cubic * rate
            detail[f"aged_{storage_class}"] = {"cubic_feet": str(cubic.quantize(Decimal("0.0001"))), "rate": str(rate)}
        amount = amount.quantize(Decimal("0.01"), ROUND_HALF_UP)
        aged_amount = aged_amount.quantize(Decimal("0.01"), ROUND_HALF_UP)
        if amount <= 0 and aged_amount <= 0:
            continue
        try:
            with transaction.atomic():
                charge = StorageCharge.objects.create(seller_id=seller_id, month=first, amount=amount,
                                                      aged_amount=aged_amount, detail=detail)
                events.record(fulfillment_events.STORAGE_CHARGED, aggregate="storage_charge",
                              aggregate_id=charge.pk, charge_id=charge.pk, seller_id=seller_id)
        except IntegrityError:  # another run charged it at the same time
            continue
        made += 1
    return made


def _aged_cubic_feet(house_seller_id: int) -> dict[int, dict[str, Decimal]]:
    """Seller -> storage class -> cubic feet of units stored longer than ``FULFILLMENT_AGED_DAYS``
    (as it stands when the charge is made)."""
    since = timezone.now() - timedelta(days=settings.FULFILLMENT_AGED_DAYS)
    rows = selectors.aged_units_by_seller_product(received_since=since, exclude_seller_id=house_seller_id)
    quotes = selectors.fee_quotes(product_ids={product_id for _seller, product_id, _units in rows})
    aged: dict[int, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for seller_id, product_id, units in rows:
        quote = quotes.get(product_id)
        if quote is not None:
            per_unit = quote.cubic_feet if quote.cubic_feet is not None else settings.FULFILLMENT_UNMEASURED_CUBIC_FEET
            aged[seller_id][quote.storage_class] += per_unit * units
    return aged


def storage_charge_last_month(*, today: date | None = None) -> int:
    """The beat task's call (daily, so a missed day catches up): charge the month before ``today``'s."""
    today = today or timezone.localdate()
    last_month = (today.replace(day=1) - timedelta(days=1))
    return storage_charge_month(month=last_month, today=today)
