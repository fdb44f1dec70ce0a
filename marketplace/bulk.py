"""Bulk writes for the marketplace: sellers found or created, many offers at once, and the buy
boxes of products just loaded.

For loaders (the demo seeder, imports). Offers are validated here and written with
:mod:`core.bulk`. The buy boxes of new products are computed with the same ranking as
:func:`marketplace.services.buy_box_refresh` and stored in the loader's transaction
(:func:`buy_boxes_bulk_create`); products loaded without one are refreshed in batches
(:func:`buy_boxes_refresh_all`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from catalog import selectors as catalog_selectors
from catalog import services as catalog_services
from core import bulk
from core.money import price_problem, quantize
from marketplace import services
from marketplace.models import BuyBox, Offer, Seller


@dataclass(frozen=True)
class SellerSpec:
    slug: str
    name: str
    email: str = ""
    country: str = "US"
    description: str = ""
    rating: Decimal = Decimal("4.50")
    rating_count: int = 0


def sellers_ensure(*, specs: Sequence[SellerSpec]) -> dict[str, Seller]:
    """Create the sellers that do not exist yet; returns slug -> seller for every spec."""
    found = {s.slug: s for s in Seller.objects.filter(slug__in=[spec.slug for spec in specs])}
    for spec in specs:
        if spec.slug not in found:
            found[spec.slug] = services.seller_create(
                name=spec.name, slug=spec.slug, email=spec.email, country=spec.country,
                description=spec.description, rating=spec.rating, rating_count=spec.rating_count,
            )
    return found


@dataclass(frozen=True)
class OfferRow:
    seller_id: int
    product_id: int
    sku: str
    price: Decimal
    list_price: Decimal | None = None
    condition: str = Offer.Condition.NEW
    fulfillment_channel: str = Offer.Channel.MERCHANT
    handling_days: int = 1
    member_price: Decimal | None = None


def offer_ids_reserve(*, count: int) -> list[int]:
    """Ids for ``count`` offers to be created later with :func:`offers_bulk_create` (``ids=``)."""
    return bulk.reserve_ids(Offer, count)


def offers_bulk_create(*, rows: Sequence[OfferRow], ids: Sequence[int] | None = None) -> list[int]:
    """Insert offers (new SKUs only); returns their ids in order. Buy boxes are not refreshed.

    ``ids``: taken with :func:`offer_ids_reserve` (one per row); by default new ones.
    """
    if not rows:
        return []
    if ids is not None and len(ids) != len(rows):
        raise ValueError(f"{len(ids)} ids for {len(rows)} offers")
    currency = settings.SHOP_CURRENCY
    conditions, channels = set(Offer.Condition.values), set(Offer.Channel.values)
    now = timezone.now()
    values = []
    for row in rows:
        price = quantize(row.price, currency)
        list_price = quantize(row.list_price, currency) if row.list_price is not None else None
        member_price = quantize(row.member_price, currency) if row.member_price is not None else None
        if price <= 0 or (list_price is not None and list_price <= 0):
            raise ValueError(f"Offer {row.sku}: prices must be above zero")
        for name, value in (("price", price), ("list price", list_price), ("member price", member_price)):
            problem = price_problem(value) if value is not None else None
            if problem:
                raise ValueError(f"Offer {row.sku}: {name}: {problem}")
        if member_price is not None and not 0 < member_price < price:
            raise ValueError(f"Offer {row.sku}: the member price must be above zero and below the price")
        if row.condition not in conditions or row.fulfillment_channel not in channels:
            raise ValueError(f"Offer {row.sku}: unknown condition or channel")
        if not 0 <= row.handling_days <= 60:
            raise ValueError(f"Offer {row.sku}: handling days out of range")
        values.append((
            row.seller_id, row.product_id, row.sku.strip()[:64], price, list_price, member_price, currency,
            row.condition, row.fulfillment_channel, row.handling_days, True, now, now,
        ))
    with transaction.atomic():
        return bulk.insert_rows(
            Offer,
            ["seller_id", "product_id", "sku", "price", "list_price", "member_price", "currency", "condition",
             "fulfillment_channel", "handling_days", "is_active", "created_at", "updated_at"],
            values,
            with_ids=True, ids=ids,
        )


def offers_bulk_loaded() -> None:
    """After a load: refresh the planner's statistics (before computing buy boxes)."""
    bulk.analyze(Offer, vacuum=True)


def product_ids_without_buy_box() -> list[int]:
    """Products whose buy box was never computed (e.g. a load stopped half-way)."""
    return list(
        catalog_selectors.products_all().filter(buy_box__isnull=True).order_by("pk").values_list("pk", flat=True)
    )


def buy_boxes_bulk_create(*, product_ids: Sequence[int], inputs) -> list[catalog_services.ListingRow]:
    """Compute and store the first buy box of products just loaded, in the loader's transaction,
    with ``inputs`` (the strategy of a job: ``buy_box.BuyBoxInputs``); returns the listing rows
    catalog stores on the products (their price, stock and offer count), in ``product_ids`` order.

    The products' offers and stock must be written first (in the same transaction: the product
    rows themselves may come after, foreign keys are checked at commit). Nobody can have seen
    these products, so nothing is locked and no cached page is invalidated. A product that
    already has a buy box is refused (the primary key); refresh those with
    :func:`buy_boxes_refresh_all`.
    """
    ids = list(dict.fromkeys(int(i) for i in product_ids))
    if not ids:
        return []
    # One query for the offers (their timestamps are not needed to rank them) and one for the
    # handful of sellers, shared by every offer of a seller.
    offers = (
        Offer.objects.filter(bulk.any_of("product_id", ids)).defer("created_at", "updated_at")
        .prefetch_related("seller").order_by("pk")
    )
    choices = services.buy_box_choose(product_ids=ids, offers=offers, inputs=inputs)
    now = timezone.now()
    with transaction.atomic():
        bulk.insert_rows(
            BuyBox,
            ["product_id", "offer_id", "price", "shipping", "landed_price", "currency", "eligible_offer_count",
             "refreshed_at"],
            [
                (c.product_id, c.winner.pk if c.winner else None, c.price, c.shipping, c.landed_price, c.currency,
                 c.eligible_offer_count, now)
                for c in choices
            ],
        )
    return [c.listing_row() for c in choices]


def buy_boxes_refresh_all(*, product_ids: Iterable[int], inputs, batch_size: int = 1000) -> int:
    """Compute the buy box of many products, ``batch_size`` per transaction, with ``inputs`` (the
    strategy of a job: ``buy_box.BuyBoxInputs``). Returns winners."""
    ids = sorted(set(product_ids))
    winners = 0
    for start in range(0, len(ids), batch_size):
        result = services.buy_box_refresh(product_ids=ids[start : start + batch_size], inputs=inputs)
        winners += sum(1 for offer_id in result.values() if offer_id is not None)
    return winners


def marketplace_counts() -> dict[str, int]:
    """Row counts for a loader's summary."""
    return {
        "sellers": Seller.objects.count(),
        "offers": Offer.objects.count(),
        "buy boxes": BuyBox.objects.count(),
    }
