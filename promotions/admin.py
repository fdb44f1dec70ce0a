from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from core.admin import InvalidateAfterDeleteMixin
from promotions import engine, services
from promotions.models import Promotion, Voucher, VoucherRedemption


@admin.register(Voucher)
class VoucherAdmin(admin.ModelAdmin):
    list_display = ("code", "label", "kind", "value", "minimum_spend", "times_used", "max_uses", "active",
                    "starts_at", "ends_at")
    list_filter = ("active", "kind", "starts_at", "ends_at")
    search_fields = ("code", "label")
    readonly_fields = ("times_used", "created_at")
    autocomplete_fields = ("categories", "brands", "sellers", "products")
    actions = ("generate_single_use_codes",)

    @admin.action(description=_("Generate 100 single-use codes like this one"))
    def generate_single_use_codes(self, request, queryset):
        total = 0
        for voucher in queryset:
            total += len(services.voucher_generate_copies(voucher=voucher, count=100))
        message = ngettext("%(n)d single-use code created.", "%(n)d single-use codes created.", total)
        self.message_user(request, message % {"n": total}, messages.SUCCESS)


@admin.register(VoucherRedemption)
class VoucherRedemptionAdmin(admin.ModelAdmin):
    list_display = ("voucher", "order_number", "email", "amount", "created")
    list_select_related = ("voucher",)
    list_filter = ("created",)
    search_fields = ("voucher__code", "order_number", "email")
    raw_id_fields = ("voucher", "user")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Promotion)
class PromotionAdmin(InvalidateAfterDeleteMixin, admin.ModelAdmin):
    list_display = ("name", "label", "benefit", "value", "priority", "exclusive", "members_only", "active",
                    "starts_at", "ends_at")
    list_filter = ("active", "benefit", "exclusive", "members_only", "starts_at", "ends_at")
    search_fields = ("name", "label")
    readonly_fields = ("created_at",)
    autocomplete_fields = ("categories", "brands", "sellers", "products")

    def save_model(self, request, obj, form, change):
        services.promotion_save(promotion=obj)  # the M2M sets are saved by save_related, in the same request

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        engine.bump_on_commit()

    def after_delete(self) -> None:
        engine.bump_on_commit()
