"""Catalog: the category tree, brands, products with attributes and images, and reviews.

A product's *listing* columns (price, stock flag, offer count) are a denormalised copy of its
buy box, written only by marketplace through :func:`catalog.services.product_listing_update`, so
listing pages can sort and filter by price without reaching into another context's tables.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.contrib.postgres.search import SearchVectorField
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Category(models.Model):
    name = models.CharField(_("name"), max_length=120)
    slug = models.SlugField(_("slug"), max_length=140, unique=True)
    parent = models.ForeignKey(
        "self", verbose_name=_("parent"), null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    description = models.TextField(_("description"), blank=True)
    position = models.PositiveIntegerField(_("position"), default=0)
    is_active = models.BooleanField(_("active"), default=True)
    # Materialised path of ids, e.g. "/3/17/42/": subtree = path__startswith. Kept by services.
    path = models.CharField(max_length=255, editable=False, default="", db_index=True)
    depth = models.PositiveSmallIntegerField(editable=False, default=0)

    class Meta:
        verbose_name = _("category")
        verbose_name_plural = _("categories")
        ordering = ("path",)

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("catalog:category", kwargs={"slug": self.slug})


class Brand(models.Model):
    name = models.CharField(_("name"), max_length=120, unique=True)
    slug = models.SlugField(_("slug"), max_length=140, unique=True)
    description = models.TextField(_("description"), blank=True)

    class Meta:
        verbose_name = _("brand")
        verbose_name_plural = _("brands")
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name


class Attribute(models.Model):
    """A filterable property such as colour or size; values live on ProductAttributeValue."""

    code = models.SlugField(_("code"), max_length=60, unique=True)
    name = models.CharField(_("name"), max_length=80)
    filterable = models.BooleanField(_("show as a filter"), default=True)
    position = models.PositiveIntegerField(_("position"), default=0)

    class Meta:
        verbose_name = _("attribute")
        verbose_name_plural = _("attributes")
        ordering = ("position", "name")

    def __str__(self) -> str:
        return self.name


class Product(models.Model):
    title = models.CharField(_("title"), max_length=200)
    slug = models.SlugField(_("slug"), max_length=220, unique=True)
    description = models.TextField(_("description"), blank=True)
    category = models.ForeignKey(
        Category, verbose_name=_("category"), on_delete=models.PROTECT, related_name="products"
    )
    brand = models.ForeignKey(
        Brand, verbose_name=_("brand"), null=True, blank=True, on_delete=models.SET_NULL, related_name="products"
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    # The packed unit's size and weight (inches, pounds): Bazaar's fulfilment size tier and fees.
    length_in = models.DecimalField(_("length (in)"), max_digits=7, decimal_places=2, null=True, blank=True,
                                    validators=[MinValueValidator(Decimal("0.01"))])
    width_in = models.DecimalField(_("width (in)"), max_digits=7, decimal_places=2, null=True, blank=True,
                                   validators=[MinValueValidator(Decimal("0.01"))])
    height_in = models.DecimalField(_("height (in)"), max_digits=7, decimal_places=2, null=True, blank=True,
                                    validators=[MinValueValidator(Decimal("0.01"))])
    weight_lb = models.DecimalField(_("weight (lb)"), max_digits=8, decimal_places=3, null=True, blank=True,
                                    validators=[MinValueValidator(Decimal("0.001"))])

    rating_avg = models.DecimalField(_("average rating"), max_digits=3, decimal_places=2, default=0)
    rating_count = models.PositiveIntegerField(_("number of ratings"), default=0)

    # Listing copy of the buy box (written by marketplace via catalog services only).
    listing_price = models.DecimalField(_("price"), max_digits=12, decimal_places=2, null=True, blank=True)
    listing_currency = models.CharField(max_length=3, default="USD")
    listing_offer_id = models.BigIntegerField(null=True, blank=True, editable=False)
    in_stock = models.BooleanField(_("in stock"), default=False)
    offer_count = models.PositiveIntegerField(_("offers"), default=0)
    listing_member_price = models.DecimalField(_("member price"), max_digits=12, decimal_places=2, null=True,
                                               blank=True, editable=False)
    listing_member_delivery = models.BooleanField(
        _("free member delivery"), default=False, db_default=False, editable=False,
        help_text=_("The buy-box offer is fulfilled by the platform: members get it delivered free and fast."),
    )

    # Maintained by a PostgreSQL trigger (see migration 0002); unused on SQLite.
    search_vector = SearchVectorField(null=True, editable=False)

    class Meta:
        verbose_name = _("product")
        verbose_name_plural = _("products")
        indexes = [
            models.Index(fields=["category", "is_active"], name="product_category_active"),
            models.Index(fields=["listing_price"], name="product_listing_price"),
            models.Index(fields=["-rating_avg", "-rating_count"], name="product_rating"),
            models.Index(fields=["brand"], name="product_brand"),
            # The default ("featured") listing order: pages and API read the first rows of it.
            models.Index(
                fields=["-in_stock", "-rating_count", "id"], condition=Q(is_active=True), name="product_featured"
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(Q(length_in__isnull=True) | Q(length_in__gt=0))
                & (Q(width_in__isnull=True) | Q(width_in__gt=0))
                & (Q(height_in__isnull=True) | Q(height_in__gt=0))
                & (Q(weight_lb__isnull=True) | Q(weight_lb__gt=0)),
                name="product_size_positive",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("storefront:product", kwargs={"slug": self.slug})


class ProductAttributeValue(models.Model):
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="attribute_values")
    attribute = models.ForeignKey(Attribute, on_delete=models.PROTECT, related_name="values")
    value = models.CharField(_("value"), max_length=100)

    class Meta:
        verbose_name = _("attribute value")
        verbose_name_plural = _("attribute values")
        constraints = [
            models.UniqueConstraint(fields=["product", "attribute"], name="product_attribute_once"),
        ]
        indexes = [models.Index(fields=["attribute", "value"], name="attribute_value_lookup")]

    def __str__(self) -> str:
        return f"{self.attribute}: {self.value}"


def product_image_path(instance: ProductImage, filename: str) -> str:
    return f"products/{instance.product_id or 'new'}/{filename}"


class ProductImage(models.Model):
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="images")
    image = models.ImageField(_("image"), upload_to=product_image_path, max_length=255)
    thumbnail = models.ImageField(_("thumbnail"), upload_to="thumbnails/", max_length=255, blank=True, editable=False)
    alt_text = models.CharField(_("alternative text"), max_length=200, blank=True)
    position = models.PositiveIntegerField(_("position"), default=0)

    class Meta:
        verbose_name = _("image")
        verbose_name_plural = _("images")
        ordering = ("position", "id")

    def __str__(self) -> str:
        return self.alt_text or self.image.name

    @property
    def thumbnail_url(self) -> str:
        return (self.thumbnail or self.image).url


class Review(models.Model):
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="reviews")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reviews")
    rating = models.PositiveSmallIntegerField(_("rating"), validators=[MinValueValidator(1), MaxValueValidator(5)])
    title = models.CharField(_("title"), max_length=120)
    body = models.TextField(_("review"), blank=True)
    verified_purchase = models.BooleanField(_("verified purchase"), default=False)
    helpful_count = models.PositiveIntegerField(_("found helpful"), default=0)
    created_at = models.DateTimeField(_("written"), default=timezone.now)

    class Meta:
        verbose_name = _("review")
        verbose_name_plural = _("reviews")
        ordering = ("-created_at",)
        constraints = [
            models.UniqueConstraint(fields=["product", "user"], name="one_review_per_product_and_user"),
            models.CheckConstraint(condition=Q(rating__gte=1, rating__lte=5), name="review_rating_1_to_5"),
        ]
        indexes = [
            models.Index(fields=["product", "-created_at"], name="review_product_recent"),
            models.Index(fields=["product", "-helpful_count", "-created_at"], name="review_product_helpful"),
        ]

    def __str__(self) -> str:
        return f"{self.rating}★ {self.title}"


class ReviewVote(models.Model):
    """One shopper found one review helpful. The count lives on the review (``helpful_count``)."""

    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="votes")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="review_votes")
    created_at = models.DateTimeField(_("voted"), default=timezone.now)

    class Meta:
        verbose_name = _("helpful vote")
        verbose_name_plural = _("helpful votes")
        constraints = [models.UniqueConstraint(fields=["review", "user"], name="one_vote_per_review_and_user")]

    def __str__(self) -> str:
        return f"{self.user_id} -> {self.review_id}"


class SearchTerm(models.Model):
    """A word that appears in product titles or brand names: the dictionary typo correction
    picks from ("kettel" -> "kettle"). Filled by catalog services; trigram-indexed on PostgreSQL."""

    word = models.CharField(max_length=64, unique=True)

    class Meta:
        verbose_name = _("search term")
        verbose_name_plural = _("search terms")

    def __str__(self) -> str:
        return self.word
