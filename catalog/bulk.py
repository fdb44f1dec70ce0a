"""Bulk writes for the catalog: loading many products, their attributes, images and reviews.

For loaders (the demo seeder, imports) that create tens of thousands of rows at once. Rows are
validated here and written with :mod:`core.bulk` (COPY on PostgreSQL). The search trigger of
migration 0002 fills ``search_vector`` as rows arrive. Call :func:`catalog_bulk_loaded` after a
load so cached pages are invalidated.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from catalog import cache_keys, services
from catalog.models import Attribute, Brand, Category, Product, ProductAttributeValue, ProductImage, Review, SearchTerm
from core import bulk
from core import cache as vcache

# --- reference data: created once, found again on later runs ------------------------------


@dataclass(frozen=True)
class CategorySpec:
    slug: str
    name: str
    parent_slug: str | None = None
    position: int = 0
    description: str = ""


def categories_ensure(*, specs: Sequence[CategorySpec]) -> dict[str, int]:
    """Create the categories that do not exist yet (parents listed before children).

    Returns slug -> id for every spec. Existing categories are left as they are.
    """
    found = dict(Category.objects.filter(slug__in=[s.slug for s in specs]).values_list("slug", "id"))
    for spec in specs:
        if spec.slug in found:
            continue
        parent = Category.objects.get(pk=found[spec.parent_slug]) if spec.parent_slug else None
        category = services.category_create(
            name=spec.name, parent=parent, slug=spec.slug, position=spec.position, description=spec.description
        )
        found[spec.slug] = category.pk
    return found


def brands_ensure(*, brands: Sequence[tuple[str, str, str]]) -> dict[str, int]:
    """``(slug, name, description)`` triples; returns slug -> id."""
    found = dict(Brand.objects.filter(slug__in=[b[0] for b in brands]).values_list("slug", "id"))
    for slug, name, description in brands:
        if slug not in found:
            found[slug] = services.brand_create(name=name, slug=slug, description=description).pk
    return found


def attributes_ensure(*, attributes: Sequence[tuple[str, str, int]]) -> dict[str, int]:
    """``(code, name, position)`` triples of filterable attributes; returns code -> id."""
    found = dict(Attribute.objects.filter(code__in=[a[0] for a in attributes]).values_list("code", "id"))
    created = False
    for code, name, position in attributes:
        if code not in found:
            found[code] = Attribute.objects.create(code=code, name=name, position=position, filterable=True).pk
            created = True
    if created:
        services.catalog_changed()
    return found


def product_ids_by_slug() -> dict[str, int]:
    """slug -> id of every product (loaders use it to skip what they already created)."""
    return dict(Product.objects.values_list("slug", "id").iterator(chunk_size=10000))


# --- products -----------------------------------------------------------------------------


@dataclass
class ProductRow:
    title: str
    slug: str
    category_id: int
    brand_id: int | None
    description: str = ""
    created_at: datetime | None = None
    attributes: dict[int, str] = field(default_factory=dict)  # attribute id -> value
    images: list[tuple[str, str, str]] = field(default_factory=list)  # (image name, thumbnail name, alt text)
    reviews: list[ReviewRow] = field(default_factory=list)


@dataclass(frozen=True)
class ReviewRow:
    user_id: int
    rating: int
    title: str
    body: str = ""
    verified_purchase: bool = False
    helpful_count: int = 0
    created_at: datetime | None = None


def _rating_stats(reviews: Sequence[ReviewRow]) -> tuple[Decimal, int]:
    # Same rounding as services.product_ratings_refresh, so a later refresh changes nothing.
    if not reviews:
        return Decimal(0), 0
    avg = sum(r.rating for r in reviews) / len(reviews)
    return Decimal(str(round(avg, 2))), len(reviews)


def product_ids_reserve(*, count: int) -> list[int]:
    """Ids for ``count`` products to be created later in the current transaction with
    :func:`products_bulk_create` (``ids=``), so a loader can write their offers, stock and buy
    boxes first and create the products already listed."""
    return bulk.reserve_ids(Product, count)


def products_bulk_create(
    *, rows: Sequence[ProductRow], ids: Sequence[int] | None = None,
    listings: Iterable[services.ListingRow] = (),
) -> list[int]:
    """Insert products with their attribute values, images and reviews; returns ids in order.

    Ratings are stored from the reviews given. ``ids``: taken with :func:`product_ids_reserve`
    (one per row). ``listings``: the buy-box copy of products whose buy box marketplace has
    already computed (by product id); the others start unlisted (no price, not in stock) until
    marketplace computes it. Slugs must be new (unique constraint).
    """
    if not rows:
        return []
    if ids is not None and len(ids) != len(rows):
        raise ValueError(f"{len(ids)} ids for {len(rows)} products")
    listed = {row.product_id: row for row in listings}
    if listed and (ids is None or not set(listed) <= set(ids)):
        raise ValueError("Listings are for the products created here (their reserved ids)")
    now = timezone.now()
    currency = settings.SHOP_CURRENCY
    for row in rows:
        if not row.title.strip() or not row.slug:
            raise ValueError("Every product needs a title and a slug")
        for review in row.reviews:
            if not 1 <= review.rating <= 5:
                raise ValueError("A rating is from 1 to 5 stars")
    unlisted = services.ListingRow(product_id=0, price=None, currency=currency, offer_id=None, in_stock=False,
                                   offer_count=0)
    with transaction.atomic():
        product_values = []
        for pid, row in zip(ids if ids is not None else [0] * len(rows), rows, strict=True):
            rating_avg, rating_count = _rating_stats(row.reviews)
            listing = listed.get(pid, unlisted)
            product_values.append((
                row.title.strip()[:200], row.slug[:220], row.description, row.category_id, row.brand_id, True,
                row.created_at or now, now, rating_avg, rating_count, listing.price, listing.currency,
                listing.offer_id, listing.in_stock, listing.offer_count, listing.member_price,
                listing.member_delivery,
            ))
        ids = bulk.insert_rows(
            Product,
            ["title", "slug", "description", "category_id", "brand_id", "is_active", "created_at", "updated_at",
             "rating_avg", "rating_count", "listing_price", "listing_currency", "listing_offer_id", "in_stock",
             "offer_count", "listing_member_price", "listing_member_delivery"],
            product_values,
            with_ids=True, ids=ids,
        )
        bulk.insert_rows(
            ProductAttributeValue,
            ["product_id", "attribute_id", "value"],
            [(pid, aid, str(value)[:100]) for pid, row in zip(ids, rows, strict=True)
             for aid, value in row.attributes.items()],
        )
        bulk.insert_rows(
            ProductImage,
            ["product_id", "image", "thumbnail", "alt_text", "position"],
            [(pid, image, thumb, alt[:200], pos) for pid, row in zip(ids, rows, strict=True)
             for pos, (image, thumb, alt) in enumerate(row.images)],
        )
        bulk.insert_rows(
            Review,
            ["product_id", "user_id", "rating", "title", "body", "verified_purchase", "helpful_count", "created_at"],
            [(pid, r.user_id, r.rating, r.title[:120], r.body, r.verified_purchase, r.helpful_count,
              r.created_at or now)
             for pid, row in zip(ids, rows, strict=True) for r in row.reviews],
        )
        if listed:
            vcache.bump_on_commit(cache_keys.LISTING)  # listed products appear on listing pages
    return ids


def product_images_share_thumbnails(*, image_names: Iterable[str]) -> dict[str, str]:
    """For images whose file is shared by many products: make one thumbnail per file and use it
    for every row of that file. Returns image name -> thumbnail name (only files with rows).
    """
    result = {}
    for name in image_names:
        thumb = (
            ProductImage.objects.filter(image=name).exclude(thumbnail="").values_list("thumbnail", flat=True).first()
        )
        if not thumb:
            first = ProductImage.objects.filter(image=name).order_by("pk").values_list("pk", flat=True).first()
            if first is None:
                continue
            made = services.product_image_make_thumbnail(image_id=first)
            thumb = made.thumbnail.name if made else ""
        if thumb:
            ProductImage.objects.filter(image=name, thumbnail="").update(thumbnail=thumb)
            result[name] = thumb
    return result


def catalog_bulk_loaded() -> None:
    """After a load (and its buy boxes): vacuum and analyze the catalog tables, so listings and
    search do not wade through the dead rows the listing updates leave, then invalidate every
    cached catalog page."""
    services.search_terms_rebuild()
    bulk.analyze(Product, ProductAttributeValue, ProductImage, Review, SearchTerm, vacuum=True)
    vcache.bump_on_commit(cache_keys.CATALOG, cache_keys.LISTING)


def catalog_counts() -> dict[str, int]:
    """Row counts for a loader's summary."""
    return {
        "categories": Category.objects.count(),
        "brands": Brand.objects.count(),
        "products": Product.objects.count(),
        "products unavailable": Product.objects.filter(in_stock=False).count(),
        "attribute values": ProductAttributeValue.objects.count(),
        "images": ProductImage.objects.count(),
        "reviews": Review.objects.count(),
    }
