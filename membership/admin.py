"""Membership admin: plans (edited through a service that refreshes cached benefits), and
subscriptions, read-only: their status changes only through actions that call the services."""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from core import cache as vcache
from core.admin import InvalidateAfterDeleteMixin, ReadOnlyAdminMixin, ReadOnlyInline, requires_permission
from core.exceptions import ApplicationError
from membership import selectors, services
from membership.models import Plan, Subscription, SubscriptionCharge, SubscriptionEvent


@admin.register(Plan)
class PlanAdmin(InvalidateAfterDeleteMixin, admin.ModelAdmin):
    list_display = ("name", "slug", "monthly_price", "annual_price", "currency", "trial_days", "free_shipping",
                    "fast_shipping", "member_prices", "member_deals", "is_active")
    list_filter = ("is_active",)
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = ("created_at",)

    def save_model(self, request, obj, form, change):
        services.plan_save(plan=obj)

    def after_delete(self) -> None:
        vcache.bump(selectors.PLANS_NAMESPACE)


class ChargeInline(ReadOnlyInline):
    model = SubscriptionCharge
    fields = ("created_at", "period_start", "period_end", "attempt", "amount", "currency", "status",
              "decline_message", "payment", "idempotency_key")
    readonly_fields = fields
    ordering = ("-created_at", "-id")


class EventInline(ReadOnlyInline):
    model = SubscriptionEvent
    fields = ("created_at", "from_status", "to_status", "note", "actor")
    readonly_fields = fields
    ordering = ("-created_at", "-id")


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = ("user", "plan", "interval", "status", "current_period_end", "failed_attempts",
                    "next_attempt_at", "grace_until", "created_at")
    list_select_related = ("user", "plan")
    list_filter = ("status", "plan", "interval", "current_period_end")
    search_fields = ("user__email", "user__full_name")
    date_hierarchy = "created_at"
    raw_id_fields = ("user",)
    inlines = (ChargeInline, EventInline)
    actions = ("cancel_at_period_end", "expire_now", "retry_renewal_now")
    fields = ("user", "plan", "interval", "status", "current_period_start", "current_period_end", "trial_end",
              "billing_anchor", "card_label", "payment_provider", "failed_attempts", "next_attempt_at",
              "grace_until", "cancelled_at", "ended_at", "created_at", "updated_at")

    def get_readonly_fields(self, request, obj=None):
        return self.fields  # every change goes through an action (and so through the services)

    def has_add_permission(self, request):
        return False  # customers join through the shop or the API (the card is checked there)

    def has_delete_permission(self, request, obj=None):
        return False  # keep the history; expire instead

    def _each(self, request, queryset, action, done_message) -> None:
        done = 0
        for subscription in queryset.select_related("plan", "user").order_by("pk"):
            try:
                note = action(subscription)
            except ApplicationError as exc:
                self.message_user(request, f"{subscription.user}: {exc.message}", messages.ERROR)
                continue
            done += 1
            if note:
                self.message_user(request, f"{subscription.user}: {note}", messages.INFO)
        if done:
            self.message_user(request, done_message % {"n": done}, messages.SUCCESS)

    has_cancel_subscription_permission = requires_permission("membership.cancel_subscription")
    has_expire_subscription_permission = requires_permission("membership.expire_subscription")
    has_retry_renewal_permission = requires_permission("membership.retry_renewal")

    @admin.action(description=_("Cancel at period end"), permissions=["cancel_subscription"])
    def cancel_at_period_end(self, request, queryset):
        def cancel(subscription):
            services.subscription_cancel(subscription=subscription, actor=request.user)

        self._each(request, queryset, cancel, _("%(n)d membership(s) cancelled."))

    @admin.action(description=_("Expire now (benefits stop at once)"), permissions=["expire_subscription"])
    def expire_now(self, request, queryset):
        def expire(subscription):
            services.subscription_expire(subscription=subscription, actor=request.user)

        self._each(request, queryset, expire, _("%(n)d membership(s) expired."))

    @admin.action(description=_("Retry the renewal payment now (charges the card)"), permissions=["retry_renewal"])
    def retry_renewal_now(self, request, queryset):
        def retry(subscription):
            outcome = services.subscription_retry_now(subscription=subscription, actor=request.user)
            return RENEWAL_OUTCOMES.get(outcome, outcome)

        self._each(request, queryset, retry, _("%(n)d renewal(s) run."))


RENEWAL_OUTCOMES = {
    services.PAID: _("paid"),
    services.DECLINED: _("declined again; the member was e-mailed"),
    services.EXPIRED: _("expired (nothing more was due)"),
    services.IN_PROGRESS: _("a payment is already in progress"),
    services.UNAVAILABLE: _("the payment provider could not be reached; try again later"),
    services.NOT_DUE: _("nothing was due"),
}


@admin.register(SubscriptionCharge)
class SubscriptionChargeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Every renewal attempt, for finance and support (read-only: charges are made by the renewals)."""

    list_display = ("created_at", "subscription", "period_start", "attempt", "amount", "currency", "status",
                    "decline_message")
    list_select_related = ("subscription__user", "subscription__plan")
    list_filter = ("status", "created_at")
    search_fields = ("subscription__user__email", "idempotency_key")
    date_hierarchy = "created_at"
    raw_id_fields = ("subscription", "payment")

