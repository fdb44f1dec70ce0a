"""Finance admin: the referral fee rules, platform staff only (sellers' roles carry no finance
permission), saved through the service so orders placed from then on use them."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from core import cache as vcache
from core.admin import InvalidateAfterDeleteMixin, ServiceErrorsAdminMixin
from finance import selectors, services
from finance.models import ReferralFeeRule


@admin.register(ReferralFeeRule)
class ReferralFeeRuleAdmin(ServiceErrorsAdminMixin, InvalidateAfterDeleteMixin, admin.ModelAdmin):
    list_display = ("category_column", "seller_column", "percent", "minimum_per_unit", "updated_at")
    list_filter = (("seller", admin.RelatedOnlyFieldListFilter), ("category", admin.RelatedOnlyFieldListFilter))
    search_fields = ("category__name", "seller__name")
    autocomplete_fields = ("category", "seller")
    readonly_fields = ("updated_at",)
    list_select_related = ("category", "seller")

    @admin.display(description=_("category"), ordering="category__name")
    def category_column(self, obj: ReferralFeeRule) -> str:
        return str(obj.category) if obj.category_id else _("every category")

    @admin.display(description=_("seller"), ordering="seller__name")
    def seller_column(self, obj: ReferralFeeRule) -> str:
        return str(obj.seller) if obj.seller_id else _("every seller")

    def save_model(self, request, obj, form, change):
        services.referral_fee_rule_save(rule=obj)

    def after_delete(self) -> None:
        vcache.bump(selectors.NAMESPACE)
