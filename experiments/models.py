"""Experiments: A/B tests defined in admin, their variants and weights, and an append-only history.

Which variant a visitor sees is decided by :mod:`experiments.selectors` (a hash, no table); what
each variant achieved is computed by ``insights.experiment_results`` from the event store. This app
only keeps the definitions, so that assignment can be called from any page or service (it sits
beside accounts and catalog, layer 2).
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Experiment(models.Model):
    class Audience(models.TextChoices):
        EVERYONE = "everyone", _("Everyone")
        MEMBERS = "members", _("Members")
        NEW_VISITORS = "new_visitors", _("New visitors (first seen after the start)")

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        RUNNING = "running", _("Running")
        STOPPED = "stopped", _("Stopped")

    key = models.SlugField(_("key"), max_length=80, unique=True,
                           help_text=_("Used in code and templates: variant(request, \"key\"). Never reuse one."))
    name = models.CharField(_("name"), max_length=120)
    hypothesis = models.TextField(_("hypothesis"), blank=True,
                                  help_text=_("What you expect to change, and by how much, decided before the start."))
    audience = models.CharField(_("audience"), max_length=16, choices=Audience.choices, default=Audience.EVERYONE)
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.DRAFT, editable=False)
    starts_at = models.DateTimeField(_("scheduled start"), null=True, blank=True,
                                     help_text=_("A draft starts by itself at this time (checked every minute)."))
    stops_at = models.DateTimeField(_("scheduled stop"), null=True, blank=True,
                                    help_text=_("A running experiment stops by itself at this time."))
    started_at = models.DateTimeField(_("started"), null=True, blank=True, editable=False)
    stopped_at = models.DateTimeField(_("stopped"), null=True, blank=True, editable=False)
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("experiment")
        verbose_name_plural = _("experiments")
        ordering = ("-created_at", "-id")
        constraints = [
            models.CheckConstraint(condition=Q(stops_at__isnull=True) | Q(starts_at__isnull=True)
                                   | Q(stops_at__gt=models.F("starts_at")), name="experiment_stop_after_start"),
            models.CheckConstraint(condition=~Q(status="running") | Q(started_at__isnull=False),
                                   name="experiment_running_has_started_at"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.key})"

    @property
    def is_running(self) -> bool:
        return self.status == self.Status.RUNNING


class Variant(models.Model):
    """One arm of an experiment. The first by position is the control; ``weight`` is its share of
    the traffic relative to the others (1:1, 50:50 and 3:3 are the same split)."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="variants")
    key = models.SlugField(_("key"), max_length=40)
    name = models.CharField(_("name"), max_length=80)
    weight = models.PositiveIntegerField(_("weight"), default=1, validators=[MinValueValidator(1)])
    position = models.PositiveSmallIntegerField(_("position"), default=0,
                                                help_text=_("The first variant is the control."))

    class Meta:
        verbose_name = _("variant")
        verbose_name_plural = _("variants")
        ordering = ("position", "id")
        constraints = [
            models.UniqueConstraint(fields=["experiment", "key"], name="variant_key_once"),
            models.CheckConstraint(condition=Q(weight__gt=0), name="variant_weight_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.key})"


class ExperimentChange(models.Model):
    """What happened to an experiment, who did it and when: append-only (nothing is silent)."""

    class Kind(models.TextChoices):
        CREATED = "created", _("Created")
        STARTED = "started", _("Started")
        STOPPED = "stopped", _("Stopped")
        WEIGHTS_CHANGED = "weights", _("Weights changed")

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="changes")
    kind = models.CharField(_("what"), max_length=8, choices=Kind.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                              related_name="+", verbose_name=_("who"))
    created_at = models.DateTimeField(_("when"), default=timezone.now, editable=False)
    before = models.JSONField(_("from"), default=dict, blank=True)
    after = models.JSONField(_("to"), default=dict, blank=True)
    note = models.CharField(_("note"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("experiment change")
        verbose_name_plural = _("experiment changes")
        ordering = ("created_at", "id")

    def __str__(self) -> str:
        return f"{self.experiment_id} {self.kind} {self.created_at:%Y-%m-%d %H:%M}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding:
            raise ValueError("experiment changes are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("experiment changes are append-only")
