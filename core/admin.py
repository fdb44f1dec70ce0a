"""Admin helpers shared by every app."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django.utils.translation import gettext_lazy as _

from core.exceptions import ApplicationError
from core.models import DomainEvent, OutboxMessage
from core.money import format_money


def requires_permission(perm: str):
    """The ``has_<name>_permission`` method behind an admin action declared with
    ``@admin.action(permissions=["<name>"])``: only users holding ``perm`` ("app_label.codename")
    see the action, and Django refuses a forged POST naming it (the action is not in the list).

        has_refund_order_permission = requires_permission("orders.refund_order")
    """

    def has_permission(self, request, obj=None) -> bool:
        return request.user.has_perm(perm)

    has_permission.__doc__ = f"Whether the user holds {perm}."
    return has_permission


def service_error_message(exc: ApplicationError | ValidationError) -> str:
    """What a refusing service said, as one line for an admin message."""
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    return exc.message


class ServiceErrorsAdminMixin:
    """Forms check what they can; a service that still refuses (a race, say) rolls the whole save
    back and shows its message on the form page again instead of a server error."""

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except (ApplicationError, ValidationError) as exc:
            self.message_user(request, service_error_message(exc), level=messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())


def money_column(amount, currency: str | None = None) -> str:
    """An amount in a change list: formatted with its currency, or "-" when there is none."""
    return format_money(amount, currency) if amount is not None else "-"


class InvalidateAfterDeleteMixin:
    """Call ``after_delete()`` (e.g. a cache bump) after a row or a selection is deleted in admin.

    Saving goes through each admin's own service call, which invalidates by itself.
    """

    def after_delete(self) -> None:  # pragma: no cover - every user overrides it
        raise NotImplementedError

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        self.after_delete()

    def delete_queryset(self, request, queryset):
        super().delete_queryset(request, queryset)
        self.after_delete()


class ReadOnlyAdminMixin:
    """A record nobody adds, edits or deletes by hand in admin (ledgers, computed rows, history):
    it can only be looked at. Put it before ``admin.ModelAdmin`` in the bases."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyInline(ReadOnlyAdminMixin, admin.TabularInline):
    """Rows shown under their parent for reading only (charges, events, packages...)."""

    extra = 0
    can_delete = False


@admin.register(DomainEvent)
class DomainEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The event log: what happened to which aggregate, in order (read only; kept
    EVENT_RETENTION_DAYS; ``manage.py events_replay`` hands events to their consumers again)."""

    list_display = ("id", "name", "aggregate", "aggregate_id", "occurred_at")
    list_filter = ("name", "aggregate")
    search_fields = ("=aggregate_id", "name")
    fields = ("name", "aggregate", "aggregate_id", "payload", "occurred_at")
    show_full_result_count = False


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Celery tasks handed over after their transaction committed: waiting ones (the broker was
    down) and, for the retention period, sent ones. Only looked at; the sweeper sends them."""

    list_display = ("id", "task_name", "created_at", "sent_at", "attempts", "last_error_short")
    list_filter = (("sent_at", admin.EmptyFieldListFilter), "task_name")
    search_fields = ("task_name",)
    fields = ("task_name", "args", "kwargs", "created_at", "available_at", "sent_at", "attempts", "last_error")
    show_full_result_count = False

    @admin.display(description=_("last error"))
    def last_error_short(self, obj: OutboxMessage) -> str:
        return obj.last_error[:80]
