from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import BooleanField, ExpressionWrapper, F, Q
from django.http import Http404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from core.admin import (
    InvalidateAfterDeleteMixin,
    ReadOnlyAdminMixin,
    ServiceErrorsAdminMixin,
    money_column,
    requires_permission,
)
from core.exceptions import ApplicationError
from core.forms import add_service_errors
from promotions import engine, selectors, services
from promotions.models import Deal, DealClaim, Promotion, Voucher, VoucherRedemption


@admin.register(Voucher)
class VoucherAdmin(admin.ModelAdmin):
    list_display = ("code", "label", "kind", "value", "minimum_spend", "times_used", "max_uses", "active",
                    "starts_at", "ends_at")
    list_filter = ("active", "kind", "starts_at", "ends_at")
    search_fields = ("code", "label")
    readonly_fields = ("times_used", "created_at")
    autocomplete_fields = ("categories", "brands", "sellers", "products")
    actions = ("generate_single_use_codes",)

    has_generate_vouchers_permission = requires_permission("promotions.generate_vouchers")

    @admin.action(description=_("Generate 100 single-use codes like this one"), permissions=["generate_vouchers"])
    def generate_single_use_codes(self, request, queryset):
        total = 0
        for voucher in queryset:
            total += len(services.voucher_generate_copies(voucher=voucher, count=100))
        message = ngettext("%(n)d single-use code created.", "%(n)d single-use codes created.", total)
        self.message_user(request, message % {"n": total}, messages.SUCCESS)


@admin.register(VoucherRedemption)
class VoucherRedemptionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("voucher", "order_number", "email", "amount", "created")
    list_select_related = ("voucher",)
    list_filter = ("created",)
    search_fields = ("voucher__code", "order_number", "email")
    raw_id_fields = ("voucher", "user")



@admin.register(Promotion)
class PromotionAdmin(InvalidateAfterDeleteMixin, admin.ModelAdmin):
    list_display = ("name", "label", "benefit", "value", "priority", "exclusive", "members_only", "active",
                    "starts_at", "ends_at")
    list_filter = ("active", "benefit", "exclusive", "members_only", "starts_at", "ends_at")
    search_fields = ("name", "label")
    readonly_fields = ("created_at",)
    autocomplete_fields = ("categories", "brands", "sellers", "products")
    change_form_template = "admin/promotions/promotion/change_form.html"

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path("<path:object_id>/preview/", self.admin_site.admin_view(self.preview_view),
                 name=f"{info[0]}_{info[1]}_preview"),
            *super().get_urls(),
        ]

    def preview_view(self, request, object_id):
        """What this promotion alone would take off a cart (the admin's lines, else a sample cart),
        whatever its dates and active flag, as a member when it is for members. Changes nothing."""
        promotion = self.get_object(request, object_id)
        if promotion is None:
            raise Http404(_("No such promotion."))
        if not self.has_view_or_change_permission(request, promotion):
            raise PermissionDenied
        form = PromotionPreviewForm(request.GET or None)
        preview, error = None, ""
        if form.is_bound and not form.is_valid():
            error = " ".join(str(e) for errors in form.errors.values() for e in errors)
        else:
            lines = form.cleaned_data.get("lines", "") if form.is_bound else ""
            try:
                preview = selectors.promotion_preview(promotion=promotion, lines_text=lines)
            except ApplicationError as exc:
                add_service_errors(form, exc)
                error = exc.message
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts, "original": promotion, "title": _("Preview: %(name)s") % {"name": promotion.name},
            "form": form, "preview": preview, "error": error,
            "change_url": reverse("admin:promotions_promotion_change", args=[promotion.pk]),
        }
        return TemplateResponse(request, "admin/promotions/promotion/preview.html", context,
                                status=400 if error else 200)

    def save_model(self, request, obj, form, change):
        services.promotion_save(promotion=obj)  # the M2M sets are saved by save_related, in the same request

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        engine.bump_on_commit()

    def after_delete(self) -> None:
        engine.bump_on_commit()


class PromotionPreviewForm(forms.Form):
    lines = forms.CharField(
        label=_("Cart lines"), required=False, max_length=2000,
        widget=forms.Textarea(attrs={"rows": 5, "cols": 40, "placeholder": "KET-001 x 2\n#42 x 1"}),
        help_text=_("One line per item: a SKU or #offer id, then “x” and a quantity (1 if left out). "
                    "Empty: a sample cart of the cheapest offers the promotion applies to."),
    )


# --- lightning deals ------------------------------------------------------------------------


class DealAdminForm(forms.ModelForm):
    class Meta:
        model = Deal
        fields = ("offer", "label", "deal_price", "starts_at", "ends_at", "quantity_cap", "per_order_limit",
                  "members_only", "active")

    def _post_clean(self):
        super()._post_clean()  # the instance now holds the form's values
        if self.errors:
            return
        try:
            services.deal_validate(self.instance)
        except ValidationError as exc:
            add_service_errors(self, exc)


class DealStateFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("live", _("Live")), ("upcoming", _("Upcoming")), ("ended", _("Ended")),
                ("sold_out", _("Sold out"))]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "live":
            return queryset.filter(active=True, starts_at__lte=now, ends_at__gt=now)
        if self.value() == "upcoming":
            return queryset.filter(active=True, starts_at__gt=now)
        if self.value() == "ended":
            return queryset.filter(ends_at__lte=now)
        if self.value() == "sold_out":
            return queryset.filter(claimed__gte=F("quantity_cap"))
        return queryset


@admin.register(Deal)
class DealAdmin(ServiceErrorsAdminMixin, admin.ModelAdmin):
    form = DealAdminForm
    list_display = ("__str__", "product", "seller", "price_column", "deal_price_column", "starts_at", "ends_at",
                    "state", "claimed_column", "members_only", "active")
    list_select_related = ("offer__product", "offer__seller")
    list_filter = (DealStateFilter, "active", "members_only", "starts_at")
    search_fields = ("label", "offer__sku", "offer__product__title", "offer__seller__name")
    autocomplete_fields = ("offer",)
    readonly_fields = ("claimed_column", "claims_link", "created_at")
    fieldsets = (
        (None, {"fields": ("offer", "label", "deal_price", "members_only", "active")}),
        (_("When"), {"fields": ("starts_at", "ends_at")}),
        (_("Units"), {"fields": ("quantity_cap", "per_order_limit", "claimed_column", "claims_link")}),
        (None, {"fields": ("created_at",)}),
    )
    date_hierarchy = "starts_at"

    @admin.display(description=_("product"), ordering="offer__product__title")
    def product(self, deal):
        return deal.offer.product.title

    @admin.display(description=_("seller"), ordering="offer__seller__name")
    def seller(self, deal):
        return deal.offer.seller.name

    @admin.display(description=_("price"))
    def price_column(self, deal):
        return money_column(deal.offer.price, deal.offer.currency)

    @admin.display(description=_("deal price"), ordering="deal_price")
    def deal_price_column(self, deal):
        return money_column(deal.deal_price, deal.offer.currency)

    @admin.display(description=_("state"))
    def state(self, deal):
        now = timezone.now()
        if not deal.active:
            return _("Inactive")
        if now < deal.starts_at:
            return _("Upcoming")
        if now >= deal.ends_at:
            return _("Ended")
        return _("Sold out") if deal.remaining <= 0 else _("Live")

    @admin.display(description=_("claimed"), ordering="claimed")
    def claimed_column(self, deal):
        if deal.pk is None:
            return "-"
        return _("%(claimed)d of %(cap)d (%(pct)d%%)") % {"claimed": deal.claimed, "cap": deal.quantity_cap,
                                                            "pct": deal.percent_claimed}

    @admin.display(description=_("claims"))
    def claims_link(self, deal):
        if deal.pk is None:
            return "-"
        url = reverse("admin:promotions_dealclaim_changelist") + f"?deal__id__exact={deal.pk}"
        return format_html('<a href="{}">{}</a>', url, _("Orders that claimed this deal"))

    def save_model(self, request, obj, form, change):
        services.deal_save(deal=obj)

    def delete_model(self, request, obj):
        product = obj.offer.product
        super().delete_model(request, obj)
        services.deal_deleted(products=[(product.slug, product.pk)])

    def delete_queryset(self, request, queryset):
        products = list(queryset.values_list("offer__product__slug", "offer__product_id"))
        super().delete_queryset(request, queryset)
        services.deal_deleted(products=products)


@admin.register(DealClaim)
class DealClaimAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("deal", "order_number", "quantity", "created_at", "released")
    list_select_related = ("deal__offer__product",)
    list_filter = ("released_at", "created_at")
    search_fields = ("order_number", "deal__label", "deal__offer__product__title")
    raw_id_fields = ("deal",)

    def get_queryset(self, request):
        released = ExpressionWrapper(Q(released_at__isnull=False), output_field=BooleanField())
        return super().get_queryset(request).annotate(is_released=released)

    @admin.display(description=_("released"), boolean=True, ordering="is_released")
    def released(self, claim):
        return claim.released_at is not None

