"""The results of an A/B experiment, computed from the event store.

Definitions come from ``experiments.selectors`` (keys, weights, when it started); what happened
comes from :class:`insights.models.Event`:

* **visitors** of a variant: the units with an "Experiment Viewed" event of the experiment, each
  counted once, in the variant of its *first* exposure. A unit is ``"user:<id>"`` for an exposure
  of a signed-in customer, else the visitor id (the same rule as assignment). Crawlers are left out.
* **orders** of a unit: "Order Completed" events (one per ``order_id``) *after* its first
  exposure; a signed-in unit matches orders by ``user_id``, a guest unit by ``visitor_id``.
  **Converters** are units with at least one such order; **revenue** is the events' ``revenue``
  (net of discounts, without tax and shipping).
* **guardrails**: the share of those orders later cancelled or refunded ("Order Cancelled",
  "Order Refunded"), and the number of items per order. A treatment that wins on conversion by
  selling orders that come back, or smaller baskets, is not a win.

On PostgreSQL everything is two SQL statements over the indexed ``(name, occurred_at)`` columns,
from the experiment's start (so the daily partitions before it are skipped), whatever the number of
variants: one returns the totals per variant, the other the daily cumulative conversions the
always-valid p-value walks through. Elsewhere (SQLite, the embedded mode) the same numbers come
from Python over the same events.

The statistics are :mod:`insights.stats`: Wilson intervals for rates, Student t intervals for
means, the two-proportion z-test, Welch's t-test, the chi-square sample-ratio-mismatch check
(flagged at p < 0.001) and the mSPRT always-valid p-value for conversion.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation

from django.db import connection
from django.utils import timezone

from experiments import selectors as experiments_selectors
from insights import events, stats
from insights.models import Event

EXPOSURE = "Experiment Viewed"
UNDONE = (events.ORDER_CANCELLED, events.ORDER_REFUNDED)
ALPHA = 0.05
SRM_THRESHOLD = 0.001
NET_REVENUE_NOTE = ("AOV and revenue per visitor are net of discounts, excluding tax and shipping "
                    "(the orders' revenue as recorded in \"Order Completed\").")


@dataclass(frozen=True)
class Totals:
    """What the events give for one variant (money as Decimal, sums of squares included)."""

    visitors: int = 0
    converters: int = 0
    orders: int = 0
    revenue: Decimal = Decimal(0)
    revenue_sumsq_per_order: Decimal = Decimal(0)
    revenue_sumsq_per_visitor: Decimal = Decimal(0)
    undone_orders: int = 0
    items: Decimal = Decimal(0)
    items_sumsq: Decimal = Decimal(0)

    def summary(self, name: str) -> stats.VariantSummary:
        return stats.VariantSummary(name=name, visitors=self.visitors, orders=self.orders, revenue=self.revenue,
                                    revenue_sumsq_per_order=self.revenue_sumsq_per_order,
                                    revenue_sumsq_per_visitor=self.revenue_sumsq_per_visitor,
                                    converted_visitors=self.converters)


@dataclass(frozen=True)
class VariantRow:
    key: str
    name: str
    weight: int
    is_control: bool
    totals: Totals
    conversion: stats.Interval
    aov: stats.Interval
    rpv: stats.Interval
    undone_share: stats.Interval
    items_per_order: stats.Interval


@dataclass(frozen=True)
class Guardrail:
    name: str
    control: stats.Interval
    treatment: stats.Interval
    difference: stats.Interval
    p_value: float
    higher_is_worse: bool
    percent: bool

    @property
    def harmed(self) -> bool:
        """Significantly worse in the treatment (fixed-horizon test at 5%)."""
        estimate = self.difference.estimate
        if estimate is None or self.p_value >= ALPHA:
            return False
        return estimate > 0 if self.higher_is_worse else estimate < 0


@dataclass(frozen=True)
class TreatmentResult:
    key: str
    name: str
    comparison: stats.Comparison
    guardrails: tuple[Guardrail, ...]

    @property
    def harmed_guardrails(self) -> list[Guardrail]:
        return [g for g in self.guardrails if g.harmed]


@dataclass(frozen=True)
class ExperimentResults:
    key: str
    name: str
    status: str
    started_at: datetime | None
    stopped_at: datetime | None
    variants: tuple[VariantRow, ...]
    treatments: tuple[TreatmentResult, ...]
    srm: stats.SrmResult | None
    weights_changed_after_start: bool
    computed_at: datetime
    verdict: list[str] = field(default_factory=list)
    note: str = NET_REVENUE_NOTE


# --- the numbers, from the events -------------------------------------------------------------------

_SQL_CTES = """
WITH exposed AS (
    SELECT DISTINCT ON (unit) unit, user_id, variant, first_at
    FROM (
        SELECT CASE WHEN e.user_id IS NOT NULL THEN 'user:' || e.user_id::text ELSE e.visitor_id END AS unit,
               e.user_id, e.properties ->> 'variation_id' AS variant, e.occurred_at AS first_at
        FROM {table} e
        WHERE e.name = %(exposure)s AND e.occurred_at >= %(since)s AND NOT e.is_bot
          AND e.properties ->> 'experiment_id' = %(key)s
          AND e.properties ->> 'variation_id' = ANY(%(variants)s)
    ) raw
    WHERE unit <> ''
    ORDER BY unit, first_at, variant
),
orders AS (
    SELECT DISTINCT ON (o.properties ->> 'order_id')
           o.properties ->> 'order_id' AS order_id, o.user_id, o.visitor_id, o.occurred_at,
           CASE WHEN o.properties ->> 'revenue' ~ '^-?[0-9]+(\\.[0-9]+)?$'
                THEN (o.properties ->> 'revenue')::numeric ELSE 0 END AS revenue,
           COALESCE((SELECT sum(CASE WHEN p ->> 'quantity' ~ '^[0-9]+$' THEN (p ->> 'quantity')::numeric ELSE 1 END)
                     FROM jsonb_array_elements(CASE WHEN jsonb_typeof(o.properties -> 'products') = 'array'
                                                    THEN o.properties -> 'products' ELSE '[]'::jsonb END) p), 0)
               AS items
    FROM {table} o
    WHERE o.name = %(completed)s AND o.occurred_at >= %(since)s AND NOT o.is_bot
      AND COALESCE(o.properties ->> 'order_id', '') <> ''
    ORDER BY o.properties ->> 'order_id', o.occurred_at
),
undone AS (
    SELECT DISTINCT u.properties ->> 'order_id' AS order_id
    FROM {table} u
    WHERE u.name = ANY(%(undone)s) AND u.occurred_at >= %(since)s
),
attributed AS (
    SELECT x.unit, o.order_id, o.revenue, o.items, o.occurred_at
    FROM exposed x JOIN orders o ON o.user_id = x.user_id AND o.occurred_at >= x.first_at
    WHERE x.user_id IS NOT NULL
    UNION ALL
    SELECT x.unit, o.order_id, o.revenue, o.items, o.occurred_at
    FROM exposed x JOIN orders o ON o.visitor_id = x.unit AND o.occurred_at >= x.first_at
    WHERE x.user_id IS NULL
),
per_unit AS (
    SELECT a.unit, count(*) AS orders, sum(a.revenue) AS revenue, sum(a.revenue * a.revenue) AS revenue_sq,
           sum(a.items) AS items, sum(a.items * a.items) AS items_sq,
           count(d.order_id) AS undone, min(a.occurred_at) AS converted_at
    FROM attributed a LEFT JOIN undone d ON d.order_id = a.order_id
    GROUP BY a.unit
)
"""

_SQL_TOTALS = """
SELECT x.variant, count(*), count(p.unit), COALESCE(sum(p.orders), 0), COALESCE(sum(p.revenue), 0),
       COALESCE(sum(p.revenue_sq), 0), COALESCE(sum(p.revenue * p.revenue), 0), COALESCE(sum(p.undone), 0),
       COALESCE(sum(p.items), 0), COALESCE(sum(p.items_sq), 0)
FROM exposed x LEFT JOIN per_unit p ON p.unit = x.unit
GROUP BY x.variant
"""

_SQL_DAILY = """
SELECT variant, day, sum(visitors), sum(converters) FROM (
    SELECT x.variant, (x.first_at AT TIME ZONE 'UTC')::date AS day, 1 AS visitors, 0 AS converters FROM exposed x
    UNION ALL
    SELECT x.variant, (p.converted_at AT TIME ZONE 'UTC')::date, 0, 1
    FROM exposed x JOIN per_unit p ON p.unit = x.unit
) t
GROUP BY variant, day
ORDER BY day, variant
"""

Daily = list[tuple[str, date, int, int]]  # (variant, day, new visitors, new converters)


def _params(key: str, variant_keys: list[str], since: datetime) -> dict:
    return {"exposure": EXPOSURE, "completed": events.ORDER_COMPLETED, "undone": list(UNDONE), "key": key,
            "variants": list(variant_keys), "since": since}


def variant_totals(*, key: str, variant_keys: list[str], since: datetime) -> tuple[dict[str, Totals], Daily]:
    """The totals per variant and the daily new visitors and converters of experiment ``key``,
    from events at or after ``since`` (its start). Two queries on PostgreSQL."""
    if connection.vendor != "postgresql":
        return _variant_totals_python(key=key, variant_keys=variant_keys, since=since)
    ctes = _SQL_CTES.format(table=connection.ops.quote_name(Event._meta.db_table))
    params = _params(key, variant_keys, since)
    totals: dict[str, Totals] = {}
    with connection.cursor() as cursor:
        cursor.execute(ctes + _SQL_TOTALS, params)
        for variant, visitors, converters, orders, revenue, sq_order, sq_visitor, undone, items, items_sq in cursor:
            totals[variant] = Totals(int(visitors), int(converters), int(orders), Decimal(revenue), Decimal(sq_order),
                                     Decimal(sq_visitor), int(undone), Decimal(items), Decimal(items_sq))
        cursor.execute(ctes + _SQL_DAILY, params)
        daily = [(variant, day, int(v), int(c)) for variant, day, v, c in cursor]
    return totals, daily


_NUMBER = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")


def _decimal(value) -> Decimal:
    text = str(value) if value is not None else ""
    try:
        return Decimal(text) if _NUMBER.match(text) else Decimal(0)
    except InvalidOperation:  # pragma: no cover - the pattern only lets numbers through
        return Decimal(0)


def _items(products) -> Decimal:
    if not isinstance(products, list):
        return Decimal(0)
    total = Decimal(0)
    for product in products:
        quantity = product.get("quantity") if isinstance(product, dict) else None
        total += Decimal(quantity) if isinstance(quantity, int) or (isinstance(quantity, str) and quantity.isdigit()) \
            else Decimal(1)
    return total


def _variant_totals_python(*, key: str, variant_keys: list[str], since: datetime) -> tuple[dict[str, Totals], Daily]:
    """The same numbers as the SQL, in Python (SQLite has neither DISTINCT ON nor jsonb)."""
    wanted = set(variant_keys)
    exposed: dict[str, tuple[datetime, str, int | None]] = {}
    rows = (Event.objects.filter(name=EXPOSURE, occurred_at__gte=since, is_bot=False)
            .order_by("occurred_at", "id").values_list("user_id", "visitor_id", "occurred_at", "properties"))
    for user_id, visitor_id, occurred_at, properties in rows.iterator():
        if (properties or {}).get("experiment_id") != key or properties.get("variation_id") not in wanted:
            continue
        unit = f"user:{user_id}" if user_id is not None else visitor_id
        if unit and (unit not in exposed or (occurred_at, properties["variation_id"]) < exposed[unit][:2]):
            exposed[unit] = (occurred_at, properties["variation_id"], user_id)
    undone = {(p or {}).get("order_id") for p in Event.objects.filter(name__in=UNDONE, occurred_at__gte=since)
              .values_list("properties", flat=True)}
    orders: dict[str, tuple] = {}
    completed = (Event.objects.filter(name=events.ORDER_COMPLETED, occurred_at__gte=since, is_bot=False)
                 .order_by("occurred_at", "id").values_list("user_id", "visitor_id", "occurred_at", "properties"))
    for user_id, visitor_id, occurred_at, properties in completed.iterator():
        order_id = (properties or {}).get("order_id")
        if order_id and order_id not in orders:
            orders[order_id] = (user_id, visitor_id, occurred_at, _decimal(properties.get("revenue")),
                                _items(properties.get("products")))
    by_user, by_visitor = defaultdict(list), defaultdict(list)
    for order_id, (user_id, visitor_id, occurred_at, revenue, items) in orders.items():
        if user_id is not None:
            by_user[user_id].append((order_id, occurred_at, revenue, items))
        by_visitor[visitor_id].append((order_id, occurred_at, revenue, items))
    sums: dict[str, dict] = defaultdict(lambda: defaultdict(Decimal))
    daily_counts: dict[tuple[str, date], list[int]] = defaultdict(lambda: [0, 0])
    for unit, (first_at, variant, user_id) in exposed.items():
        mine = [o for o in (by_user[user_id] if user_id is not None else by_visitor[unit]) if o[1] >= first_at]
        s = sums[variant]
        s["visitors"] += 1
        daily_counts[(variant, first_at.astimezone(UTC).date())][0] += 1
        if not mine:
            continue
        revenue = sum((o[2] for o in mine), Decimal(0))
        s["converters"] += 1
        s["orders"] += len(mine)
        s["revenue"] += revenue
        s["sq_order"] += sum((o[2] * o[2] for o in mine), Decimal(0))
        s["sq_visitor"] += revenue * revenue
        s["undone"] += sum(1 for o in mine if o[0] in undone)
        s["items"] += sum((o[3] for o in mine), Decimal(0))
        s["items_sq"] += sum((o[3] * o[3] for o in mine), Decimal(0))
        daily_counts[(variant, min(o[1] for o in mine).astimezone(UTC).date())][1] += 1
    totals = {
        variant: Totals(int(s["visitors"]), int(s["converters"]), int(s["orders"]), s["revenue"], s["sq_order"],
                        s["sq_visitor"], int(s["undone"]), s["items"], s["items_sq"])
        for variant, s in sums.items()
    }
    daily = sorted(((variant, day, v, c) for (variant, day), (v, c) in daily_counts.items()),
                   key=lambda r: (r[1], r[0]))
    return totals, daily


# --- the statistics -----------------------------------------------------------------------------------


def _looks(daily: Daily, control: str, treatment: str) -> list[tuple[stats.VariantSummary, stats.VariantSummary]]:
    """Cumulative (control, treatment) conversion at the end of each day, oldest first."""
    days = sorted({day for _variant, day, _v, _c in daily})
    running = {control: [0, 0], treatment: [0, 0]}
    by_day = defaultdict(list)
    for variant, day, visitors, converters in daily:
        by_day[day].append((variant, visitors, converters))
    looks = []
    for day in days:
        for variant, visitors, converters in by_day[day]:
            if variant in running:
                running[variant][0] += visitors
                running[variant][1] += converters
        (cv, cc), (tv, tc) = running[control], running[treatment]
        looks.append((stats.VariantSummary(control, cv, cc, 0, 0, 0, cc),
                      stats.VariantSummary(treatment, tv, tc, 0, 0, 0, tc)))
    return looks


def _guardrails(control: Totals, treatment: Totals) -> tuple[Guardrail, ...]:
    undone = stats.two_proportion_ztest(control.undone_orders, control.orders, treatment.undone_orders,
                                        treatment.orders)
    items = stats.welch_ttest(control.orders, control.items, control.items_sumsq,
                              treatment.orders, treatment.items, treatment.items_sumsq)
    return (
        Guardrail("Orders cancelled or refunded", stats.proportion_interval(control.undone_orders, control.orders),
                  stats.proportion_interval(treatment.undone_orders, treatment.orders), undone.difference,
                  undone.p_value, higher_is_worse=True, percent=True),
        Guardrail("Items per order", stats.mean_interval(control.orders, control.items, control.items_sumsq),
                  stats.mean_interval(treatment.orders, treatment.items, treatment.items_sumsq), items.difference,
                  items.p_value, higher_is_worse=False, percent=False),
    )


def _row(variant, totals: Totals, is_control: bool) -> VariantRow:
    return VariantRow(
        key=variant.key, name=variant.name, weight=variant.weight, is_control=is_control, totals=totals,
        conversion=stats.proportion_interval(totals.converters, totals.visitors),
        aov=stats.mean_interval(totals.orders, totals.revenue, totals.revenue_sumsq_per_order),
        rpv=stats.mean_interval(totals.visitors, totals.revenue, totals.revenue_sumsq_per_visitor),
        undone_share=stats.proportion_interval(totals.undone_orders, totals.orders),
        items_per_order=stats.mean_interval(totals.orders, totals.items, totals.items_sumsq),
    )


def _verdict(srm: stats.SrmResult | None, treatments: list[TreatmentResult], weights_changed: bool,
             visitors: int) -> list[str]:
    lines = []
    if visitors == 0:
        return ["No visitor has seen this experiment yet."]
    if srm is not None and srm.flagged:
        lines.append("Sample ratio mismatch: the visitors are not split as configured "
                     f"({stats.format_p_value(srm.p_value)}). Do not trust these results until the cause "
                     "(an assignment bug, bots, a cached page, a redirect) is found.")
    if weights_changed:
        lines.append("The weights were changed after the experiment first started: the results mix two splits.")
    for treatment in treatments:
        lines.append(treatment.comparison.conversion_verdict())
        for guardrail in treatment.harmed_guardrails:
            lines.append(f"Guardrail: {guardrail.name.lower()} got worse in {treatment.name} "
                         f"({stats.format_p_value(guardrail.p_value)}).")
    return lines


def experiment_results(*, key: str) -> ExperimentResults | None:
    """Everything the results page shows for experiment ``key`` (None: no such experiment)."""
    experiment = experiments_selectors.experiment_get(key=key)
    if experiment is None:
        return None
    return results_for(experiment)


def results_for(experiment) -> ExperimentResults:
    """:func:`experiment_results` for an experiment already read (with its variants and changes)."""
    variants = list(experiment.variants.all())
    now = timezone.now()
    weights_changed = experiment.started_at is not None and any(
        change.kind == "weights" and change.created_at > experiment.started_at for change in experiment.changes.all())
    base = {"key": experiment.key, "name": experiment.name, "status": experiment.status,
            "started_at": experiment.started_at, "stopped_at": experiment.stopped_at,
            "weights_changed_after_start": weights_changed, "computed_at": now}
    if experiment.started_at is None or len(variants) < 2:
        rows = tuple(_row(v, Totals(), i == 0) for i, v in enumerate(variants))
        return ExperimentResults(variants=rows, treatments=(), srm=None, verdict=["The experiment has not started."],
                                 **base)
    totals, daily = variant_totals(key=experiment.key, variant_keys=[v.key for v in variants],
                                   since=experiment.started_at)
    control = variants[0]
    control_totals = totals.get(control.key, Totals())
    rows = tuple(_row(v, totals.get(v.key, Totals()), i == 0) for i, v in enumerate(variants))
    treatments = []
    for variant in variants[1:]:
        variant_totals_ = totals.get(variant.key, Totals())
        comparison = stats.compare(control_totals.summary(control.name), variant_totals_.summary(variant.name),
                                   earlier_looks=_looks(daily, control.key, variant.key)[:-1], alpha=ALPHA)
        treatments.append(TreatmentResult(variant.key, variant.name, comparison,
                                          _guardrails(control_totals, variant_totals_)))
    summaries = [totals.get(v.key, Totals()).summary(v.name) for v in variants]
    srm = stats.srm_for_variants(summaries, [v.weight for v in variants], threshold=SRM_THRESHOLD)
    visitors = sum(s.visitors for s in summaries)
    return ExperimentResults(variants=rows, treatments=tuple(treatments), srm=srm,
                             verdict=_verdict(srm, treatments, weights_changed, visitors), **base)
