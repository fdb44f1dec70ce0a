"""Fulfilment admin: warehouses, shipping methods, stock and the stock ledger.

Stock is never typed in: a stock item's change form takes "adjust by" and a note, and the save
calls :func:`fulfillment.services.stock_adjust` or :func:`~fulfillment.services.stock_receive`, which
write the ledger row and refresh the buy box. Recording received units needs
``fulfillment.receive_stock``, a correction ``fulfillment.adjust_stock``. The ledger itself is
read-only. Seller members see only their sellers' rows (:mod:`marketplace.admin_scoping`) and never
change stock in Bazaar's fulfilment centres (the services refuse it too).
"""

from __future__ import annotations

import csv

from django import forms
from django.apps import apps
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _

from core.admin import ReadOnlyAdminMixin, ServiceErrorsAdminMixin, money_column
from core.exceptions import ApplicationError
from core.forms import add_service_errors
from fulfillment import inbound, inventory, labels, purchasing, removals, selectors, services
from fulfillment.models import (
    FulfilmentFeeRate,
    Holiday,
    InboundItem,
    InboundShipment,
    InventoryUpload,
    PurchaseOrder,
    PurchaseOrderLine,
    RemovalOrder,
    ShippingMethod,
    SizeTier,
    StockItem,
    StockMovement,
    StorageCharge,
    StorageRate,
    Supplier,
    SupplierOffer,
    Warehouse,
)
from marketplace.admin import ProductAdmin as MarketplaceProductAdmin
from marketplace.admin_scoping import SellerScopedAdminMixin, seller_scope

# --- warehouses and shipping ----------------------------------------------------------------------


@admin.register(Warehouse)
class WarehouseAdmin(SellerScopedAdminMixin, ServiceErrorsAdminMixin, admin.ModelAdmin):
    seller_shared_rows = True  # Bazaar's fulfilment centres: sellers send stock there
    list_display = ("code", "name", "kind", "seller", "country", "city", "is_active")
    list_filter = ("kind", "is_active", ("seller", admin.RelatedOnlyFieldListFilter))
    search_fields = ("code", "name", "city")
    list_select_related = ("seller",)
    autocomplete_fields = ("seller",)

    def save_model(self, request, obj, form, change):
        services.warehouse_save(warehouse=obj)

    def has_delete_permission(self, request, obj=None):
        # Deactivate instead: stock rows and the ledger refer to warehouses.
        return False


@admin.register(ShippingMethod)
class ShippingMethodAdmin(admin.ModelAdmin):
    list_display = (
        "name", "code", "channel", "seller", "price_display", "min_days", "max_days", "members_only", "is_active",
    )
    list_filter = ("channel", "members_only", "is_active")
    search_fields = ("code", "name")
    list_select_related = ("seller",)
    autocomplete_fields = ("seller",)

    @admin.display(description=_("price"), ordering="price")
    def price_display(self, obj: ShippingMethod) -> str:
        return money_column(obj.price)

    def save_model(self, request, obj, form, change):
        services.shipping_method_save(method=obj)

    def delete_model(self, request, obj):
        services.shipping_method_delete(method=obj)

    def delete_queryset(self, request, queryset):
        for method in queryset:
            services.shipping_method_delete(method=method)


# --- stock ------------------------------------------------------------------------------------------


# Each kind of stock change needs its own permission (a view-only or plain "change" user gets neither).
RECEIVE_PERMISSION, ADJUST_PERMISSION = "fulfillment.receive_stock", "fulfillment.adjust_stock"


class StockItemAddForm(forms.ModelForm):
    #: Movements this user may record ("receive", "adjust"); set per request by the admin.
    allowed_movements: frozenset[str] = frozenset()

    quantity = forms.IntegerField(
        label=_("units received"), required=False, min_value=0, initial=0,
        help_text=_("Units already in the warehouse; recorded in the stock ledger as received."),
    )
    note = forms.CharField(label=_("note"), required=False, max_length=200)

    class Meta:
        model = StockItem
        fields = ("offer", "warehouse")

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("quantity") and StockItemChangeForm.RECEIVE not in self.allowed_movements:
            self.add_error("quantity", _("You may not record received units."))
        offer, warehouse = cleaned.get("offer"), cleaned.get("warehouse")
        if offer is not None and warehouse is not None:
            try:
                services.check_warehouse_fits_offer(offer=offer, warehouse=warehouse)
            except ApplicationError as exc:
                add_service_errors(self, exc)
        return cleaned


class StockItemChangeForm(forms.ModelForm):
    RECEIVE, ADJUST = "receive", "adjust"
    #: Movements this user may record; set per request by the admin.
    allowed_movements: frozenset[str] = frozenset()

    movement = forms.ChoiceField(
        label=_("kind of change"), initial=ADJUST,
        choices=[(ADJUST, _("Correction (count, damage, loss)")), (RECEIVE, _("Units received"))],
    )
    adjust_by = forms.IntegerField(
        label=_("adjust on hand by"), required=False, min_value=-1_000_000, max_value=1_000_000,
        help_text=_("A positive number adds units, a negative one removes them. Leave empty for no change."),
    )
    note = forms.CharField(label=_("note"), required=False, max_length=200)

    class Meta:
        model = StockItem
        fields = ("bin",)

    def clean_bin(self):
        try:
            return services.bin_code_clean(self.cleaned_data.get("bin") or "")
        except ApplicationError as exc:
            raise forms.ValidationError(exc.message) from None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        movement = self.fields["movement"]
        movement.choices = [(value, label) for value, label in movement.choices if value in self.allowed_movements]
        movement.required = bool(self.allowed_movements)
        if self.ADJUST not in self.allowed_movements:
            movement.initial = self.RECEIVE

    def clean(self):
        cleaned = super().clean()
        delta = cleaned.get("adjust_by") or 0
        if delta and cleaned.get("movement") not in self.allowed_movements:
            self.add_error("adjust_by", _("You may not make this kind of stock change."))
        elif cleaned.get("movement") == self.RECEIVE and delta < 0:
            self.add_error("adjust_by", _("Received units are a positive number; use a correction to remove units."))
        elif delta < 0 and self.instance.on_hand + delta < self.instance.reserved:
            # The service refuses this too (and the database); saying it here keeps the form.
            self.add_error(
                "adjust_by",
                _("On hand cannot go below the %(reserved)s units reserved for orders (now %(on_hand)s).")
                % {"reserved": self.instance.reserved, "on_hand": self.instance.on_hand},
            )
        return cleaned


@admin.register(StockItem)
class StockItemAdmin(SellerScopedAdminMixin, ServiceErrorsAdminMixin, admin.ModelAdmin):
    seller_lookup = "offer__seller"
    form = StockItemChangeForm
    add_form = StockItemAddForm
    list_display = ("offer", "seller", "warehouse", "bin", "on_hand", "reserved", "available", "updated_at")
    list_filter = (
        ("offer__seller", admin.RelatedOnlyFieldListFilter), ("warehouse", admin.RelatedOnlyFieldListFilter),
    )
    search_fields = ("offer__sku", "offer__product__title", "warehouse__code")
    list_select_related = ("offer", "offer__seller", "warehouse")
    ordering = ("-id",)
    autocomplete_fields = ("offer",)

    @staticmethod
    def allowed_movements(request) -> frozenset[str]:
        held = {StockItemChangeForm.RECEIVE: RECEIVE_PERMISSION, StockItemChangeForm.ADJUST: ADJUST_PERMISSION}
        return frozenset(movement for movement, perm in held.items() if request.user.has_perm(perm))

    def get_fields(self, request, obj=None):
        allowed = self.allowed_movements(request)
        if obj is None:
            received = ("quantity", "note") if StockItemChangeForm.RECEIVE in allowed else ()
            return ("offer", "warehouse", *received)
        changes = ("movement", "adjust_by", "note") if allowed else ()
        return ("offer", "warehouse", "bin", "on_hand", "reserved", "available", *changes)

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else ("offer", "warehouse", "on_hand", "reserved", "available")

    def get_form(self, request, obj=None, change=False, **kwargs):
        base = self.add_form if obj is None else self.form
        # The form refuses (even in a forged POST) the kinds of change this user holds no permission for.
        kwargs["form"] = type(base.__name__, (base,), {"allowed_movements": self.allowed_movements(request)})
        return super().get_form(request, obj, change=change, **kwargs)

    def has_change_permission(self, request, obj=None):
        # Stock in Bazaar's centres is Bazaar's to count: read-only for a seller's members.
        if obj is not None and seller_scope(request) is not None and obj.warehouse.kind == Warehouse.Kind.PLATFORM:
            return False
        return super().has_change_permission(request, obj)

    @admin.display(description=_("seller"), ordering="offer__seller__name")
    def seller(self, obj: StockItem):
        return obj.offer.seller

    @admin.display(description=_("available"))
    def available(self, obj: StockItem) -> int:
        return obj.available

    def save_model(self, request, obj, form, change):
        note = form.cleaned_data.get("note") or ""
        if not change:
            item = services.stock_item_ensure(offer=obj.offer, warehouse=obj.warehouse, actor=request.user)
            quantity = form.cleaned_data.get("quantity") or 0
            if quantity:
                item = services.stock_receive(
                    stock_item=item, quantity=quantity, reference="admin", note=note, actor=request.user
                )
            obj.pk, obj.on_hand, obj.reserved = item.pk, item.on_hand, item.reserved
            obj._state.adding = False
            return
        if "bin" in form.changed_data:
            services.stock_item_set_bin(stock_item=obj, bin_code=form.cleaned_data["bin"], actor=request.user)
        delta = form.cleaned_data.get("adjust_by") or 0
        if not delta:
            return
        if form.cleaned_data.get("movement") == StockItemChangeForm.RECEIVE:
            item = services.stock_receive(
                stock_item=obj, quantity=delta, reference="admin", note=note, actor=request.user
            )
        else:
            item = services.stock_adjust(stock_item=obj, delta=delta, reference="admin", note=note, actor=request.user)
        obj.on_hand, obj.reserved = item.on_hand, item.reserved

    def has_delete_permission(self, request, obj=None):
        # The ledger refers to stock items; set on hand to zero instead.
        return False


@admin.register(StockMovement)
class StockMovementAdmin(ReadOnlyAdminMixin, SellerScopedAdminMixin, admin.ModelAdmin):
    """The stock ledger: written by the stock services only, never edited."""

    seller_lookup = "stock_item__offer__seller"
    list_display = (
        "created_at", "kind", "stock_item", "seller", "on_hand_delta", "reserved_delta", "on_hand_after",
        "reserved_after", "reference", "note", "actor",
    )
    list_filter = ("kind", "created_at", ("stock_item__warehouse", admin.RelatedOnlyFieldListFilter))
    date_hierarchy = "created_at"
    search_fields = ("reference", "note", "stock_item__offer__sku")
    list_select_related = ("stock_item__offer__seller", "stock_item__warehouse", "actor")

    @admin.display(description=_("seller"), ordering="stock_item__offer__seller__name")
    def seller(self, obj: StockMovement):
        return obj.stock_item.offer.seller



# --- inventory files ---------------------------------------------------------------------------------


class InventoryUploadForm(forms.ModelForm):
    file = forms.FileField(
        label=_("CSV file"),
        help_text=_("Columns: sku (required), product (slug), price, quantity (units available to sell), "
                    "condition, list_price, member_price, handling_days, active. A new SKU needs product and "
                    "price; an empty cell leaves a value as it is."),
    )

    class Meta:
        model = InventoryUpload
        fields = ("seller", "warehouse", "dry_run")

    def clean_file(self):
        upload = self.cleaned_data["file"]
        data = upload.read(settings.INVENTORY_UPLOAD_MAX_BYTES + 1)
        try:
            inventory.inventory_file_check(data=data)
        except ApplicationError as exc:
            raise forms.ValidationError(exc.message) from None
        self.file_data = data
        return upload


@admin.register(InventoryUpload)
class InventoryUploadAdmin(SellerScopedAdminMixin, ServiceErrorsAdminMixin, admin.ModelAdmin):
    """Offers and stock from a CSV file: a dry run shows per row what would change (and every
    error), "apply" runs the same file for real; files too large for one request run in a worker and
    this page follows their progress. Seller members upload for their own sellers only."""

    form = InventoryUploadForm
    change_form_template = "admin/fulfillment/inventoryupload/change_form.html"
    list_display = ("created_at", "file_name", "seller", "dry_run", "status", "total_rows", "created_count",
                    "updated_count", "unchanged_count", "error_count")
    list_filter = ("status", "dry_run", ("seller", admin.RelatedOnlyFieldListFilter))
    list_select_related = ("seller",)
    ordering = ("-created_at", "-id")
    actions = None
    readonly_fields = ("seller", "warehouse", "file_name", "dry_run", "status", "progress", "total_rows",
                       "created_count", "updated_count", "unchanged_count", "error_count", "failure", "uploaded_by",
                       "created_at", "started_at", "finished_at")

    def get_queryset(self, request):
        return super().get_queryset(request).defer("content")

    def get_fields(self, request, obj=None):
        return ("seller", "warehouse", "file", "dry_run") if obj is None else self.readonly_fields

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    @admin.display(description=_("progress"))
    def progress(self, obj: InventoryUpload) -> str:
        return f"{obj.processed_rows} / {obj.total_rows} ({obj.progress_percent}%)"

    def has_change_permission(self, request, obj=None):
        return False  # an upload is a record of what happened; a new file is a new upload

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        upload = inventory.inventory_upload_create(
            seller=form.cleaned_data["seller"], actor=request.user, file_name=form.cleaned_data["file"].name,
            data=form.file_data, dry_run=form.cleaned_data["dry_run"], warehouse=form.cleaned_data.get("warehouse"))
        obj.pk, obj.status, obj.created_at = upload.pk, upload.status, upload.created_at
        obj._state.adding = False

    def response_add(self, request, obj, post_url_continue=None):
        return HttpResponseRedirect(reverse("admin:fulfillment_inventoryupload_change", args=[obj.pk]))

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context.update(
                running=obj.status in (InventoryUpload.Status.QUEUED, InventoryUpload.Status.RUNNING),
                report=obj.report, can_apply=(obj.dry_run and obj.status == InventoryUpload.Status.DONE
                                              and self.has_add_permission(request)),
            )
        context["template_url"] = reverse("admin:fulfillment_inventoryupload_template")
        return super().render_change_form(request, context, add, change, form_url, obj)

    def get_urls(self):
        urls = [
            path("template.csv", self.admin_site.admin_view(self.template_view),
                 name="fulfillment_inventoryupload_template"),
            path("export/<int:seller_id>/", self.admin_site.admin_view(self.export_view),
                 name="fulfillment_inventoryupload_export"),
            path("<int:pk>/apply/", self.admin_site.admin_view(self.apply_view),
                 name="fulfillment_inventoryupload_apply"),
        ]
        return urls + super().get_urls()

    def template_view(self, request):
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="inventory-template.csv"'
        writer = csv.writer(response)
        writer.writerow(inventory.COLUMNS)
        writer.writerow(["MY-SKU-1", "product-slug", "19.90", "25", "new", "", "", "1", "yes"])
        return response

    def export_view(self, request, seller_id: int):
        """The seller's offers as an inventory file, to edit and upload again."""
        scope = seller_scope(request)
        if not self.has_view_permission(request) or (scope is not None and seller_id not in scope):
            raise DjangoPermissionDenied
        location = selectors.seller_first_location(seller_id=seller_id)
        rows = selectors.inventory_rows(seller_id=seller_id, warehouse_id=location.pk if location else None)
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="inventory-{seller_id}.csv"'
        writer = csv.DictWriter(response, fieldnames=inventory.COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
        return response

    def apply_view(self, request, pk: int):
        if request.method != "POST":
            return HttpResponseRedirect(reverse("admin:fulfillment_inventoryupload_change", args=[pk]))
        upload = get_object_or_404(self.get_queryset(request).defer(None), pk=pk)
        if not self.has_add_permission(request):
            raise DjangoPermissionDenied
        try:
            applied = inventory.inventory_upload_apply(upload=upload, actor=request.user)
        except ApplicationError as exc:
            self.message_user(request, exc.message, level=messages.ERROR)
            return HttpResponseRedirect(reverse("admin:fulfillment_inventoryupload_change", args=[pk]))
        return HttpResponseRedirect(reverse("admin:fulfillment_inventoryupload_change", args=[applied.pk]))


# --- fulfilled by Bazaar: size tiers, fee rates, and each product's fee --------------------------------


class FulfilmentFeeRateInline(admin.TabularInline):
    model = FulfilmentFeeRate
    fields = ("over_lb", "up_to_lb", "fee", "per_lb", "per_lb_above")
    extra = 0


@admin.register(SizeTier)
class SizeTierAdmin(admin.ModelAdmin):
    """The size tiers and the fee per unit of each (data, not code): platform staff change them;
    a seller's members may read them. A change applies to units shipped from then on."""

    list_display = ("position", "name", "code", "max_longest_in", "max_median_in", "max_shortest_in",
                    "max_length_girth_in", "max_weight_lb", "dimensional_weight", "storage_class")
    list_display_links = ("name",)
    ordering = ("position",)
    inlines = [FulfilmentFeeRateInline]


PRODUCT = apps.get_model("catalog", "Product")  # re-registered with the fee preview: the model is named, not imported
admin.site.unregister(PRODUCT)


@admin.register(PRODUCT)
class ProductAdmin(MarketplaceProductAdmin):
    """Marketplace's product admin plus what Bazaar charges to fulfil one unit of it."""

    def get_fieldsets(self, request, obj=None):
        fieldsets = [(name, dict(options)) for name, options in super().get_fieldsets(request, obj)]
        if obj is not None:
            for _name, options in fieldsets:
                if "weight_lb" in options.get("fields", ()):
                    options["fields"] = (*options["fields"], "fulfilment_fee")
        return fieldsets

    def get_readonly_fields(self, request, obj=None):
        return (*super().get_readonly_fields(request, obj), "fulfilment_fee")

    @admin.display(description=_("fulfilled by Bazaar"))
    def fulfilment_fee(self, obj) -> str:
        quote = selectors.fee_quotes(product_ids=[obj.pk]).get(obj.pk) if obj.pk else None
        return fee_preview_text(quote)


def fee_preview_text(quote) -> str:
    if quote is None:
        return _("No size tier fits: Bazaar staff must add one.")
    fee = money_column(quote.fee) if quote.fee is not None else _("no rate for this weight")
    if not quote.measured:
        return _("Not measured yet: charged as %(tier)s, %(weight)s lb, %(fee)s per unit shipped, until the size "
                 "and weight are filled in.") % {"tier": quote.tier_name, "weight": quote.shipping_weight_lb,
                                                 "fee": fee}
    return _("%(tier)s, shipping weight %(weight)s lb (dimensional %(dim)s lb), %(cubic)s cu ft: %(fee)s per unit "
             "shipped.") % {"tier": quote.tier_name, "weight": quote.shipping_weight_lb,
                            "dim": quote.dimensional_weight_lb, "cubic": quote.cubic_feet, "fee": fee}


# --- inbound shipments ------------------------------------------------------------------------------


class DraftRowsInlineMixin:
    """Rows of a receiving document (inbound items, purchase order lines): edited while the document
    is a draft (``draft_fields``), then shown read-only with what was received (``later_fields``)."""

    draft_fields: tuple[str, ...] = ()
    draft_readonly: tuple[str, ...] = ()  # computed columns shown beside the editable ones
    later_fields: tuple[str, ...] = ()
    draft_status = "draft"

    def _draft(self, obj) -> bool:
        return obj is None or obj.status == self.draft_status

    def get_fields(self, request, obj=None):
        return self.draft_fields if self._draft(obj) else self.later_fields

    def get_readonly_fields(self, request, obj=None):
        return self.draft_readonly if self._draft(obj) else self.later_fields

    def get_extra(self, request, obj=None, **kwargs):
        return 1 if self._draft(obj) else 0

    def has_add_permission(self, request, obj=None):
        return self._draft(obj) and super().has_add_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._draft(obj) and super().has_delete_permission(request, obj)


def receive_post(model_admin, request, receive, *, into, redirect_to: str):
    """A receiving page's POST: the counted units to ``receive(counts=...)``, the outcome as a message."""
    counts = {key.removeprefix("count-"): value for key, value in request.POST.items() if key.startswith("count-")}
    try:
        units = receive(counts=counts)
    except ApplicationError as exc:
        model_admin.message_user(request, exc.message, messages.ERROR)
    else:
        model_admin.message_user(request, _("%(n)s units received into %(centre)s.") % {"n": units, "centre": into},
                                 messages.SUCCESS)
    return HttpResponseRedirect(redirect_to)


def receive_page(model_admin, request, *, title, summary, rows, can_receive, back_url, scan_url=""):
    """The counting page of an inbound shipment or a purchase order: one "units counted now" box per row."""
    return TemplateResponse(request, "admin/fulfillment/receive.html", {
        **model_admin.admin_site.each_context(request), "opts": model_admin.opts, "title": title, "summary": summary,
        "rows": rows, "can_receive": can_receive, "back_url": back_url, "scan_url": scan_url})


IB = InboundShipment.Status
INBOUND_BUTTONS = ("_ready", "_ship", "_void", "_in_transit", "_close")


class InboundItemInline(DraftRowsInlineMixin, SellerScopedAdminMixin, admin.TabularInline):
    model = InboundItem
    seller_lookup = "shipment__seller"
    autocomplete_fields = ("offer",)
    draft_fields = ("offer", "quantity", "fee_per_unit")
    draft_readonly = ("fee_per_unit",)
    later_fields = ("offer", "quantity", "received", "discrepancy", "fee_per_unit")

    @admin.display(description=_("Bazaar's fee per unit shipped"))
    def fee_per_unit(self, obj: InboundItem) -> str:
        if obj is None or obj.offer_id is None:
            return "-"
        quote = selectors.fee_quotes(product_ids=[obj.offer.product_id]).get(obj.offer.product_id)
        if quote is None or quote.fee is None:
            return "-"
        return f"{money_column(quote.fee)} ({quote.tier_name}{'' if quote.measured else ', ' + _('not measured')})"


@admin.register(InboundShipment)
class InboundShipmentAdmin(SellerScopedAdminMixin, ServiceErrorsAdminMixin, admin.ModelAdmin):
    """A seller's stock sent to a Bazaar centre (see :mod:`fulfillment.inbound`). Sellers plan,
    print labels and ship; platform staff with "receive inbound shipments" receive and close."""

    change_form_template = "admin/fulfillment/inboundshipment/change_form.html"
    change_list_template = "admin/fulfillment/inboundshipment/change_list.html"
    list_display = ("code_display", "name", "seller", "status", "warehouse", "box_count", "created_at",
                    "shipped_at", "closed_at")
    list_filter = ("status", ("seller", admin.RelatedOnlyFieldListFilter),
                   ("warehouse", admin.RelatedOnlyFieldListFilter))
    search_fields = ("name", "tracking_number")
    list_select_related = ("seller", "warehouse")
    ordering = ("-created_at", "-id")
    inlines = [InboundItemInline]
    actions = None

    @admin.display(description=_("shipment"), ordering="pk")
    def code_display(self, obj: InboundShipment) -> str:
        return obj.code

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("seller", "name", "box_count")
        return ("code_display", "seller", "name", "status", "warehouse", "box_count", "carrier", "tracking_number",
                "created_at", "ready_at", "shipped_at", "receiving_at", "closed_at", "cancelled_at")

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        editable = set()
        if obj.status in (IB.DRAFT, IB.READY):
            editable |= {"name", "box_count"}
        if obj.status == IB.READY:
            editable |= {"carrier", "tracking_number"}
        return [f for f in self.get_fields(request, obj) if f not in editable]

    def has_delete_permission(self, request, obj=None):
        return False  # void instead

    def _receiver(self, request) -> bool:
        return seller_scope(request) is None and request.user.has_perm(inbound.RECEIVE_PERM)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            planner = self.has_change_permission(request, obj)
            label = selectors.inbound_label_data(shipment=obj) if obj.warehouse_id else None
            context.update(
                can_ready=planner and obj.status == IB.DRAFT,
                can_ship=planner and obj.status == IB.READY,
                can_void=planner and obj.status in (IB.DRAFT, IB.READY, IB.SHIPPED),
                can_labels=obj.status not in (IB.DRAFT, IB.CANCELLED),
                can_in_transit=self._receiver(request) and obj.status == IB.SHIPPED,
                can_receive=self._receiver(request) and obj.status in (IB.SHIPPED, IB.IN_TRANSIT, IB.RECEIVING),
                can_close=self._receiver(request) and obj.status in (IB.RECEIVING, IB.IN_TRANSIT, IB.SHIPPED),
                send_to=[label.destination_name, *label.destination_lines] if label else [],
            )
        return super().render_change_form(request, context, add, change, form_url, obj)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) or (obj is not None and self._receiver(request))

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if not change:
            made = inbound.inbound_create(seller=data["seller"], actor=request.user, name=data.get("name", ""),
                                          box_count=data.get("box_count") or 1)
            obj.pk, obj.status, obj.created_at = made.pk, made.status, made.created_at
            obj._state.adding = False
            return
        current = InboundShipment.objects.get(pk=obj.pk)
        button = next((key for key in INBOUND_BUTTONS if key in request.POST), None)
        if button is None and current.status in (IB.DRAFT, IB.READY) and {"name", "box_count"} & set(form.changed_data):
            inbound.inbound_update(shipment=current, actor=request.user, name=data.get("name", current.name),
                                   box_count=data.get("box_count", current.box_count))
        request._inbound_button = (button, current, data)

    def save_formset(self, request, form, formset, change):
        if formset.model is not InboundItem:
            return super().save_formset(request, form, formset, change)
        shipment = InboundShipment.objects.get(pk=form.instance.pk)
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []  # the history message
        if shipment.status == IB.DRAFT:
            for item_form in formset.forms:
                if not item_form.has_changed() or "offer" not in item_form.cleaned_data:
                    continue
                offer = item_form.cleaned_data["offer"]
                deleting = item_form.cleaned_data.get("DELETE")
                inbound.inbound_item_set(shipment=shipment, offer=offer, actor=request.user,
                                         quantity=0 if deleting else item_form.cleaned_data.get("quantity"))
        return None

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        button, current, data = getattr(request, "_inbound_button", (None, None, None))
        if button == "_ready":
            inbound.inbound_ready(shipment=current, actor=request.user)
        elif button == "_ship":
            inbound.inbound_ship(shipment=current, actor=request.user, carrier=data.get("carrier", ""),
                                 tracking_number=data.get("tracking_number", ""))
        elif button == "_void":
            inbound.inbound_void(shipment=current, actor=request.user)
        elif button == "_in_transit":
            inbound.inbound_in_transit(shipment=current, actor=request.user)
        elif button == "_close":
            inbound.inbound_close(shipment=current, actor=request.user)

    def response_change(self, request, obj):
        # After a step (ready, shipped, in transit, closed...) stay on the shipment: its next step
        # (the box labels once ready) is there.
        response = super().response_change(request, obj)
        if getattr(request, "_inbound_button", (None,))[0] and response.status_code == 302:
            return HttpResponseRedirect(reverse("admin:fulfillment_inboundshipment_change", args=[obj.pk]))
        return response

    def get_urls(self):
        return [
            path("scan/", self.admin_site.admin_view(self.scan_view), name="fulfillment_inboundshipment_scan"),
            path("<int:pk>/receive/", self.admin_site.admin_view(self.receive_view),
                 name="fulfillment_inboundshipment_receive"),
            path("<int:pk>/labels.pdf", self.admin_site.admin_view(self.labels_view),
                 name="fulfillment_inboundshipment_labels"),
        ] + super().get_urls()

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {**(extra_context or {}), "can_scan": self._receiver(request)})

    def labels_view(self, request, pk: int):
        shipment = get_object_or_404(self.get_queryset(request).select_related("seller", "warehouse"), pk=pk)
        if shipment.status in (IB.DRAFT, IB.CANCELLED):
            self.message_user(request, _("Labels are printed once the shipment is ready to ship."), messages.ERROR)
            return HttpResponseRedirect(reverse("admin:fulfillment_inboundshipment_change", args=[pk]))
        pdf = labels.inbound_labels_pdf(selectors.inbound_label_data(shipment=shipment))
        response = HttpResponse(pdf, content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="{shipment.code}-labels.pdf"'
        return response

    def scan_view(self, request):
        """Receiving starts here: scan or type a box label (or the shipment id)."""
        if not self._receiver(request):
            raise DjangoPermissionDenied
        code = request.POST.get("code", "") if request.method == "POST" else ""
        if code:
            shipment = selectors.inbound_find(code=code)
            if shipment is not None:
                return HttpResponseRedirect(reverse("admin:fulfillment_inboundshipment_receive", args=[shipment.pk]))
            self.message_user(request, _("No inbound shipment has the id %(code)s.") % {"code": code[:40]},
                              messages.ERROR)
        return TemplateResponse(request, "admin/fulfillment/inboundshipment/scan.html", {
            **self.admin_site.each_context(request), "opts": self.opts, "title": _("Receive an inbound shipment")})

    def receive_view(self, request, pk: int):
        if not self._receiver(request):
            raise DjangoPermissionDenied
        shipment = get_object_or_404(InboundShipment.objects.select_related("seller", "warehouse"), pk=pk)
        if request.method == "POST":
            return receive_post(
                self, request, lambda counts: inbound.inbound_receive(shipment=shipment, counts=counts,
                                                                      actor=request.user),
                into=shipment.warehouse, redirect_to=reverse("admin:fulfillment_inboundshipment_receive", args=[pk]))
        return receive_page(
            self, request, title=_("Receive %(code)s") % {"code": shipment.code},
            summary=_("From %(seller)s to %(centre)s · %(status)s") % {
                "seller": shipment.seller.name, "centre": shipment.warehouse, "status": shipment.get_status_display()},
            rows=selectors.inbound_items(shipment_id=shipment.pk),
            can_receive=shipment.status in (IB.SHIPPED, IB.IN_TRANSIT, IB.RECEIVING),
            back_url=reverse("admin:fulfillment_inboundshipment_change", args=[pk]),
            scan_url=reverse("admin:fulfillment_inboundshipment_scan"))


# --- storage fees --------------------------------------------------------------------------------


@admin.register(StorageRate)
class StorageRateAdmin(admin.ModelAdmin):
    """Storage fee per cubic foot and month by storage class, off-peak and peak: platform staff
    change them; sellers may read them. A change applies to the next month charged."""

    list_display = ("storage_class", "peak", "per_cubic_foot")


@admin.register(StorageCharge)
class StorageChargeAdmin(ReadOnlyAdminMixin, SellerScopedAdminMixin, admin.ModelAdmin):
    """Each seller's monthly storage fee (its ledger entry points here); a seller sees its own."""

    list_display = ("month", "seller", "amount_display", "detail")
    list_filter = (("seller", admin.RelatedOnlyFieldListFilter), "month")
    list_select_related = ("seller",)

    @admin.display(description=_("amount"), ordering="amount")
    def amount_display(self, obj: StorageCharge) -> str:
        return money_column(obj.amount)


# --- first-party purchasing ----------------------------------------------------------------------

PO = PurchaseOrder.Status
PO_BUTTONS = ("_order", "_cancel", "_close")


class SupplierOfferInline(admin.TabularInline):
    model = SupplierOffer
    fields = ("offer", "unit_cost", "is_primary")
    autocomplete_fields = ("offer",)
    extra = 0


@admin.register(Supplier)
class SupplierAdmin(admin.ModelAdmin):
    """Bazaar's suppliers, the house offers each supplies and at what cost."""

    list_display = ("name", "email", "lead_time_days", "is_active")
    list_filter = ("is_active",)
    search_fields = ("name",)
    inlines = [SupplierOfferInline]

    def has_delete_permission(self, request, obj=None):
        return False  # deactivate instead: purchase orders refer to suppliers


class PurchaseOrderLineInline(DraftRowsInlineMixin, admin.TabularInline):
    model = PurchaseOrderLine
    autocomplete_fields = ("offer",)
    draft_fields = ("offer", "quantity", "unit_cost")
    later_fields = ("offer", "quantity", "unit_cost", "received", "discrepancy")


@admin.register(PurchaseOrder)
class PurchaseOrderAdmin(ServiceErrorsAdminMixin, admin.ModelAdmin):
    """The house seller's purchase orders (platform staff only; see :mod:`fulfillment.purchasing`):
    draft, order, receive units, close; and reorder suggestions that draft them."""

    change_form_template = "admin/fulfillment/purchaseorder/change_form.html"
    change_list_template = "admin/fulfillment/purchaseorder/change_list.html"
    list_display = ("code_display", "supplier", "warehouse", "status", "created_at", "ordered_at", "expected_on",
                    "closed_at")
    list_filter = ("status", "supplier", "warehouse")
    list_select_related = ("supplier", "warehouse")
    ordering = ("-created_at", "-id")
    inlines = [PurchaseOrderLineInline]
    actions = None

    @admin.display(description=_("purchase order"), ordering="pk")
    def code_display(self, obj: PurchaseOrder) -> str:
        return obj.code

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("supplier", "warehouse")
        return ("code_display", "supplier", "warehouse", "status", "created_at", "ordered_at", "expected_on",
                "closed_at")

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.get_fields(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False  # cancel instead

    def _receiver(self, request) -> bool:
        return seller_scope(request) is None and request.user.has_perm(purchasing.RECEIVE_PERM)

    def has_module_permission(self, request):
        return seller_scope(request) is None and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return seller_scope(request) is None and super().has_view_permission(request, obj)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            buyer = self.has_change_permission(request, obj)
            context.update(can_order=buyer and obj.status == PO.DRAFT,
                           can_cancel=buyer and obj.status in (PO.DRAFT, PO.ORDERED),
                           can_receive=self._receiver(request) and obj.status in (PO.ORDERED, PO.RECEIVING),
                           can_close=self._receiver(request) and obj.status in (PO.ORDERED, PO.RECEIVING))
        return super().render_change_form(request, context, add, change, form_url, obj)

    def has_change_permission(self, request, obj=None):
        return seller_scope(request) is None and (
            super().has_change_permission(request, obj) or (obj is not None and self._receiver(request)))

    def save_model(self, request, obj, form, change):
        if not change:
            made = purchasing.po_create(supplier=form.cleaned_data["supplier"],
                                        warehouse=form.cleaned_data["warehouse"], actor=request.user)
            obj.pk, obj.status, obj.created_at = made.pk, made.status, made.created_at
            obj._state.adding = False
        request._po_button = next((key for key in PO_BUTTONS if key in request.POST), None)

    def save_formset(self, request, form, formset, change):
        order = PurchaseOrder.objects.get(pk=form.instance.pk)
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        if order.status != PO.DRAFT:
            return
        for line_form in formset.forms:
            if not line_form.has_changed() or "offer" not in line_form.cleaned_data:
                continue
            deleting = line_form.cleaned_data.get("DELETE")
            purchasing.po_line_set(order=order, offer=line_form.cleaned_data["offer"], actor=request.user,
                                   quantity=0 if deleting else line_form.cleaned_data.get("quantity"),
                                   unit_cost=line_form.cleaned_data.get("unit_cost"))

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        order = PurchaseOrder.objects.get(pk=form.instance.pk)
        button = getattr(request, "_po_button", None)
        if button == "_order":
            purchasing.po_order(order=order, actor=request.user)
        elif button == "_cancel":
            purchasing.po_cancel(order=order, actor=request.user)
        elif button == "_close":
            purchasing.po_close(order=order, actor=request.user)

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {**(extra_context or {}),
                                                 "can_suggest": self.has_add_permission(request)})

    def get_urls(self):
        return [
            path("suggestions/", self.admin_site.admin_view(self.suggestions_view),
                 name="fulfillment_purchaseorder_suggestions"),
            path("<int:pk>/receive/", self.admin_site.admin_view(self.receive_view),
                 name="fulfillment_purchaseorder_receive"),
        ] + super().get_urls()

    def suggestions_view(self, request):
        """What to reorder now, and draft purchase orders (one per supplier) for the rows chosen."""
        if not self.has_add_permission(request) or seller_scope(request) is not None:
            raise DjangoPermissionDenied
        centres = Warehouse.objects.filter(kind=Warehouse.Kind.PLATFORM, is_active=True).order_by("name")
        if request.method == "POST":
            chosen = [int(pk) for pk in request.POST.getlist("offer") if pk.isdigit()]
            centre = centres.filter(pk=request.POST.get("warehouse") or 0).first()
            if not chosen or centre is None:
                self.message_user(request, _("Choose at least one row and the centre to deliver to."),
                                  messages.ERROR)
            else:
                made = purchasing.po_from_suggestions(offer_ids=chosen, warehouse=centre, actor=request.user)
                self.message_user(request, _("%(n)s draft purchase order(s) made: check and order them.")
                                  % {"n": len(made)}, messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:fulfillment_purchaseorder_changelist"))
        return TemplateResponse(request, "admin/fulfillment/purchaseorder/suggestions.html", {
            **self.admin_site.each_context(request), "opts": self.opts, "title": _("Reorder suggestions"),
            "suggestions": purchasing.reorder_suggestions(), "centres": centres})

    def receive_view(self, request, pk: int):
        if not self._receiver(request):
            raise DjangoPermissionDenied
        order = get_object_or_404(PurchaseOrder.objects.select_related("supplier", "warehouse"), pk=pk)
        if request.method == "POST":
            return receive_post(
                self, request, lambda counts: purchasing.po_receive(order=order, counts=counts, actor=request.user),
                into=order.warehouse, redirect_to=reverse("admin:fulfillment_purchaseorder_receive", args=[pk]))
        return receive_page(
            self, request, title=_("Receive %(code)s") % {"code": order.code},
            summary=_("From %(supplier)s to %(centre)s · %(status)s") % {
                "supplier": order.supplier, "centre": order.warehouse, "status": order.get_status_display()},
            rows=list(order.lines.select_related("offer", "offer__product")),
            can_receive=order.status in (PO.ORDERED, PO.RECEIVING),
            back_url=reverse("admin:fulfillment_purchaseorder_change", args=[pk]))


# --- removal orders --------------------------------------------------------------------------------

REMOVAL_BUTTONS = ("_complete", "_cancel")


@admin.register(RemovalOrder)
class RemovalOrderAdmin(SellerScopedAdminMixin, ServiceErrorsAdminMixin, admin.ModelAdmin):
    """Stock a seller asks back from Bazaar's centres (see :mod:`fulfillment.removals`): sellers
    request and cancel their own; platform staff send them, and the removal fee is charged."""

    change_form_template = "admin/fulfillment/removalorder/change_form.html"
    list_display = ("__str__", "seller", "offer", "quantity", "warehouse", "status", "fee_per_unit", "created_at",
                    "completed_at")
    list_filter = ("status", ("seller", admin.RelatedOnlyFieldListFilter))
    list_select_related = ("seller", "offer", "warehouse")
    ordering = ("-created_at", "-id")
    autocomplete_fields = ("offer",)
    actions = None

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("offer", "quantity")
        return ("seller", "offer", "quantity", "warehouse", "status", "fee_per_unit", "requested_by", "created_at",
                "completed_at")

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.get_fields(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    def _sender(self, request) -> bool:
        return seller_scope(request) is None and request.user.has_perm(removals.COMPLETE_PERM)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) or (obj is not None and self._sender(request))

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            requested = obj.status == RemovalOrder.Status.REQUESTED
            context.update(can_complete=requested and self._sender(request),
                           can_cancel=requested and super().has_change_permission(request, obj))
        return super().render_change_form(request, context, add, change, form_url, obj)

    def save_model(self, request, obj, form, change):
        if not change:
            made = removals.removal_request(offer=form.cleaned_data["offer"], quantity=form.cleaned_data["quantity"],
                                            actor=request.user)
            obj.pk, obj.status = made.pk, made.status
            obj.seller_id, obj.warehouse_id = made.seller_id, made.warehouse_id
            obj._state.adding = False
            return
        current = RemovalOrder.objects.get(pk=obj.pk)
        if "_complete" in request.POST:
            removals.removal_complete(removal=current, actor=request.user)
        elif "_cancel" in request.POST:
            removals.removal_cancel(removal=current, actor=request.user)


# --- the delivery promise's calendar ---------------------------------------------------------------


@admin.register(Holiday)
class HolidayAdmin(admin.ModelAdmin):
    """Days no parcel leaves a warehouse or moves with a carrier: the delivery promise skips them
    (product pages, cart and checkout show the new days at once)."""

    list_display = ("day", "name", "warehouse", "carrier")
    list_filter = ("warehouse", "carrier")
    date_hierarchy = "day"
    ordering = ("day",)

    def save_model(self, request, obj, form, change):
        services.holiday_save(holiday=obj)

    def delete_model(self, request, obj):
        services.holiday_delete(holiday=obj)

    def delete_queryset(self, request, queryset):
        for holiday in queryset:
            services.holiday_delete(holiday=holiday)
