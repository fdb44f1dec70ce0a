"""Payments admin: read-only records with capture / refund actions that call the services."""

from __future__ import annotations

import uuid

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from core.admin import ReadOnlyAdminMixin, requires_permission
from core.exceptions import ApplicationError
from core.money import format_money
from payments import services
from payments.models import Payment, Refund, WebhookEvent


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
