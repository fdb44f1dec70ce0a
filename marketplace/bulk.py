"""Bulk writes for the marketplace: sellers found or created, and many offers at once.

For loaders (the demo seeder, imports). Offers are validated here and written with
:mod:`core.bulk`; buy boxes are then computed with :func:`marketplace.services.buy_box_refresh`
in batches (see :func:`buy_boxes_refresh_all`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from catalog import selectors as catalog_selectors
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
    commission_rate: Decimal = Decimal("0.15")


def sellers_ensure(*, specs: Sequence[SellerSpec]) -> dict[str, Seller]:
    """Create the sellers that do not exist yet; returns slug -> seller for every spec."""
    found = {s.slug: s for s in Seller.objects.filter(slug__in=[spec.slug for spec in specs])}
    for spec in specs:
        if spec.slug not in found:
            found[spec.slug] = services.seller_create(
                name=spec.name, slug=spec.slug, email=spec.email, country=spec.country,
                description=spec.description, rating=spec.rating, rating_count=spec.rating_count,
                commission_rate=spec.commission_rate,
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


def offers_bulk_create(*, rows: Sequence[OfferRow]) -> list[int]:
    """Insert offers (new SKUs only); returns their ids in order. Buy boxes are not refreshed."""
    if not rows:
        return []
    currency = settings.SHOP_CURRENCY
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
        if row.condition not in Offer.Condition.values or row.fulfillment_channel not in Offer.Channel.values:
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
            with_ids=True,
        )


def offers_bulk_loaded() -> None:
    """After a load: refresh the planner's statistics (before computing buy boxes)."""
    bulk.analyze(Offer, vacuum=True)


def product_ids_without_buy_box() -> list[int]:
    """Products whose buy box was never computed (e.g. a load stopped half-way)."""
    return list(
        catalog_selectors.products_all().filter(buy_box__isnull=True).order_by("pk").values_list("pk", flat=True)
    )


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
