"""Carts in admin (read-only, for support staff looking at what a shopper had in the cart) and tax rates."""

from __future__ import annotations

from django.contrib import admin

from checkout import services
from checkout.models import Cart, CartLine, TaxRate
from core.admin import InvalidateAfterDeleteMixin


class CartLineInline(admin.TabularInline):
    model = CartLine
    fields = ("offer", "quantity", "price_when_added", "added_at")
    readonly_fields = fields
    raw_id_fields = ("offer",)
    extra = 0
    can_delete = False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("offer__seller")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Cart)
class CartAdmin(admin.ModelAdmin):
    list_display = ("pk", "user", "created_at", "updated_at")
    list_select_related = ("user",)
    search_fields = ("user__email",)
    date_hierarchy = "updated_at"
    fields = ("user", "created_at", "updated_at")
    readonly_fields = fields
    inlines = (CartLineInline,)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(TaxRate)
class TaxRateAdmin(InvalidateAfterDeleteMixin, admin.ModelAdmin):
    list_display = ("country", "region", "name", "rate", "applies_to_shipping")
    list_filter = ("country", "applies_to_shipping")
    search_fields = ("country", "region", "name")

    def save_model(self, request, obj, form, change):
        services.tax_rate_save(rate=obj)

    def after_delete(self) -> None:
        services.tax_rates_changed()
