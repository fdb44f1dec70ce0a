"""Reads for fulfillment: availability and shipping facts per offer, stock views."""

from __future__ import annotations

import re
import time as time_module
from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection
from django.db.models import F, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from catalog import selectors as catalog_selectors
from core import cache as vcache
from core.addresses import address_lines
from core.exceptions import NotFound
from fulfillment import labels, promise, sizing
from fulfillment.models import (
    CarrierShipment,
    Holiday,
    InboundShipment,
    InventoryUpload,
    PurchaseOrder,
    PurchaseOrderLine,
    RemovalOrder,
    ShippingMethod,
    SizeTier,
    StockItem,
    StockMovement,
    StorageCharge,
    StorageSnapshot,
    SupplierOffer,
    Warehouse,
)
from marketplace import selectors as marketplace_selectors
from marketplace.benefits import PLATFORM
from marketplace.buy_box import OfferFacts

# Read by every page, cart and order that shows or sells stock: one prepared statement, not a
# queryset built on each call (building it cost more than running it).
_AVAILABLE_SQL = (
    f"SELECT s.offer_id, SUM(s.on_hand - s.reserved) FROM {StockItem._meta.db_table} s "  # noqa: S608
    f"JOIN {Warehouse._meta.db_table} w ON w.id = s.warehouse_id "
    "WHERE w.is_active = %s AND s.offer_id IN ({ids}) GROUP BY s.offer_id"
)
_AVAILABLE_CHUNK = 5000
# The same, with the warehouse a parcel of the offer would leave from (the lowest id with free units).
_STOCK_SQL = (
    f"SELECT s.offer_id, SUM(s.on_hand - s.reserved), "  # noqa: S608
    "MIN(CASE WHEN s.on_hand > s.reserved THEN s.warehouse_id END) "
    f"FROM {StockItem._meta.db_table} s JOIN {Warehouse._meta.db_table} w ON w.id = s.warehouse_id "
    "WHERE w.is_active = %s AND s.offer_id IN ({ids}) GROUP BY s.offer_id"
)
CALENDAR = "fulfillment:calendar"  # cache namespace: warehouses' cutoffs and time zones, holidays


def dispatch_warehouse_of_offer(outer: str = "pk") -> Subquery:
    """An annotation for an offer queryset: the warehouse a parcel of the offer would leave from
    (the lowest id of an active one with free units), so callers loading offers learn it at no
    extra query. ``outer``: the field of the outer queryset holding the offer id."""
    return Subquery(StockItem.objects.filter(offer_id=OuterRef(outer), warehouse__is_active=True,
                                             on_hand__gt=F("reserved")).order_by("warehouse_id")
                    .values("warehouse_id")[:1])


def available_of_offer(outer: str = "pk") -> Coalesce:
    """An annotation: units of the offer available now, as :func:`available_by_offer` counts them
    (on hand minus reserved over active warehouses; 0 without stock), so callers loading offers or
    cart lines learn it at no extra query. ``outer``: the field of the outer queryset holding the
    offer id."""
    units = (StockItem.objects.filter(offer_id=OuterRef(outer), warehouse__is_active=True).order_by()
             .values("offer_id").annotate(units=Sum(F("on_hand") - F("reserved"))).values("units"))
    return Coalesce(Subquery(units), 0)


def stock_by_offer(*, offer_ids: Sequence[int]) -> dict[int, tuple[int, int | None]]:
    """offer id -> (units available now, the warehouse a parcel would leave from): one query."""
    ids = [int(pk) for pk in offer_ids]
    result: dict[int, tuple[int, int | None]] = {}
    with connection.cursor() as cursor:
        for start in range(0, len(ids), _AVAILABLE_CHUNK):
            chunk = ids[start : start + _AVAILABLE_CHUNK]
            cursor.execute(_STOCK_SQL.format(ids=", ".join(["%s"] * len(chunk))), [True, *chunk])
            result.update((offer_id, (int(available or 0), warehouse_id))
                          for offer_id, available, warehouse_id in cursor.fetchall())
    return result


_CALENDAR_SQL = (
    f"SELECT id, time_zone, cutoff, NULL::date, '' FROM {Warehouse._meta.db_table} WHERE is_active "  # noqa: S608
    f"UNION ALL SELECT warehouse_id, '', NULL::time, day, carrier FROM {Holiday._meta.db_table} "
    "WHERE day BETWEEN %s AND %s"
)


def _build_calendar() -> dict:
    """Active warehouses (time zone, cutoff) and the coming holidays, in one query."""
    today = timezone.localdate()
    general, by_warehouse, by_carrier, warehouses = [], {}, {}, {}
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_CALENDAR_SQL, [today - timedelta(days=2), today + timedelta(days=200)])
            rows = cursor.fetchall()
    else:  # SQLite (the embedded default): the same rows in two queries
        rows = [(pk, tz, cutoff, None, "") for pk, tz, cutoff in
                Warehouse.objects.filter(is_active=True).values_list("pk", "time_zone", "cutoff")]
        rows += [(w, "", None, day, carrier) for w, day, carrier in Holiday.objects.filter(
            day__gte=today - timedelta(days=2), day__lte=today + timedelta(days=200)).values_list(
            "warehouse_id", "day", "carrier")]
    for warehouse_id, tz, cutoff, day, carrier in rows:
        if day is None:
            warehouses[warehouse_id] = (tz, cutoff)
        elif warehouse_id is not None:
            by_warehouse.setdefault(warehouse_id, []).append(day)
        elif carrier:
            by_carrier.setdefault(carrier, []).append(day)
        else:
            general.append(day)
    return {"general": general, "warehouses": warehouses, "by_warehouse": by_warehouse, "by_carrier": by_carrier}


def calendar() -> dict:
    """Active warehouses' time zones and cutoffs and the coming holidays (cached until one changes)."""
    return vcache.cached_in(CALENDAR, "fulfillment:calendar", _build_calendar, 60 * 60)


def dispatch_of(*, warehouse_id: int | None, cal: dict | None = None) -> promise.Dispatch:
    cal = cal if cal is not None else calendar()
    tz, cutoff = cal["warehouses"].get(warehouse_id, ("UTC", None))
    closed = frozenset(cal["general"]) | frozenset(cal["by_warehouse"].get(warehouse_id, ()))
    return promise.Dispatch(tz, cutoff, closed)


def transit_closed(*, carrier: str, cal: dict | None = None) -> frozenset:
    cal = cal if cal is not None else calendar()
    return frozenset(cal["general"]) | frozenset(cal["by_carrier"].get(carrier, ()))


def delivery_promise(*, now, dispatch: promise.Dispatch, handling_days: int, min_days: int, max_days: int,
                     carrier: str = "", cal: dict | None = None) -> promise.Promise:
    """When a parcel leaving by ``dispatch`` with a method of ``carrier`` arrives (see
    :mod:`fulfillment.promise`)."""
    return promise.promise(now=now, dispatch=dispatch, handling_days=handling_days, min_days=min_days,
                           max_days=max_days, transit_closed=transit_closed(carrier=carrier, cal=cal))


_CLOCKS: dict[str, object] = {"until": 0.0, "dispatches": [], "epoch": None}
CLOCKS_MEMO_SECONDS = 60


def clocks_forget() -> None:
    """A warehouse's clock changed here: this process reads the calendar again at once (others
    within ``CLOCKS_MEMO_SECONDS``)."""
    _CLOCKS["until"] = 0.0


def promise_epoch(*, now=None) -> str:
    """Changes when any active warehouse's local day, or side of its cutoff, changes. Read on every
    product page (page-cache hits included), so the warehouses' clocks are kept in the process for
    a minute instead of a cache round trip each time; the promised days themselves are always
    computed from the shared calendar, whose changes invalidate the cached pages at once."""
    if time_module.monotonic() >= _CLOCKS["until"]:
        cal = calendar()
        _CLOCKS["dispatches"] = [promise.Dispatch(tz, cutoff) for tz, cutoff in cal["warehouses"].values()
                                 if cutoff is not None]
        _CLOCKS["until"] = time_module.monotonic() + CLOCKS_MEMO_SECONDS
        _CLOCKS["epoch"] = None
    dispatches = _CLOCKS["dispatches"]
    if not dispatches:
        return ""
    now = now or timezone.now()
    # the epoch itself holds from when it was computed until the next cutoff or local midnight
    known = _CLOCKS.get("epoch")
    if known is not None and known[0] <= now < known[1]:
        return known[2]
    value = promise.epoch(now=now, dispatches=dispatches)
    _CLOCKS["epoch"] = (now, promise.next_epoch(now=now, dispatches=dispatches), value)
    return value


def available_by_offer(*, offer_ids: Sequence[int]) -> dict[int, int]:
    """Units available now (on hand minus reserved, active warehouses) per offer: one query."""
    ids = [int(pk) for pk in offer_ids]
    result: dict[int, int] = {}
    with connection.cursor() as cursor:
        for start in range(0, len(ids), _AVAILABLE_CHUNK):  # within every database's parameter limit
            chunk = ids[start : start + _AVAILABLE_CHUNK]
            cursor.execute(_AVAILABLE_SQL.format(ids=", ".join(["%s"] * len(chunk))), [True, *chunk])
            result.update((offer_id, int(available or 0)) for offer_id, available in cursor.fetchall())
    return result


def shipping_methods_for(
    *, seller_id: int, channel: str, methods: Sequence[ShippingMethod], members: bool = False
) -> list[ShippingMethod]:
    """The methods that apply to a seller's offers of one channel: its own, else the defaults.
    Members-only methods are included only for ``members`` (a plan with faster shipping)."""
    methods = [m for m in methods if m.channel == channel and (members or not m.members_only)]
    own = [m for m in methods if m.seller_id == seller_id]
    return own or [m for m in methods if m.seller_id is None]


SHIPPING_METHODS_NAMESPACE = "shipping-methods"


def active_shipping_methods() -> list[ShippingMethod]:
    """Every active method (a small table read on every pricing): cached until one is saved."""
    return vcache.cached_in(
        SHIPPING_METHODS_NAMESPACE, "fulfillment:active-shipping-methods",
        lambda: list(ShippingMethod.objects.filter(is_active=True).order_by("price", "min_days", "pk")),
    )


def offer_facts(offers: Sequence, *, now=None) -> dict[int, OfferFacts]:
    """The offer-facts strategy marketplace uses for the buy box and offer pages: stock, shipping,
    and the delivery promise (from the warehouse a parcel would leave, its cutoff and holidays).
    Two queries per batch, and the cached calendar."""
    stock = stock_by_offer(offer_ids=[o.pk for o in offers])
    methods = active_shipping_methods()
    cal = calendar() if offers else None
    now = now or timezone.now()
    options_of: dict[tuple[int, str], tuple] = {}  # the methods depend on seller and channel only
    facts = {}
    for offer in offers:
        key = (offer.seller_id, offer.fulfillment_channel)
        if key not in options_of:
            options = shipping_methods_for(seller_id=key[0], channel=key[1], methods=methods)
            member_options = shipping_methods_for(seller_id=key[0], channel=key[1], methods=methods, members=True)
            # The promise shown beside the shipping price is the window of the option that price
            # buys (checkout's default, the cheapest), never a faster option's first day. A member
            # gets what checkout picks for them: on Bazaar's channel every option ships free, so
            # the fastest; elsewhere the cheapest, as for anyone (members-only options included).
            member_key = (lambda m: (m.max_days, m.min_days)) if key[1] == PLATFORM else (
                lambda m: (m.price, m.max_days, m.min_days))
            options_of[key] = (
                min(options, key=lambda m: (m.price, m.max_days, m.min_days), default=None),  # cheapest
                min(member_options, key=member_key, default=None),  # a member's
            )
        cheapest, member_fastest = options_of[key]
        available, warehouse_id = stock.get(offer.pk, (0, None))
        promised = member_promised = None
        if available > 0 and warehouse_id is not None:
            dispatch = dispatch_of(warehouse_id=warehouse_id, cal=cal)
            if cheapest is not None:
                promised = promise.promise(now=now, dispatch=dispatch, handling_days=offer.handling_days,
                                           min_days=cheapest.min_days, max_days=cheapest.max_days,
                                           transit_closed=transit_closed(carrier=cheapest.carrier, cal=cal))
            if member_fastest is not None:
                member_promised = promise.promise(
                    now=now, dispatch=dispatch, handling_days=offer.handling_days, min_days=member_fastest.min_days,
                    max_days=member_fastest.max_days, transit_closed=transit_closed(carrier=member_fastest.carrier,
                                                                                    cal=cal))
        facts[offer.pk] = OfferFacts(
            available=max(available, 0),
            shipping=cheapest.price if cheapest else Decimal(0),
            delivery_min_days=offer.handling_days + (cheapest.min_days if cheapest else 0),
            delivery_max_days=offer.handling_days + (cheapest.max_days if cheapest else 0),
            member_delivery_min_days=offer.handling_days + (member_fastest.min_days if member_fastest else 0),
            member_delivery_max_days=offer.handling_days + (member_fastest.max_days if member_fastest else 0),
            arrives_from=promised.earliest if promised else None,
            arrives_by=promised.latest if promised else None,
            order_by=promised.order_by if promised else None,
            member_arrives_from=member_promised.earliest if member_promised else None,
            member_arrives_by=member_promised.latest if member_promised else None,
        )
    return facts


def stock_items_for_offer(*, offer_id: int) -> QuerySet[StockItem]:
    return StockItem.objects.filter(offer_id=offer_id).select_related("warehouse").order_by("warehouse__name")


def upload_get_for_user(*, user, pk: int) -> InventoryUpload:
    upload = uploads_for_user(user=user).filter(pk=pk).first()
    if upload is None:
        raise NotFound(_("No such upload among yours."))
    return upload


def uploads_for_user(*, user) -> QuerySet[InventoryUpload]:
    """Uploads of ``user``'s sellers (every upload for platform staff who may see them)."""
    qs = InventoryUpload.objects.select_related("seller", "warehouse").defer("content")
    if not getattr(user, "is_authenticated", False):
        return qs.none()
    scope = marketplace_selectors.seller_scope_for_user(user)
    if scope is not None:
        return qs.filter(seller_id__in=sorted(scope))
    if user.is_superuser or user.has_perm("fulfillment.view_inventoryupload"):
        return qs
    return qs.none()


def inventory_rows(*, seller_id: int, warehouse_id: int | None) -> list[dict]:
    """The seller's offers as the rows of an inventory file (to edit and upload again): the units
    available to sell in ``warehouse_id``, empty for offers Bazaar fulfils."""
    available = dict(
        StockItem.objects.filter(offer__seller_id=seller_id, warehouse_id=warehouse_id)
        .values_list("offer_id", F("on_hand") - F("reserved"))
    ) if warehouse_id else {}
    rows = []
    offers = marketplace_selectors.seller_offers(seller_id=seller_id).order_by("sku").only(
        "sku", "price", "list_price", "member_price", "condition", "handling_days", "is_active",
        "fulfillment_channel", "product__slug")
    for offer in offers:
        rows.append({
            "sku": offer.sku, "product": offer.product.slug, "price": offer.price,
            "quantity": "" if offer.fulfilled_by_platform else available.get(offer.pk, 0),
            "condition": offer.condition, "list_price": offer.list_price or "",
            "member_price": offer.member_price or "", "handling_days": offer.handling_days,
            "active": "yes" if offer.is_active else "no",
        })
    return rows


def seller_first_location(*, seller_id: int) -> Warehouse | None:
    """The seller's first active location: where an inventory file counts its quantities by default."""
    return (Warehouse.objects.filter(seller_id=seller_id, kind=Warehouse.Kind.SELLER, is_active=True).order_by("pk")
            .first())


def seller_location(*, seller_id: int, code: str) -> Warehouse | None:
    return Warehouse.objects.filter(seller_id=seller_id, kind=Warehouse.Kind.SELLER, is_active=True,
                                    code=code).first()


def size_tiers() -> tuple[sizing.Tier, ...]:
    """The size tier table with its fee rates, in position order (two queries; a dozen rows)."""
    tiers = SizeTier.objects.prefetch_related("rates").order_by("position")
    return tuple(
        sizing.Tier(code=t.code, name=t.name, max_longest_in=t.max_longest_in, max_median_in=t.max_median_in,
                    max_shortest_in=t.max_shortest_in, max_length_girth_in=t.max_length_girth_in,
                    max_weight_lb=t.max_weight_lb, dimensional_weight=t.dimensional_weight,
                    storage_class=t.storage_class, removal_fee=t.removal_fee,
                    rates=tuple(sizing.Rate(r.over_lb, r.up_to_lb, r.fee, r.per_lb, r.per_lb_above)
                                for r in sorted(t.rates.all(), key=lambda r: r.over_lb)))
        for t in tiers
    )


def fee_quotes(*, product_ids) -> dict[int, sizing.FeeQuote | None]:
    """product id -> its size tier and fulfilment fee per unit (see :mod:`fulfillment.sizing`)."""
    ids = list(product_ids)
    sizes = catalog_selectors.product_sizes(product_ids=ids)
    tiers = size_tiers()
    return {
        pk: sizing.quote(sizing.Size(*sizes[pk]) if pk in sizes else None, tiers,
                         divisor=settings.FULFILLMENT_DIM_DIVISOR, unmeasured=settings.FULFILLMENT_UNMEASURED)
        for pk in ids
    }


def inbound_destination(*, seller_id: int) -> Warehouse | None:
    """The Bazaar centre a seller's inbound shipment goes to: an active one in the seller's
    country when there is one (else any), the one holding the fewest units (spreading the load)."""
    seller = marketplace_selectors.seller_get(pk=seller_id)
    centres = Warehouse.objects.filter(kind=Warehouse.Kind.PLATFORM, is_active=True)
    if seller is not None and centres.filter(country=seller.country).exists():
        centres = centres.filter(country=seller.country)
    return centres.annotate(units=Coalesce(Sum("stock_items__on_hand"), 0)).order_by("units", "pk").first()


_INBOUND_CODE = re.compile(r"^\s*IB0*(\d{1,9})(?:-B\d{1,3})?\s*$", re.IGNORECASE)


def inbound_find(*, code: str) -> InboundShipment | None:
    """The shipment of a scanned or typed shipment id (IB0000012) or box id (IB0000012-B03)."""
    match = _INBOUND_CODE.match(code or "")
    if match is None:
        return None
    return InboundShipment.objects.select_related("seller", "warehouse").filter(pk=int(match.group(1))).first()


def inbound_items(*, shipment_id: int):
    return list(InboundShipment.objects.get(pk=shipment_id).items.select_related("offer", "offer__product"))


def inbound_label_data(*, shipment: InboundShipment) -> labels.LabelData:
    units = sum(item.quantity for item in shipment.items.all())
    centre = shipment.warehouse
    return labels.LabelData(
        shipment_code=shipment.code, shipment_name=shipment.name, seller_name=shipment.seller.name,
        destination_name=centre.name if centre else "",
        destination_lines=tuple(address_lines({"line1": centre.street, "city": centre.city, "region": centre.region,
                                               "postal_code": centre.postal_code, "country": centre.country})
                                if centre else ()),
        box_count=shipment.box_count, units=units)


def platform_units_by_seller_product(*, exclude_seller_id: int | None = None) -> list[tuple[int, int, int]]:
    """(seller id, product id, units on hand) of every seller's stock in Bazaar's centres."""
    rows = (StockItem.objects.filter(warehouse__kind=Warehouse.Kind.PLATFORM, on_hand__gt=0)
            .exclude(offer__seller_id=exclude_seller_id)
            .values_list("offer__seller_id", "offer__product_id").annotate(units=Sum("on_hand")).order_by())
    return [(seller_id, product_id, units) for seller_id, product_id, units in rows]


def storage_totals(*, first, following) -> list[tuple[int, str, Decimal]]:
    """(seller id, storage class, cubic feet summed over the days) of the snapshots in [first, following)."""
    rows = (StorageSnapshot.objects.filter(day__gte=first, day__lt=following)
            .values_list("seller_id", "storage_class").annotate(total=Sum("cubic_feet")).order_by())
    return list(rows)


def storage_charge_get(*, pk: int) -> StorageCharge | None:
    return StorageCharge.objects.filter(pk=pk).first()


OPEN_PO = (PurchaseOrder.Status.DRAFT, PurchaseOrder.Status.ORDERED, PurchaseOrder.Status.RECEIVING)


def supplied_house_offers(*, house_seller_id: int, since) -> list[dict]:
    """Active house offers with an active primary supplier, with what reorder suggestions need:
    units shipped since ``since``, available now, and still to come on open purchase orders.
    Four queries, whatever the number of offers."""
    rows = list(SupplierOffer.objects.filter(
        is_primary=True, supplier__is_active=True, offer__seller_id=house_seller_id, offer__is_active=True,
    ).values("offer_id", "unit_cost", "supplier_id", sku=F("offer__sku"), title=F("offer__product__title"),
             supplier_name=F("supplier__name"), lead_time_days=F("supplier__lead_time_days")))
    ids = [row["offer_id"] for row in rows]
    shipped = dict(StockMovement.objects.filter(kind=StockMovement.Kind.SHIP, created_at__gte=since,
                                                stock_item__offer_id__in=ids)
                   .values_list("stock_item__offer_id").annotate(n=Sum("on_hand_delta")).order_by())
    on_order = dict(PurchaseOrderLine.objects.filter(offer_id__in=ids, purchase_order__status__in=OPEN_PO)
                    .values_list("offer_id").annotate(n=Sum(F("quantity") - F("received"))).order_by())
    available = available_by_offer(offer_ids=ids)
    for row in rows:
        row["shipped"] = -(shipped.get(row["offer_id"]) or 0)
        row["available"] = max(available.get(row["offer_id"], 0), 0)
        row["on_order"] = max(on_order.get(row["offer_id"]) or 0, 0)
    return rows


def inbound_exists(*, seller_id: int) -> bool:
    return InboundShipment.objects.filter(seller_id=seller_id).exists()


def aged_units_by_seller_product(*, received_since, exclude_seller_id: int | None = None) -> list[tuple[int, int, int]]:
    """(seller id, product id, units stored since before ``received_since``) in Bazaar's centres:
    per stock row, what is on hand beyond the units received since then (oldest units leave first)."""
    rows = (StockItem.objects.filter(warehouse__kind=Warehouse.Kind.PLATFORM, on_hand__gt=0)
            .exclude(offer__seller_id=exclude_seller_id)
            .annotate(recent=Coalesce(Sum("movements__on_hand_delta", filter=Q(
                movements__kind=StockMovement.Kind.RECEIVE, movements__created_at__gte=received_since)), 0))
            .values_list("offer__seller_id", "offer__product_id", "on_hand", "recent"))
    aged: dict[tuple[int, int], int] = {}
    for seller_id, product_id, on_hand, recent in rows:
        units = max(on_hand - recent, 0)
        if units:
            aged[(seller_id, product_id)] = aged.get((seller_id, product_id), 0) + units
    return [(seller_id, product_id, units) for (seller_id, product_id), units in aged.items()]


def removal_source(*, offer_id: int, quantity: int) -> Warehouse | None:
    """The Bazaar centre holding the most available units of the offer, if it has ``quantity``."""
    item = (StockItem.objects.filter(offer_id=offer_id, warehouse__kind=Warehouse.Kind.PLATFORM,
                                     warehouse__is_active=True)
            .annotate(free=F("on_hand") - F("reserved")).filter(free__gte=quantity).order_by("-free", "pk")
            .select_related("warehouse").first())
    return item.warehouse if item else None


def removal_get(*, pk: int) -> RemovalOrder | None:
    return RemovalOrder.objects.filter(pk=pk).first()


def warehouses_of_stock_items(*, stock_item_ids) -> list[Warehouse]:
    return list(Warehouse.objects.filter(stock_items__pk__in=list(stock_item_ids)).distinct().order_by("pk"))


def carrier_shipments(*, references) -> dict[str, CarrierShipment]:
    """reference -> its labelled parcel, with its tracking events (for timelines)."""
    shipments = CarrierShipment.objects.filter(reference__in=list(references)).prefetch_related("events")
    return {shipment.reference: shipment for shipment in shipments}


def holidays_exist() -> bool:
    return Holiday.objects.exists()


def platform_warehouses() -> list[Warehouse]:
    return list(Warehouse.objects.filter(kind=Warehouse.Kind.PLATFORM).order_by("pk"))


def stock_item_bins(*, stock_item_ids) -> dict[int, str]:
    """stock row id -> its bin code ("" when not shelved yet)."""
    return dict(StockItem.objects.filter(pk__in=list(stock_item_ids)).values_list("pk", "bin"))


def stock_item_ids_in(*, warehouse_id: int) -> QuerySet:
    """The ids of a warehouse's stock rows, as a subquery for other contexts' filters."""
    return StockItem.objects.filter(warehouse_id=warehouse_id).values("pk")
