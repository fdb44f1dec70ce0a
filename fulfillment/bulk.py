"""Bulk writes for fulfillment: warehouses and shipping methods found or created, and the
initial stock of many offers at once.

Every stock row gets its ledger row in the same transaction (invariant 2 in docs/architecture.md): a
"receive" of the units, or a zero "adjust" (initial count) for an empty location.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone

from core import bulk
from fulfillment import services
from fulfillment.models import ShippingMethod, StockItem, StockMovement, Warehouse


@dataclass(frozen=True)
class WarehouseSpec:
    code: str
    name: str
    kind: str = Warehouse.Kind.PLATFORM
    seller: object | None = None
    country: str = "US"
    city: str = ""
    street: str = ""
    region: str = ""
    postal_code: str = ""


def warehouses_ensure(*, specs: Sequence[WarehouseSpec]) -> dict[str, Warehouse]:
    """Create the warehouses that do not exist yet; returns code -> warehouse for every spec."""
    found = {w.code: w for w in Warehouse.objects.filter(code__in=[s.code for s in specs])}
    for spec in specs:
        if spec.code not in found:
            found[spec.code] = services.warehouse_create(
                code=spec.code, name=spec.name, kind=spec.kind, seller=spec.seller, country=spec.country,
                city=spec.city, street=spec.street, region=spec.region, postal_code=spec.postal_code,
            )
    return found


@dataclass(frozen=True)
class ShippingSpec:
    code: str
    name: str
    channel: str
    price: Decimal
    min_days: int
    max_days: int
    seller: object | None = None
    members_only: bool = False


def shipping_methods_ensure(*, specs: Sequence[ShippingSpec]) -> int:
    """Create the shipping methods that do not exist yet (by seller and code); returns how many."""
    existing = set(ShippingMethod.objects.values_list("seller_id", "code"))
    created = 0
    for spec in specs:
        if (getattr(spec.seller, "pk", None), spec.code) in existing:
            continue
        services.shipping_method_create(
            code=spec.code, name=spec.name, channel=spec.channel, price=spec.price, min_days=spec.min_days,
            max_days=spec.max_days, seller=spec.seller, members_only=spec.members_only,
        )
        created += 1
    return created


@dataclass(frozen=True)
class StockRow:
    offer_id: int
    seller_id: int
    fulfillment_channel: str  # "platform" or "merchant", as on the offer
    warehouse_id: int
    on_hand: int


def stock_ids_reserve(*, count: int) -> list[int]:
    """Ids for ``count`` stock rows to be created later with :func:`stock_bulk_receive` (``ids=``)."""
    return bulk.reserve_ids(StockItem, count)


def stock_bulk_receive(
    *, rows: Sequence[StockRow], reference: str = "initial stock", ids: Sequence[int] | None = None
) -> list[int]:
    """Create stock rows (one per offer and warehouse, new ones only) with their ledger rows.

    ``ids``: taken with :func:`stock_ids_reserve` (one per row); by default new ones.

    Each row must fit the offer like :func:`fulfillment.services.check_warehouse_fits_offer`:
    platform offers in Bazaar centres, merchant offers in the seller's own locations.
    Buy boxes are not refreshed here; the caller refreshes the products it loaded.
    """
    if not rows:
        return []
    if ids is not None and len(ids) != len(rows):
        raise ValueError(f"{len(ids)} ids for {len(rows)} stock rows")
    warehouses = {w.pk: w for w in Warehouse.objects.filter(pk__in={r.warehouse_id for r in rows})}
    for row in rows:
        warehouse = warehouses.get(row.warehouse_id)
        if warehouse is None or row.on_hand < 0:
            raise ValueError(f"Stock of offer {row.offer_id}: unknown warehouse or negative quantity")
        platform = row.fulfillment_channel == "platform"
        if (platform and warehouse.kind != Warehouse.Kind.PLATFORM) or (
            not platform and warehouse.seller_id != row.seller_id
        ):
            raise ValueError(f"Stock of offer {row.offer_id}: warehouse {warehouse.code} does not fit the offer")
    now = timezone.now()
    with transaction.atomic():
        ids = bulk.insert_rows(
            StockItem,
            ["offer_id", "warehouse_id", "on_hand", "reserved", "updated_at"],
            [(r.offer_id, r.warehouse_id, r.on_hand, 0, now) for r in rows],
            with_ids=True, ids=ids,
        )
        if bulk.is_postgres():
            _ledger_from_stock_rows(ids, reference=reference[:100], now=now)
        else:
            bulk.insert_rows(
                StockMovement, _LEDGER_FIELDS,
                [
                    (pk, StockMovement.Kind.RECEIVE if r.on_hand else StockMovement.Kind.ADJUST, r.on_hand, 0,
                     r.on_hand, 0, reference[:100], "" if r.on_hand else _EMPTY_NOTE, None, now)
                    for pk, r in zip(ids, rows, strict=True)
                ],
            )
    return ids


_LEDGER_FIELDS = ["stock_item_id", "kind", "on_hand_delta", "reserved_delta", "on_hand_after", "reserved_after",
                  "reference", "note", "actor_id", "created_at"]
_EMPTY_NOTE = "initial count: empty"


def _ledger_from_stock_rows(ids: Sequence[int], *, reference: str, now) -> None:
    """The ledger row of each stock row just created, made from it in one statement (PostgreSQL):
    a receive of its units, or a zero adjust (initial count) when it is empty; in id order."""
    columns = ", ".join(connection.ops.quote_name(StockMovement._meta.get_field(f).column) for f in _LEDGER_FIELDS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {connection.ops.quote_name(StockMovement._meta.db_table)} ({columns}) "  # noqa: S608
            "SELECT id, CASE WHEN on_hand > 0 THEN %s ELSE %s END, on_hand, 0, on_hand, 0, %s, "
            "CASE WHEN on_hand > 0 THEN '' ELSE %s END, NULL, %s "
            f"FROM {connection.ops.quote_name(StockItem._meta.db_table)} WHERE id = ANY(%s) ORDER BY id",
            [StockMovement.Kind.RECEIVE.value, StockMovement.Kind.ADJUST.value, reference, _EMPTY_NOTE, now,
             list(ids)],
        )


def stock_bulk_loaded() -> None:
    """After a load: refresh the planner's statistics (before computing buy boxes)."""
    bulk.analyze(StockItem, StockMovement, vacuum=True)


def fulfillment_counts() -> dict[str, int]:
    """Row counts for a loader's summary."""
    return {
        "warehouses": Warehouse.objects.count(),
        "shipping methods": ShippingMethod.objects.count(),
        "stock rows": StockItem.objects.count(),
        "ledger rows": StockMovement.objects.count(),
    }
