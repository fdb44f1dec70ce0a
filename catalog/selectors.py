"""Reads for the catalog: the category tree, product listings with facets, product details.

Every listing goes through :func:`product_list`, so pages and API share filters, sorting,
search and a constant number of queries.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal

from django.core.paginator import Page, Paginator
from django.db.models import Avg, CharField, Count, OuterRef, Prefetch, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce, NullIf
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _

from catalog import cache_keys
from catalog.models import Attribute, Brand, Category, Product, ProductAttributeValue, ProductImage, Review
from catalog.search import get_search_backend, normalize_query
from core import cache as vcache

SORTS = {
    "featured": _("Featured"),
    "relevance": _("Relevance"),
    "price_asc": _("Price: low to high"),
    "price_desc": _("Price: high to low"),
    "newest": _("Newest"),
    "rating": _("Customer rating"),
}

# Price facet buckets: (lower inclusive, upper exclusive or None).
PRICE_BUCKETS: list[tuple[Decimal, Decimal | None]] = [
    (Decimal(0), Decimal(25)),
    (Decimal(25), Decimal(50)),
    (Decimal(50), Decimal(100)),
    (Decimal(100), Decimal(200)),
    (Decimal(200), None),
]


# --- category tree (cached: it is small and on every page) ------------------------------


@dataclass(frozen=True)
class CategoryNode:
    id: int
    name: str
    slug: str
    parent_id: int | None
    depth: int
    path: str
    children: tuple[int, ...] = ()


@dataclass(frozen=True)
class CategoryTree:
    nodes: dict[int, CategoryNode]
    by_slug: dict[str, int]
    roots: tuple[int, ...]

    def get(self, slug: str) -> CategoryNode | None:
        pk = self.by_slug.get(slug)
        return self.nodes[pk] if pk is not None else None

    def ancestors(self, pk: int) -> list[CategoryNode]:
        """Root first, the node itself last."""
        chain = []
        node = self.nodes.get(pk)
        while node is not None:
            chain.append(node)
            node = self.nodes.get(node.parent_id) if node.parent_id else None
        return list(reversed(chain))

    def descendant_ids(self, pk: int) -> list[int]:
        node = self.nodes[pk]
        return [n.id for n in self.nodes.values() if n.path.startswith(node.path)]

    def children_of(self, pk: int | None) -> list[CategoryNode]:
        ids = self.roots if pk is None else self.nodes[pk].children
        return [self.nodes[i] for i in ids]


def _build_tree() -> CategoryTree:
    rows = list(
        Category.objects.filter(is_active=True)
        .order_by("position", "name")
        .values("id", "name", "slug", "parent_id", "depth", "path")
    )
    active = {r["id"] for r in rows}
    # A category is shown only when it and all its ancestors are active.
    visible = [r for r in rows if all(int(i) in active for i in r["path"].strip("/").split("/") if i)]
    children: dict[int | None, list[int]] = {}
    for r in visible:
        children.setdefault(r["parent_id"], []).append(r["id"])
    nodes = {r["id"]: CategoryNode(**r, children=tuple(children.get(r["id"], ()))) for r in visible}
    return CategoryTree(
        nodes=nodes,
        by_slug={n.slug: n.id for n in nodes.values()},
        roots=tuple(children.get(None, ())),
    )


def category_tree() -> CategoryTree:
    return vcache.cached_in(cache_keys.CATALOG, "catalog:tree", _build_tree, 60 * 60)


def category_get(*, slug: str) -> CategoryNode | None:
    return category_tree().get(slug)


def brand_list() -> list[dict]:
    return vcache.cached_in(
        cache_keys.CATALOG, "catalog:brands", lambda: list(Brand.objects.values("id", "slug", "name")), 60 * 60
    )


def attribute_list() -> list[dict]:
    return vcache.cached_in(
        cache_keys.CATALOG, "catalog:attributes",
        lambda: list(Attribute.objects.filter(filterable=True).values("id", "code", "name")), 60 * 60,
    )


# --- listings ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ProductFilter:
    category_id: int | None = None
    brands: tuple[str, ...] = ()
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    attributes: tuple[tuple[str, tuple[str, ...]], ...] = ()
    query: str = ""
    in_stock: bool = False
    sort: str = ""
    search_mode: str = ""  # set once per request by product_filter_prepare
    search_text: str = ""  # the text searched for: the query, or its spelling correction

    @property
    def corrected(self) -> bool:
        return bool(self.search_text) and self.search_text.lower() != normalize_query(self.query).lower()

    @property
    def effective_sort(self) -> str:
        if self.sort in SORTS and (self.sort != "relevance" or self.query):
            return self.sort
        return "relevance" if self.query else "featured"


def product_filter_prepare(filters: ProductFilter) -> ProductFilter:
    """Resolve what needs a query once (how the search text matches) before listing."""
    if filters.query and not filters.search_mode:
        qs = _apply(_base(), ProductFilter(category_id=filters.category_id))
        mode, text = get_search_backend().plan(qs, filters.query)
        return replace(filters, search_mode=mode, search_text=text)
    return filters


def _search(qs: QuerySet[Product], filters: ProductFilter, *, rank: bool) -> QuerySet[Product]:
    filters = product_filter_prepare(filters)
    return get_search_backend().search(qs, filters.search_text or filters.query, mode=filters.search_mode, rank=rank)


def thumbnail_of_product(outer: str = "pk") -> Subquery:
    """An annotation: the stored name of the product's first image's thumbnail (the image itself
    when it has none), None without images; :func:`thumbnail_url` makes it a URL. Lets a list of
    lines show their pictures without a query for the images."""
    first = ProductImage.objects.filter(product_id=OuterRef(outer)).order_by("position", "id")
    return Subquery(first.annotate(name=Coalesce(NullIf("thumbnail", Value("")), "image", output_field=CharField()))
                    .values("name")[:1])


def thumbnail_url(name: str | None) -> str | None:
    """The URL of a name :func:`thumbnail_of_product` gave (as ``ProductImage.thumbnail_url``)."""
    return ProductImage._meta.get_field("image").storage.url(name) if name else None


def _images_prefetch() -> Prefetch:
    return Prefetch("images", queryset=ProductImage.objects.order_by("position", "id"))


def _base() -> QuerySet[Product]:
    return Product.objects.filter(is_active=True)


def _apply(qs: QuerySet[Product], f: ProductFilter, *, skip: str = "") -> QuerySet[Product]:
    if f.category_id is not None:
        qs = qs.filter(category_id__in=category_tree().descendant_ids(f.category_id))
    if f.brands and skip != "brand":
        qs = qs.filter(brand__slug__in=f.brands)
    if skip != "price":
        if f.min_price is not None:
            qs = qs.filter(listing_price__gte=f.min_price)
        if f.max_price is not None:
            qs = qs.filter(listing_price__lte=f.max_price)
    if f.in_stock:
        qs = qs.filter(in_stock=True)
    if skip != "attributes":
        for code, values in f.attributes:
            qs = qs.filter(
                pk__in=ProductAttributeValue.objects.filter(attribute__code=code, value__in=values).values(
                    "product_id"
                )
            )
    return qs


def product_list(*, filters: ProductFilter) -> QuerySet[Product]:
    """Active products matching ``filters``, sorted, ready for cards (brand, images loaded)."""
    qs = _apply(_base(), filters)
    sort = filters.effective_sort
    if filters.query:
        qs = _search(qs, filters, rank=sort == "relevance")
    if sort == "price_asc":
        qs = qs.order_by("-in_stock", "listing_price", "id")
    elif sort == "price_desc":
        qs = qs.order_by("-in_stock", "-listing_price", "id")
    elif sort == "newest":
        qs = qs.order_by("-created_at", "-id")
    elif sort == "rating":
        qs = qs.order_by("-rating_avg", "-rating_count", "id")
    elif sort == "featured":
        qs = qs.order_by("-in_stock", "-rating_count", "id")
    # Listings never show the description, and the search vector is only matched: leaving both
    # out of the rows spares the database carrying them through the sort of every match.
    return qs.defer("description", "search_vector").select_related("brand").prefetch_related(_images_prefetch())


class ListingPaginator(Paginator):
    """Pages of a listing, counting at most ``cap`` products: a search that matches thousands
    says "over 1,000 results" (counting them all would cost more than the page itself) and its
    pages stop at the cap; refining the search or filters narrows it."""

    def __init__(self, object_list: QuerySet, per_page: int, cap: int) -> None:
        super().__init__(object_list, per_page)
        self.cap = cap

    @cached_property
    def _bounded_count(self) -> int:
        return self.object_list.order_by()[: self.cap + 1].count()

    @cached_property
    def count(self) -> int:
        return min(self._bounded_count, self.cap)

    @property
    def capped(self) -> bool:
        """Whether there are more products than the pages reach."""
        return self._bounded_count > self.cap


def listing_page(products: QuerySet[Product], number: str, *, per_page: int, cap: int) -> Page:
    """The page ``number`` of ``products`` (the last one if past it, the first if not a number)."""
    return ListingPaginator(products, per_page, cap).get_page(number)


@dataclass
class FacetValue:
    value: str
    label: str
    count: int
    selected: bool = False
    extra: dict = field(default_factory=dict)


@dataclass
class Facets:
    brands: list[FacetValue]
    prices: list[FacetValue]
    attributes: list[tuple[str, str, list[FacetValue]]]  # (code, name, values)


def _filtered_for_facets(filters: ProductFilter, skip: str) -> QuerySet[Product]:
    qs = _apply(_base(), filters, skip=skip)
    if filters.query:
        qs = _search(qs, filters, rank=False)
    return qs


def price_bucket_value(low: Decimal, high: Decimal | None) -> str:
    return f"{low}-{high if high is not None else ''}"


FACETS_TIMEOUT = 15 * 60


def product_facets(*, filters: ProductFilter) -> Facets:
    """Counts for each filter value. Each facet ignores its own selection (disjunctive).

    Cached per filter set (sort and page do not change the counts, so every sort and page of a
    listing shares them) until the catalog or any listing changes: the counts of a big category
    take a few hundred milliseconds to compute."""
    key_filters = replace(filters, sort="", search_mode="", search_text="")
    key = "catalog:facets:" + vcache.digest(repr(key_filters))
    cached, seen = vcache.get_checked(key, [cache_keys.CATALOG, cache_keys.LISTING])
    if cached is not None:
        return cached
    facets = _product_facets(filters=filters)
    vcache.set_checked(key, facets, seen, FACETS_TIMEOUT)
    return facets


def _product_facets(*, filters: ProductFilter) -> Facets:
    brand_rows = (
        _filtered_for_facets(filters, "brand")
        .exclude(brand__isnull=True)
        .values("brand__slug", "brand__name")
        .annotate(n=Count("id"))
        .order_by("-n", "brand__name")[:40]
    )
    brands = [
        FacetValue(r["brand__slug"], r["brand__name"], r["n"], r["brand__slug"] in filters.brands) for r in brand_rows
    ]
    # keep selected brands visible even when nothing else matches them
    shown = {b.value for b in brands}
    names = {b["slug"]: b["name"] for b in brand_list()}
    for slug in filters.brands:
        if slug not in shown and slug in names:
            brands.append(FacetValue(slug, names[slug], 0, True))

    aggregates = {}
    for i, (low, high) in enumerate(PRICE_BUCKETS):
        cond = Q(listing_price__gte=low) & (Q(listing_price__lt=high) if high is not None else Q())
        aggregates[f"b{i}"] = Count("id", filter=cond)
    counts = _filtered_for_facets(filters, "price").aggregate(**aggregates)
    prices = []
    for i, (low, high) in enumerate(PRICE_BUCKETS):
        upper_matches = filters.max_price == high if high is not None else filters.max_price is None
        selected = filters.min_price == low and upper_matches
        prices.append(
            FacetValue(price_bucket_value(low, high), "", counts[f"b{i}"], selected, {"low": low, "high": high})
        )

    selected_attrs = dict(filters.attributes)
    attr_rows = (
        ProductAttributeValue.objects.filter(
            product__in=_filtered_for_facets(filters, "attributes"), attribute__filterable=True
        )
        .values("attribute__code", "attribute__name", "attribute__position", "value")
        .annotate(n=Count("product_id"))
        .order_by("attribute__position", "attribute__name", "value")
    )
    grouped: dict[str, tuple[str, list[FacetValue]]] = {}
    for r in attr_rows:
        code = r["attribute__code"]
        grouped.setdefault(code, (r["attribute__name"], []))[1].append(
            FacetValue(r["value"], r["value"], r["n"], r["value"] in selected_attrs.get(code, ()))
        )
    attributes = [(code, name, values) for code, (name, values) in grouped.items() if len(values) > 0]
    return Facets(brands=brands, prices=prices, attributes=attributes)


def product_home_sections(*, limit: int = 8) -> dict[str, list[Product]]:
    """The home page's best rated and newest products that can be bought now."""
    best = list(
        _base().filter(rating_count__gt=0, in_stock=True).order_by("-rating_avg", "-rating_count", "id")
        .select_related("brand").prefetch_related(_images_prefetch())[:limit]
    )
    newest = list(
        _base().filter(in_stock=True).order_by("-created_at", "-id").select_related("brand")
        .prefetch_related(_images_prefetch())[:limit]
    )
    return {"best_rated": best, "newest": newest}


# --- one product --------------------------------------------------------------------------


def product_detail(*, slug: str) -> Product | None:
    """An active product with brand, category, images, attributes and recent reviews loaded."""
    return (
        _base()
        .filter(slug=slug)
        .select_related("brand", "category")
        .prefetch_related(
            _images_prefetch(),
            Prefetch(
                "attribute_values",
                queryset=ProductAttributeValue.objects.select_related("attribute").order_by(
                    "attribute__position", "attribute__name"
                ),
            ),
        )
        .first()
    )


def product_reviews(*, product_id: int, limit: int = 10) -> list[Review]:
    """Most helpful first, then newest (one query, authors joined)."""
    return list(
        Review.objects.filter(product_id=product_id)
        .select_related("user")
        .order_by("-helpful_count", "-created_at", "-id")[:limit]
    )


# --- all reviews of a product (the reviews page and the API) ---------------------------------

REVIEW_SORTS = {
    "helpful": _("Most helpful"),
    "newest": _("Newest"),
    "highest": _("Highest rating"),
    "lowest": _("Lowest rating"),
}
REVIEW_SORT_DEFAULT = "helpful"
REVIEW_STARS = (5, 4, 3, 2, 1)
REVIEWS_PAGE_SIZE = 10

_REVIEW_ORDER = {
    "helpful": ("-helpful_count", "-created_at", "-id"),
    "newest": ("-created_at", "-id"),
    "highest": ("-rating", "-helpful_count", "-created_at", "-id"),
    "lowest": ("rating", "-helpful_count", "-created_at", "-id"),
}


@dataclass(frozen=True)
class HistogramRow:
    stars: int
    count: int
    percent: int  # whole percent of all ratings, rounded half up


@dataclass(frozen=True)
class RatingHistogram:
    count: int
    average: Decimal | None  # None without ratings
    rows: tuple[HistogramRow, ...]  # 5 stars first, down to 1

    def count_of(self, stars: int) -> int:
        return next((row.count for row in self.rows if row.stars == stars), 0)


def _whole_percents(counts: list[int]) -> list[int]:
    """Percent of the total for each count, rounded half up on its own: equal counts always show
    equal percents (so the rows may add up to 99 or 101, as on other shops)."""
    total = sum(counts)
    if not total:
        return [0] * len(counts)
    return [int((Decimal(c * 100) / total).quantize(Decimal(1), rounding=ROUND_HALF_UP)) for c in counts]


def rating_histogram(*, product_id: int) -> RatingHistogram:
    """How many reviews give each number of stars, their average and total (one aggregate query)."""
    row = Review.objects.filter(product_id=product_id).aggregate(
        total=Count("id"),
        avg=Avg("rating"),
        **{f"s{n}": Count("id", filter=Q(rating=n)) for n in REVIEW_STARS},
    )
    counts = [row[f"s{n}"] for n in REVIEW_STARS]
    percents = _whole_percents(counts)
    average = Decimal(str(round(row["avg"], 2))) if row["avg"] is not None else None
    return RatingHistogram(
        count=row["total"],
        average=average,
        rows=tuple(HistogramRow(n, c, p) for n, c, p in zip(REVIEW_STARS, counts, percents, strict=True)),
    )


def product_review_list(
    *, product_id: int, sort: str = REVIEW_SORT_DEFAULT, stars: int | None = None
) -> QuerySet[Review]:
    """Every review of a product, optionally only those with ``stars``, in ``sort`` order (an
    unknown sort is the default: most helpful, then newest). Authors joined."""
    qs = Review.objects.filter(product_id=product_id)
    if stars is not None:
        qs = qs.filter(rating=stars)
    order = _REVIEW_ORDER.get(sort, _REVIEW_ORDER[REVIEW_SORT_DEFAULT])
    return qs.select_related("user").order_by(*order)


@dataclass(frozen=True)
class ReviewsPage:
    product: Product
    breadcrumbs: list[CategoryNode]
    histogram: RatingHistogram
    page: Page
    sort: str
    stars: int | None


def product_reviews_page(
    *, slug: str, sort: str = REVIEW_SORT_DEFAULT, stars: int | None = None, page: str | int = 1,
    per_page: int = REVIEWS_PAGE_SIZE,
) -> ReviewsPage | None:
    """One page of an active product's reviews with its rating histogram, in a constant number of
    queries (product, histogram, the page's reviews with authors; the category tree is cached).
    A page number that is not a number shows page 1, one past the end the last page (as listings)."""
    product = (
        _base().filter(slug=slug)
        .only("id", "slug", "title", "category_id", "rating_avg", "rating_count")
        .first()
    )
    if product is None:
        return None
    sort = sort if sort in REVIEW_SORTS else REVIEW_SORT_DEFAULT
    stars = stars if stars in REVIEW_STARS else None
    histogram = rating_histogram(product_id=product.pk)
    paginator = Paginator(product_review_list(product_id=product.pk, sort=sort, stars=stars), per_page)
    # The histogram already counted the reviews: spare the paginator its COUNT query.
    paginator.count = histogram.count if stars is None else histogram.count_of(stars)
    return ReviewsPage(
        product=product,
        breadcrumbs=category_tree().ancestors(product.category_id),
        histogram=histogram,
        page=paginator.get_page(page),
        sort=sort,
        stars=stars,
    )


def product_for_review(*, slug: str) -> Product | None:
    """An active product a shopper may review (no relations loaded)."""
    return _base().filter(slug=slug).only("id", "slug", "title").first()


def review_of_user(*, product_id: int, user) -> Review | None:
    """The review ``user`` wrote of this product, if any."""
    if not getattr(user, "is_authenticated", False):
        return None
    return Review.objects.filter(product_id=product_id, user=user).first()


def review_get(*, pk: int) -> Review | None:
    return Review.objects.select_related("product").filter(pk=pk).first()


def products_by_ids(*, ids: list[int]) -> dict[int, Product]:
    return {p.pk: p for p in Product.objects.filter(pk__in=ids).select_related("brand")}


def product_cards(*, ids) -> list[Product]:
    """The active ones of these products, in the order given, ready for product cards (brand and
    images loaded): two queries whatever the number."""
    ids = [int(i) for i in ids]
    found = {p.pk: p for p in _base().filter(pk__in=ids).select_related("brand").prefetch_related(_images_prefetch())}
    return [found[i] for i in ids if i in found]


def products_for_traffic(*, limit: int) -> list[tuple[int, int | None, Decimal | None]]:
    """(id, category id, listing price) of the first ``limit`` active products in stock, by id: the
    catalog demo traffic is generated over."""
    return list(_base().filter(in_stock=True).order_by("id").values_list("pk", "category_id", "listing_price")[:limit])


def products_all() -> QuerySet[Product]:
    """Every product, active or not, unordered and with nothing joined: for batch jobs of other
    contexts that narrow it by their own relations (marketplace: the products without a buy box)."""
    return Product.objects.all()


def category_active(*, slug: str) -> Category | None:
    """The active category with this slug, as a row (for writes that point at it)."""
    return Category.objects.filter(slug=slug, is_active=True).first()


def product_active(*, slug: str) -> Product | None:
    """The active product with this slug, nothing joined (for writes that point at it)."""
    return Product.objects.filter(slug=slug, is_active=True).defer("description", "search_vector").first()


def product_sizes(*, product_ids) -> dict[int, tuple]:
    """product id -> (length, width, height, weight) of the packed unit, for products measured in
    full (inches, pounds); products missing any of the four are left out."""
    rows = Product.objects.filter(pk__in=list(product_ids), length_in__isnull=False, width_in__isnull=False,
                                  height_in__isnull=False, weight_lb__isnull=False)
    return {pk: size for pk, *size in rows.values_list("pk", "length_in", "width_in", "height_in", "weight_lb")}


def brand_by_slug(*, slug: str) -> Brand | None:
    return Brand.objects.filter(slug=slug).first()


def categories_by_ids(*, ids: list[int]) -> QuerySet[Category]:
    """The active categories among ``ids`` (unknown or inactive ones are left out)."""
    return Category.objects.filter(pk__in=ids, is_active=True)


def category_choices() -> list[tuple[int, str]]:
    """Every visible category as (id, name indented by depth), in tree order, for forms."""
    tree = category_tree()

    def walk(ids, depth):
        for pk in ids:
            node = tree.nodes[pk]
            yield node.id, ("— " * depth) + node.name
            yield from walk(node.children, depth + 1)

    return list(walk(tree.roots, 0))


def product_category_ids(*, product_ids) -> dict[int, int | None]:
    """product id -> its category's id (None when it has none)."""
    return dict(Product.objects.filter(pk__in=list(product_ids)).values_list("pk", "category_id"))


def personal_data(*, user_id: int) -> dict:
    """The reviews ``user_id`` wrote, for their data export."""
    return {"reviews": list(Review.objects.filter(user_id=user_id).order_by("id").values(
        "product__title", "rating", "title", "body", "verified_purchase", "helpful_count", "created_at"))}
