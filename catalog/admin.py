"""Catalog admin: the category tree, brands, attributes, products with images, reviews.

Every save goes through :mod:`catalog.services`, so tree paths, caches, search vectors and
thumbnails stay right. Marketplace extends the product admin with an offers inline (it may import
catalog; catalog never imports marketplace).
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from catalog import services
from catalog.models import (
    Attribute,
    Brand,
    Category,
    Product,
    ProductAttributeValue,
    ProductImage,
    Review,
    ReviewVote,
)
from core.admin import InvalidateAfterDeleteMixin, ReadOnlyAdminMixin, ServiceErrorsAdminMixin, money_column
from core.forms import add_service_errors

# --- categories ------------------------------------------------------------------------------


class CategoryAdminForm(forms.ModelForm):
    class Meta:
        model = Category
        fields = ("name", "slug", "parent", "description", "position", "is_active")

    def clean(self):
        cleaned = super().clean()
        try:
            services.category_check_parent(category=self.instance, parent=cleaned.get("parent"))
        except ValidationError as exc:
            add_service_errors(self, exc)
        return cleaned


@admin.register(Category)
class CategoryAdmin(InvalidateAfterDeleteMixin, ServiceErrorsAdminMixin, admin.ModelAdmin):
    form = CategoryAdminForm
    list_display = ("indented_name", "slug", "product_count", "position", "is_active")
    list_filter = ("is_active",)
    search_fields = ("name", "slug")
    ordering = ("path",)
    sortable_by = ()  # the tree order is the point of this list
    autocomplete_fields = ("parent",)
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = ("path", "depth")

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(n_products=Count("products"))

    @admin.display(description=_("name"))
    def indented_name(self, obj: Category):
        return format_html('<span style="padding-left: {}em">{}</span>', obj.depth * 1.5, obj.name)

    @admin.display(description=_("products"))
    def product_count(self, obj: Category) -> int:
        return obj.n_products

    def save_model(self, request, obj, form, change):
        services.category_save(category=obj)

    def after_delete(self) -> None:
        services.catalog_changed()


# --- brands and attributes ---------------------------------------------------------------------


@admin.register(Brand)
class BrandAdmin(InvalidateAfterDeleteMixin, ServiceErrorsAdminMixin, admin.ModelAdmin):
    list_display = ("name", "slug", "product_count")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(n_products=Count("products"))

    @admin.display(description=_("products"), ordering="n_products")
    def product_count(self, obj: Brand) -> int:
        return obj.n_products

    def save_model(self, request, obj, form, change):
        services.brand_save(brand=obj)

    def after_delete(self) -> None:
        services.catalog_changed()


@admin.register(Attribute)
class AttributeAdmin(InvalidateAfterDeleteMixin, admin.ModelAdmin):
    list_display = ("name", "code", "filterable", "position")
    list_filter = ("filterable",)
    search_fields = ("name", "code")
    prepopulated_fields = {"code": ("name",)}

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        services.catalog_changed()

    def after_delete(self) -> None:
        services.catalog_changed()


# --- products ---------------------------------------------------------------------------------


class ProductImageInline(admin.TabularInline):
    model = ProductImage
    fields = ("preview", "image", "alt_text", "position")
    readonly_fields = ("preview",)
    extra = 0

    @admin.display(description=_("thumbnail"))
    def preview(self, obj: ProductImage):
        if not obj.pk or not obj.image:
            return "-"
        return format_html(
            '<img src="{}" alt="{}" style="max-height: 80px; max-width: 80px">', obj.thumbnail_url, obj.alt_text
        )


class ProductAttributeValueInline(admin.TabularInline):
    model = ProductAttributeValue
    fields = ("attribute", "value")
    autocomplete_fields = ("attribute",)
    extra = 0


@admin.register(Product)
class ProductAdmin(ServiceErrorsAdminMixin, admin.ModelAdmin):
    list_display = (
        "title", "brand", "category", "price", "in_stock", "offer_count", "rating", "is_active",
    )
    list_filter = ("is_active", "in_stock", "category", "brand")
    search_fields = ("title", "slug")
    list_select_related = ("brand", "category")
    ordering = ("-created_at", "-id")
    autocomplete_fields = ("category", "brand")
    prepopulated_fields = {"slug": ("title",)}
    date_hierarchy = "created_at"

    def view_on_site(self, obj):
        # A product the shop does not show (inactive, or proposed and not yet reviewed) has no page.
        return obj.get_absolute_url() if obj.is_active else None

    fieldsets = (
        (None, {"fields": ("title", "slug", "category", "brand", "description", "is_active")}),
        (_("Size and weight of the packed unit"), {"fields": ("length_in", "width_in", "height_in", "weight_lb")}),
        (
            _("Listing (from the buy box)"),
            {"fields": ("listing_price", "in_stock", "offer_count", "rating_avg", "rating_count")},
        ),
        (_("Dates"), {"fields": ("created_at", "updated_at")}),
    )
    readonly_fields = (
        "listing_price", "in_stock", "offer_count", "rating_avg", "rating_count", "created_at", "updated_at",
    )
    inlines = [ProductImageInline, ProductAttributeValueInline]

    @admin.display(description=_("price"), ordering="listing_price")
    def price(self, obj: Product) -> str:
        return money_column(obj.listing_price, obj.listing_currency)

    @admin.display(description=_("rating"), ordering="-rating_avg")
    def rating(self, obj: Product) -> str:
        return f"{obj.rating_avg} ({obj.rating_count})"

    def save_model(self, request, obj, form, change):
        services.product_save(product=obj)

    def save_formset(self, request, form, formset, change):
        if formset.model is ProductImage:
            changed = formset.save()
            for image in changed:
                services.product_image_saved(image=image)
            return
        super().save_formset(request, form, formset, change)


# --- reviews ----------------------------------------------------------------------------------


@admin.register(Review)
class ReviewAdmin(admin.ModelAdmin):
    """Reviews are written by shoppers; admin reads them and removes the ones that break the rules."""

    list_display = ("title", "product", "user", "rating", "verified_purchase", "helpful_count", "created_at")
    list_filter = ("rating", "verified_purchase", "created_at")
    search_fields = ("title", "body", "product__title", "user__email")
    list_select_related = ("product", "user")
    date_hierarchy = "created_at"
    fields = ("product", "user", "rating", "title", "body", "verified_purchase", "helpful_count", "created_at")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def delete_model(self, request, obj):
        services.reviews_delete(reviews=[obj])

    def delete_queryset(self, request, queryset):
        services.reviews_delete(reviews=queryset)


@admin.register(ReviewVote)
class ReviewVoteAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Helpful votes, read-only: to see who voted when a review's count looks odd."""

    list_display = ("review", "user", "created_at")
    search_fields = ("review__title", "user__email")
    list_select_related = ("review", "user")
    raw_id_fields = ("review", "user")
    date_hierarchy = "created_at"

