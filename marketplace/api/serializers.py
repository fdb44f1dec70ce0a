"""Marketplace API serializers. Input and output are separate classes: input serializers parse
and check what a client sends, output serializers shape what the selectors return.

Output serializers never query: everything they read is loaded by the selectors (products with
brand and images, offers with seller and product, offer facts in one batch per page).
"""

from __future__ import annotations

from decimal import Decimal

from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from catalog import selectors as catalog_selectors
from catalog.search import MAX_QUERY_LENGTH
from core.api import (
    AmountInputField,
    JsonBooleanField,
    PriceBoundInputField,
    RepeatedParamField,
    StrictInputSerializer,
)
from marketplace import selectors
from marketplace.models import Offer, ProductProposal

ATTRIBUTE_PREFIX = "a_"
MAX_REPEATS = 50
MAX_ATTRIBUTE_VALUE_LENGTH = 100


def _absolute(request, path: str) -> str:
    return request.build_absolute_uri(path) if request is not None else path


# --- input --------------------------------------------------------------------------------


class ProductFilterInputSerializer(serializers.Serializer):
    """The query string of the product list: the same filters as the category and search pages.

    Attribute filters are ``a_<code>=value`` (repeatable); they are parsed from the raw query
    string because their names depend on the catalog's attributes.
    """

    q = serializers.CharField(
        required=False, allow_blank=True, max_length=MAX_QUERY_LENGTH,
        help_text=gettext_lazy("Search words; typos are forgiven when no word matches exactly."),
    )
    category = serializers.CharField(
        required=False, allow_blank=True, max_length=140,
        help_text=gettext_lazy("Category slug; products of its subcategories are included."),
    )
    brand = RepeatedParamField(
        child=serializers.CharField(max_length=140, allow_blank=True), required=False, max_length=MAX_REPEATS,
        help_text=gettext_lazy("Brand slug; repeat the parameter for any of several brands."),
    )
    min_price = PriceBoundInputField(
        min_value=Decimal(0), required=False, help_text=gettext_lazy("Lowest price, inclusive.")
    )
    max_price = PriceBoundInputField(
        min_value=Decimal(0), required=False, help_text=gettext_lazy("Highest price, inclusive.")
    )
    in_stock = serializers.BooleanField(
        required=False, default=False, help_text=gettext_lazy("Only products that can be bought now.")
    )
    sort = serializers.ChoiceField(
        choices=list(catalog_selectors.SORTS.items()), required=False, allow_blank=True,
        help_text=gettext_lazy("Order of the results; `relevance` applies only with `q`. Default: `relevance` "
                               "with `q`, else `featured`."),
    )
    facets = serializers.BooleanField(
        required=False, default=False,
        help_text=gettext_lazy("Also return counts per brand, price band and attribute value (`facets`)."),
    )

    def validate_category(self, value: str):
        if not value:
            return None
        node = catalog_selectors.category_get(slug=value)
        if node is None:
            raise serializers.ValidationError(_("Unknown category: %(slug)s") % {"slug": value})
        return node

    def validate_brand(self, value: list[str]) -> tuple[str, ...]:
        known = {b["slug"] for b in catalog_selectors.brand_list()}
        wanted = sorted({v for v in value if v})
        unknown = [v for v in wanted if v not in known]
        if unknown:
            raise serializers.ValidationError(_("Unknown brand: %(slugs)s") % {"slugs": ", ".join(unknown)})
        return tuple(wanted)

    def to_internal_value(self, data):
        errors: dict = {}
        try:
            values = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            errors.update(exc.detail)
            values = {}
        attributes, attribute_errors = self._attributes(data)
        errors.update(attribute_errors)
        if errors:
            raise serializers.ValidationError(errors)
        values["attributes"] = attributes
        return values

    @staticmethod
    def _attributes(data) -> tuple[tuple[tuple[str, tuple[str, ...]], ...], dict]:
        keys = [k for k in data if isinstance(k, str) and k.startswith(ATTRIBUTE_PREFIX)]
        if not keys:
            return (), {}
        codes = {a["code"] for a in catalog_selectors.attribute_list()}
        attributes, errors = [], {}
        for key in sorted(keys):
            code = key[len(ATTRIBUTE_PREFIX):]
            if code not in codes:
                errors[key] = [_("Unknown attribute: %(code)s") % {"code": code}]
                continue
            raw = data.getlist(key) if hasattr(data, "getlist") else [data[key]]
            raw = [v if isinstance(v, str) else str(v) for v in raw]
            if len(raw) > MAX_REPEATS:
                errors[key] = [_("Give at most %(n)d values.") % {"n": MAX_REPEATS}]
            elif any("\x00" in v for v in raw):
                errors[key] = [_("Null characters are not allowed.")]
            elif any(len(v) > MAX_ATTRIBUTE_VALUE_LENGTH for v in raw):
                errors[key] = [_("Each value has at most %(n)d characters.") % {"n": MAX_ATTRIBUTE_VALUE_LENGTH}]
            else:
                values = tuple(sorted({v for v in raw if v.strip()}))
                if values:
                    attributes.append((code, values))
        return tuple(attributes), errors

    def validate(self, attrs):
        low, high = attrs.get("min_price"), attrs.get("max_price")
        if low is not None and high is not None and low > high:
            raise serializers.ValidationError(
                {"max_price": [_("The maximum price must not be below the minimum.")]}
            )
        return attrs

    def to_filter(self) -> catalog_selectors.ProductFilter:
        data = self.validated_data
        category = data.get("category")
        return catalog_selectors.ProductFilter(
            category_id=category.id if category else None,
            brands=data.get("brand", ()),
            min_price=data.get("min_price"),
            max_price=data.get("max_price"),
            attributes=data["attributes"],
            query=(data.get("q") or "").strip(),
            in_stock=data["in_stock"],
            sort=data.get("sort") or "",
        )


class OfferFilterInputSerializer(serializers.Serializer):
    seller = serializers.CharField(
        required=False, allow_blank=True, max_length=140, help_text=gettext_lazy("Only this seller's offers (slug).")
    )
    product = serializers.CharField(
        required=False, allow_blank=True, max_length=220, help_text=gettext_lazy("Only offers of this product (slug).")
    )

    def validate_seller(self, value: str) -> str:
        if value and not selectors.seller_list().filter(slug=value).exists():
            raise serializers.ValidationError(_("Unknown seller: %(slug)s") % {"slug": value})
        return value

    def validate_product(self, value: str) -> str:
        if value and catalog_selectors.product_detail(slug=value) is None:
            raise serializers.ValidationError(_("Unknown product: %(slug)s") % {"slug": value})
        return value


def _price_field(**kwargs) -> serializers.DecimalField:
    return AmountInputField(min_value=Decimal("0.01"), **kwargs)


class OfferCreateInputSerializer(StrictInputSerializer):
    """A new offer. Only these fields are accepted: stock, availability and the buy box are computed."""

    seller = serializers.CharField(
        required=False, max_length=140,
        help_text=gettext_lazy("Slug of the seller to list for; may be left out by members of exactly one seller."),
    )
    product = serializers.CharField(max_length=220, help_text=gettext_lazy("Slug of the catalog product."))
    sku = serializers.CharField(max_length=64, help_text=gettext_lazy("The seller's own stock-keeping unit."))
    price = _price_field(help_text=gettext_lazy("Price in the shop currency, above zero."))
    list_price = _price_field(
        required=False, allow_null=True, help_text=gettext_lazy("Recommended retail price (shown struck through).")
    )
    member_price = _price_field(
        required=False, allow_null=True, help_text=gettext_lazy("What members pay; below the price.")
    )
    condition = serializers.ChoiceField(choices=Offer.Condition.choices, default=Offer.Condition.NEW)
    fulfillment_channel = serializers.ChoiceField(choices=Offer.Channel.choices, default=Offer.Channel.MERCHANT)
    handling_days = serializers.IntegerField(min_value=0, max_value=60, default=1)
    is_active = JsonBooleanField(default=True)

    def validate_product(self, value: str):
        product = catalog_selectors.product_detail(slug=value)
        if product is None:
            raise serializers.ValidationError(_("Unknown product: %(slug)s") % {"slug": value})
        return product

    def validate_seller(self, value: str):
        seller = selectors.seller_list().filter(slug=value).first()
        if seller is None:
            raise serializers.ValidationError(_("Unknown seller: %(slug)s") % {"slug": value})
        return seller


class OfferUpdateInputSerializer(StrictInputSerializer):
    """Changes to an offer: send only the fields to change. The seller and product cannot change."""

    sku = serializers.CharField(max_length=64, required=False)
    price = _price_field(required=False)
    list_price = _price_field(required=False, allow_null=True)
    member_price = _price_field(required=False, allow_null=True)
    condition = serializers.ChoiceField(choices=Offer.Condition.choices, required=False)
    fulfillment_channel = serializers.ChoiceField(choices=Offer.Channel.choices, required=False)
    handling_days = serializers.IntegerField(min_value=0, max_value=60, required=False)
    is_active = JsonBooleanField(required=False)


# --- output: sellers ----------------------------------------------------------------------


class SellerOutputSerializer(serializers.Serializer):
    name = serializers.CharField()
    slug = serializers.SlugField()
    is_house = serializers.BooleanField(help_text=gettext_lazy("True for the platform's own retail business."))
    rating = serializers.DecimalField(max_digits=3, decimal_places=2)
    rating_count = serializers.IntegerField()
    country = serializers.CharField(help_text=gettext_lazy("ISO 3166 country code."))
    url = serializers.SerializerMethodField(help_text=gettext_lazy("The seller's page on the shop."))

    def get_url(self, seller) -> str:
        return _absolute(self.context.get("request"), reverse("marketplace:seller", kwargs={"slug": seller.slug}))


class SellerDetailOutputSerializer(SellerOutputSerializer):
    description = serializers.CharField()


class SellerRefOutputSerializer(serializers.Serializer):
    slug = serializers.SlugField()
    name = serializers.CharField()
    is_house = serializers.BooleanField()
    rating = serializers.DecimalField(max_digits=3, decimal_places=2)
    rating_count = serializers.IntegerField()


# --- output: offers -----------------------------------------------------------------------


class _OfferTermsOutputSerializer(serializers.Serializer):
    # Fields shared by both offer shapes; the instance is a ``selectors.OfferView``.

    id = serializers.IntegerField(source="offer.pk")
    price = serializers.DecimalField(source="offer.price", max_digits=12, decimal_places=2)
    list_price = serializers.DecimalField(source="offer.list_price", max_digits=12, decimal_places=2, allow_null=True)
    member_price = serializers.DecimalField(
        source="offer.member_price", max_digits=12, decimal_places=2, allow_null=True,
        help_text=gettext_lazy("What members pay (null: the price)."),
    )
    currency = serializers.CharField(source="offer.currency")
    condition = serializers.ChoiceField(source="offer.condition", choices=Offer.Condition.choices)
    fulfillment_channel = serializers.ChoiceField(source="offer.fulfillment_channel", choices=Offer.Channel.choices)
    handling_days = serializers.IntegerField(source="offer.handling_days")
    available = serializers.IntegerField(help_text=gettext_lazy("Units that can be bought now."))
    in_stock = serializers.BooleanField(help_text=gettext_lazy("Whether the offer can be bought now."))


class OfferOutputSerializer(_OfferTermsOutputSerializer):
    """An offer with what can be bought of it now."""

    sku = serializers.CharField(source="offer.sku")
    seller = serializers.SlugField(source="offer.seller.slug")
    product = serializers.SlugField(source="offer.product.slug")
    is_active = serializers.BooleanField(source="offer.is_active")


class ProductOfferOutputSerializer(_OfferTermsOutputSerializer):
    """An offer as the product page shows it: with its seller, shipping and delivery estimate."""

    seller = SellerRefOutputSerializer(source="offer.seller")
    shipping = serializers.DecimalField(
        max_digits=12, decimal_places=2, allow_null=True, help_text=gettext_lazy("Cheapest shipping.")
    )
    landed_price = serializers.DecimalField(
        max_digits=12, decimal_places=2, help_text=gettext_lazy("Price plus cheapest shipping.")
    )
    delivery_min_days = serializers.IntegerField(source="facts.delivery_min_days", allow_null=True)
    delivery_max_days = serializers.IntegerField(source="facts.delivery_max_days", allow_null=True)


# --- output: products ---------------------------------------------------------------------


class BrandRefOutputSerializer(serializers.Serializer):
    slug = serializers.SlugField()
    name = serializers.CharField()


class ProductListOutputSerializer(serializers.Serializer):
    """A product as listings show it."""

    # ``context["tree"]`` is the category tree (for the category slug, without a query).

    id = serializers.IntegerField()
    slug = serializers.SlugField()
    title = serializers.CharField()
    brand = BrandRefOutputSerializer(allow_null=True)
    category = serializers.SerializerMethodField(help_text=gettext_lazy("Category slug."))
    price = serializers.DecimalField(
        source="listing_price", max_digits=12, decimal_places=2, allow_null=True,
        help_text=gettext_lazy("Price of the buy-box offer; null when nobody sells the product now."),
    )
    currency = serializers.CharField(source="listing_currency")
    in_stock = serializers.BooleanField()
    offer_count = serializers.IntegerField(help_text=gettext_lazy("Offers that can be bought now."))
    rating_avg = serializers.DecimalField(max_digits=3, decimal_places=2)
    rating_count = serializers.IntegerField()
    thumbnail = serializers.SerializerMethodField(help_text=gettext_lazy("URL of the first image's thumbnail."))
    url = serializers.SerializerMethodField(help_text=gettext_lazy("The product's page on the shop."))

    def get_category(self, product) -> str | None:
        node = self.context["tree"].nodes.get(product.category_id)
        return node.slug if node else None

    def get_thumbnail(self, product) -> str | None:
        images = list(product.images.all())  # prefetched by the selector
        return _absolute(self.context.get("request"), images[0].thumbnail_url) if images else None

    def get_url(self, product) -> str:
        return _absolute(self.context.get("request"), product.get_absolute_url())


class FacetValueOutputSerializer(serializers.Serializer):
    value = serializers.CharField(help_text=gettext_lazy("What to pass in the filter parameter."))
    label = serializers.CharField()
    count = serializers.IntegerField()
    selected = serializers.BooleanField()


class PriceFacetOutputSerializer(serializers.Serializer):
    min_price = serializers.DecimalField(max_digits=12, decimal_places=2)
    max_price = serializers.DecimalField(max_digits=12, decimal_places=2, allow_null=True)
    count = serializers.IntegerField()
    selected = serializers.BooleanField()


class AttributeFacetOutputSerializer(serializers.Serializer):
    code = serializers.CharField(help_text=gettext_lazy("Filter with `a_<code>=<value>`."))
    name = serializers.CharField()
    values = FacetValueOutputSerializer(many=True)


class FacetsOutputSerializer(serializers.Serializer):
    brands = FacetValueOutputSerializer(many=True)
    prices = PriceFacetOutputSerializer(many=True)
    attributes = AttributeFacetOutputSerializer(many=True)

    def to_representation(self, facets):
        def value(v):
            return {"value": v.value, "label": v.label, "count": v.count, "selected": v.selected}

        return {
            "brands": [value(v) for v in facets.brands],
            "prices": [
                {"min_price": f"{v.extra['low']:.2f}",
                 "max_price": f"{v.extra['high']:.2f}" if v.extra["high"] is not None else None,
                 "count": v.count, "selected": v.selected}
                for v in facets.prices
            ],
            "attributes": [
                {"code": code, "name": name, "values": [value(v) for v in values]}
                for code, name, values in facets.attributes
            ],
        }


class ProductPageOutputSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text=gettext_lazy("Products matching the filters, on all pages."))
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = ProductListOutputSerializer(many=True)
    facets = FacetsOutputSerializer(allow_null=True, help_text=gettext_lazy("Only with `facets=true`, else null."))


class AttributeValueOutputSerializer(serializers.Serializer):
    code = serializers.CharField(source="attribute.code")
    name = serializers.CharField(source="attribute.name")
    value = serializers.CharField()


class ImageOutputSerializer(serializers.Serializer):
    url = serializers.SerializerMethodField()
    thumbnail = serializers.SerializerMethodField()
    alt_text = serializers.CharField()

    def get_url(self, image) -> str:
        return _absolute(self.context.get("request"), image.image.url)

    def get_thumbnail(self, image) -> str:
        return _absolute(self.context.get("request"), image.thumbnail_url)


class BreadcrumbOutputSerializer(serializers.Serializer):
    name = serializers.CharField()
    slug = serializers.SlugField()
    url = serializers.SerializerMethodField()

    def get_url(self, node) -> str:
        return _absolute(self.context.get("request"), reverse("catalog:category", kwargs={"slug": node.slug}))


class ProductDetailOutputSerializer(ProductListOutputSerializer):
    """A product with everything its page shows."""

    # The instance is the product; ``context["page"]`` is its ``ProductPage``.

    description = serializers.CharField()
    length_in = serializers.DecimalField(max_digits=7, decimal_places=2, allow_null=True,
                                         help_text=gettext_lazy("Packed unit, inches; null when not measured."))
    width_in = serializers.DecimalField(max_digits=7, decimal_places=2, allow_null=True)
    height_in = serializers.DecimalField(max_digits=7, decimal_places=2, allow_null=True)
    weight_lb = serializers.DecimalField(max_digits=8, decimal_places=3, allow_null=True,
                                         help_text=gettext_lazy("Packed unit, pounds; null when not measured."))
    attributes = AttributeValueOutputSerializer(source="attribute_values.all", many=True)
    images = ImageOutputSerializer(source="images.all", many=True)
    breadcrumbs = serializers.SerializerMethodField(help_text=gettext_lazy("Top-level category first."))
    buy_box = serializers.SerializerMethodField(
        help_text=gettext_lazy("The offer shown first (lowest landed price that can be bought); null when none.")
    )
    offers = serializers.SerializerMethodField(
        help_text=gettext_lazy("Every active offer: the buy box first, then other sellable ones, then the rest.")
    )

    @extend_schema_field(BreadcrumbOutputSerializer(many=True))
    def get_breadcrumbs(self, product):
        return BreadcrumbOutputSerializer(self.context["page"].breadcrumbs, many=True, context=self.context).data

    @extend_schema_field(ProductOfferOutputSerializer(allow_null=True))
    def get_buy_box(self, product):
        winner = self.context["page"].winner
        return ProductOfferOutputSerializer(winner, context=self.context).data if winner else None

    @extend_schema_field(ProductOfferOutputSerializer(many=True))
    def get_offers(self, product):
        page = self.context["page"]
        views = ([page.winner] if page.winner else []) + list(page.others)
        return ProductOfferOutputSerializer(views, many=True, context=self.context).data


# --- product proposals ------------------------------------------------------------------------


class ProductProposalInputSerializer(StrictInputSerializer):
    """A product the catalogue lacks, proposed by a seller; hidden until Bazaar approves it. With
    ``sku`` and ``price``, the seller's first offer on it (shipped by the seller) is listed too."""

    seller = serializers.CharField(
        required=False, max_length=140,
        help_text=gettext_lazy("Slug of the seller proposing; may be left out by members of exactly one seller."),
    )
    title = serializers.CharField(min_length=3, max_length=200)
    category = serializers.CharField(max_length=140, help_text=gettext_lazy("Slug of an active category."))
    brand = serializers.CharField(required=False, max_length=140, help_text=gettext_lazy("Slug of a brand."))
    description = serializers.CharField(required=False, allow_blank=True, max_length=20_000, default="")
    note = serializers.CharField(required=False, allow_blank=True, max_length=2_000, default="",
                                 help_text=gettext_lazy("For the reviewer: where the product comes from, a link."))
    sku = serializers.CharField(required=False, max_length=64, help_text=gettext_lazy("Your SKU for the offer."))
    price = _price_field(required=False, help_text=gettext_lazy("The offer's price, with ``sku``."))
    condition = serializers.ChoiceField(choices=Offer.Condition.choices, default=Offer.Condition.NEW)

    def validate_category(self, value: str):
        category = catalog_selectors.category_active(slug=value)
        if category is None:
            raise serializers.ValidationError(_("Unknown category: %(slug)s") % {"slug": value})
        return category

    def validate_brand(self, value: str):
        brand = catalog_selectors.brand_by_slug(slug=value)
        if brand is None:
            raise serializers.ValidationError(_("Unknown brand: %(slug)s") % {"slug": value})
        return brand

    def validate_seller(self, value: str):
        seller = selectors.seller_list().filter(slug=value).first()
        if seller is None:
            raise serializers.ValidationError(_("Unknown seller: %(slug)s") % {"slug": value})
        return seller

    def validate(self, attrs):
        if ("sku" in attrs) != ("price" in attrs):
            missing = "price" if "sku" in attrs else "sku"
            raise serializers.ValidationError({missing: [_("Give both the SKU and the price, or neither.")]})
        return attrs


class ProductProposalOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=ProductProposal.Status.choices)
    seller = serializers.CharField(source="seller.slug")
    product = serializers.CharField(source="product.slug", help_text=gettext_lazy("Slug the product will have."))
    title = serializers.CharField(source="product.title")
    category = serializers.CharField(source="product.category.slug")
    offer = serializers.IntegerField(source="offer_id", allow_null=True)
    note = serializers.CharField()
    review_message = serializers.CharField(help_text=gettext_lazy("What Bazaar said when deciding."))
    created_at = serializers.DateTimeField()
    reviewed_at = serializers.DateTimeField(allow_null=True)
