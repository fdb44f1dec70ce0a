"""Writes for fulfillment: warehouses and stock.

Every change to stock is one conditional UPDATE (``F()`` expressions, so concurrent writers
never lose an update and never take stock below zero) plus a ledger row, in one transaction.
After the commit the affected products' buy boxes are refreshed.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Case, F, IntegerField, Value, When
from django.utils.translation import gettext as _

from core import cache as vcache
from core.exceptions import ApplicationError, PermissionDenied
from core.money import validate_price
from fulfillment import carriers, tracking
from fulfillment import selectors as fulfillment_selectors
from fulfillment.models import Holiday, ShippingMethod, StockItem, StockMovement, Warehouse
from marketplace import selectors as marketplace_selectors
from marketplace import services as marketplace_services

logger = logging.getLogger(__name__)


class InsufficientStock(ApplicationError):
    code = "insufficient_stock"
    status_code = 409

    def __init__(self, *, offer_id: int, requested: int, available: int) -> None:
        message = (
            _("Sorry, this item is out of stock.") if available <= 0 else _("Only %(n)s left.") % {"n": available}
        )
        super().__init__(message, fields={"quantity": [message]})
        self.offer_id = offer_id
        self.requested = requested
        self.available = max(available, 0)


def _positive(quantity, field: str = "quantity") -> int:
    try:
        value = int(quantity)
    except (TypeError, ValueError):
        raise ApplicationError(_("Enter a whole number."), fields={field: [_("Enter a whole number.")]}) from None
    if value <= 0:
        raise ApplicationError(_("The quantity must be at least 1."), fields={field: [_("Must be at least 1.")]})
    return value


# --- warehouses ---------------------------------------------------------------------------


def warehouse_create(
    *, code: str, name: str, kind: str = Warehouse.Kind.PLATFORM, seller=None, country: str = "US", city: str = "",
    street: str = "", region: str = "", postal_code: str = "",
) -> Warehouse:
    if kind == Warehouse.Kind.SELLER and seller is None:
        raise ApplicationError(_("A seller location needs a seller."), fields={"seller": [_("Choose a seller.")]})
    if kind == Warehouse.Kind.PLATFORM:
        seller = None
    warehouse = Warehouse.objects.create(code=code, name=name, kind=kind, seller=seller, country=country, city=city,
                                         street=street, region=region, postal_code=postal_code)
    vcache.bump_on_commit(fulfillment_selectors.CALENDAR)
    fulfillment_selectors.clocks_forget()
    return warehouse


def seller_location_open(*, seller_id: int) -> Warehouse | None:
    """A new seller's first shipping location (named after it, in its country), so it can hold
    stock as soon as it is approved; None when it has one already (idempotent)."""
    seller = marketplace_selectors.seller_get(pk=seller_id)
    if seller is None or seller.is_house:
        return None
    if Warehouse.objects.filter(seller_id=seller_id, kind=Warehouse.Kind.SELLER).exists():
        return None
    try:
        with transaction.atomic():  # the code is unique: two deliveries of the event make one location
            return warehouse_create(code=f"seller-{seller_id}", name=_("%(seller)s, main location") % {
                "seller": seller.name}, kind=Warehouse.Kind.SELLER, seller=seller, country=seller.country)
    except IntegrityError:
        return None


def _check_time_zone(name: str) -> None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ApplicationError(_("Unknown time zone: %(name)s (write it like America/New_York).") % {"name": name},
                               fields={"time_zone": [_("Unknown time zone.")]}) from None


def holiday_save(*, holiday: Holiday) -> Holiday:
    """Save a holiday (admin): the delivery promises change from the next page on."""
    with transaction.atomic():
        holiday.save()
        vcache.bump_on_commit(fulfillment_selectors.CALENDAR)
    return holiday


def holiday_add(*, day, name: str, warehouse: Warehouse | None = None, carrier: str = "") -> Holiday:
    return holiday_save(holiday=Holiday(day=day, name=name, warehouse=warehouse, carrier=carrier))


def holiday_delete(*, holiday: Holiday) -> None:
    with transaction.atomic():
        holiday.delete()
        vcache.bump_on_commit(fulfillment_selectors.CALENDAR)


def warehouse_save(*, warehouse: Warehouse) -> Warehouse:
    """Save a warehouse edited elsewhere (admin); opening or closing it refreshes the buy boxes it feeds."""
    was_active = None
    if warehouse.pk:
        was_active = Warehouse.objects.filter(pk=warehouse.pk).values_list("is_active", flat=True).first()
    if warehouse.kind == Warehouse.Kind.PLATFORM:
        warehouse.seller = None
    _check_time_zone(warehouse.time_zone)
    with transaction.atomic():
        warehouse.save()
        vcache.bump_on_commit(fulfillment_selectors.CALENDAR)
        if was_active is not None and was_active != warehouse.is_active:
            _refresh_products_of(StockItem.objects.filter(warehouse=warehouse).values_list("offer_id", flat=True))
    fulfillment_selectors.clocks_forget()
    return warehouse


def shipping_method_create(
    *, code: str, name: str, channel: str, price, min_days: int, max_days: int, seller=None,
    members_only: bool = False,
) -> ShippingMethod:
    method = ShippingMethod(
        code=code, name=name, channel=channel, price=price, min_days=min_days, max_days=max_days, seller=seller,
        members_only=members_only,
    )
    return shipping_method_save(method=method)


def shipping_method_save(*, method: ShippingMethod) -> ShippingMethod:
    """Save a shipping method; the buy boxes it can affect (landed prices) are refreshed."""
    method.price = validate_price(method.price, field="price", allow_zero=True)
    previous = None
    if method.pk:
        previous = ShippingMethod.objects.filter(pk=method.pk).values_list("channel", "seller_id").first()
    with transaction.atomic():
        method.save()
        vcache.bump_now_and_on_commit(fulfillment_selectors.SHIPPING_METHODS_NAMESPACE)
        _refresh_shipping_scope(method.channel, method.seller_id)
        if previous and previous != (method.channel, method.seller_id):
            _refresh_shipping_scope(*previous)
    return method


def shipping_method_delete(*, method: ShippingMethod) -> None:
    with transaction.atomic():
        scope = (method.channel, method.seller_id)
        method.delete()
        vcache.bump_now_and_on_commit(fulfillment_selectors.SHIPPING_METHODS_NAMESPACE)
        _refresh_shipping_scope(*scope)


def _refresh_shipping_scope(channel: str, seller_id: int | None) -> None:
    """Refresh the buy boxes of every product with an offer this method applies to."""
    product_ids = marketplace_selectors.product_ids_with_offers(channel=channel, seller_id=seller_id)
    marketplace_services.buy_box_request_refresh(product_ids=product_ids)


# --- stock --------------------------------------------------------------------------------


def check_warehouse_fits_offer(*, offer, warehouse: Warehouse) -> None:
    """Platform-fulfilled stock lives in platform centres; a seller ships from its own places."""
    if offer.fulfilled_by_platform and warehouse.kind != Warehouse.Kind.PLATFORM:
        raise ApplicationError(
            _("Offers fulfilled by Bazaar keep their stock in a Bazaar fulfilment centre."),
            fields={"warehouse": [_("Choose a Bazaar fulfilment centre.")]},
        )
    if not offer.fulfilled_by_platform and warehouse.seller_id != offer.seller_id:
        raise ApplicationError(
            _("Offers shipped by the seller keep their stock in the seller's own locations."),
            fields={"warehouse": [_("Choose one of this seller's locations.")]},
        )


def _check_stock_actor(*, actor, perm: str, warehouse_kind: str, seller_id: int) -> None:
    """A seller's member changes stock only in their own sellers' locations, and only where their
    role grants ``perm``; Bazaar's fulfilment centres are for platform staff (invariant 7 in docs/architecture.md).
    ``actor`` None is the system itself; platform staff and superusers pass."""
    if actor is None or marketplace_selectors.seller_scope_for_user(actor) is None:
        return
    if warehouse_kind == Warehouse.Kind.PLATFORM:
        message = _("Only Bazaar staff receive or correct stock in a Bazaar fulfilment centre.")
        raise PermissionDenied(message, code="platform_warehouse", fields={"warehouse": [message]})
    if seller_id not in marketplace_selectors.seller_ids_with_permission(actor, perm):
        raise PermissionDenied(_("Your role at this seller does not allow changing its stock."))


def _check_stock_item_actor(*, actor, perm: str, stock_item: StockItem) -> None:
    if actor is None:
        return
    kind, seller_id = StockItem.objects.filter(pk=stock_item.pk).values_list(
        "warehouse__kind", "offer__seller_id"
    ).get()
    _check_stock_actor(actor=actor, perm=perm, warehouse_kind=kind, seller_id=seller_id)


def stock_item_ensure(*, offer, warehouse: Warehouse, actor=None) -> StockItem:
    """The stock row of ``offer`` in ``warehouse`` (made when missing). ``actor``: the user asking
    (None for the system); a seller's member may not open rows in Bazaar's centres."""
    check_warehouse_fits_offer(offer=offer, warehouse=warehouse)
    _check_stock_actor(actor=actor, perm="fulfillment.add_stockitem", warehouse_kind=warehouse.kind,
                       seller_id=offer.seller_id)
    try:
        with transaction.atomic():
            item, _created = StockItem.objects.get_or_create(offer=offer, warehouse=warehouse)
    except IntegrityError:  # created concurrently
        item = StockItem.objects.get(offer=offer, warehouse=warehouse)
    return item


BIN_CODE = re.compile(r"^[A-Z0-9]+(-[A-Z0-9]+)*$")


def bin_code_clean(value: str) -> str:
    """A bin code as stored: upper case, letters and digits in parts joined by hyphens (A03-12-2);
    empty for "not shelved yet". Raises :class:`ApplicationError` for anything else."""
    code = (value or "").strip().upper()
    if code and (len(code) > 32 or not BIN_CODE.match(code)):
        raise ApplicationError(_("A bin is letters and digits in parts joined by hyphens, e.g. A03-12-2 "
                                 "(at most 32 characters)."), fields={"bin": [_("Not a bin code.")]})
    return code


def stock_item_set_bin(*, stock_item: StockItem, bin_code: str, actor=None) -> StockItem:
    """Shelve a stock row at ``bin_code`` (pick lists walk bins in order). Whoever may change the
    row: Bazaar's staff in Bazaar's centres, a seller's members in their own locations."""
    _check_stock_item_actor(actor=actor, perm="fulfillment.change_stockitem", stock_item=stock_item)
    code = bin_code_clean(bin_code)
    StockItem.objects.filter(pk=stock_item.pk).update(bin=code)
    stock_item.bin = code
    return stock_item


def _record(item_id: int, kind: str, d_on_hand: int, d_reserved: int, reference: str, note: str, actor) -> StockItem:
    item = StockItem.objects.only("id", "offer_id", "on_hand", "reserved").get(pk=item_id)
    StockMovement.objects.create(
        stock_item_id=item_id, kind=kind, on_hand_delta=d_on_hand, reserved_delta=d_reserved,
        on_hand_after=item.on_hand, reserved_after=item.reserved, reference=reference[:100], note=note[:200],
        actor=actor if getattr(actor, "pk", None) else None,
    )
    return item


def _refresh_products_of(offer_ids: Iterable[int]) -> None:
    """The buy boxes of these offers' products may have changed (the worker finds the products)."""
    marketplace_services.buy_box_request_refresh(offer_ids=offer_ids)


def stock_receive(*, stock_item: StockItem, quantity, reference: str = "", note: str = "", actor=None) -> StockItem:
    """Add units that arrived at the warehouse. ``actor``: the user recording it (None for the
    system); a seller's member only in their own locations."""
    qty = _positive(quantity)
    _check_stock_item_actor(actor=actor, perm="fulfillment.receive_stock", stock_item=stock_item)
    with transaction.atomic():
        StockItem.objects.filter(pk=stock_item.pk).update(on_hand=F("on_hand") + qty)
        item = _record(stock_item.pk, StockMovement.Kind.RECEIVE, qty, 0, reference, note, actor)
        _refresh_products_of([item.offer_id])
    return item


def stock_receive_into(*, offer, warehouse: Warehouse, quantity, reference: str, note: str = "",
                       actor=None) -> StockItem:
    """Units of ``offer`` arrived at ``warehouse`` (an inbound shipment, a purchase order): its
    stock row is made when missing and the units received through the ledger."""
    item = stock_item_ensure(offer=offer, warehouse=warehouse, actor=actor)
    return stock_receive(stock_item=item, quantity=quantity, reference=reference, note=note, actor=actor)


def counted_units(counts: dict) -> dict[int, int]:
    """Units counted per row id, as a receiving page posts them (empty and 0 left out); a count that
    is not a whole number from 1 to 1,000,000 is an :class:`ApplicationError`."""
    wanted = {}
    for row_id, units in counts.items():
        if str(units).strip() in ("", "0"):
            continue
        try:
            key, value = int(row_id), int(str(units).strip())
        except (TypeError, ValueError):
            value = -1
        if not 0 < value <= 1_000_000:
            raise ApplicationError(_("Units: whole numbers from 1 to 1,000,000."),
                                   fields={"quantity": [_("From 1 to 1,000,000.")]})
        wanted[key] = value
    return wanted


def stock_receive_rows(*, rows, counts: dict[int, int], warehouse: Warehouse, reference: str, note: str,
                       actor=None) -> int:
    """Receive counted units of a document's rows (inbound items, purchase order lines: each with
    ``offer`` and ``received``, locked by the caller) into ``warehouse``: each through the stock
    ledger, and added to its row's ``received``. An id not among ``rows`` is refused. Returns units."""
    by_id = {row.pk: row for row in rows}
    if set(counts) - set(by_id):
        raise ApplicationError(_("These units are not on this document."), code="unknown_row")
    total = 0
    for row_id, units in sorted(counts.items()):
        row = by_id[row_id]
        stock_receive_into(offer=row.offer, warehouse=warehouse, quantity=units, reference=reference, note=note,
                           actor=actor)
        row.received += units
        row.save(update_fields=["received"])
        total += units
    return total


def record_discrepancies(*, rows) -> None:
    """Receiving is over: each row's received minus expected units, recorded (locked rows)."""
    for row in rows:
        row.discrepancy = row.received - row.quantity
        row.save(update_fields=["discrepancy"])


def stock_adjust(*, stock_item: StockItem, delta, reference: str = "", note: str = "", actor=None) -> StockItem:
    """Correct on-hand units (a count, damage, loss). Never below what is reserved. ``actor``: the
    user correcting (None for the system); a seller's member only in their own locations."""
    try:
        delta = int(delta)
    except (TypeError, ValueError):
        raise ApplicationError(_("Enter a whole number."), fields={"delta": [_("Enter a whole number.")]}) from None
    if delta == 0:
        return stock_item
    _check_stock_item_actor(actor=actor, perm="fulfillment.adjust_stock", stock_item=stock_item)
    with transaction.atomic():
        updated = StockItem.objects.filter(pk=stock_item.pk, on_hand__gte=F("reserved") - delta).update(
            on_hand=F("on_hand") + delta
        )
        if not updated:
            current = StockItem.objects.get(pk=stock_item.pk)
            raise ApplicationError(
                _("On hand cannot go below the %(reserved)s units reserved for orders (now %(on_hand)s).")
                % {"reserved": current.reserved, "on_hand": current.on_hand},
                fields={"delta": [_("Too large a reduction.")]},
            )
        item = _record(stock_item.pk, StockMovement.Kind.ADJUST, delta, 0, reference, note, actor)
        _refresh_products_of([item.offer_id])
    return item


def stock_set_on_hand(*, stock_item: StockItem, on_hand, note: str = "", actor=None) -> StockItem:
    """Set the counted on-hand quantity (admin stock take): recorded as an adjustment."""
    try:
        target = int(on_hand)
    except (TypeError, ValueError):
        raise ApplicationError(_("Enter a whole number."), fields={"on_hand": [_("Enter a whole number.")]}) from None
    if target < 0:
        raise ApplicationError(_("On hand cannot be negative."), fields={"on_hand": [_("Cannot be negative.")]})
    current = StockItem.objects.only("on_hand").get(pk=stock_item.pk).on_hand
    return stock_adjust(stock_item=stock_item, delta=target - current, note=note or "stock take", actor=actor)


@dataclass(frozen=True)
class Reservation:
    stock_item_id: int
    offer_id: int
    quantity: int


def stock_reserve(*, lines: Sequence[tuple[int, int]], reference: str, announce: bool = True) -> list[Reservation]:
    """Reserve ``quantity`` units of each ``(offer_id, quantity)``, or nothing at all.

    All the offers' stock rows (active warehouses) are locked with one ``SELECT ... FOR UPDATE``
    in primary-key order, so concurrent buyers never deadlock; each offer takes from its rows in
    id order; then one UPDATE reserves the units and one INSERT writes the ledger rows. A constant
    number of queries, whatever the number of lines. If any line cannot be met, nothing is
    written and :class:`InsufficientStock` says how many are left. ``announce``: ask for a refresh
    of these offers' buy boxes (False when the caller's own event asks for it, as placing an
    order does).
    """
    wanted: dict[int, int] = {}
    for offer_id, quantity in lines:
        wanted[int(offer_id)] = wanted.get(int(offer_id), 0) + _positive(quantity)
    reservations: list[Reservation] = []
    # No savepoint: a shortage is raised after the block, having written nothing (a caller's
    # transaction stays usable), and a database error aborts the caller's transaction as a whole
    # (placing an order reserves and creates it together).
    shortage: InsufficientStock | None = None
    with transaction.atomic(savepoint=False):
        rows = list(
            StockItem.objects.select_for_update(of=("self",))
            .filter(offer_id__in=list(wanted), warehouse__is_active=True)
            .order_by("pk")
            .values_list("pk", "offer_id", "on_hand", "reserved")
        )
        by_offer: dict[int, list[tuple[int, int, int]]] = {}
        for pk, offer_id, on_hand, reserved in rows:
            by_offer.setdefault(offer_id, []).append((pk, on_hand, reserved))
        movements: list[StockMovement] = []
        for offer_id in sorted(wanted):
            remaining = wanted[offer_id]
            for pk, on_hand, reserved in by_offer.get(offer_id, []):
                take = min(remaining, on_hand - reserved)
                if take <= 0:
                    continue
                remaining -= take
                reservations.append(Reservation(pk, offer_id, take))
                movements.append(
                    StockMovement(
                        stock_item_id=pk, kind=StockMovement.Kind.RESERVE, on_hand_delta=0, reserved_delta=take,
                        on_hand_after=on_hand, reserved_after=reserved + take, reference=reference[:100],
                    )
                )
                if remaining == 0:
                    break
            if remaining:
                available = wanted[offer_id] - remaining
                shortage = InsufficientStock(offer_id=offer_id, requested=wanted[offer_id], available=available)
                break
        if reservations and shortage is None:
            # The rows are locked: the figures read above are current. The CHECK constraints
            # (reserved <= on_hand) still guard the update.
            StockItem.objects.filter(pk__in=[r.stock_item_id for r in reservations]).update(
                reserved=F("reserved")
                + Case(*(When(pk=r.stock_item_id, then=Value(r.quantity)) for r in reservations),
                       output_field=IntegerField())
            )
            StockMovement.objects.bulk_create(movements)
            if announce:
                _refresh_products_of(wanted)
    if shortage is not None:
        raise shortage
    return reservations


def stock_release(*, reservations: Iterable[Reservation], reference: str) -> None:
    """Give reserved units back (an order cancelled or a payment declined)."""
    reservations = sorted(reservations, key=lambda r: r.stock_item_id)
    with transaction.atomic():
        for r in reservations:
            updated = StockItem.objects.filter(pk=r.stock_item_id, reserved__gte=r.quantity).update(
                reserved=F("reserved") - r.quantity
            )
            if not updated:
                raise ApplicationError(_("Cannot release more units than are reserved."), code="release_mismatch")
            _record(r.stock_item_id, StockMovement.Kind.RELEASE, 0, -r.quantity, reference, "", None)
        _refresh_products_of({r.offer_id for r in reservations})


def stock_ship(*, reservations: Iterable[Reservation], reference: str, actor=None) -> None:
    """Reserved units leave the warehouse: on hand and reserved both go down by the quantity.

    One conditional UPDATE per stock row (rows in id order, so concurrent shipments never
    deadlock) plus a SHIP ledger row each; refused as a whole if a row no longer holds that many
    reserved units, so nothing ships twice and no count goes below zero. A seller's member as
    ``actor`` never ships units out of a Bazaar fulfilment centre.
    """
    wanted: dict[tuple[int, int], int] = {}
    for r in reservations:
        key = (int(r.stock_item_id), int(r.offer_id))
        wanted[key] = wanted.get(key, 0) + _positive(r.quantity)
    if not wanted:
        return
    if actor is not None and marketplace_selectors.seller_scope_for_user(actor) is not None:
        item_ids = sorted({item_id for item_id, _offer_id in wanted})
        if StockItem.objects.filter(pk__in=item_ids, warehouse__kind=Warehouse.Kind.PLATFORM).exists():
            raise PermissionDenied(
                _("Only Bazaar staff ship units from a Bazaar fulfilment centre."), code="platform_warehouse"
            )
    with transaction.atomic():
        for (stock_item_id, _offer_id), qty in sorted(wanted.items()):
            updated = StockItem.objects.filter(pk=stock_item_id, reserved__gte=qty, on_hand__gte=qty).update(
                on_hand=F("on_hand") - qty, reserved=F("reserved") - qty
            )
            if not updated:
                raise ApplicationError(_("Cannot ship more units than are reserved."), code="ship_mismatch")
            _record(stock_item_id, StockMovement.Kind.SHIP, -qty, -qty, reference, "", actor)
        _refresh_products_of({offer_id for _item, offer_id in wanted})


# --- labels (see fulfillment.tracking) ------------------------------------------------------------

Parcel = carriers.Parcel
CarrierError = carriers.CarrierError


def parcel_label_buy(*, reference: str, parcel: Parcel, service: str = "ground", carrier_code: str = ""):
    """The carrier label of ``reference`` (bought once; see :func:`fulfillment.tracking.label_buy`)."""
    return tracking.label_buy(reference=reference, carrier_code=carrier_code or settings.FULFILLMENT_DEFAULT_CARRIER,
                              service=service, parcel=parcel)
