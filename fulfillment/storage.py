"""Storage fees (writes): what sellers' units occupy in Bazaar's centres, charged monthly.

Every day a beat task records, per seller and storage class (from the unit's size tier), the
cubic feet its units take in Bazaar's centres (``storage_snapshot``; running it again the same day
replaces that day's figures). Once a month is over, ``storage_charge_month`` charges each seller
the month's average cubic feet (the sum of its daily figures over the days of the month) times the
rate of the class, the peak rate in ``FULFILLMENT_PEAK_MONTHS``: one ``StorageCharge`` per seller
and month (a unique constraint decides between two runs), announced by an event that finance
posts to the seller's ledger. Bazaar's own stock is not charged. A unit not measured yet counts as
``FULFILLMENT_UNMEASURED_CUBIC_FEET`` of the unmeasured tier's class.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from datetime import date
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
    rates = {rate.storage_class: rate.per_cubic_foot for rate in StorageRate.objects.filter(peak=peak)}
    totals: dict[int, dict[str, Decimal]] = defaultdict(dict)
    for seller_id, storage_class, cubic in selectors.storage_totals(first=first, following=following):
        totals[seller_id][storage_class] = cubic
    charged = set(StorageCharge.objects.filter(month=first).values_list("seller_id", flat=True))
    charged.add(marketplace_selectors.house_seller().pk)  # Bazaar's own stock is not charged
    made = 0
    for seller_id, by_class in sorted(totals.items()):
        if seller_id in charged:
            continue
        detail, amount = {"days": days, "peak": peak}, Decimal("0")
        for storage_class, cubic in sorted(by_class.items()):
            average = cubic / days
            rate = rates.get(storage_class, Decimal("0"))
            amount += average * rate
            detail[storage_class] = {"average_cubic_feet": str(average.quantize(Decimal("0.0001"))),
                                     "rate": str(rate)}
        amount = amount.quantize(Decimal("0.01"), ROUND_HALF_UP)
        if amount <= 0:
            continue
        try:
            with transaction.atomic():
                charge = StorageCharge.objects.create(seller_id=seller_id, month=first, amount=amount, detail=detail)
                events.record(fulfillment_events.STORAGE_CHARGED, aggregate="storage_charge",
                              aggregate_id=charge.pk, charge_id=charge.pk, seller_id=seller_id)
        except IntegrityError:  # another run charged it at the same time
            continue
        made += 1
    return made


def storage_charge_last_month(*, today: date | None = None) -> int:
    """The beat task's call (daily, so a missed day catches up): charge the month before ``today``'s."""
    today = today or timezone.localdate()
    last_month = (today.replace(day=1) - timezone.timedelta(days=1))
    return storage_charge_month(month=last_month, today=today)
