"""Writes for the catalog. Every function is keyword-only and owns its transaction."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol, runtime_checkable

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, connection, transaction
from django.db.models import Avg, Count, F
from django.utils.text import slugify
from django.utils.translation import gettext as _
from PIL import Image

from catalog import cache_keys
from catalog import events as catalog_events
from catalog.models import (
    Attribute,
    Brand,
    Category,
    Product,
    ProductAttributeValue,
    ProductImage,
    Review,
    ReviewVote,
    SearchTerm,
)
from catalog.search import dictionary_words
from core import cache as vcache
from core import events, outbox
from core.exceptions import ApplicationError

logger = logging.getLogger(__name__)

THUMBNAIL_SIZE = (320, 320)


def unique_slug(model, text: str, *, exclude_pk: int | None = None, max_length: int = 200) -> str:
    base = slugify(text)[: max_length - 8] or "item"
    slug, n = base, 2
    qs = model.objects.all()
    if exclude_pk is not None:
        qs = qs.exclude(pk=exclude_pk)
    while qs.filter(slug=slug).exists():
        slug = f"{base}-{n}"
        n += 1
    return slug


# --- categories and brands ---------------------------------------------------------------


def _category_set_path(category: Category) -> None:
    parent = category.parent
    category.path = f"{parent.path if parent else '/'}{category.pk}/"
    category.depth = parent.depth + 1 if parent else 0


def category_create(
    *, name: str, parent: Category | None = None, slug: str = "", description: str = "",
    position: int = 0, is_active: bool = True,
) -> Category:
    with transaction.atomic():
        category = Category.objects.create(
            name=name, parent=parent, slug=slug or unique_slug(Category, name), description=description,
            position=position, is_active=is_active,
        )
        _category_set_path(category)
        category.save(update_fields=["path", "depth"])
    vcache.bump_on_commit(cache_keys.CATALOG, cache_keys.LISTING)
    return category


def category_check_parent(*, category: Category, parent: Category | None) -> None:
    """Refuse a parent that would put ``category`` inside itself (a cycle in the tree)."""
    if category.pk and parent is not None:
        ancestor = parent
        while ancestor is not None:
            if ancestor.pk == category.pk:
                raise ValidationError({"parent": _("A category cannot be inside itself.")})
            ancestor = ancestor.parent


def category_save(*, category: Category) -> Category:
    """Save a category edited elsewhere (admin), keeping the tree's paths right."""
    if category.parent_id:
        category_check_parent(category=category, parent=category.parent)
    with transaction.atomic():
        old_path = None
        if category.pk:
            old_path = Category.objects.filter(pk=category.pk).values_list("path", flat=True).first()
        category.save()
        _category_set_path(category)
        category.save(update_fields=["path", "depth"])
        if old_path and old_path != category.path:
            for child in Category.objects.filter(path__startswith=old_path).exclude(pk=category.pk).order_by("depth"):
                _category_set_path(child)
                child.save(update_fields=["path", "depth"])
    vcache.bump_on_commit(cache_keys.CATALOG, cache_keys.LISTING)
    return category


def brand_create(*, name: str, slug: str = "", description: str = "") -> Brand:
    brand = Brand.objects.create(name=name, slug=slug or unique_slug(Brand, name), description=description)
    search_terms_add(texts=[brand.name])
    vcache.bump_on_commit(cache_keys.CATALOG)
    return brand


def brand_save(*, brand: Brand) -> Brand:
    """Save a brand edited elsewhere (admin): catalog pages and its products' search text follow."""
    with transaction.atomic():
        brand.save()
        search_terms_add(texts=[brand.name])
        if connection.vendor == "postgresql":
            # The search-vector trigger (migration 0002) fires on UPDATE OF brand_id: touch it.
            Product.objects.filter(brand=brand).update(brand_id=brand.pk)
    catalog_changed()
    return brand


def search_terms_add(*, texts: Iterable[str]) -> None:
    """Add the words of these titles or brand names to the typo-correction dictionary."""
    words = set()
    for text in texts:
        words |= dictionary_words(text)
    if words:
        SearchTerm.objects.bulk_create([SearchTerm(word=w) for w in sorted(words)], ignore_conflicts=True)


def search_terms_rebuild() -> int:
    """Rebuild the dictionary from every active product title and brand (after bulk loads and
    nightly, so words of deleted or renamed products drop out). Returns the number of words."""
    words: set[str] = set()
    for title in Product.objects.filter(is_active=True).values_list("title", flat=True).iterator(chunk_size=5000):
        words |= dictionary_words(title)
    for name in Brand.objects.values_list("name", flat=True):
        words |= dictionary_words(name)
    with transaction.atomic():
        SearchTerm.objects.all().delete()  # readers see the old dictionary until the commit
        SearchTerm.objects.bulk_create(
            [SearchTerm(word=w) for w in sorted(words)], ignore_conflicts=True, batch_size=5000
        )
    return len(words)


def catalog_changed() -> None:
    """Invalidate every catalog page (after edits to categories, brands or attributes)."""
    vcache.bump_on_commit(cache_keys.CATALOG, cache_keys.LISTING)


# --- products ----------------------------------------------------------------------------


def product_create(
    *, title: str, category: Category, brand: Brand | None = None, description: str = "",
    slug: str = "", attributes: dict[str, str] | None = None, is_active: bool = True,
) -> Product:
    if not title.strip():
        raise ApplicationError(_("A product needs a title."), fields={"title": [_("This field is required.")]})
    with transaction.atomic():
        product = Product.objects.create(
            title=title.strip(), category=category, brand=brand, description=description,
            slug=slug or unique_slug(Product, title), is_active=is_active,
        )
        if attributes:
            product_attributes_set(product=product, values=attributes)
        search_terms_add(texts=[product.title])
        events.record(catalog_events.PRODUCT_CREATED, aggregate=catalog_events.AGGREGATE, aggregate_id=product.pk,
                      product_id=product.pk)
    vcache.bump_on_commit(cache_keys.LISTING)
    return product


def product_save(*, product: Product) -> Product:
    """Save a product edited elsewhere (admin) and invalidate its pages."""
    with transaction.atomic():
        old_slug = None
        if product.pk:
            old_slug = Product.objects.filter(pk=product.pk).values_list("slug", flat=True).first()
        product.save()
        search_terms_add(texts=[product.title])
    namespaces = [cache_keys.product(product.slug), cache_keys.LISTING]
    if old_slug and old_slug != product.slug:
        namespaces.append(cache_keys.product(old_slug))
    vcache.bump_on_commit(*namespaces)
    return product


def product_size_set(*, product_id: int, length_in, width_in, height_in, weight_lb) -> None:
    """The packed unit's size (inches) and weight (pounds), as measured; its page shows them."""
    values = {"length_in": length_in, "width_in": width_in, "height_in": height_in, "weight_lb": weight_lb}
    if any(value is None or value <= 0 for value in values.values()):
        raise ApplicationError(_("Sizes and weight must be above zero."))
    slug = Product.objects.filter(pk=product_id).values_list("slug", flat=True).first()
    Product.objects.filter(pk=product_id).update(**values)
    if slug:
        vcache.bump_on_commit(cache_keys.product(slug))


def product_attributes_set(*, product: Product, values: dict[str, str]) -> None:
    """Replace the product's attribute values; attributes are created by code when new."""
    with transaction.atomic():
        attributes = {a.code: a for a in Attribute.objects.filter(code__in=list(values))}
        for code in values:
            if code not in attributes:
                attributes[code] = Attribute.objects.create(code=slugify(code), name=code.replace("-", " ").title())
        ProductAttributeValue.objects.filter(product=product).exclude(attribute__code__in=list(values)).delete()
        for code, value in values.items():
            ProductAttributeValue.objects.update_or_create(
                product=product, attribute=attributes[code], defaults={"value": str(value)[:100]}
            )
    vcache.bump_on_commit(cache_keys.product(product.slug), cache_keys.LISTING)


def product_image_add(
    *, product: Product, image: UploadedFile | ContentFile, alt_text: str = "", position: int = 0
) -> ProductImage:
    from catalog.tasks import make_thumbnail  # tasks import services; import here to avoid a cycle

    _check_image(image)
    with transaction.atomic():
        obj = ProductImage(product=product, alt_text=alt_text or product.title, position=position)
        obj.image.save(getattr(image, "name", None) or f"{product.slug}.jpg", image, save=False)
        obj.save()
        outbox.enqueue(make_thumbnail, obj.pk)
    vcache.bump_on_commit(cache_keys.product(product.slug), cache_keys.LISTING)
    return obj


def product_image_saved(*, image: ProductImage) -> None:
    """Called after an image was saved elsewhere (admin): make its thumbnail, refresh pages."""
    from catalog.tasks import make_thumbnail

    outbox.enqueue(make_thumbnail, image.pk)
    vcache.bump_on_commit(cache_keys.product(image.product.slug), cache_keys.LISTING)


def _check_image(image) -> None:
    try:
        pos = image.tell() if hasattr(image, "tell") else 0
        with Image.open(image) as img:
            img.verify()
        image.seek(pos)
    except Exception as exc:  # noqa: BLE001 - Pillow raises many types for bad files
        raise ApplicationError(_("That file is not an image we can read."), fields={"image": [str(exc)]}) from exc


def product_image_make_thumbnail(*, image_id: int) -> ProductImage | None:
    """Make (or remake) the thumbnail of one image. Idempotent; a deleted image is skipped."""
    image = ProductImage.objects.select_related("product").filter(pk=image_id).first()
    if image is None:
        return None
    with image.image.open("rb") as fh, Image.open(fh) as img:
        img = img.convert("RGB")
        img.thumbnail(THUMBNAIL_SIZE)
        buffer = io.BytesIO()
        img.save(buffer, format="JPEG", quality=82, optimize=True)
    name = f"{image.product_id}-{image.pk}.jpg"
    old = image.thumbnail.name
    if old and not ProductImage.objects.filter(thumbnail=old).exclude(pk=image.pk).exists():
        image.thumbnail.delete(save=False)  # demo images share thumbnails: keep shared files
    image.thumbnail.save(name, ContentFile(buffer.getvalue()), save=False)
    ProductImage.objects.filter(pk=image.pk).update(thumbnail=image.thumbnail.name)
    vcache.bump(cache_keys.product(image.product.slug), cache_keys.LISTING)
    return image


# --- listing copy of the buy box (written by marketplace) -------------------------------


def products_lock(*, product_ids: Iterable[int]) -> list[int]:
    """Lock these product rows (in id order, so concurrent callers never deadlock).

    Must run inside a transaction; callers use it to serialise work per product.
    """
    return list(
        Product.objects.select_for_update().filter(pk__in=list(product_ids)).order_by("pk").values_list("pk", flat=True)
    )


@dataclass(frozen=True)
class ListingRow:
    product_id: int
    price: Decimal | None
    currency: str
    offer_id: int | None
    in_stock: bool
    offer_count: int
    member_price: Decimal | None = None
    member_delivery: bool = False


_LISTING_FIELDS = ["listing_price", "listing_currency", "listing_offer_id", "in_stock", "offer_count",
                   "listing_member_price", "listing_member_delivery"]


def _listing_store(products: list[Product]) -> None:
    """Write the listing columns of many products. On PostgreSQL one UPDATE joined to arrays
    (bulk_update's CASE per row costs ~1 s per 1000 products in Python and SQL alike)."""
    if connection.vendor != "postgresql":
        Product.objects.bulk_update(products, _LISTING_FIELDS, batch_size=500)
        return
    table = connection.ops.quote_name(Product._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS p SET listing_price = v.price, listing_currency = v.currency, "  # noqa: S608
            "listing_offer_id = v.offer_id, in_stock = v.in_stock, offer_count = v.offer_count, "
            "listing_member_price = v.member_price, listing_member_delivery = v.member_delivery "
            "FROM unnest(%s::bigint[], %s::numeric[], %s::varchar[], %s::bigint[], %s::boolean[], %s::integer[], "
            "%s::numeric[], %s::boolean[]) "
            "AS v(id, price, currency, offer_id, in_stock, offer_count, member_price, member_delivery) "
            "WHERE p.id = v.id",
            [
                [p.pk for p in products], [p.listing_price for p in products],
                [p.listing_currency for p in products], [p.listing_offer_id for p in products],
                [p.in_stock for p in products], [p.offer_count for p in products],
                [p.listing_member_price for p in products], [p.listing_member_delivery for p in products],
            ],
        )


def product_listing_update(*, rows: Iterable[ListingRow]) -> int:
    """Store the buy-box copy on products; invalidates their pages. Returns rows changed."""
    rows = {row.product_id: row for row in rows}
    if not rows:
        return 0
    changed = []
    slugs = []
    with transaction.atomic():
        for product in Product.objects.filter(pk__in=list(rows)).only("id", "slug", *_LISTING_FIELDS):
            row = rows[product.pk]
            slugs.append(product.slug)
            new = (row.price, row.currency, row.offer_id, row.in_stock, row.offer_count, row.member_price,
                   row.member_delivery)
            old = tuple(getattr(product, name) for name in _LISTING_FIELDS)
            if new != old:
                for name, value in zip(_LISTING_FIELDS, new, strict=True):
                    setattr(product, name, value)
                changed.append(product)
        if changed:
            _listing_store(changed)
    namespaces = [cache_keys.product(slug) for slug in slugs]
    if changed:
        namespaces.append(cache_keys.LISTING)
    vcache.bump_on_commit(*namespaces)
    return len(changed)


# --- reviews and ratings -----------------------------------------------------------------


REVIEW_TITLE_MAX = 120
REVIEW_BODY_MAX = 5000

@runtime_checkable
class PurchaseFacts(Protocol):
    """Who bought what belongs to orders, a higher layer: review pages ask the shop's strategy
    (``request.strategy``) and pass the answer in; catalog never looks it up itself."""

    def has_bought(self, product_id: int) -> bool:
        """Whether the shopper asking has a paid (or later) order with this product."""
        ...


def _review_clean(*, rating, title: str, body: str) -> tuple[int, str, str]:
    try:
        rating = int(rating)
    except (TypeError, ValueError):
        rating = 0
    if not 1 <= rating <= 5:
        raise ApplicationError(_("A rating is from 1 to 5 stars."), fields={"rating": [_("Choose 1 to 5 stars.")]})
    title = (title or "").strip()
    if not title:
        raise ApplicationError(_("A review needs a title."), fields={"title": [_("This field is required.")]})
    if len(title) > REVIEW_TITLE_MAX:
        raise ApplicationError(
            _("The title is too long."),
            fields={"title": [_("At most %(n)d characters.") % {"n": REVIEW_TITLE_MAX}]},
        )
    body = (body or "").strip()
    if len(body) > REVIEW_BODY_MAX:
        raise ApplicationError(
            _("The review is too long."), fields={"body": [_("At most %(n)d characters.") % {"n": REVIEW_BODY_MAX}]}
        )
    return rating, title, body


def review_create(
    *, product: Product, user, rating: int, title: str, body: str = "", verified_purchase: bool
) -> Review:
    """Write a shopper's one review of a product. ``verified_purchase``: whether they bought it
    (the page asks ``PurchaseFacts``). A second review is refused (``duplicate_review``): callers
    edit the existing one with :func:`review_update`."""
    rating, title, body = _review_clean(rating=rating, title=title, body=body)
    duplicate = ApplicationError(_("You have already reviewed this product."), code="duplicate_review")
    with transaction.atomic():
        if Review.objects.filter(product=product, user=user).exists():
            raise duplicate
        try:
            with transaction.atomic():  # a savepoint: a concurrent first review loses cleanly
                review = Review.objects.create(
                    product=product, user=user, rating=rating, title=title, body=body,
                    verified_purchase=verified_purchase,
                )
        except IntegrityError as exc:
            raise duplicate from exc
        product_ratings_refresh(product_ids=[product.pk])
    return review


def review_update(*, review: Review, rating: int, title: str, body: str = "", verified_purchase: bool) -> Review:
    """Edit a review in place (its author writing again); ``verified_purchase`` as asked again."""
    rating, title, body = _review_clean(rating=rating, title=title, body=body)
    review.rating, review.title, review.body = rating, title, body
    review.verified_purchase = verified_purchase
    with transaction.atomic():
        review.save(update_fields=["rating", "title", "body", "verified_purchase"])
        product_ratings_refresh(product_ids=[review.product_id])
    return review


def review_vote_helpful(*, review: Review, user) -> bool:
    """Record that ``user`` found ``review`` helpful. Returns True when the vote is new; voting
    again changes nothing. Authors cannot vote on their own review."""
    if review.user_id == user.pk:
        raise ApplicationError(_("You cannot vote on your own review."), code="own_review")
    with transaction.atomic():
        _vote, created = ReviewVote.objects.get_or_create(review=review, user=user)
        if created:
            Review.objects.filter(pk=review.pk).update(helpful_count=F("helpful_count") + 1)
    if created:
        slug = Product.objects.filter(pk=review.product_id).values_list("slug", flat=True).first()
        if slug:
            vcache.bump_on_commit(cache_keys.product(slug))
    return created


def reviews_author_forgotten(*, user_id: int) -> int:
    """A closed account (``accounts.account_closed``): the pages of the products it reviewed are
    rendered again, so the reviews read "By A customer" instead of its name. Returns how many."""
    slugs = set(Review.objects.filter(user_id=user_id).values_list("product__slug", flat=True))
    for slug in slugs:
        vcache.bump_on_commit(cache_keys.product(slug))
    return len(slugs)


def reviews_delete(*, reviews: Iterable[Review]) -> int:
    """Remove reviews (moderation) and recompute their products' ratings. Returns how many."""
    reviews = list(reviews)
    if not reviews:
        return 0
    with transaction.atomic():
        product_ids = {r.product_id for r in reviews}
        deleted, _rows = Review.objects.filter(pk__in=[r.pk for r in reviews]).delete()
        product_ratings_refresh(product_ids=product_ids)
    return deleted


def product_ratings_refresh(*, product_ids: Iterable[int]) -> None:
    """Recompute the stored average and count from reviews (one query per call)."""
    ids = list(product_ids)
    stats = {
        row["product_id"]: row
        for row in Review.objects.filter(product_id__in=ids)
        .values("product_id")
        .annotate(avg=Avg("rating"), n=Count("id"))
    }
    products = list(Product.objects.filter(pk__in=ids).only("id", "slug", "rating_avg", "rating_count"))
    for product in products:
        row = stats.get(product.pk)
        product.rating_avg = Decimal(str(round(row["avg"], 2))) if row else Decimal(0)
        product.rating_count = row["n"] if row else 0
    Product.objects.bulk_update(products, ["rating_avg", "rating_count"], batch_size=1000)
    vcache.bump_on_commit(cache_keys.LISTING, *(cache_keys.product(p.slug) for p in products))
