"""Insights: the event store, sessions, daily KPIs, experiment results and recommendations.

:class:`Event` is one shopper or server event (Segment's Ecommerce v2 names). On PostgreSQL its
table is partitioned by day on ``occurred_at`` (``insights_event_pYYYYMMDD`` plus a default
partition; ``insights.services.partitions_ensure`` / ``partitions_drop_older_than``): old days
are dropped whole, never deleted row by row. A partitioned table's primary key and unique keys must
contain the partition key, so the database's key is ``(id, occurred_at)`` and deduplication is
``UNIQUE (event_id, occurred_at)``, while Django's state keeps a plain ``id`` primary key (admin
and every queryset work as usual; ids come from one sequence, so they are unique anyway). The
migration writes the table by hand on PostgreSQL and lets Django create an ordinary one elsewhere
(SQLite, the embedded mode). Django 5.2's ``CompositePrimaryKey`` was the other option; its models
cannot be registered in the admin (5.2), which the event list needs.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Event(models.Model):
    class Channel(models.TextChoices):
        WEB = "web", _("Web")
        API = "api", _("API")

    class Device(models.TextChoices):
        DESKTOP = "desktop", _("Desktop")
        MOBILE = "mobile", _("Mobile")
        TABLET = "tablet", _("Tablet")
        OTHER = "other", _("Other")

    id = models.BigAutoField(primary_key=True)
    event_id = models.UUIDField(_("event id"), default=uuid.uuid4, editable=False)
    name = models.CharField(_("event"), max_length=64)
    occurred_at = models.DateTimeField(_("occurred"))
    received_at = models.DateTimeField(_("received"), default=timezone.now)
    visitor_id = models.CharField(_("visitor id"), max_length=36, blank=True, default="")
    # No foreign keys: users and sessions can be deleted, their events stay.
    user_id = models.BigIntegerField(_("user id"), null=True, blank=True)
    # Not filled: an event's session is the insights.Session of its unit (insights.sessions) whose
    # started_at..ended_at holds it. Sessionisation reads the events and never updates them (a whole
    # day rewritten, five indexes per row, cost more than the rest of the rollup); the column stays.
    session_id = models.UUIDField(_("session id"), null=True, blank=True)
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices, default=Channel.WEB)
    device = models.CharField(_("device"), max_length=8, choices=Device.choices, default=Device.OTHER)
    is_bot = models.BooleanField(_("bot"), default=False)
    properties = models.JSONField(_("properties"), default=dict, blank=True)

    class Meta:
        verbose_name = _("event")
        verbose_name_plural = _("events")
        ordering = ["-occurred_at"]
        constraints = [
            models.UniqueConstraint(fields=["event_id", "occurred_at"], name="insights_event_unique_event"),
        ]
        indexes = [
            models.Index(fields=["occurred_at"], name="insights_event_occurred"),
            models.Index(fields=["visitor_id", "occurred_at"], name="insights_event_visitor"),
            models.Index(fields=["name", "occurred_at"], name="insights_event_name"),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.occurred_at:%Y-%m-%d %H:%M:%S}"


class Cursor(models.Model):
    """How far a reader of another log got (one row per reader, e.g. ``domain_events``): moved
    in the same transaction as the rows it wrote, so a crash repeats nothing and skips nothing."""

    name = models.CharField(max_length=40, unique=True)
    last_id = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("cursor")
        verbose_name_plural = _("cursors")

    def __str__(self) -> str:
        return f"{self.name} @ {self.last_id}"


# --- recommendations (insights.recommend, computed nightly) --------------------------------------


class Recommendation(models.Model):
    """One stored recommendation: for ``product_id``, ``related_id`` at ``rank`` in the list of
    ``kind``. The nightly job replaces a kind's whole table in one transaction; pages read the lists
    through a versioned cache. Product ids without foreign keys: a deleted product leaves stale rows
    until the next run, and pages only ever show products that are still for sale."""

    class Kind(models.TextChoices):
        ALSO_BOUGHT = "also_bought", _("Customers who bought this also bought")
        BOUGHT_TOGETHER = "together", _("Frequently bought together")
        ALSO_VIEWED = "also_viewed", _("Customers who viewed this also viewed")
        CATEGORY_BEST = "category_best", _("Best sellers of the category")

    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    # The product the list is for; for CATEGORY_BEST, the category's id.
    product_id = models.BigIntegerField(_("for"))
    rank = models.PositiveSmallIntegerField(_("rank"))
    related_id = models.BigIntegerField(_("product"))
    score = models.FloatField(_("score"))
    computed_at = models.DateTimeField(_("computed"), default=timezone.now)

    class Meta:
        verbose_name = _("recommendation")
        verbose_name_plural = _("recommendations")
        ordering = ("kind", "product_id", "rank")
        constraints = [
            models.UniqueConstraint(fields=["kind", "product_id", "rank"], name="recommendation_rank_once"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.product_id} #{self.rank}: {self.related_id}"


# --- sessions and daily KPIs (insights.sessions, insights.rollups) ------------------------------
# Written by sessionisation and the day rollup, always a whole day at a time (delete and insert the
# day in one transaction), so every row here can be rebuilt from the event store for any day kept.


class Session(models.Model):
    """One visit: a unit's events of one UTC day with at most ``INSIGHTS_SESSION_TIMEOUT_MINUTES``
    between consecutive ones (definitions in ``insights.sessions``). The id is a uuid3 of the unit
    and the start, so rebuilding a day gives the same ids. An event belongs to the session of its
    unit (the unit rule is in ``insights.sessions``) whose ``started_at``..``ended_at`` holds it;
    ``Event.session_id`` is not filled."""

    id = models.UUIDField(primary_key=True, editable=False)
    day = models.DateField(_("day"))
    unit = models.CharField(_("unit"), max_length=48)  # the visitor id, or "user:<id>"
    visitor_id = models.CharField(_("visitor id"), max_length=36, blank=True, default="")
    user_id = models.BigIntegerField(_("user id"), null=True, blank=True)  # the last known in the session
    started_at = models.DateTimeField(_("started"))
    ended_at = models.DateTimeField(_("ended"))
    device = models.CharField(_("device"), max_length=8, choices=Event.Device.choices)
    channel = models.CharField(_("channel"), max_length=8, choices=Event.Channel.choices)
    events = models.PositiveIntegerField(_("events"), default=0)
    pages = models.PositiveIntegerField(_("pages"), default=0)
    is_bounce = models.BooleanField(_("bounce"), default=False)
    reached_list = models.BooleanField(_("saw a list"), default=False)
    reached_product = models.BooleanField(_("saw a product"), default=False)
    reached_cart = models.BooleanField(_("reached the cart"), default=False)
    reached_checkout = models.BooleanField(_("reached checkout"), default=False)
    reached_order = models.BooleanField(_("ordered"), default=False)
    added_to_cart = models.BooleanField(_("added to cart"), default=False)
    product_views = models.PositiveIntegerField(_("product views"), default=0)
    orders = models.PositiveIntegerField(_("orders"), default=0)
    items = models.PositiveIntegerField(_("items"), default=0)
    revenue = models.DecimalField(_("revenue"), max_digits=14, decimal_places=2, default=0)

    class Meta:
        verbose_name = _("session")
        verbose_name_plural = _("sessions")
        ordering = ("day", "started_at")
        indexes = [models.Index(fields=["day", "started_at"], name="insights_session_day")]

    def __str__(self) -> str:
        return f"{self.unit} {self.started_at:%Y-%m-%d %H:%M}"


class DailyMetric(models.Model):
    """The sums of one day for one slice (``dimension`` = ``value``): everything a KPI is computed
    from. Ratios are never stored: they are computed when read, from the sums of the range asked
    for (``insights.rollups``), so any range aggregates correctly."""

    class Dimension(models.TextChoices):
        ALL = "all", _("All")
        DEVICE = "device", _("Device")
        CHANNEL = "channel", _("Channel")
        CATEGORY = "category", _("Category")
        SELLER = "seller", _("Seller")

    day = models.DateField(_("day"))
    dimension = models.CharField(_("dimension"), max_length=8, choices=Dimension.choices)
    value = models.CharField(_("value"), max_length=120, blank=True, default="")  # "" for all
    sessions = models.PositiveIntegerField(default=0)
    visitors = models.PositiveIntegerField(default=0)
    bounces = models.PositiveIntegerField(default=0)
    sessions_list = models.PositiveIntegerField(default=0)
    sessions_product = models.PositiveIntegerField(default=0)
    sessions_cart = models.PositiveIntegerField(default=0)
    sessions_checkout = models.PositiveIntegerField(default=0)
    sessions_order = models.PositiveIntegerField(default=0)
    cart_sessions = models.PositiveIntegerField(default=0)  # sessions with a cart add
    orders = models.PositiveIntegerField(default=0)
    revenue = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    items = models.PositiveIntegerField(default=0)
    product_views = models.PositiveIntegerField(default=0)
    featured_views = models.PositiveIntegerField(default=0)  # sellers: views where their offer was featured
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("dashboard")
        verbose_name_plural = _("dashboard")
        ordering = ("day", "dimension", "value")
        constraints = [
            models.UniqueConstraint(fields=["day", "dimension", "value"], name="insights_dailymetric_once"),
        ]
        indexes = [models.Index(fields=["dimension", "value", "day"], name="insights_dailymetric_slice")]

    def __str__(self) -> str:
        return f"{self.day} {self.dimension}={self.value}"


class DailySearch(models.Model):
    """Searches of one day by normalised query (lower case, trimmed, inner spaces collapsed)."""

    day = models.DateField(_("day"))
    query = models.CharField(_("query"), max_length=200)
    searches = models.PositiveIntegerField(_("searches"), default=0)
    zero_results = models.PositiveIntegerField(_("with no results"), default=0)

    class Meta:
        verbose_name = _("daily search")
        verbose_name_plural = _("daily searches")
        ordering = ("day", "-searches")
        constraints = [models.UniqueConstraint(fields=["day", "query"], name="insights_dailysearch_once")]

    def __str__(self) -> str:
        return f"{self.day} {self.query!r}"


# --- end of sessions and daily KPIs --------------------------------------------------------------
