"""Orders in admin: platform staff see whole orders; a seller's members see only their own
packages and order lines (invariant 7 in docs/architecture.md, through the shared seller-scoping mixin)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import FileResponse, Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _

from core.addresses import address_lines
from core.admin import ReadOnlyAdminMixin, ReadOnlyInline, ServiceErrorsAdminMixin, requires_permission
from core.exceptions import ApplicationError
from core.money import format_money
from fulfillment import selectors as fulfillment_selectors
from marketplace.admin_scoping import SellerScopedAdminMixin, seller_scope
from orders import refunds, returns, selectors, services
from orders.forms import ReturnPolicyForm
from orders.models import (
    Claim,
    Order,
    OrderDiscount,
    OrderEvent,
    OrderGiftCard,
    OrderLine,
    OrderRefund,
    OrderRefundLine,
    Package,
    ReturnEvent,
    ReturnLine,
    ReturnPhoto,
    ReturnPolicy,
    ReturnRequest,
)
from payments import selectors as payment_selectors


class PackageInline(ReadOnlyInline):
    model = Package
    fields = ("seller_name", "fulfillment_channel", "shipping_method_name", "shipping_price", "status",
              "estimated_earliest", "estimated_latest", "tracking_number")
    readonly_fields = fields


class OrderLineInline(ReadOnlyInline):
    model = OrderLine
    fields = ("product_title", "sku", "seller_name", "quantity", "unit_price", "discount", "tax", "total",
              "referral_fee_percent", "referral_fee", "refunded_quantity", "refunded_amount")
    readonly_fields = fields


class OrderDiscountInline(ReadOnlyInline):
    model = OrderDiscount
    fields = ("label", "code", "amount")
    readonly_fields = fields


class OrderGiftCardInline(ReadOnlyInline):
    model = OrderGiftCard
    fields = ("amount", "recipient_email", "recipient_name", "deliver_on", "status", "gift_card", "refund")
    readonly_fields = fields


class OrderEventInline(ReadOnlyInline):
    model = OrderEvent
    fields = ("created_at", "from_status", "to_status", "message", "actor")
    readonly_fields = fields


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ("number", "placed_at", "email", "status", "payment_problem", "total", "currency")
    # "Payment problem" lists the orders whose money needs a person: an authorization that expired
    # before shipping, a payment cancelled or failed at the provider, money that could not be returned.
    list_filter = ("payment_problem", "status", "placed_at")
    search_fields = ("number", "email", "user__email")
    date_hierarchy = "placed_at"
    list_select_related = ("user",)
    readonly_fields = ("number", "user", "email", "status", "currency", "prices_include_tax", "subtotal",
                       "discount", "shipping", "tax", "gift_cards_total", "total", "refunded_amount",
                       "delivery_address", "billing_address_lines",
                       "placed_at", "payment_problem", "payment_problem_note", "payments")
    exclude = ("idempotency_key", "shipping_address", "billing_address")
    inlines = (PackageInline, OrderLineInline, OrderGiftCardInline, OrderDiscountInline, OrderEventInline)
    actions = ("cancel_orders", "refund_orders", "complete_orders", "resolve_payment_problems", "revoke_guest_links")

    def has_module_permission(self, request):
        return seller_scope(request) is None and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return seller_scope(request) is None and super().has_view_permission(request, obj)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("delivery address"))
    def delivery_address(self, obj: Order) -> str:
        return format_html_join(mark_safe("<br>"), "{}", ((line,) for line in address_lines(obj.shipping_address)))

    @admin.display(description=_("billing address"))
    def billing_address_lines(self, obj: Order) -> str:
        if not obj.billing_address:
            return _("Same as the delivery address")
        return format_html_join(mark_safe("<br>"), "{}", ((line,) for line in address_lines(obj.billing_address)))

    @admin.display(description=_("payments"))
    def payments(self, obj: Order) -> str:
        rows = payment_selectors.payment_list_for_reference(reference=obj.number)
        return "; ".join(
            f"{p.provider} {p.get_status_display()} {p.amount} {p.currency} (refunded {p.refunded_amount})"
            for p in rows
        ) or "-"

    def _act(self, request, queryset, action, done: str) -> None:
        ok = 0
        for order in queryset:
            try:
                action(order=order, actor=request.user, reason=str(done))
                ok += 1
            except ApplicationError as exc:
                self.message_user(request, f"{order.number}: {exc.message}", messages.ERROR)
        if ok:
            self.message_user(request, _("%(n)s order(s): %(done)s.") % {"n": ok, "done": done}, messages.SUCCESS)

    # Each action moves money or stock: it needs its own permission, not just "change order".
    has_cancel_order_permission = requires_permission("orders.cancel_order")
    has_refund_order_permission = requires_permission("orders.refund_order")
    has_complete_order_permission = requires_permission("orders.complete_order")

    @admin.action(description=_("Cancel selected orders (release stock, release or refund payment)"),
                  permissions=["cancel_order"])
    def cancel_orders(self, request, queryset):
        self._act(request, queryset, services.order_cancel, _("cancelled by staff"))

    @admin.action(description=_("Refund selected orders in full"), permissions=["refund_order"])
    def refund_orders(self, request, queryset):
        self._act(request, queryset, services.order_refund, _("refunded by staff"))

    @admin.action(description=_("Mark completed"), permissions=["complete_order"])
    def complete_orders(self, request, queryset):
        self._act(request, queryset, services.order_complete, _("completed by staff"))

    @admin.action(description=_("Payment problem resolved (after taking or returning the money by hand)"),
                  permissions=["refund_order"])
    def resolve_payment_problems(self, request, queryset):
        done = sum(
            services.order_payment_problem_clear(order=order, actor=request.user,
                                                 message=_("Payment problem resolved by staff"))
            for order in queryset.exclude(payment_problem="").order_by("pk")
        )
        self.message_user(request, _("%(n)s payment problem(s) resolved.") % {"n": done}, messages.SUCCESS)

    @admin.action(description=_("Revoke guest links (the links sent so far stop working)"), permissions=["change"])
    def revoke_guest_links(self, request, queryset):
        """For a link that reached the wrong person: every link sent so far stops working and the
        browsers that opened one lose the order. Moves no money. The guest gets a new link from the
        "send me a new link" page (order number and e-mail address)."""
        done = 0
        for order in queryset.order_by("pk"):
            services.order_guest_links_revoke(order=order, actor=request.user)
            done += 1
        self.message_user(
            request, _("Guest links revoked for %(n)s order(s).") % {"n": done}, messages.SUCCESS
        )

    change_form_template = "admin/orders/order/change_form.html"

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context["can_refund_part"] = (request.user.has_perm("orders.refund_order")
                                          and obj.status in refunds.REFUNDABLE)
            context["partial_refunds"] = selectors.refunds_of_order(order=obj)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def get_urls(self):
        return [path("<int:pk>/refund/", self.admin_site.admin_view(self.partial_refund_view),
                     name="orders_order_partial_refund")] + super().get_urls()

    def partial_refund_view(self, request, pk: int):
        """Give back some units, shipping and/or unused gift cards bought: the form (GET) and the
        refund (POST, once per form: its key comes with the form, so a double submit refunds once)."""
        order = get_object_or_404(Order, pk=pk)
        if not (self.has_view_permission(request, order) and request.user.has_perm("orders.refund_order")):
            raise DjangoPermissionDenied
        lines = list(OrderLine.objects.filter(order=order).select_related("package").order_by("pk"))
        chosen = {}
        if request.method == "POST":
            chosen = {line.pk: request.POST.get(f"units-{line.pk}", "0") or "0" for line in lines}
            try:
                done = refunds.order_refund_partial(
                    order=order, lines=chosen, shipping=request.POST.getlist("shipping"),
                    gift_cards=request.POST.getlist("gift_card"),
                    reason=request.POST.get("reason", ""), idempotency_key=request.POST.get("key", ""),
                    actor=request.user, to_store_credit=request.POST.get("to_store_credit") == "on")
            except ApplicationError as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                self.message_user(request, _("Refunding %(amount)s (refund %(id)s).") % {
                    "amount": format_money(done.amount, order.currency), "id": done.pk}, messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:orders_order_change", args=[order.pk]))
        packages = list(Package.objects.filter(order=order).order_by("pk"))
        return TemplateResponse(request, "admin/orders/order/partial_refund.html", {
            **self.admin_site.each_context(request), "opts": self.opts, "original": order,
            "title": _("Refund part of order %(number)s") % {"number": order.number},
            "rows": [(line, line.quantity - line.refunded_quantity, chosen.get(line.pk, "0"),
                      line.package.status in refunds.UNITS_LEAVE) for line in lines],
            "packages": [(p, p.shipping_price + p.shipping_tax - p.shipping_refunded) for p in packages],
            "gift_cards": list(OrderGiftCard.objects.filter(order=order).order_by("pk")),
            "gift_cards_chosen": request.POST.getlist("gift_card"),
            "key": request.POST.get("key") or uuid.uuid4().hex, "reason": request.POST.get("reason", "")})


@admin.register(Package)
class PackageAdmin(ServiceErrorsAdminMixin, SellerScopedAdminMixin, admin.ModelAdmin):
    """The seller's view of what to ship: its own packages only. Shipping and delivering (stock
    leaves, the payment is captured) need ``orders.ship_package``; a seller's members ship only the
    packages their seller ships itself, Bazaar staff the ones Bazaar fulfils."""

    list_display = ("order", "seller_name", "fulfillment_channel", "shipping_method_name", "status",
                    "estimated_latest", "tracking_number", "shipped_at", "delivered_at")
    list_filter = ("status", "fulfillment_channel")
    search_fields = ("order__number", "tracking_number")
    list_select_related = ("order",)
    readonly_fields = ("order", "order_number", "seller", "seller_name", "fulfillment_channel", "shipping_method_code",
                       "shipping_method_name", "shipping_price", "shipping_tax", "estimated_earliest",
                       "estimated_latest", "status", "shipping_refunded", "packed_at", "packed_weight_lb", "shipped_at",
                       "shipped_from",
                       "delivered_at", "delivery_confirmed_by")
    actions = ("ship_packages", "deliver_packages")

    @admin.display(description=_("order"))
    def order_number(self, obj):
        return obj.order.number

    def get_fields(self, request, obj=None):
        # Whoever may not open the whole order (a seller's member: it may hold other sellers'
        # lines) sees its number, not a link to a page that refuses them.
        hidden = {"order_number" if request.user.has_perm("orders.view_order") else "order",
                  "seller"}  # its name is shown (seller_name), once
        return [name for name in super().get_fields(request, obj) if name not in hidden]

    def get_readonly_fields(self, request, obj=None):
        # The tracking number is filled in while the package is prepared; after that it is history.
        # A Bazaar label's number and carrier are the carrier's: never typed over.
        if obj is None or obj.status != Package.Status.PENDING or obj.carrier:
            return (*self.readonly_fields, "tracking_number", "carrier", "carrier_name")
        if obj.fulfillment_channel != selectors.MERCHANT:  # Bazaar's packages ship with a Bazaar label
            return (*self.readonly_fields, "tracking_number", "carrier", "carrier_name")
        return (*self.readonly_fields, "carrier")

    def has_change_permission(self, request, obj=None):
        # The tracking number of a package Bazaar fulfils is Bazaar's to set.
        if obj is not None and selectors.package_ship_refusal(package=obj, actor=request.user):
            return False
        return super().has_change_permission(request, obj)

    change_form_template = "admin/orders/package/change_form.html"
    change_list_template = "admin/orders/package/change_list.html"

    def _can_ship(self, request, obj) -> bool:
        return (obj is not None and obj.status == Package.Status.PENDING
                and request.user.has_perm("orders.ship_package")
                and not selectors.package_ship_refusal(package=obj, actor=request.user))

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["can_ship"] = self._can_ship(request, obj)
        if obj is not None:
            context["shipment"] = selectors.package_timelines(order=obj.order).get(obj.pk)
            context["slip"] = selectors.package_packing_slip(package=obj, actor=request.user)
            context["can_see_label"] = context["slip"].ship_to is not None
        return super().render_change_form(request, context, add, change, form_url, obj)

    def get_urls(self):
        return [
            path("<int:pk>/label/", self.admin_site.admin_view(self.label_view), name="orders_package_label"),
            path("<int:pk>/pack/", self.admin_site.admin_view(self.pack_view), name="orders_package_pack"),
            path("pick-list/", self.admin_site.admin_view(self.pick_list_view), name="orders_package_pick_list"),
            path("delivery-performance/", self.admin_site.admin_view(self.delivery_performance_view),
                 name="orders_package_delivery_performance"),
            path("<int:pk>/label.pdf", self.admin_site.admin_view(self.label_pdf_view),
                 name="orders_package_label_pdf"),
        ] + super().get_urls()

    def label_view(self, request, pk: int):
        """Buy the package's carrier label (POST), outside any transaction: the carrier is called."""
        package = get_object_or_404(self.get_queryset(request), pk=pk)
        back = reverse("admin:orders_package_change", args=[pk])
        if request.method != "POST" or not self._can_ship(request, package):
            raise DjangoPermissionDenied
        try:
            shipment = services.package_buy_label(package=package, actor=request.user,
                                                  service=request.POST.get("service") or "ground")
        except ApplicationError as exc:
            self.message_user(request, exc.message, messages.ERROR)
        else:
            self.message_user(request, _("Label bought: %(carrier)s %(tracking)s.") % {
                "carrier": shipment.carrier.upper(), "tracking": shipment.tracking_number}, messages.SUCCESS)
        return HttpResponseRedirect(back)

    def pack_view(self, request, pk: int):
        """Packed, with its weight (POST)."""
        package = get_object_or_404(self.get_queryset(request), pk=pk)
        if request.method != "POST" or not self._can_ship(request, package):
            raise DjangoPermissionDenied
        try:
            services.package_pack(package=package, weight_lb=request.POST.get("weight_lb", ""), actor=request.user)
        except ApplicationError as exc:
            self.message_user(request, exc.message, messages.ERROR)
        else:
            self.message_user(request, _("Packed: %(weight)s lb.") % {"weight": package.packed_weight_lb},
                              messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:orders_package_change", args=[pk]))

    def pick_list_view(self, request):
        """What to pick in one Bazaar centre now, by offer, with the packages each unit goes to."""
        if seller_scope(request) is not None or not request.user.has_perm("orders.ship_package"):
            raise DjangoPermissionDenied
        centres = fulfillment_selectors.platform_warehouses()
        chosen = next((c for c in centres if str(c.pk) == request.GET.get("warehouse", "")), None)
        rows = selectors.pick_list(warehouse_id=chosen.pk) if chosen else []
        return TemplateResponse(request, "admin/orders/package/pick_list.html", {
            **self.admin_site.each_context(request), "opts": self.opts, "title": _("Pick list"),
            "centres": centres, "chosen": chosen, "rows": rows})

    PERFORMANCE_DAYS = (7, 30, 90)

    def delivery_performance_view(self, request):
        """On-time delivery over the packages due in the last 7, 30 or 90 days, per seller, per
        warehouse shipped from and per shipping method. Sellers see their own packages only."""
        if not self.has_view_permission(request):
            raise DjangoPermissionDenied
        days = int(request.GET["days"]) if request.GET.get("days") in {str(d) for d in self.PERFORMANCE_DAYS} else 30
        today = timezone.localdate()
        scope = seller_scope(request)
        tables = [(title, selectors.delivery_performance(by=by, since=today - timedelta(days=days), today=today,
                                                         seller_ids=scope))
                  for by, title in (("seller", _("By seller")), ("warehouse", _("By warehouse shipped from")),
                                    ("method", _("By shipping method")))]
        return TemplateResponse(request, "admin/orders/package/delivery_performance.html", {
            **self.admin_site.each_context(request), "opts": self.opts, "title": _("On-time delivery"),
            "tables": tables, "days": days, "choices": self.PERFORMANCE_DAYS})

    def changelist_view(self, request, extra_context=None):
        can_pick = seller_scope(request) is None and request.user.has_perm("orders.ship_package")
        return super().changelist_view(request, {**(extra_context or {}), "can_pick": can_pick})

    def label_pdf_view(self, request, pk: int):
        """The label PDF, for whoever may see the package (it carries the buyer's address)."""
        package = get_object_or_404(self.get_queryset(request), pk=pk)
        if not selectors.package_address_visible(package=package, actor=request.user):
            raise DjangoPermissionDenied  # the label carries the buyer's address: Bazaar's to see
        shipment = selectors.package_timelines(order=package.order).get(package.pk)
        if shipment is None or not shipment.label:
            raise Http404
        return FileResponse(shipment.label.open("rb"), content_type="application/pdf",
                            filename=f"{shipment.tracking_number}.pdf")

    def save_model(self, request, obj, form, change):
        # A refusal rolls the whole save back and shows the form again with the reason
        # (ServiceErrorsAdminMixin): never "changed successfully" beside it.
        if {"tracking_number", "carrier_name"} & set(form.changed_data):
            services.package_set_tracking(package=obj, tracking_number=form.cleaned_data["tracking_number"],
                                          carrier_name=form.cleaned_data.get("carrier_name", obj.carrier_name))
        if "_ship" in request.POST:  # "save and mark shipped", one step from the package's page
            if not self._can_ship(request, obj):
                raise ApplicationError(_("You may not ship this package."))
            services.package_ship(package=obj, tracking_number=obj.tracking_number, actor=request.user)
            self.message_user(request, _("The package is shipped."), messages.SUCCESS)

    def _act(self, request, queryset, action, done: str) -> None:
        ok = 0
        allowed = selectors.packages_shippable_by(actor=request.user, packages=queryset)
        for package in queryset.exclude(pk__in=allowed.values("pk")).select_related("order").order_by("pk"):
            refusal = selectors.package_ship_refusal(package=package, actor=request.user)
            self.message_user(request, f"{package}: {refusal or _('not yours to ship')}", messages.ERROR)
        for package in allowed.select_related("order").order_by("pk"):
            try:
                action(package)
                ok += 1
            except ApplicationError as exc:
                self.message_user(request, f"{package}: {exc.message}", messages.ERROR)
        if ok:
            self.message_user(request, _("%(n)s package(s) %(done)s.") % {"n": ok, "done": done}, messages.SUCCESS)

    has_ship_package_permission = requires_permission("orders.ship_package")

    @admin.action(description=_("Mark shipped"), permissions=["ship_package"])
    def ship_packages(self, request, queryset):
        self._act(
            request, queryset,
            lambda p: services.package_ship(package=p, tracking_number=p.tracking_number, actor=request.user),
            _("shipped"),
        )

    def has_deliver_package_permission(self, request) -> bool:
        """Platform staff who ship: a seller never confirms its own deliveries."""
        return seller_scope(request) is None and request.user.has_perm("orders.ship_package")

    @admin.action(description=_("Mark delivered"), permissions=["deliver_package"])
    def deliver_packages(self, request, queryset):
        self._act(request, queryset, lambda p: services.package_deliver(package=p, actor=request.user),
                  _("delivered"))

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(OrderLine)
class OrderLineAdmin(ReadOnlyAdminMixin, SellerScopedAdminMixin, admin.ModelAdmin):
    """The seller's sold items: its own order lines only."""

    list_display = ("order", "product_title", "sku", "seller_name", "quantity", "unit_price", "total",
                    "referral_fee")
    search_fields = ("order__number", "sku", "product_title")
    list_select_related = ("order",)
    readonly_fields = ("order", "package", "offer", "product", "seller", "seller_name", "product_title",
                       "product_slug", "sku", "quantity", "unit_price", "subtotal", "discount", "tax_rate", "tax",
                       "total", "referral_fee_percent", "referral_fee", "refunded_quantity", "refunded_amount")



class OrderRefundLineInline(ReadOnlyInline):
    model = OrderRefundLine
    fields = ("line", "quantity", "amount", "tax")
    readonly_fields = fields


@admin.register(OrderRefund)
class OrderRefundAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Every partial refund, explained (made from an order's "Refund part of this order" page or
    the API). A failed one is also the order's payment problem, for staff to settle by hand."""

    list_display = ("order", "created_at", "amount", "items_amount", "shipping_amount", "status", "reason",
                    "created_by")
    list_filter = ("status", "created_at")
    search_fields = ("order__number", "reason")
    list_select_related = ("order", "created_by")
    readonly_fields = ("order", "amount", "items_amount", "items_tax", "shipping_amount", "gift_cards_bought_amount",
                       "deduction",
                       "deduction_label", "shipping_packages", "reason", "status", "created_by", "created_at")
    exclude = ("idempotency_key",)
    inlines = (OrderRefundLineInline,)
    actions = ("retry_refunds",)

    has_refund_order_permission = requires_permission("orders.refund_order")

    @admin.action(description=_("Try the failed refunds again"), permissions=["refund_order"])
    def retry_refunds(self, request, queryset):
        done = 0
        for refund in queryset.order_by("pk"):
            try:
                refunds.refund_retry(refund=refund, actor=request.user)
                done += 1
            except ApplicationError as exc:
                self.message_user(request, f"{refund}: {exc.message}", messages.ERROR)
        if done:
            self.message_user(request, _("%(n)s refund(s) tried again.") % {"n": done}, messages.SUCCESS)

    def has_module_permission(self, request):
        return seller_scope(request) is None and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return seller_scope(request) is None and super().has_view_permission(request, obj)


CLAIM_DECISIONS = ("_grant", "_deny")


@admin.register(Claim)
class ClaimAdmin(SellerScopedAdminMixin, ServiceErrorsAdminMixin, admin.ModelAdmin):
    """Buyers' claims against sellers. The seller's owners and managers answer an open claim (their
    own sellers' only); platform staff with "can grant or deny buyer claims" decide: grant (the
    order is refunded in full) or deny with the reason the buyer is told."""

    change_form_template = "admin/orders/claim/change_form.html"
    list_display = ("created_at", "order", "seller", "reason", "status", "answer_by", "decided_by")
    list_filter = ("status", "reason", ("seller", admin.RelatedOnlyFieldListFilter))
    search_fields = ("order__number", "description")
    list_select_related = ("order", "seller", "decided_by")
    ordering = ("-created_at", "-id")
    actions = None
    fields = ("order", "seller", "reason", "description", "created_at", "answer_by", "status", "seller_response",
              "resolution", "decided_by", "decided_at")

    def _decider(self, request) -> bool:
        return seller_scope(request) is None and request.user.has_perm("orders.decide_claim")

    def get_readonly_fields(self, request, obj=None):
        editable = set()
        if obj is not None and obj.status == Claim.Status.OPEN:
            if self._decider(request):
                editable.add("resolution")
            elif seller_scope(request) is not None and super().has_change_permission(request, obj):
                editable.add("seller_response")
        return [f for f in self.fields if f not in editable]

    def has_add_permission(self, request):
        return False  # buyers open claims from their order page

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return self._decider(request) or super().has_change_permission(request, obj)

    def has_view_permission(self, request, obj=None):
        return self._decider(request) or super().has_view_permission(request, obj)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["can_decide"] = obj is not None and obj.status == Claim.Status.OPEN and self._decider(request)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def save_model(self, request, obj, form, change):
        current = Claim.objects.get(pk=obj.pk)
        decision = next((key for key in CLAIM_DECISIONS if key in request.POST), None)
        data = form.cleaned_data
        if decision == "_grant":
            services.claim_grant(claim=current, actor=request.user, resolution=data.get("resolution", ""))
        elif decision == "_deny":
            services.claim_deny(claim=current, actor=request.user, resolution=data.get("resolution", ""))
        elif "seller_response" in data:
            services.claim_respond(claim=current, actor=request.user, response=data["seller_response"])
        else:
            raise ApplicationError(_("Grant or deny the claim."))


# --- returns (orders.returns) ----------------------------------------------------------------------


@admin.register(ReturnPolicy)
class ReturnPolicyAdmin(ServiceErrorsAdminMixin, admin.ModelAdmin):
    """Return policies per category (its whole subtree, unless a deeper category has its own);
    categories without one follow the RETURNS_* settings."""

    list_display = ("category", "returnable", "window_days", "buyer_pays_reasons")
    list_filter = ("returnable",)
    search_fields = ("category__name",)
    autocomplete_fields = ("category",)
    list_select_related = ("category",)
    form = ReturnPolicyForm

    def save_model(self, request, obj, form, change):
        returns.return_policy_save(policy=obj)


class ReturnLineInline(ReadOnlyInline):
    model = ReturnLine
    fields = ("line", "quantity", "condition")
    readonly_fields = fields


class ReturnPhotoInline(ReadOnlyInline):
    model = ReturnPhoto
    fields = ("image",)
    readonly_fields = fields


class ReturnEventInline(ReadOnlyInline):
    model = ReturnEvent
    fields = ("created_at", "from_status", "to_status", "message", "actor")
    readonly_fields = fields


RETURN_DECISIONS = ("_approve", "_refuse", "_offer", "_receive")


@admin.register(ReturnRequest)
class ReturnRequestAdmin(SellerScopedAdminMixin, ServiceErrorsAdminMixin, admin.ModelAdmin):
    """Shoppers' returns. A seller's owners and managers answer the returns of their own packages
    (approve, refuse with a reason, offer a partial refund) and receive them; platform staff with
    "can approve, refuse and receive returns" handle Bazaar-fulfilled ones and every other. On
    receipt each line is marked sellable (restocked) or unsellable, and the refund follows."""

    change_form_template = "admin/orders/returnrequest/change_form.html"
    list_display = ("created_at", "order", "seller", "fulfillment_channel", "reason", "status", "answer_by")
    list_filter = ("status", "reason", "fulfillment_channel", ("seller", admin.RelatedOnlyFieldListFilter))
    search_fields = ("order__number", "tracking_number")
    list_select_related = ("order", "seller")
    ordering = ("-created_at", "-id")
    actions = None
    inlines = (ReturnLineInline, ReturnPhotoInline, ReturnEventInline)
    fields = ("order", "package", "seller", "fulfillment_channel", "destination", "reason", "description",
              "buyer_pays_shipping", "status", "answer_by", "refusal_reason", "offered_amount", "carrier",
              "tracking_number", "label_cost", "drop_off_instructions", "refund", "decided_by", "decided_at",
              "received_at", "created_at")

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if seller_scope(request) is not None:  # a seller sees the returns of its own packages only
            queryset = queryset.filter(fulfillment_channel="merchant")
        return queryset

    def get_readonly_fields(self, request, obj=None):
        editable = set()
        if obj is not None and obj.status == ReturnRequest.Status.REQUESTED and self._may_act(request, obj):
            editable = {"refusal_reason", "offered_amount"}
        return [f for f in self.fields if f not in editable]

    def _may_act(self, request, obj) -> bool:
        return obj is not None and returns.return_refusal(request=obj, actor=request.user) is None

    def has_add_permission(self, request):
        return False  # shoppers start returns from their order page

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) or (obj is not None and self._may_act(request, obj))

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        may = obj is not None and self._may_act(request, obj)
        context["can_answer"] = may and obj.status == ReturnRequest.Status.REQUESTED
        context["can_receive"] = may and obj.status in returns.RECEIVABLE
        context["return_lines"] = list(obj.lines.select_related("line")) if obj is not None else []
        context["conditions"] = [c for c in ReturnLine.Condition.choices if c[0]]
        return super().render_change_form(request, context, add, change, form_url, obj)

    def response_change(self, request, obj):
        # After a decision or the receipt, stay on the return: its next step (or the refund) is there.
        response = super().response_change(request, obj)
        if any(key in request.POST for key in RETURN_DECISIONS) and response.status_code == 302:
            return HttpResponseRedirect(reverse("admin:orders_returnrequest_change", args=[obj.pk]))
        return response

    def save_model(self, request, obj, form, change):
        current = ReturnRequest.objects.get(pk=obj.pk)
        decision = next((key for key in RETURN_DECISIONS if key in request.POST), None)
        data = form.cleaned_data
        if decision == "_approve":
            returns.return_approve(request=current, actor=request.user)
        elif decision == "_refuse":
            returns.return_refuse(request=current, actor=request.user, reason=data.get("refusal_reason", ""))
        elif decision == "_offer":
            returns.return_offer_partial(request=current, actor=request.user,
                                         amount=data.get("offered_amount") or "")
        elif decision == "_receive":
            returns.return_receive(request=current, actor=request.user, conditions={
                line.pk: request.POST.get(f"condition-{line.pk}", "") for line in current.lines.all()})
        else:
            raise ApplicationError(_("Approve, refuse, offer a partial refund or receive the return."))

    def save_related(self, request, form, formsets, change):
        # Nothing related is edited here (the services above did the work); the read-only inlines
        # still take part in the history message, as formsets that saved nothing.
        for formset in formsets:
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
