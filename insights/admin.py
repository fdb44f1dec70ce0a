"""Insights admin: the event store, read only (nobody adds, edits or deletes an event by hand)."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from core.admin import ReadOnlyAdminMixin
from insights import admin_experiments, events
from insights.models import Event


class NameFilter(admin.SimpleListFilter):
    """The known event names (a DISTINCT over the whole table would read every partition)."""

    title = _("event")
    parameter_name = "name"

    def lookups(self, request, model_admin):
        return [(name, name) for name in events.ALL_EVENTS]

    def queryset(self, request, queryset):
        return queryset.filter(name=self.value()) if self.value() else queryset


@admin.register(Event)
class EventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Shopper and server events as stored (staff with the view permission). A big, partitioned
    table: no count of all rows, filters on indexed columns, a date hierarchy on the partition key."""

    list_display = ("occurred_at", "name", "visitor_id", "user_id", "channel", "device", "is_bot")
    list_filter = (NameFilter, "channel", "device", "is_bot")
    date_hierarchy = "occurred_at"
    search_fields = ("=visitor_id", "=event_id")
    readonly_fields = ("event_id", "name", "occurred_at", "received_at", "visitor_id", "user_id", "session_id",
                       "channel", "device", "is_bot", "properties")
    show_full_result_count = False
    list_per_page = 100


admin_experiments.install(admin.site)  # --- Experiments: the results page (insights/admin_experiments.py)

# --- Insights: the KPI dashboard (insights/admin_dashboard.py) ----------------------------------
from insights import admin_dashboard  # noqa: E402 - after this module's own registrations

admin_dashboard.install(admin.site)
# --- end of the KPI dashboard --------------------------------------------------------------------
