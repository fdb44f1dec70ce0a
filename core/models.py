"""Core tables: the outbox of Celery tasks waiting to be handed to the broker."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class OutboxMessage(models.Model):
    """One Celery task to run after the transaction that wrote this row commits (see core.outbox).

    Written in the caller's transaction, so it exists exactly when the work it stands for was
    committed. ``sent_at`` is set once the broker accepted it; until then the sweeper retries it.
    ``available_at`` is when a sweeper may take it next: a little after it was written (the
    process that wrote it sends it first), or after a sender's lease or a back-off ran out.
    """

    task_name = models.CharField(_("task"), max_length=200)
    args = models.JSONField(_("arguments"), default=list, blank=True)
    kwargs = models.JSONField(_("keyword arguments"), default=dict, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    available_at = models.DateTimeField(_("available to the sweeper at"), default=timezone.now)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    attempts = models.PositiveIntegerField(_("failed attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)

    class Meta:
        verbose_name = _("outbox message")
        verbose_name_plural = _("outbox messages")
        ordering = ["-id"]
        indexes = [
            # The sweeper reads unsent rows in id order; sent rows (nearly all of them) stay out.
            models.Index(fields=["id"], condition=Q(sent_at__isnull=True), name="core_outbox_unsent"),
            # Sent rows are deleted after the retention period.
            models.Index(fields=["sent_at"], condition=Q(sent_at__isnull=False), name="core_outbox_sent"),
        ]

    def __str__(self) -> str:
        return f"{self.task_name} #{self.pk}"


class DomainEvent(models.Model):
    """A fact a context recorded about one of its aggregates (an order placed, a payment
    authorized), written in the same transaction as the change it describes, so it exists
    exactly when the change was committed (see :mod:`core.events`).

    The log is what consumers, analytics and outbound webhooks read: ordered (the id is the global
    order; within one aggregate it is the order of its changes, which their writers serialise with
    the aggregate's row lock or conditional update), replayable (``manage.py events_replay``), and
    kept ``EVENT_RETENTION_DAYS``.
    """

    name = models.CharField(_("event"), max_length=100, db_index=True)
    aggregate = models.CharField(_("aggregate"), max_length=40)
    aggregate_id = models.CharField(_("aggregate id"), max_length=64, blank=True)
    payload = models.JSONField(_("payload"), default=dict, blank=True)
    occurred_at = models.DateTimeField(_("occurred"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("domain event")
        verbose_name_plural = _("domain events")
        ordering = ["-id"]
        indexes = [models.Index(fields=["aggregate", "aggregate_id", "id"], name="core_event_per_aggregate")]

    def __str__(self) -> str:
        return f"{self.name} {self.aggregate}:{self.aggregate_id} #{self.pk}"
