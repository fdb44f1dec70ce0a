"""The analytics export: the event store and the KPIs as Parquet files, for DuckDB, Spark or Trino.

``manage.py export_lake`` (and the nightly beat task) writes three zones under ``LAKE_ROOT``, one
directory per UTC day in Hive style (``date=YYYY-MM-DD``), so engines discover the partitions by
themselves (``read_parquet('lake/clean/events/*/*.parquet', hive_partitioning=true)``)::

    raw/events/date=2026-11-03/part-0.parquet            every stored event, as stored (bots, copies)
    clean/events/date=2026-11-03/part-0.parquet          deduplicated, no bots, no test orders,
                                                         pseudonymous ids, no direct identifiers
    curated/sessions/date=.../part-0.parquet             insights.Session (pseudonymous ids)
    curated/daily_metrics/date=.../part-0.parquet        insights.DailyMetric
    curated/daily_searches/date=.../part-0.parquet       insights.DailySearch
    curated/experiment_results/date=<export day>/...     each started experiment's per-variant results
                                                         as computed on the day of the export
    <zone>/<table>/_manifest.json                        what was exported per day (rows, fingerprint)

The partition column ``date`` lives in the directory name only, never in the files (an engine
would otherwise see it twice). Names beginning with ``_`` are skipped by Spark, Hive and Trino, and
are not matched by ``*/*.parquet``: the manifests and the staging directory stay invisible.

Schemas are explicit (:data:`SCHEMAS`): timestamps ``timestamp[us, tz=UTC]``; money
``decimal128(14, 2)`` like the tables' columns (sums of an experiment ``decimal128(18, 2)``), exact
in every engine, never a float; ids ``string`` (uuids in their canonical text: every engine reads
it, not every one reads Parquet's UUID type); event properties one JSON text column (``json_extract``
in DuckDB, ``get_json_object`` in Spark, ``json_extract_scalar`` in Trino). Files are zstd.

Incremental and atomic
----------------------
A day is written when it is missing from the manifest or its source changed since: for events the
fingerprint is the day's row count, highest id and latest ``received_at``, one aggregate over the
day's partition (events are written once: sessionisation reads them and never sets
``Event.session_id``, so a re-run of the rollup does not rewrite the event days); for the curated
tables, which are small, a digest of the rows exported. Unchanged days are skipped, so a
second run writes nothing; ``force`` rewrites. A day is written to a staging directory
(``_staging/``) and then moved over ``date=.../part-0.parquet`` in one rename, so a reader sees the
old day or the new one, never half of one; an error before the rename leaves the old file and the
manifest as they were. The manifest is written after the day (a crash in between only repeats the
day next time). A day without rows writes nothing and keeps what the lake already has: the lake
outlives the event store's retention, and dropping an old partition never empties the lake's day.

Days are read one at a time, by ``occurred_at`` range (one partition of the event table on
PostgreSQL), through a server-side cursor in batches of :data:`BATCH_ROWS` rows that become Arrow
record batches and Parquet row groups: memory does not grow with the size of a day.

The clean zone
--------------
* **Bots** (``is_bot``) are dropped.
* **Duplicates**: one row per ``event_id`` within the day, the earliest received (then the lowest
  id). The store already refuses a second copy with the same time; copies with another time on
  another day are not looked for (it would cost an index probe per row in every partition).
* **Test orders** (``LAKE_TEST_EMAIL_DOMAINS``): an event whose properties carry ``"test": true``, or
  an e-mail (any property whose key contains ``email``) at a test domain, is a test event. An order
  is a test order when its "Order Completed" was a test event, or when the order's e-mail (read
  through ``orders.selectors``) is at a test domain. Every event naming a test order
  (``order_id``: completed, cancelled, refunded) is dropped, whatever its day. A domain matches
  itself and its subdomains (``test`` matches every ``*.test`` address: RFC 2606 reserves it).
  Orders paid with the test payment provider are real orders of a non-production shop: kept.
* **Pseudonyms**: ``user_id`` and ``visitor_id`` become ``user_key`` and ``visitor_key`` (and a
  session's id, in the curated zone, ``session_key``): the first 32 hex digits of HMAC-SHA256 under
  ``LAKE_PSEUDONYM_KEY`` (by default derived from ``SECRET_KEY`` with a salt) of ``"<kind>:<id>"``.
  The same id always gives the same key, in every zone, day and run, so joins work; the key is
  not reversible without the secret. The session id is hashed too: it is a uuid3 of the visitor or
  user and a time, which one could otherwise rebuild from a guessed user id.
* **No session column**: events carry no session (``Event.session_id`` is not filled; a session
  is in ``insights.Session``, found by its unit and time). Deriving it here would mean running the
  unit rule of ``insights.sessions`` again over the day for every export, so the clean events have
  no ``session_key``: join ``curated/sessions`` on ``unit_key`` (= ``visitor_key``, or ``user_key``
  for an event without a visitor) and ``occurred_at BETWEEN started_at AND ended_at`` of the same
  day. (An event without a visitor whose user signed in as a visitor that day belongs to that
  visitor's unit: such a join leaves it out.) The raw zone keeps the ``session_id`` column as
  stored (empty). **Rotating the key (or
  ``SECRET_KEY`` when the key is derived from it) changes every pseudonym**: exports before and after
  no longer join, and every clean and curated day is rewritten at the next run that covers it (the
  rules' fingerprint is part of each day's). Set ``LAKE_PSEUDONYM_KEY`` explicitly in production.
* **Direct identifiers** in properties: keys in ``LAKE_PII_KEYS`` (e-mail, names, phone, addresses,
  IP addresses, user agents...) are removed at any depth; ``user_id`` / ``visitor_id`` keys inside
  properties are pseudonymised; any other text that looks like an e-mail address becomes
  ``[email]`` (a shopper may search for one).

The curated zone is what the dashboard reads, exported as it is (the rollups leave bots out and,
like the dashboard, count test orders); its visitor, user, unit and session columns are the same
pseudonyms as the clean zone's.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, F, Max, Min, TextField, Window
from django.db.models.functions import Cast, RowNumber
from django.utils import timezone
from django.utils.crypto import salted_hmac
from pyarrow import fs as pafs

from experiments import selectors as experiments_selectors
from insights import events as analytics_events
from insights import experiment_results
from insights.models import DailyMetric, DailySearch, Event, Session
from orders import selectors as orders_selectors

logger = logging.getLogger(__name__)

RAW, CLEAN, CURATED = "raw", "clean", "curated"
ZONES = (RAW, CLEAN, CURATED)
BATCH_ROWS = 20_000
FILE_NAME = "part-0.parquet"
MANIFEST = "_manifest.json"
STAGING = "_staging"
FORMAT_VERSION = 2  # part of every fingerprint: a change of what a file holds rewrites the days
LOCK_KEY = "insights:lake:export-lock"
PSEUDONYM_SALT = "bazaar.insights.lake.pseudonym"

UTC_US = pa.timestamp("us", tz="UTC")
MONEY = pa.decimal128(14, 2)
MONEY_SUM = pa.decimal128(18, 2)
CENT = Decimal("0.01")


class LakeBusy(Exception):
    """Another export holds the lock."""


# --- schemas ----------------------------------------------------------------------------------------

_EVENT_COMMON = [
    pa.field("event_id", pa.string(), nullable=False),
    pa.field("name", pa.string(), nullable=False),
    pa.field("occurred_at", UTC_US, nullable=False),
    pa.field("received_at", UTC_US, nullable=False),
]
RAW_EVENTS = pa.schema([
    pa.field("id", pa.int64(), nullable=False),
    *_EVENT_COMMON,
    pa.field("visitor_id", pa.string(), nullable=False),
    pa.field("user_id", pa.int64()),
    pa.field("session_id", pa.string()),
    pa.field("channel", pa.string(), nullable=False),
    pa.field("device", pa.string(), nullable=False),
    pa.field("is_bot", pa.bool_(), nullable=False),
    pa.field("properties", pa.string(), nullable=False),  # JSON text
])
CLEAN_EVENTS = pa.schema([
    *_EVENT_COMMON,
    pa.field("visitor_key", pa.string()),
    pa.field("user_key", pa.string()),
    pa.field("channel", pa.string(), nullable=False),
    pa.field("device", pa.string(), nullable=False),
    pa.field("properties", pa.string(), nullable=False),  # JSON text, identifiers removed
])
SESSIONS = pa.schema([
    pa.field("session_key", pa.string(), nullable=False),
    pa.field("unit_key", pa.string(), nullable=False),  # = visitor_key, or user_key for a "user:" unit
    pa.field("visitor_key", pa.string()),
    pa.field("user_key", pa.string()),
    pa.field("started_at", UTC_US, nullable=False),
    pa.field("ended_at", UTC_US, nullable=False),
    pa.field("device", pa.string(), nullable=False),
    pa.field("channel", pa.string(), nullable=False),
    *[pa.field(name, pa.int64(), nullable=False) for name in ("events", "pages")],
    *[pa.field(name, pa.bool_(), nullable=False) for name in (
        "is_bounce", "reached_list", "reached_product", "reached_cart", "reached_checkout", "reached_order",
        "added_to_cart")],
    *[pa.field(name, pa.int64(), nullable=False) for name in ("product_views", "orders", "items")],
    pa.field("revenue", MONEY, nullable=False),
])
_METRIC_COUNTS = ("sessions", "visitors", "bounces", "sessions_list", "sessions_product", "sessions_cart",
                  "sessions_checkout", "sessions_order", "cart_sessions", "orders")
DAILY_METRICS = pa.schema([
    pa.field("dimension", pa.string(), nullable=False),
    pa.field("value", pa.string(), nullable=False),
    *[pa.field(name, pa.int64(), nullable=False) for name in _METRIC_COUNTS],
    pa.field("revenue", MONEY, nullable=False),
    *[pa.field(name, pa.int64(), nullable=False) for name in ("items", "product_views", "featured_views")],
])
DAILY_SEARCHES = pa.schema([
    pa.field("query", pa.string(), nullable=False),
    pa.field("searches", pa.int64(), nullable=False),
    pa.field("zero_results", pa.int64(), nullable=False),
])
_INTERVALS = ("conversion", "aov", "rpv", "undone_share", "items_per_order")
EXPERIMENT_RESULTS = pa.schema([
    pa.field("experiment_key", pa.string(), nullable=False),
    pa.field("experiment_name", pa.string(), nullable=False),
    pa.field("status", pa.string(), nullable=False),
    pa.field("started_at", UTC_US),
    pa.field("stopped_at", UTC_US),
    pa.field("variant_key", pa.string(), nullable=False),
    pa.field("variant_name", pa.string(), nullable=False),
    pa.field("weight", pa.int64(), nullable=False),
    pa.field("is_control", pa.bool_(), nullable=False),
    *[pa.field(name, pa.int64(), nullable=False) for name in ("visitors", "converters", "orders", "undone_orders",
                                                              "items")],
    pa.field("revenue", MONEY_SUM, nullable=False),
    # each rate or mean with its 95% interval (Wilson for rates, Student t for means)
    *[pa.field(f"{name}{suffix}", pa.float64()) for name in _INTERVALS for suffix in ("", "_low", "_high")],
    # against the control (empty on the control's row)
    pa.field("conversion_difference", pa.float64()),
    pa.field("conversion_difference_low", pa.float64()),
    pa.field("conversion_difference_high", pa.float64()),
    pa.field("conversion_relative_lift", pa.float64()),
    pa.field("conversion_p_value", pa.float64()),  # fixed horizon, two-proportion z-test
    pa.field("conversion_always_valid_p_value", pa.float64()),  # mSPRT
    pa.field("aov_p_value", pa.float64()),  # Welch
    pa.field("rpv_p_value", pa.float64()),  # Welch
    pa.field("undone_share_p_value", pa.float64()),  # guardrail
    pa.field("items_per_order_p_value", pa.float64()),  # guardrail
    # the experiment as a whole
    pa.field("srm_p_value", pa.float64()),
    pa.field("srm_flagged", pa.bool_()),
    pa.field("weights_changed_after_start", pa.bool_(), nullable=False),
])
SCHEMAS = {
    (RAW, "events"): RAW_EVENTS, (CLEAN, "events"): CLEAN_EVENTS, (CURATED, "sessions"): SESSIONS,
    (CURATED, "daily_metrics"): DAILY_METRICS, (CURATED, "daily_searches"): DAILY_SEARCHES,
    (CURATED, "experiment_results"): EXPERIMENT_RESULTS,
}


# --- where the files go --------------------------------------------------------------------------


@dataclass(frozen=True)
class Lake:
    """A root directory on a pyarrow filesystem. Local by default (:meth:`from_settings`); any other
    ``pyarrow.fs.FileSystem`` can be passed. The atomic swap relies on ``move`` replacing a file in one
    step, which a local or POSIX filesystem does (an object store's single PUT does as well)."""

    filesystem: pafs.FileSystem
    root: str

    @classmethod
    def from_settings(cls) -> Lake:
        root = Path(settings.LAKE_ROOT)
        if not root.is_absolute():
            root = Path(settings.BASE_DIR) / root
        return cls(pafs.LocalFileSystem(), root.resolve().as_posix())

    def path(self, *parts: str) -> str:
        return "/".join([self.root.rstrip("/"), *parts])

    def table_path(self, zone: str, table: str) -> str:
        return self.path(zone, table)

    def day_file(self, zone: str, table: str, day: date) -> str:
        return self.path(zone, table, f"date={day.isoformat()}", FILE_NAME)

    def exists(self, path: str) -> bool:
        return self.filesystem.get_file_info(path).type != pafs.FileType.NotFound

    def read_text(self, path: str) -> str | None:
        if not self.exists(path):
            return None
        with self.filesystem.open_input_stream(path) as stream:
            return stream.read().decode()

    def write_text_atomic(self, path: str, text: str) -> None:
        staging = self.path(STAGING, f"{uuid.uuid4().hex}.tmp")
        self.filesystem.create_dir(self.path(STAGING), recursive=True)
        with self.filesystem.open_output_stream(staging) as stream:
            stream.write(text.encode())
        self.filesystem.create_dir(path.rsplit("/", 1)[0], recursive=True)
        self.filesystem.move(staging, path)


# --- the clean zone's rules ---------------------------------------------------------------------------

DEFAULT_PII_KEYS = (
    "email", "e_mail", "email_address", "customer_email", "user_email", "recipient_email", "name_first",
    "first_name", "last_name", "full_name", "customer_name", "recipient_name", "billing_name", "shipping_name",
    "phone", "phone_number", "telephone", "address", "address_line1", "address_line2", "street", "street_address",
    "postcode", "postal_code", "zip", "zip_code", "ip", "ip_address", "remote_addr", "client_ip",
    "x_forwarded_for", "user_agent", "password", "token", "card_number",
)
_ID_KEYS = {"user_id": "user", "visitor_id": "visitor", "anonymous_id": "visitor", "session_id": "session"}
_EMAIL = re.compile(r"[^@\s\"'<>,;]+@[^@\s\"'<>,;]+\.[A-Za-z0-9-]{2,}")


def _norm_key(key: Any) -> str:
    return str(key).strip().lower().replace("-", "_")


def pseudonym_key() -> bytes:
    """``LAKE_PSEUDONYM_KEY``, else a key derived from ``SECRET_KEY`` with a salt."""
    configured = getattr(settings, "LAKE_PSEUDONYM_KEY", "")
    if configured:
        return configured.encode() if isinstance(configured, str) else bytes(configured)
    return salted_hmac(PSEUDONYM_SALT, "lake", algorithm="sha256").digest()


class Pseudonyms:
    """``"<kind>:<id>"`` -> the first 32 hex digits of its HMAC-SHA256 under the key (memoised)."""

    def __init__(self, key: bytes):
        self._key = key
        self._memo: dict[str, str] = {}

    def of(self, kind: str, value: Any) -> str | None:
        if value is None or value == "":
            return None
        token = f"{kind}:{value}"
        found = self._memo.get(token)
        if found is None:
            if len(self._memo) >= 500_000:
                self._memo.clear()
            found = self._memo[token] = hmac.new(self._key, token.encode(), hashlib.sha256).hexdigest()[:32]
        return found

    def unit(self, unit: str) -> str | None:
        """A session's unit: ``"user:<id>"`` gives the user's key, a visitor id the visitor's."""
        if unit.startswith("user:"):
            return self.of("user", unit[5:])
        return self.of("visitor", unit)

    def key_id(self) -> str:
        """Names the key without revealing it (part of the clean and curated fingerprints)."""
        return hmac.new(self._key, b"lake-key-id", hashlib.sha256).hexdigest()[:16]


@dataclass
class Rules:
    """The clean zone's rules, read from settings once per export."""

    pseudonyms: Pseudonyms
    test_domains: tuple[str, ...]
    pii_keys: frozenset[str]
    _order_is_test: dict[str, bool] = field(default_factory=dict)

    @classmethod
    def from_settings(cls) -> Rules:
        domains = tuple(d.strip().lower().lstrip("@.") for d in getattr(settings, "LAKE_TEST_EMAIL_DOMAINS", ())
                        if d.strip())
        keys = frozenset(_norm_key(k) for k in getattr(settings, "LAKE_PII_KEYS", DEFAULT_PII_KEYS))
        return cls(Pseudonyms(pseudonym_key()), domains, keys)

    def fingerprint(self) -> str:
        text = json.dumps([FORMAT_VERSION, self.pseudonyms.key_id(), sorted(self.test_domains),
                           sorted(self.pii_keys)])
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def test_email(self, value: Any) -> bool:
        if not isinstance(value, str) or "@" not in value:
            return False
        domain = value.rsplit("@", 1)[1].strip().lower().rstrip(".")
        return any(domain == d or domain.endswith("." + d) for d in self.test_domains)

    def test_event(self, properties: dict) -> bool:
        """Properties that say "test": ``"test": true``, or an e-mail at a test domain."""
        if properties.get("test") is True:
            return True
        return any("email" in _norm_key(k) and self.test_email(v) for k, v in properties.items())

    def scrub(self, value: Any) -> Any:
        """``value`` without direct identifiers (see the module's docstring)."""
        if isinstance(value, dict):
            out = {}
            for key, item in value.items():
                norm = _norm_key(key)
                if norm in self.pii_keys:
                    continue
                if norm in _ID_KEYS and isinstance(item, str | int) and not isinstance(item, bool):
                    out[key] = self.pseudonyms.of(_ID_KEYS[norm], item)
                else:
                    out[key] = self.scrub(item)
            return out
        if isinstance(value, list):
            return [self.scrub(item) for item in value]
        if isinstance(value, str) and "@" in value:
            return _EMAIL.sub("[email]", value)
        return value

    def test_orders(self, order_ids: set[str], before: datetime) -> set[str]:
        """Which of ``order_ids`` are test orders (memoised for the export)."""
        unknown = {o for o in order_ids if o not in self._order_is_test}
        if unknown:
            flagged = {
                props.get("order_id") for props in Event.objects.filter(
                    name=analytics_events.ORDER_COMPLETED, occurred_at__lt=before,
                    properties__order_id__in=sorted(unknown)).values_list("properties", flat=True)
                if isinstance(props, dict) and self.test_event(props)
            }
            for order_id in unknown:
                is_test = order_id in flagged
                if not is_test and self.test_domains:
                    # One short query per distinct order of the day (orders has no bulk read of e-mails).
                    order = orders_selectors.order_by_number(number=order_id)
                    is_test = order is not None and self.test_email(order.email)
                self._order_is_test[order_id] = is_test
        return {o for o in order_ids if self._order_is_test[o]}


# --- reading a day ------------------------------------------------------------------------------------


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start, start + timedelta(days=1)


def _day_events(day: date):
    start, end = day_bounds(day)
    return Event.objects.filter(occurred_at__gte=start, occurred_at__lt=end)


def events_fingerprint(day: date) -> tuple[int, str]:
    """The day's row count and a fingerprint that changes when a row is added (rows are never updated:
    sessionisation does not write ``Event.session_id``)."""
    agg = _day_events(day).aggregate(count=Count("id"), last_id=Max("id"), received=Max("received_at"))
    count, last_id, received = agg["count"], agg["last_id"], agg["received"]
    received_text = received.isoformat() if received else ""
    return int(count), f"v{FORMAT_VERSION}|{count}|{last_id}|{received_text}"


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def _text_id(value: Any) -> str | None:
    return None if value is None else str(value)


_RAW_FIELDS = ("id", "event_id", "name", "occurred_at", "received_at", "visitor_id", "user_id", "session_id",
               "channel", "device", "is_bot", "properties")


def raw_rows(day: date, context: ExportContext) -> Iterator[list[tuple]]:
    # The properties as the database prints its JSON (no decoding and encoding again in Python).
    rows = (_day_events(day).annotate(properties_text=Cast("properties", TextField())).order_by("occurred_at", "id")
            .values_list(*_RAW_FIELDS[:-1], "properties_text").iterator(chunk_size=BATCH_ROWS))
    for batch in _chunks(rows):
        yield [(pk, str(event_id), name, occurred, received, visitor or "", user, _text_id(session), channel, device,
                bool(bot), props or "{}")
               for pk, event_id, name, occurred, received, visitor, user, session, channel, device, bot, props
               in batch]


def clean_rows(day: date, context: ExportContext) -> Iterator[list[tuple]]:
    rules = context.rules
    start, end = day_bounds(day)
    named = (_day_events(day).filter(properties__has_key="order_id")
             .values_list("properties__order_id", flat=True).distinct())
    tests = rules.test_orders({str(o) for o in named if o not in (None, "")}, end)
    first_copies = (
        _day_events(day).filter(is_bot=False)
        .annotate(copy=Window(RowNumber(), partition_by=[F("event_id")], order_by=[F("received_at").asc(),
                                                                                     F("id").asc()]))
        .filter(copy=1).order_by("occurred_at", "id")
        .values_list("event_id", "name", "occurred_at", "received_at", "visitor_id", "user_id", "channel",
                     "device", "properties")
        .iterator(chunk_size=BATCH_ROWS)
    )
    ps = rules.pseudonyms
    for batch in _chunks(first_copies):
        out = []
        for event_id, name, occurred, received, visitor, user, channel, device, props in batch:
            props = props if isinstance(props, dict) else {}
            order_id = props.get("order_id")
            if rules.test_event(props) or (order_id not in (None, "") and str(order_id) in tests):
                continue
            out.append((str(event_id), name, occurred, received, ps.of("visitor", visitor), ps.of("user", user),
                        channel, device, _json(rules.scrub(props))))
        yield out


def session_rows(day: date, context: ExportContext) -> Iterator[list[tuple]]:
    ps = context.rules.pseudonyms
    rows = (Session.objects.filter(day=day).order_by("started_at", "id").values_list(
        "id", "unit", "visitor_id", "user_id", "started_at", "ended_at", "device", "channel", "events", "pages",
        "is_bounce", "reached_list", "reached_product", "reached_cart", "reached_checkout", "reached_order",
        "added_to_cart", "product_views", "orders", "items", "revenue").iterator(chunk_size=BATCH_ROWS))
    for batch in _chunks(rows):
        yield [(ps.of("session", str(pk)), ps.unit(unit) or "", ps.of("visitor", visitor), ps.of("user", user),
                *rest[:-1], Decimal(rest[-1]).quantize(CENT))
               for pk, unit, visitor, user, *rest in batch]


def metric_rows(day: date, context: ExportContext) -> Iterator[list[tuple]]:
    names = [f.name for f in DAILY_METRICS]
    rows = DailyMetric.objects.filter(day=day).order_by("dimension", "value").values_list(*names)
    for batch in _chunks(rows.iterator(chunk_size=BATCH_ROWS)):
        revenue = names.index("revenue")
        yield [(*row[:revenue], Decimal(row[revenue]).quantize(CENT), *row[revenue + 1:]) for row in batch]


def search_rows(day: date, context: ExportContext) -> Iterator[list[tuple]]:
    rows = DailySearch.objects.filter(day=day).order_by("-searches", "query").values_list(
        "query", "searches", "zero_results")
    for batch in _chunks(rows.iterator(chunk_size=BATCH_ROWS)):
        yield [(_EMAIL.sub("[email]", query), searches, zero) for query, searches, zero in batch]


def started_experiment_keys(*, today: date) -> list[str]:
    """Experiments running now, and those with exposures in the last ``LAKE_EXPERIMENT_LOOKBACK_DAYS``
    days (stopped ones whose last snapshot may still change). Ones never started are skipped later."""
    keys = set(experiments_selectors.running_definitions())
    since = day_bounds(today - timedelta(days=settings.LAKE_EXPERIMENT_LOOKBACK_DAYS))[0]
    keys |= {k for k in Event.objects.filter(name=experiment_results.EXPOSURE, occurred_at__gte=since)
             .values_list("properties__experiment_id", flat=True).distinct() if isinstance(k, str) and k}
    return sorted(keys)


def _p(value: float | None) -> float | None:
    return None if value is None else float(value)


def experiment_rows(day: date, context: ExportContext) -> Iterator[list[tuple]]:
    rows = []
    for key in context.experiment_keys(day):
        results = experiment_results.experiment_results(key=key)
        if results is None or results.started_at is None:
            continue
        versus = {t.key: t for t in results.treatments}
        srm_p = results.srm.p_value if results.srm is not None else None
        srm_flagged = results.srm.flagged if results.srm is not None else None
        for variant in results.variants:
            t = variant.totals
            intervals = [_p(x) for name in _INTERVALS for x in getattr(variant, name)]
            treatment = versus.get(variant.key)
            if treatment is not None:
                c = treatment.comparison
                undone, items = treatment.guardrails
                against = [_p(c.conversion.difference.estimate), _p(c.conversion.difference.low),
                           _p(c.conversion.difference.high), _p(c.conversion.relative_lift), _p(c.conversion.p_value),
                           _p(c.conversion_always_valid_p), _p(c.aov.p_value), _p(c.rpv.p_value),
                           _p(undone.p_value), _p(items.p_value)]
            else:
                against = [None] * 10
            rows.append((results.key, results.name, results.status, results.started_at, results.stopped_at,
                         variant.key, variant.name, int(variant.weight), variant.is_control, t.visitors,
                         t.converters, t.orders, t.undone_orders, int(t.items), Decimal(t.revenue).quantize(CENT),
                         *intervals, *against, srm_p, srm_flagged, results.weights_changed_after_start))
    if rows:
        yield rows


def _chunks(rows: Iterable[tuple]) -> Iterator[list[tuple]]:
    batch: list[tuple] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH_ROWS:
            yield batch
            batch = []
    if batch:
        yield batch


def record_batch(schema: pa.Schema, rows: Sequence[tuple]) -> pa.RecordBatch:
    columns = list(zip(*rows, strict=True)) if rows else [[] for _ in schema]
    return pa.RecordBatch.from_arrays([pa.array(col, type=f.type) for col, f in zip(columns, schema, strict=True)],
                                      schema=schema)


# --- the tables -------------------------------------------------------------------------------------------


@dataclass
class ExportContext:
    rules: Rules
    today: date
    _experiment_keys: list[str] | None = None

    def experiment_keys(self, day: date) -> list[str]:
        if self._experiment_keys is None:
            self._experiment_keys = started_experiment_keys(today=day)
        return self._experiment_keys


def _events_probe(day: date, context: ExportContext) -> tuple[int, str | None]:
    return events_fingerprint(day)


def _clean_probe(day: date, context: ExportContext) -> tuple[int, str | None]:
    count, fingerprint = events_fingerprint(day)
    return count, f"{fingerprint}|{context.rules.fingerprint()}"


def _count_probe(model) -> Callable[[date, ExportContext], tuple[int, str | None]]:
    def probe(day: date, context: ExportContext) -> tuple[int, str | None]:
        return model.objects.filter(day=day).count(), None  # decided by the rows' digest

    return probe


def _experiments_probe(day: date, context: ExportContext) -> tuple[int, str | None]:
    return len(context.experiment_keys(day)), None


@dataclass(frozen=True)
class Table:
    zone: str
    name: str
    probe: Callable[[date, ExportContext], tuple[int, str | None]]  # (rows, fingerprint or None: use a digest)
    rows: Callable[[date, ExportContext], Iterator[list[tuple]]]
    per_day: bool = True  # False: one snapshot on the export's day

    @property
    def schema(self) -> pa.Schema:
        return SCHEMAS[(self.zone, self.name)]

    @property
    def label(self) -> str:
        return f"{self.zone}/{self.name}"


TABLES = (
    Table(RAW, "events", _events_probe, raw_rows),
    Table(CLEAN, "events", _clean_probe, clean_rows),
    Table(CURATED, "sessions", _count_probe(Session), session_rows),
    Table(CURATED, "daily_metrics", _count_probe(DailyMetric), metric_rows),
    Table(CURATED, "daily_searches", _count_probe(DailySearch), search_rows),
    Table(CURATED, "experiment_results", _experiments_probe, experiment_rows, per_day=False),
)


# --- writing ----------------------------------------------------------------------------------------------


@dataclass
class DayReport:
    zone: str
    table: str
    day: date
    status: str  # "written", "unchanged", "empty"
    rows: int = 0
    bytes: int = 0
    seconds: float = 0.0
    dropped: int = 0  # clean zone: source rows left out (bots, copies, test orders)
    path: str = ""

    @property
    def label(self) -> str:
        return f"{self.zone}/{self.table}"


class Manifest:
    """``<zone>/<table>/_manifest.json``: per day, the rows, fingerprint, bytes and time of the export."""

    def __init__(self, lake: Lake, zone: str, table: str):
        self.lake = lake
        self.path = lake.path(zone, table, MANIFEST)
        text = lake.read_text(self.path)
        self.data = json.loads(text) if text else {"format": FORMAT_VERSION, "zone": zone, "table": table, "days": {}}

    def get(self, day: date) -> dict | None:
        return self.data["days"].get(day.isoformat())

    def put(self, day: date, entry: dict) -> None:
        self.data["days"][day.isoformat()] = entry
        self.data["days"] = dict(sorted(self.data["days"].items()))
        self.lake.write_text_atomic(self.path, json.dumps(self.data, indent=1))


def _write_staging(lake: Lake, table: Table, day: date, context: ExportContext, path: str, *, digest: bool
                   ) -> tuple[int, str]:
    """Write the day's file at ``path`` (in a staging directory): (rows, digest of the rows or "")."""
    hasher = hashlib.sha256() if digest else None
    rows = 0
    writer = pq.ParquetWriter(path, table.schema, filesystem=lake.filesystem,
                              compression=settings.LAKE_COMPRESSION)
    try:
        for batch in table.rows(day, context):
            if not batch:
                continue
            if hasher is not None:
                for row in batch:
                    hasher.update(repr(row).encode())
            writer.write_batch(record_batch(table.schema, batch))
            rows += len(batch)
    finally:
        writer.close()
    return rows, (hasher.hexdigest()[:32] if hasher is not None else "")


def _publish(lake: Lake, staged: str, final: str) -> None:
    """Swap the staged file in: one rename over ``date=.../part-0.parquet``."""
    lake.filesystem.create_dir(final.rsplit("/", 1)[0], recursive=True)
    lake.filesystem.move(staged, final)


def export_day(lake: Lake, table: Table, day: date, context: ExportContext, manifest: Manifest, *,
               force: bool = False) -> DayReport:
    """Export one table's day if it is missing or changed (or ``force``)."""
    started = time.monotonic()
    final = lake.day_file(table.zone, table.name, day)
    report = DayReport(table.zone, table.name, day, "empty", path=final)
    count, fingerprint = table.probe(day, context)
    previous = manifest.get(day)
    present = previous is not None and lake.exists(final)

    def unchanged(fingerprint: str | None) -> bool:
        return present and not force and fingerprint is not None and previous.get("fingerprint") == fingerprint

    if count and unchanged(fingerprint):
        report.status, report.rows, report.bytes = "unchanged", previous["rows"], previous.get("bytes", 0)
    elif count:
        directory = lake.path(STAGING, f"{table.zone}-{table.name}-{day.isoformat()}-{uuid.uuid4().hex[:12]}")
        staged = f"{directory}/{FILE_NAME}"
        lake.filesystem.create_dir(directory, recursive=True)
        try:
            rows, digest = _write_staging(lake, table, day, context, staged, digest=fingerprint is None)
            fingerprint = fingerprint or f"v{FORMAT_VERSION}|{digest}|{context.rules.fingerprint()}"
            if rows and unchanged(fingerprint):
                report.status, report.rows, report.bytes = "unchanged", previous["rows"], previous.get("bytes", 0)
            elif rows:
                size = lake.filesystem.get_file_info(staged).size or 0
                _publish(lake, staged, final)
                manifest.put(day, {"rows": rows, "fingerprint": fingerprint, "bytes": size,
                                   "exported_at": timezone.now().astimezone(UTC).isoformat()})
                report.status, report.rows, report.bytes = "written", rows, size
                if table.zone == CLEAN:
                    report.dropped = count - rows
        finally:
            lake.filesystem.delete_dir(directory)
    report.seconds = time.monotonic() - started
    return report


def export(*, days: Sequence[date], zones: Iterable[str] = ZONES, lake: Lake | None = None, force: bool = False,
           today: date | None = None, progress: Callable[[DayReport, int, int], None] | None = None
           ) -> list[DayReport]:
    """Export ``days`` (UTC) of the ``zones`` asked for, oldest first, and, with the curated zone, the
    experiments' results as of ``today``. Returns one report per table and day. One export at a time
    (a cache lock): :class:`LakeBusy` otherwise."""
    lake = lake or Lake.from_settings()
    zones = [z for z in ZONES if z in set(zones)]
    today = today or timezone.now().astimezone(UTC).date()
    tables = [t for t in TABLES if t.zone in zones]
    work = [(t, d) for d in sorted(set(days)) for t in tables if t.per_day]
    work += [(t, today) for t in tables if not t.per_day]
    token = uuid.uuid4().hex
    if not cache.add(LOCK_KEY, token, timeout=settings.LAKE_LOCK_SECONDS):
        raise LakeBusy("another lake export is running")
    try:
        context = ExportContext(rules=Rules.from_settings(), today=today)
        manifests: dict[tuple[str, str], Manifest] = {}
        reports = []
        for index, (table, day) in enumerate(work, 1):
            key = (table.zone, table.name)
            if key not in manifests:
                manifests[key] = Manifest(lake, table.zone, table.name)
            report = export_day(lake, table, day, context, manifests[key], force=force)
            reports.append(report)
            if progress is not None:
                progress(report, index, len(work))
        return reports
    finally:
        if cache.get(LOCK_KEY) == token:
            cache.delete(LOCK_KEY)


# --- which days ------------------------------------------------------------------------------------------


def days_between(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)] if first <= last else []


def stored_days(*, today: date | None = None) -> list[date]:
    """Every day from the oldest event (or rollup) kept to today."""
    today = today or timezone.now().astimezone(UTC).date()
    oldest = Event.objects.aggregate(first=Min("occurred_at"))["first"]
    first_day = oldest.astimezone(UTC).date() if oldest else today
    first_rollup = Session.objects.aggregate(first=Min("day"))["first"]
    if first_rollup and first_rollup < first_day:
        first_day = first_rollup
    return days_between(min(first_day, today), today)


def recent_days(count: int, *, today: date | None = None) -> list[date]:
    """The last ``count`` days, today included."""
    today = today or timezone.now().astimezone(UTC).date()
    return days_between(today - timedelta(days=max(count, 1) - 1), today)
