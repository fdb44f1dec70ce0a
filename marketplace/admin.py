"""Marketplace admin: sellers, their members, offers (also inline on products), buy boxes.

Seller-facing admins use :class:`marketplace.admin_scoping.SellerScopedAdminMixin`, so a seller's
members see and change only their own rows. Writes go through :mod:`marketplace.services`.
"""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import actions as admin_actions
from django.core.exceptions import PermissionDenied
from django.db.models import F, Q
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from catalog.admin import ProductAdmin as CatalogProductAdmin
from catalog.models import Brand, Category, Product
from core.admin import ReadOnlyAdminMixin, ServiceErrorsAdminMixin, money_column
from core.exceptions import ApplicationError
from marketplace import selectors, services
from marketplace.admin_scoping import SellerScopedAdminMixin, seller_scope
from marketplace.models import (
    BuyBox,
    Offer,
    ProductProposal,
    Seller,
    SellerApplication,
    SellerApplicationEvent,
    SellerMember,
    SellerStandingEvent,
)

OFFER_FIELDS = (
    "seller", "sku", "price", "list_price", "member_price", "condition", "fulfillment_channel", "handling_days",
    "is_active",
)


# --- sellers ------------------------------------------------------------------------------------


class SellerStandingInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = SellerStandingEvent
    fields = ("created_at", "action", "reason", "actor")
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(Seller)
class SellerAdmin(SellerScopedAdminMixin, ServiceErrorsAdminMixin, admin.ModelAdmin):
    seller_lookup = "pk"
    list_display = ("name", "slug", "is_house", "rating", "rating_count", "is_active", "created_at")
    list_filter = ("is_house", "is_active")
    search_fields = ("name", "slug", "email")
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = ("is_house", "is_active", "rating", "rating_count", "buy_box_eligible", "buy_box_note",
                       "created_at")  # rating: buyers' feedback; eligibility: finance's account health
    fields = (
        "name", "slug", "is_house", "is_active", "email", "country", "description", "rating", "rating_count",
        "buy_box_eligible", "buy_box_note", "stripe_account", "created_at",
    )
    inlines = [SellerStandingInline]
    actions = ["suspend", "reinstate"]

    def save_model(self, request, obj, form, change):
        services.seller_save(seller=obj)

    def has_suspend_permission(self, request) -> bool:
        """Platform staff with "can suspend and reinstate sellers" (never a seller's own members)."""
        return seller_scope(request) is None and request.user.has_perm("marketplace.suspend_seller")

    def _standing(self, request, queryset, *, suspend: bool):
        """A page asking for the reason, then the change for each selected seller."""
        reason = request.POST.get("reason", "").strip()
        if "apply" in request.POST and reason:
            done = 0
            for seller in queryset:
                try:
                    (services.seller_suspend if suspend else services.seller_reinstate)(
                        seller=seller, reason=reason, actor=request.user)
                    done += 1
                except ApplicationError as exc:
                    self.message_user(request, f"{seller}: {exc.message}", level=messages.WARNING)
            if done:
                self.message_user(request, (_("%(n)s seller(s) suspended.") if suspend
                                            else _("%(n)s seller(s) reinstated.")) % {"n": done})
            return None
        return TemplateResponse(request, "admin/marketplace/seller/standing.html", {
            **self.admin_site.each_context(request), "title": _("Suspend sellers") if suspend else _(
                "Reinstate sellers"),
            "sellers": queryset, "action": "suspend" if suspend else "reinstate", "suspend": suspend,
            "missing_reason": "apply" in request.POST, "opts": self.model._meta,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        })

    @admin.action(description=_("Suspend the selected sellers (their offers stop selling at once)"),
                  permissions=["suspend"])
    def suspend(self, request, queryset):
        return self._standing(request, queryset, suspend=True)

    @admin.action(description=_("Reinstate the selected sellers"), permissions=["suspend"])
    def reinstate(self, request, queryset):
        return self._standing(request, queryset, suspend=False)

    def has_delete_permission(self, request, obj=None):
        # Sellers are deactivated, never deleted: their offers and past orders keep pointing at them.
        return False


@admin.register(SellerMember)
class SellerMemberAdmin(SellerScopedAdminMixin, ServiceErrorsAdminMixin, admin.ModelAdmin):
    """Who works for which seller. Platform staff manage every seller's team; a seller's owners see,
    re-role and remove their own sellers' members (their role's group grants the permissions, the
    scoping limits them to sellers they own; adding needs the user directory: platform only).
    Role changes and removals go through the services, which keep at least one owner per seller,
    move the member to the group of their new role, and take admin access away from someone who no
    longer belongs to any seller."""

    list_display = ("user", "seller", "role", "created_at")
    list_filter = ("role", ("seller", admin.RelatedOnlyFieldListFilter))
    search_fields = ("user__email", "user__full_name", "seller__name")
    list_select_related = ("user", "seller")
    ordering = ("-id",)
    autocomplete_fields = ("user", "seller")
    fields = ("seller", "user", "role", "created_at")
    actions = ["delete_selected"]

    def has_add_permission(self, request):
        # Adding someone means picking from every user: platform staff only.
        return seller_scope(request) is None and super().has_add_permission(request)

    def get_readonly_fields(self, request, obj=None):
        # A membership is one user at one seller: to move someone, remove and add again.
        return ("seller", "user", "created_at") if obj is not None else ("created_at",)

    # --- writes, through the services -------------------------------------------------------------

    def save_model(self, request, obj, form, change):
        if change:
            services.seller_member_change_role(member=obj, role=obj.role, actor=request.user)
            return
        member = services.seller_member_add(seller=obj.seller, user=obj.user, role=obj.role)
        obj.pk, obj.created_at = member.pk, member.created_at
        obj._state.adding = False

    def delete_model(self, request, obj):
        services.seller_member_remove(member=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        self._remove_each(request, queryset)

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except ApplicationError as exc:  # the last owner, or already removed: nothing was deleted
            self.message_user(request, exc.message, level=messages.ERROR)
            opts = self.opts
            return HttpResponseRedirect(
                reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist", current_app=self.admin_site.name)
            )

    @admin.action(permissions=["delete"], description=_("Delete selected %(verbose_name_plural)s"))
    def delete_selected(self, request, queryset):
        """Django's bulk delete (same confirmation page), but one service call per member: refusals
        are reported by name and the others removed."""
        _objects, _count, perms_needed, protected = self.get_deleted_objects(queryset, request)
        if not request.POST.get("post") or protected:
            return admin_actions.delete_selected(self, request, queryset)
        if perms_needed:
            raise PermissionDenied
        removed = self._remove_each(request, queryset)
        if removed:
            self.log_deletions(request, removed)
            self.message_user(
                request,
                ngettext("Removed %(count)d seller member.", "Removed %(count)d seller members.", len(removed))
                % {"count": len(removed)},
                messages.SUCCESS,
            )
        return None

    def _remove_each(self, request, queryset) -> list[SellerMember]:
        removed = []
        for member in queryset.select_related("user", "seller").order_by("pk"):
            try:
                services.seller_member_remove(member=member, actor=request.user)
            except ApplicationError as exc:
                self.message_user(
                    request, _("%(member)s was not removed: %(reason)s") % {"member": member, "reason": exc.message},
                    messages.ERROR,
                )
            else:
                removed.append(member)
        return removed


# --- offers ---------------------------------------------------------------------------------------


class OfferInline(SellerScopedAdminMixin, admin.TabularInline):
    model = Offer
    fields = OFFER_FIELDS
    autocomplete_fields = ("seller",)
    extra = 0
    can_delete = False  # deactivate instead: stock and order lines refer to offers
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("seller")


class BuyBoxFilter(admin.SimpleListFilter):
    """Offers holding their product's buy box, or active ones another seller's offer beats."""

    title = _("buy box")
    parameter_name = "buy_box"

    def lookups(self, request, model_admin):
        return [("won", _("holds it")), ("lost", _("another seller holds it"))]

    def queryset(self, request, queryset):
        if self.value() == "won":
            return queryset.filter(is_buy_box_winner=True)
        if self.value() == "lost":
            return queryset.filter(is_active=True, product__buy_box__offer__isnull=False).exclude(
                product__buy_box__offer__seller_id=F("seller_id"))
        return queryset


@admin.register(Offer)
class OfferAdmin(SellerScopedAdminMixin, ServiceErrorsAdminMixin, admin.ModelAdmin):
    list_display = (
        "sku", "product", "seller", "price_display", "condition", "fulfillment_channel", "is_active",
        "buy_box_winner",
    )
    list_filter = (
        ("seller", admin.RelatedOnlyFieldListFilter), "fulfillment_channel", "condition", "is_active", BuyBoxFilter,
    )
    search_fields = ("sku", "product__title")
    list_select_related = ("product", "seller")
    ordering = ("-id",)
    autocomplete_fields = ("product", "seller")
    fields = ("product", *OFFER_FIELDS, "currency", "created_at", "updated_at")
    readonly_fields = ("currency", "created_at", "updated_at")

    def get_queryset(self, request):
        return selectors.offers_with_buy_box_flag(super().get_queryset(request))

    @admin.display(description=_("price"), ordering="price")
    def price_display(self, obj: Offer) -> str:
        return money_column(obj.price, obj.currency)

    @admin.display(description=_("buy box"), boolean=True, ordering="is_buy_box_winner")
    def buy_box_winner(self, obj: Offer) -> bool:
        return obj.is_buy_box_winner

    def get_readonly_fields(self, request, obj=None):
        # An offer stays on its product and with its seller (its stock and orders are theirs).
        fixed = ("product", "seller") if obj is not None else ()
        # Whether Bazaar fulfils an offer is Bazaar's decision (the service refuses it from a seller too).
        if seller_scope(request) is not None:
            return (*self.readonly_fields, *fixed, "fulfillment_channel")
        return (*self.readonly_fields, *fixed)

    def save_model(self, request, obj, form, change):
        services.offer_save(offer=obj, actor=request.user)

    def has_delete_permission(self, request, obj=None):
        # Deactivate instead: stock rows, the ledger and order lines refer to offers.
        return False


@admin.register(BuyBox)
class BuyBoxAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """What each product shows first; computed by the marketplace, never edited by hand."""

    list_display = (
        "product", "offer", "seller", "price_display", "shipping_display", "landed_display",
        "eligible_offer_count", "refreshed_at",
    )
    list_select_related = ("product", "offer", "offer__seller")
    ordering = ("-refreshed_at", "product_id")
    search_fields = ("product__title", "offer__sku")
    list_filter = ("refreshed_at",)

    @admin.display(description=_("seller"), ordering="offer__seller__name")
    def seller(self, obj: BuyBox):
        return obj.offer.seller if obj.offer else "-"

    @admin.display(description=_("price"), ordering="price")
    def price_display(self, obj: BuyBox) -> str:
        return money_column(obj.price, obj.currency)

    @admin.display(description=_("shipping"))
    def shipping_display(self, obj: BuyBox) -> str:
        return money_column(obj.shipping, obj.currency)

    @admin.display(description=_("landed price"), ordering="landed_price")
    def landed_display(self, obj: BuyBox) -> str:
        return money_column(obj.landed_price, obj.currency)



# --- products, with their offers ----------------------------------------------------------------

admin.site.unregister(Product)


@admin.register(Product)
class ProductAdmin(CatalogProductAdmin):
    """Catalog's product admin plus the offers of every seller (catalog cannot know offers). A
    seller's members see the published catalogue and their own proposed products, never another
    seller's proposals waiting for review."""

    inlines = [*CatalogProductAdmin.inlines, OfferInline]

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        scope = seller_scope(request)
        if scope is None:
            return queryset
        return queryset.filter(Q(is_active=True) | Q(proposal__seller_id__in=sorted(scope)))

    def save_formset(self, request, form, formset, change):
        if formset.model is Offer:
            for offer in formset.save(commit=False):
                services.offer_save(offer=offer, actor=request.user)
            return
        super().save_formset(request, form, formset, change)


class ApplicationEventInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = SellerApplicationEvent
    fields = ("created_at", "from_status", "to_status", "message", "actor")
    readonly_fields = fields
    extra = 0
    can_delete = False


DECISIONS = {"_approve": "approve", "_request_info": "request_info", "_reject": "reject"}


@admin.register(SellerApplication)
class SellerApplicationAdmin(ServiceErrorsAdminMixin, admin.ModelAdmin):
    """Applications to sell, reviewed by platform staff with the review permission: approve (the
    seller and its owner's access are created), ask for more information, or reject with a reason.
    The message field is what the applicant is told; nothing else is edited here."""

    change_form_template = "admin/marketplace/sellerapplication/change_form.html"
    list_display = ("created_at", "store_name", "legal_name", "country", "expected_volume", "status", "reviewed_by")
    list_filter = ("status", "country", "expected_volume")
    search_fields = ("store_name", "legal_name", "email", "tax_id", "applicant__email")
    list_select_related = ("reviewed_by",)
    inlines = [ApplicationEventInline]
    fields = ("status", "applicant", "legal_name", "store_name", "contact_name", "email", "phone", "country",
              "tax_id", "bank_account_holder", "bank_account", "bank_routing", "category_names", "expected_volume",
              "terms_accepted_at", "created_at", "seller", "reviewed_by", "reviewed_at", "review_message")
    readonly_fields = tuple(f for f in fields if f != "review_message")

    @admin.display(description=_("categories"))
    def category_names(self, obj: SellerApplication) -> str:
        return ", ".join(c.name for c in obj.categories.all())

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return request.user.has_perm("marketplace.review_sellerapplication") and seller_scope(request) is None

    def has_view_permission(self, request, obj=None):
        return seller_scope(request) is None and (
            super().has_view_permission(request, obj) or self.has_change_permission(request, obj))

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["can_decide"] = (obj is not None and obj.status == SellerApplication.Status.SUBMITTED
                                 and self.has_change_permission(request, obj))
        return super().render_change_form(request, context, add, change, form_url, obj)

    def save_model(self, request, obj, form, change):
        decision = next((DECISIONS[key] for key in DECISIONS if key in request.POST), None)
        if decision is None:
            raise ApplicationError(_("Choose approve, ask for information or reject."))
        message = form.cleaned_data.get("review_message", "")
        current = SellerApplication.objects.get(pk=obj.pk)
        if decision == "approve":
            services.application_approve(application=current, actor=request.user, message=message)
        elif decision == "request_info":
            services.application_request_info(application=current, actor=request.user, message=message)
        else:
            services.application_reject(application=current, actor=request.user, reason=message)

    def save_related(self, request, form, formsets, change):
        """The categories are the applicant's; nothing related is saved from here."""


# --- products proposed by sellers ----------------------------------------------------------------


class ProductProposalForm(forms.ModelForm):
    """The proposal with its product's facts (kept on the hidden product) and, when adding, the
    seller's first offer on it."""

    title = forms.CharField(label=_("product title"), max_length=200)
    category = forms.ModelChoiceField(label=_("category"), queryset=Category.objects.filter(is_active=True))
    brand = forms.ModelChoiceField(label=_("brand"), queryset=Brand.objects.all(), required=False)
    description = forms.CharField(label=_("description"), widget=forms.Textarea, required=False)
    sku = forms.CharField(label=_("your SKU"), max_length=64, required=False,
                          help_text=_("With a price: your offer on the product, selling from its approval on."))
    price = forms.DecimalField(label=_("price"), max_digits=12, decimal_places=2, min_value=Decimal("0.01"),
                               required=False)
    condition = forms.ChoiceField(label=_("condition"), choices=Offer.Condition.choices,
                                  initial=Offer.Condition.NEW, required=False)

    class Meta:
        model = ProductProposal
        fields = ("seller", "note", "review_message")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        product = self.instance.product if self.instance.pk else None
        if product is not None:
            for name in ("title", "category", "brand", "description"):
                if name in self.fields:
                    self.fields[name].initial = getattr(product, name)

    def clean(self):
        data = super().clean()
        if self.instance.pk is None and bool(data.get("sku")) != (data.get("price") is not None):
            self.add_error("price" if data.get("sku") else "sku", _("Give both the SKU and the price, or neither."))
        seller = data.get("seller")
        if seller is not None and data.get("sku") and Offer.objects.filter(seller=seller, sku=data["sku"]).exists():
            self.add_error("sku", _("This seller already has an offer with this SKU."))
        return data


class ProductProposalReviewForm(forms.ModelForm):
    """A proposal looked at (decided, or by a reviewer): only the message to the seller is typed."""

    class Meta:
        model = ProductProposal
        fields = ("review_message",)


PROPOSAL_DECISIONS = ("_approve", "_reject")


@admin.register(ProductProposal)
class ProductProposalAdmin(SellerScopedAdminMixin, ServiceErrorsAdminMixin, admin.ModelAdmin):
    """Sellers propose products the catalogue lacks (hidden until approved) and correct them while
    they wait; platform staff with the review permission approve (the product is published and the
    seller's offer sells) or reject with a reason. The seller is e-mailed either way."""

    form = ProductProposalForm
    change_form_template = "admin/marketplace/productproposal/change_form.html"
    list_display = ("created_at", "product_title", "seller", "category", "status", "reviewed_by")
    list_filter = ("status", ("seller", admin.RelatedOnlyFieldListFilter))
    search_fields = ("product__title", "seller__name", "offer__sku")
    list_select_related = ("product", "product__category", "seller", "reviewed_by")
    ordering = ("-created_at", "-id")
    actions = None

    ADD_FIELDS = ("seller", "title", "category", "brand", "description", "note", "sku", "price", "condition")
    EDIT_FIELDS = ("title", "category", "brand", "description", "note")
    INFO_FIELDS = ("status", "seller", "product_link", "offer", "proposed_by", "created_at", "reviewed_by",
                   "reviewed_at")

    @admin.display(description=_("product"), ordering="product__title")
    def product_title(self, obj: ProductProposal) -> str:
        return obj.product.title

    @admin.display(description=_("category"), ordering="product__category__name")
    def category(self, obj: ProductProposal) -> str:
        return obj.product.category.name

    @admin.display(description=_("product"))
    def product_link(self, obj: ProductProposal):
        url = reverse("admin:catalog_product_change", args=[obj.product_id])
        return format_html('<a href="{}">{}</a>', url, obj.product.title)

    def _reviewer(self, request) -> bool:
        return seller_scope(request) is None and request.user.has_perm("marketplace.review_productproposal")

    def _seller_editing(self, request, obj) -> bool:
        return (obj is not None and obj.status == ProductProposal.Status.PENDING and not self._reviewer(request)
                and super().has_change_permission(request, obj))

    def get_fields(self, request, obj=None):
        if obj is None:
            return self.ADD_FIELDS
        if self._seller_editing(request, obj):
            return (*self.INFO_FIELDS, *self.EDIT_FIELDS, "review_message")
        return (*self.INFO_FIELDS, "title", "category", "brand", "description", "note", "review_message")

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        readonly = [*self.INFO_FIELDS]
        if not self._seller_editing(request, obj):
            readonly += ["product_title", "category", "brand_name", "description_text", "note"]
        if not (self._reviewer(request) and obj.status == ProductProposal.Status.PENDING):
            readonly.append("review_message")
        return readonly

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is not None and not self._seller_editing(request, obj):
            # Looked at, not edited: the product's facts are shown read-only.
            kwargs["form"] = ProductProposalReviewForm
            kwargs["fields"] = [f for f in ("review_message",) if f not in self.get_readonly_fields(request, obj)]
        return super().get_form(request, obj, change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        fields = list(self.get_fields(request, obj))
        if obj is not None and not self._seller_editing(request, obj):
            fields = [{"title": "product_title", "brand": "brand_name", "description": "description_text"}.get(f, f)
                      for f in fields]
        return [(None, {"fields": fields})]

    @admin.display(description=_("brand"))
    def brand_name(self, obj: ProductProposal) -> str:
        return obj.product.brand.name if obj.product.brand_id else "-"

    @admin.display(description=_("description"))
    def description_text(self, obj: ProductProposal) -> str:
        return obj.product.description or "-"

    def has_change_permission(self, request, obj=None):
        if self._reviewer(request):
            return True
        return super().has_change_permission(request, obj)

    def has_view_permission(self, request, obj=None):
        return self._reviewer(request) or super().has_view_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False  # rejected proposals stay, with the reason

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["can_decide"] = (obj is not None and obj.status == ProductProposal.Status.PENDING
                                 and self._reviewer(request))
        return super().render_change_form(request, context, add, change, form_url, obj)

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if not change:
            proposal = services.product_propose(
                seller=data["seller"], actor=request.user, title=data["title"], category=data["category"],
                brand=data.get("brand"), description=data.get("description", ""), note=data.get("note", ""),
                sku=data.get("sku", ""), price=data.get("price"),
                condition=data.get("condition") or Offer.Condition.NEW)
            obj.pk, obj.product_id, obj.created_at = proposal.pk, proposal.product_id, proposal.created_at
            obj._state.adding = False
            return
        current = ProductProposal.objects.select_related("seller").get(pk=obj.pk)
        decision = next((key for key in PROPOSAL_DECISIONS if key in request.POST), None)
        if decision == "_approve":
            services.product_proposal_approve(proposal=current, actor=request.user,
                                              message=data.get("review_message", ""))
        elif decision == "_reject":
            services.product_proposal_reject(proposal=current, actor=request.user,
                                             reason=data.get("review_message", ""))
        elif self._seller_editing(request, current):
            services.product_proposal_update(
                proposal=current, actor=request.user, title=data["title"], category=data["category"],
                brand=data.get("brand"), description=data.get("description", ""), note=data.get("note", ""))
        else:
            raise ApplicationError(_("Approve or reject the proposal."))

    def save_related(self, request, form, formsets, change):
        """Nothing related is edited here."""
