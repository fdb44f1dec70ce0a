"""Payments admin: read-only records with capture / refund actions that call the services; store
credit (read only, adjusted with a reason) and gift cards (issued with the code shown once, voided)."""

from __future__ import annotations

import uuid

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from core.admin import ReadOnlyAdminMixin, ReadOnlyInline, money_column, requires_permission
from core.exceptions import ApplicationError
from core.forms import add_service_errors
from core.money import format_money
from payments import gift_cards, selectors, services, store_credit
from payments.forms import GiftCardIssueForm, GiftCardVoidForm, StoreCreditAdjustForm
from payments.models import (
    GiftCard,
    GiftCardEntry,
    Payment,
    Refund,
    StoreCreditAccount,
    StoreCreditEntry,
    WebhookEvent,
)


class RefundInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Refund
    fields = ("amount", "status", "reason", "provider_reference", "message", "created_at")
    readonly_fields = fields
    extra = 0


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("reference", "provider", "status", "amount_display", "captured_display", "refunded_display",
                    "created_at")
    list_filter = ("status", "provider")
    search_fields = ("reference", "provider_reference", "idempotency_key")
    date_hierarchy = "created_at"
    ordering = ("-id",)
    inlines = (RefundInline,)
    actions = ("capture", "refund_in_full")
    fields = (
        "reference", "provider", "provider_reference", "status", "amount", "currency", "captured_amount",
        "refunded_amount", "decline_code", "message", "idempotency_key", "created_at", "updated_at",
    )
    readonly_fields = fields

    @admin.display(description=_("amount"), ordering="amount")
    def amount_display(self, obj: Payment) -> str:
        return format_money(obj.amount, obj.currency)

    @admin.display(description=_("captured"), ordering="captured_amount")
    def captured_display(self, obj: Payment) -> str:
        return format_money(obj.captured_amount, obj.currency)

    @admin.display(description=_("refunded"), ordering="refunded_amount")
    def refunded_display(self, obj: Payment) -> str:
        return format_money(obj.refunded_amount, obj.currency)

    def _run(self, request, queryset, action, done_message) -> None:
        done = 0
        for payment in queryset.order_by("id"):
            try:
                action(payment)
                done += 1
            except ApplicationError as exc:
                self.message_user(request, f"{payment.reference}: {exc.message}", level=messages.ERROR)
        if done:
            self.message_user(request, done_message(done), level=messages.SUCCESS)

    has_capture_payment_permission = requires_permission("payments.capture_payment")
    has_refund_payment_permission = requires_permission("payments.refund_payment")

    @admin.action(description=_("Capture selected payments"), permissions=["capture_payment"])
    def capture(self, request, queryset):
        self._run(
            request, queryset, lambda p: services.payment_capture(payment=p),
            lambda n: ngettext("Captured %(n)d payment.", "Captured %(n)d payments.", n) % {"n": n},
        )

    @admin.action(description=_("Refund selected payments in full"), permissions=["refund_payment"])
    def refund_in_full(self, request, queryset):
        def refund(payment: Payment) -> None:
            services.payment_refund(
                payment=payment,
                amount=payment.refundable_amount,
                reason=_("Refunded in full by %(user)s in admin") % {"user": request.user},
                idempotency_key=f"admin-refund:{payment.pk}:{uuid.uuid4()}",
            )

        self._run(
            request, queryset, refund,
            lambda n: ngettext("Refunded %(n)d payment.", "Refunded %(n)d payments.", n) % {"n": n},
        )


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("event_id", "provider", "type", "reference", "received_at", "processed_at")
    list_filter = ("provider", "type")
    search_fields = ("event_id", "reference")
    date_hierarchy = "received_at"
    fields = ("provider", "event_id", "type", "reference", "payload", "received_at", "processed_at")
    readonly_fields = fields


# --- store credit ------------------------------------------------------------------------------


def _form_page(admin_obj, request, template: str, title: str, context: dict, status: int = 200) -> TemplateResponse:
    response = TemplateResponse(request, template, {
        **admin_obj.admin_site.each_context(request), "opts": admin_obj.opts, "title": title, **context}, status=status)
    add_never_cache_headers(response)
    return response


@admin.register(StoreCreditAccount)
class StoreCreditAccountAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Customers' store credit, read only: every change is a ledger entry posted by a service; staff
    holding ``payments.adjust_store_credit`` add or take credit with a reason (Adjust)."""

    list_display = ("user", "currency", "balance_display", "updated_at")
    list_select_related = ("user",)
    list_filter = ("currency",)
    search_fields = ("user__email",)
    ordering = ("-updated_at",)
    fields = ("user", "currency", "balance_display", "created_at", "updated_at", "history")
    readonly_fields = fields
    change_form_template = "admin/payments/storecreditaccount/change_form.html"
    change_list_template = "admin/payments/storecreditaccount/change_list.html"
    HISTORY_ROWS = 50

    @admin.display(description=_("balance"), ordering="balance")
    def balance_display(self, obj: StoreCreditAccount) -> str:
        return money_column(obj.balance, obj.currency)

    @admin.display(description=_("latest entries"))
    def history(self, obj: StoreCreditAccount) -> str:
        entries = list(selectors.store_credit_account_entries(account_id=obj.pk)[:self.HISTORY_ROWS])
        rows = format_html_join(
            "", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((date_format(timezone.localtime(e.created_at), "SHORT_DATETIME_FORMAT"), e.get_kind_display(),
              money_column(e.amount, obj.currency), money_column(e.balance_after, obj.currency), e.reference,
              e.note or e.description, e.created_by or "") for e in entries),
        )
        link = reverse("admin:payments_storecreditentry_changelist") + f"?account__id__exact={obj.pk}"
        return format_html(
            '<table><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>'
            '</thead><tbody>{}</tbody></table><p><a href="{}">{}</a></p>',
            _("posted"), _("kind"), _("amount"), _("balance after"), _("reference"), _("note"), _("by"),
            rows, link, _("All entries"))

    def get_urls(self):
        return [
            path("adjust/", self.admin_site.admin_view(self.adjust_view), name="payments_storecreditaccount_adjust"),
            *super().get_urls(),
        ]

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["can_adjust"] = request.user.has_perm(store_credit.ADJUST_PERMISSION)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def changelist_view(self, request, extra_context=None):
        can_adjust = request.user.has_perm(store_credit.ADJUST_PERMISSION)
        return super().changelist_view(request, {**(extra_context or {}), "can_adjust": can_adjust})

    def adjust_view(self, request):
        """Add or take a customer's store credit, with a reason (``payments.adjust_store_credit``)."""
        if not request.user.has_perm(store_credit.ADJUST_PERMISSION):
            raise DjangoPermissionDenied
        account_id = request.GET.get("account", "")
        account = (self.get_queryset(request).select_related("user").filter(pk=account_id).first()
                   if account_id.isdigit() else None)
        initial = {"email": account.user.email, "currency": account.currency} if account is not None else {}
        form = StoreCreditAdjustForm(request.POST or None, initial=initial)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                entry = services.store_credit_adjust(
                    user=form.user, amount=data["amount"], reason=data["reason"], actor=request.user,
                    currency=data["currency"], key=data["adjust_key"])
            except ApplicationError as exc:
                add_service_errors(form, exc)
            else:
                currency = entry.account.currency
                self.message_user(request, _("Store credit of %(email)s adjusted by %(amount)s: %(balance)s now.") % {
                    "email": form.user.email, "amount": money_column(entry.amount, currency),
                    "balance": money_column(entry.balance_after, currency)}, messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:payments_storecreditaccount_change",
                                                    args=[entry.account_id]))
        return _form_page(self, request, "admin/payments/storecreditaccount/adjust.html", _("Adjust store credit"),
                          {"form": form}, status=400 if form.errors else 200)


@admin.register(StoreCreditEntry)
class StoreCreditEntryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The store credit ledger, read only (append-only in the database too)."""

    list_display = ("created_at", "customer", "kind", "amount_display", "balance_after_display", "reference",
                    "created_by")
    list_select_related = ("account__user", "created_by")
    list_filter = ("kind", "account__currency")
    search_fields = ("reference", "account__user__email")
    date_hierarchy = "created_at"
    show_full_result_count = False
    fields = ("account", "kind", "amount", "balance_after", "reference", "description", "note", "created_by",
              "created_at")
    readonly_fields = fields

    @admin.display(description=_("customer"), ordering="account__user__email")
    def customer(self, obj: StoreCreditEntry) -> str:
        return obj.account.user.email

    @admin.display(description=_("amount"), ordering="amount")
    def amount_display(self, obj: StoreCreditEntry) -> str:
        return money_column(obj.amount, obj.account.currency)

    @admin.display(description=_("balance after"))
    def balance_after_display(self, obj: StoreCreditEntry) -> str:
        return money_column(obj.balance_after, obj.account.currency)


# --- gift cards --------------------------------------------------------------------------------


class GiftCardEntryInline(ReadOnlyInline):
    model = GiftCardEntry
    fields = ("created_at", "kind", "amount", "balance_after", "reference", "note", "created_by")
    readonly_fields = fields


@admin.register(GiftCard)
class GiftCardAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Gift cards, read only. The code is never shown (it is not stored): the last four characters
    are; searching for a whole code finds its card. Staff with ``payments.issue_gift_card`` issue
    cards (the code is shown once, on the next page); with ``payments.void_gift_card`` they void one."""

    list_display = ("__str__", "status", "balance_display", "initial_display", "recipient_email", "deliver_on",
                    "delivered_at", "created_at")
    list_filter = ("status", "currency", ("delivered_at", admin.EmptyFieldListFilter))
    search_fields = ("last4", "recipient_email", "reference")
    date_hierarchy = "created_at"
    show_full_result_count = False
    fields = ("card", "status", "currency", "initial_amount", "balance", "recipient_name", "recipient_email",
              "sender_name", "message", "deliver_on", "delivered_at", "delivery_pending", "purchaser", "issued_by",
              "reference", "redeemed_by", "redeemed_at", "voided_at", "created_at")
    readonly_fields = fields
    inlines = (GiftCardEntryInline,)
    change_form_template = "admin/payments/giftcard/change_form.html"
    change_list_template = "admin/payments/giftcard/change_list.html"

    @admin.display(description=_("gift card"))
    def card(self, obj: GiftCard) -> str:
        return str(obj)

    @admin.display(description=_("balance"), ordering="balance")
    def balance_display(self, obj: GiftCard) -> str:
        return money_column(obj.balance, obj.currency)

    @admin.display(description=_("initial amount"), ordering="initial_amount")
    def initial_display(self, obj: GiftCard) -> str:
        return money_column(obj.initial_amount, obj.currency)

    @admin.display(description=_("e-mail pending"), boolean=True)
    def delivery_pending(self, obj: GiftCard) -> bool:
        return bool(obj.delivery_seed)

    def get_search_results(self, request, queryset, search_term):
        """A whole code finds its card (by its hash); anything else searches as usual."""
        hashes = gift_cards.code_hashes(search_term)
        if hashes:
            return queryset.filter(code_hash__in=hashes), False
        return super().get_search_results(request, queryset, search_term)

    def get_urls(self):
        return [
            path("issue/", self.admin_site.admin_view(self.issue_view), name="payments_giftcard_issue"),
            path("<int:pk>/void/", self.admin_site.admin_view(self.void_view), name="payments_giftcard_void"),
            *super().get_urls(),
        ]

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["can_void"] = (obj is not None and obj.status == GiftCard.Status.ACTIVE
                               and request.user.has_perm(gift_cards.VOID_PERMISSION))
        context["void_form"] = GiftCardVoidForm()
        return super().render_change_form(request, context, add, change, form_url, obj)

    def changelist_view(self, request, extra_context=None):
        can_issue = request.user.has_perm(gift_cards.ISSUE_PERMISSION)
        return super().changelist_view(request, {**(extra_context or {}), "can_issue": can_issue})

    def issue_view(self, request):
        """Issue a card (``payments.issue_gift_card``); its code is shown on the answer, once."""
        if not request.user.has_perm(gift_cards.ISSUE_PERMISSION):
            raise DjangoPermissionDenied
        form = GiftCardIssueForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                card, code = services.gift_card_issue(
                    amount=data["amount"], recipient_email=data["recipient_email"],
                    recipient_name=data["recipient_name"], sender_name=data["sender_name"], message=data["message"],
                    deliver_on=data["deliver_on"], issued_by=request.user, reference=f"admin:{data['issue_key']}")
            except ApplicationError as exc:
                add_service_errors(form, exc)
            else:
                if code is None:  # the same form sent twice: the card exists, its code was shown the first time
                    self.message_user(request, _("This form was already sent: the gift card was issued then, and "
                                                 "its code shown once."), messages.WARNING)
                    return HttpResponseRedirect(reverse("admin:payments_giftcard_change", args=[card.pk]))
                return _form_page(self, request, "admin/payments/giftcard/issued.html", _("Gift card issued"),
                                  {"card": card, "code": code})
        return _form_page(self, request, "admin/payments/giftcard/issue.html", _("Issue a gift card"),
                          {"form": form}, status=400 if form.errors else 200)

    def void_view(self, request, pk: int):
        """Void a card (POST, ``payments.void_gift_card``)."""
        if request.method != "POST" or not request.user.has_perm(gift_cards.VOID_PERMISSION):
            raise DjangoPermissionDenied
        form = GiftCardVoidForm(request.POST)
        reason = form.cleaned_data["reason"] if form.is_valid() else ""
        try:
            card = services.gift_card_void(card_id=pk, actor=request.user, reason=reason)
        except ApplicationError as exc:
            self.message_user(request, exc.message, messages.ERROR)
        else:
            self.message_user(request, _("Gift card %(card)s voided.") % {"card": card}, messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:payments_giftcard_change", args=[pk]))
