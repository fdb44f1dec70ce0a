"""Experiments admin: definitions with their variants, start and stop actions, the history.

Only staff with ``experiments.change_experiment`` act (the actions declare it; a forged POST by a
view-only member is refused by Django). While an experiment runs its variants are read only (the
weights rule, :mod:`experiments.services`); every start, stop and weights change is recorded in the
history shown under it. The results page belongs to insights; its link is found by URL name.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from core.admin import ReadOnlyInline, ServiceErrorsAdminMixin, requires_permission
from core.exceptions import ApplicationError
from experiments import services
from experiments.models import Experiment, ExperimentChange, Variant

RESULTS_URL_NAME = "admin:insights_experiment_results"


class VariantInline(admin.TabularInline):
    model = Variant
    fields = ("position", "key", "name", "weight")
    extra = 0
    min_num = 2
    ordering = ("position", "id")

    # Variants are part of their experiment: the experiment's permissions govern them, and nobody
    # edits them while it runs (the weights rule).
    def _editable(self, request, obj) -> bool:
        return (obj is None or not obj.is_running) and request.user.has_perm("experiments.change_experiment")

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("experiments.view_experiment") or self._editable(request, obj)

    def has_add_permission(self, request, obj=None):
        return self._editable(request, obj)

    def has_change_permission(self, request, obj=None):
        return self._editable(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._editable(request, obj)


class ChangeInline(ReadOnlyInline):
    model = ExperimentChange
    fields = ("created_at", "kind", "actor", "before", "after", "note")
    readonly_fields = fields
    ordering = ("-created_at", "-id")
    verbose_name_plural = _("history (append-only)")

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("experiments.view_experiment")


@admin.register(Experiment)
class ExperimentAdmin(ServiceErrorsAdminMixin, admin.ModelAdmin):
    list_display = ("name", "key", "status", "audience", "started_at", "stopped_at", "starts_at", "stops_at",
                    "results_link")
    list_filter = ("status", "audience")
    search_fields = ("key", "name")
    inlines = (VariantInline, ChangeInline)
    actions = ("start_experiments", "stop_experiments")
    fields = ("key", "name", "hypothesis", "audience", "starts_at", "stops_at", "status", "started_at",
              "stopped_at", "results_link")

    def get_readonly_fields(self, request, obj=None):
        fixed = ["status", "started_at", "stopped_at", "results_link"]
        if obj is not None and obj.started_at is not None:
            fixed.append("key")  # events carry the key: renaming it would orphan them
        if obj is not None and obj.is_running:
            fixed.append("audience")  # who is in the experiment cannot change mid-run either
        return fixed

    def get_prepopulated_fields(self, request, obj=None):
        return {"key": ("name",)} if obj is None or obj.started_at is None else {}

    def has_delete_permission(self, request, obj=None):
        # an experiment that ran has results: stop it, do not delete it
        return super().has_delete_permission(request, obj) and (obj is None or obj.started_at is None)

    @admin.display(description=_("results"))
    def results_link(self, obj: Experiment) -> str:
        if obj is None or obj.pk is None:
            return "-"
        try:
            url = reverse(RESULTS_URL_NAME, args=[obj.pk])
        except NoReverseMatch:
            return "-"
        return format_html('<a href="{}">{}</a>', url, _("Results"))

    # --- saving: variants through the weights rule, every change recorded ---------------------------

    def save_related(self, request, form, formsets, change):
        experiment = form.instance
        before = {v.key: v.weight for v in Variant.objects.filter(experiment=experiment)} if change else None
        super().save_related(request, form, formsets, change)
        if before is None:
            services.experiment_created(experiment=experiment, actor=request.user)
        else:
            services.variants_edited(experiment=experiment, before=before, actor=request.user)

    # --- actions ------------------------------------------------------------------------------------

    has_change_experiment_permission = requires_permission("experiments.change_experiment")

    def _each(self, request, queryset, action, done_message) -> None:
        done = 0
        for experiment in queryset.order_by("pk"):
            try:
                action(experiment)
            except ApplicationError as exc:
                self.message_user(request, f"{experiment.name}: {exc.message}", messages.ERROR)
                continue
            done += 1
        if done:
            self.message_user(request, done_message % {"n": done}, messages.SUCCESS)

    @admin.action(description=_("Start the selected experiments"), permissions=["change_experiment"])
    def start_experiments(self, request, queryset):
        self._each(request, queryset, lambda e: services.experiment_start(experiment=e, actor=request.user),
                   _("%(n)d experiment(s) started."))

    @admin.action(description=_("Stop the selected experiments"), permissions=["change_experiment"])
    def stop_experiments(self, request, queryset):
        self._each(request, queryset, lambda e: services.experiment_stop(experiment=e, actor=request.user),
                   _("%(n)d experiment(s) stopped."))
