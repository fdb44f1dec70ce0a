"""Which variant of an experiment a visitor sees: deterministic, stable, cached, never raising.

``variant(request, "key")`` is the one call for views, services that have the request, and
templates (``{% variant "key" as v %}``); ``variant_for(unit_id, "key")`` is the same without a
request (a task, an e-mail).

* **Unit**: ``"user:<id>"`` for a signed-in customer, else the visitor id the
  ``VisitorMiddleware`` set (``request.visitor_id``). No visitor id (tracking declined, consent not
  given, a client without the cookie machinery) means no unit: the default experience (``None``)
  and nothing is logged.
* **Bucket**: the first 64 bits of ``sha256("<experiment key>:<unit>")`` modulo 10,000, read
  against the variants' cumulative weights (in position order). The same unit always gets the same
  variant of an experiment, on any server, in any session; two experiments are independent
  because the key is part of the hash.
* **Audience**: ``everyone``; ``members`` (``request.strategy.benefits`` is not None, read
  duck-typed: this layer never imports the composition point); ``new_visitors`` (a guest whose
  visitor id, a UUIDv7, was issued after the experiment started). Outside the audience: ``None``.
* **Running**: only running experiments assign (a scheduled stop that has passed counts as
  stopped even before the beat task records it). An unknown key gives ``None``.
* **Cost**: the running experiments' definitions are one cached value (versioned namespace
  :data:`NAMESPACE`, bumped on every change by the services), so a page pays no query.
* **Exposure**: with ``expose=True`` (the default) an "Experiment Viewed" event (Segment's name)
  is tracked at most once per unit, experiment and :data:`EXPOSURE_TTL` seconds (``cache.add``);
  call it where the variant is actually shown. Analytics never raise into the page.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime

from django.core.cache import cache
from django.utils import timezone

from core import analytics
from core import cache as vcache
from experiments.models import Experiment

logger = logging.getLogger(__name__)

NAMESPACE = "experiments:running"
DEFINITIONS_KEY = "experiments:running:definitions"
BUCKETS = 10_000
EXPOSURE_TTL = 30 * 60
EXPOSURE_EVENT = "Experiment Viewed"


@dataclass(frozen=True)
class VariantDef:
    key: str
    name: str
    weight: int


@dataclass(frozen=True)
class ExperimentDef:
    """A running experiment as assignment needs it (cached, picklable, no model instance)."""

    key: str
    name: str
    audience: str
    started_at: datetime
    stops_at: datetime | None
    variants: tuple[VariantDef, ...]

    def live(self, now: datetime) -> bool:
        return self.stops_at is None or now < self.stops_at

    def pick(self, unit: str) -> VariantDef:
        """The variant of ``unit``: its bucket against the cumulative weights."""
        point = bucket(self.key, unit) * sum(v.weight for v in self.variants)
        cumulative = 0
        for variant in self.variants:
            cumulative += variant.weight
            if point < cumulative * BUCKETS:
                return variant
        return self.variants[-1]  # unreachable with positive weights; kept for safety


def bucket(experiment_key: str, unit: str) -> int:
    """A number in [0, 10000) from the experiment key and the unit: deterministic and uniform."""
    digest = hashlib.sha256(f"{experiment_key}:{unit}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def _load_running() -> dict[str, ExperimentDef]:
    experiments = Experiment.objects.filter(status=Experiment.Status.RUNNING).prefetch_related("variants")
    return {
        e.key: ExperimentDef(
            key=e.key, name=e.name, audience=e.audience, started_at=e.started_at, stops_at=e.stops_at,
            variants=tuple(VariantDef(v.key, v.name, v.weight) for v in e.variants.all()),
        )
        for e in experiments
    }


def running_definitions() -> dict[str, ExperimentDef]:
    """Every running experiment by key (cached until a service changes one; a query on a miss).
    An empty dict is stored as a marker, so "nothing is running" also costs no query."""
    value = vcache.cached_in(NAMESPACE, DEFINITIONS_KEY, lambda: {"defs": _load_running()}, timeout=60 * 60)
    return value["defs"]


def experiment_definition(key: str) -> ExperimentDef | None:
    return running_definitions().get(key)


def unit_of(request) -> str:
    """The unit of assignment behind ``request`` (``""``: none, the default experience)."""
    visitor_id = getattr(request, "visitor_id", "") or ""
    if not visitor_id:
        return ""  # no visitor cookie, or tracking declined / not consented: nothing to hash, nothing logged
    user = getattr(request, "user", None)
    if getattr(user, "is_authenticated", False):
        return f"user:{user.pk}"
    return visitor_id


def _in_audience(definition: ExperimentDef, *, is_member: bool, visitor_id: str | None, signed_in: bool) -> bool:
    if definition.audience == Experiment.Audience.MEMBERS:
        return is_member
    if definition.audience == Experiment.Audience.NEW_VISITORS:
        if signed_in or not visitor_id:
            return False
        first_seen = analytics.visitor_first_seen(visitor_id)
        return first_seen is not None and first_seen >= definition.started_at
    return True


def _is_member(request) -> bool:
    strategy = getattr(request, "strategy", None)
    return getattr(strategy, "benefits", None) is not None


def variant(request, key: str, *, expose: bool = True) -> str | None:
    """The key of the variant ``request``'s visitor sees in experiment ``key``, or ``None`` (the
    default experience: no unit, not running, unknown key, outside the audience). Logs the
    exposure unless ``expose=False``. Never raises."""
    try:
        unit = unit_of(request)
        if not unit:
            return None
        definition = experiment_definition(key)
        if definition is None or not definition.live(timezone.now()):
            return None
        signed_in = unit.startswith("user:")
        # the audience check reads the strategy only when the audience needs it (members: one cached lookup)
        is_member = definition.audience == Experiment.Audience.MEMBERS and _is_member(request)
        if not _in_audience(definition, is_member=is_member, visitor_id=request.visitor_id, signed_in=signed_in):
            return None
        chosen = definition.pick(unit)
        if expose:
            _expose(definition, chosen, unit,
                    lambda properties: analytics.track_request(request, EXPOSURE_EVENT, properties))
        return chosen.key
    except Exception:  # noqa: BLE001 - an experiment never breaks a page: the default experience
        logger.warning("experiments: assignment failed for %r", key, exc_info=True)
        return None


def variant_for(unit_id: str, key: str, *, is_member: bool = False, expose: bool = False) -> str | None:
    """:func:`variant` without a request: ``unit_id`` is ``"user:<id>"`` or a visitor id (the
    audience "members" needs ``is_member``). With ``expose`` the exposure is tracked for that unit
    (a server event). Never raises."""
    try:
        if not unit_id:
            return None
        definition = experiment_definition(key)
        if definition is None or not definition.live(timezone.now()):
            return None
        signed_in = unit_id.startswith("user:")
        visitor_id = None if signed_in else unit_id
        if not _in_audience(definition, is_member=is_member, visitor_id=visitor_id, signed_in=signed_in):
            return None
        chosen = definition.pick(unit_id)
        if expose:
            user_id = int(unit_id.removeprefix("user:")) if signed_in else None
            _expose(definition, chosen, unit_id, lambda properties: analytics.track(
                EXPOSURE_EVENT, visitor_id=visitor_id or "", user_id=user_id, properties=properties))
        return chosen.key
    except Exception:  # noqa: BLE001
        logger.warning("experiments: assignment failed for %r", key, exc_info=True)
        return None


def exposure_key(experiment_key: str, unit: str) -> str:
    return f"experiments:exposed:{experiment_key}:{vcache.digest(unit)}"


def _expose(definition: ExperimentDef, chosen: VariantDef, unit: str, track) -> None:
    """Track the exposure unless this unit was exposed to this experiment in the last 30 minutes.
    A cache that fails lets the event through: results count distinct units, so a duplicate costs
    nothing, while a lost first exposure would lose the visitor."""
    try:
        first = cache.add(exposure_key(definition.key, unit), 1, EXPOSURE_TTL)
    except Exception:  # noqa: BLE001
        logger.warning("experiments: exposure cache unavailable", exc_info=True)
        first = True
    if first:
        track({"experiment_id": definition.key, "experiment_name": definition.name,
               "variation_id": chosen.key, "variation_name": chosen.name})


# --- reads for admin and for insights' results ---------------------------------------------------


def experiment_get(*, key: str) -> Experiment | None:
    """One experiment with its variants (in position order) and its change history."""
    return (Experiment.objects.filter(key=key)
            .prefetch_related("variants", "changes__actor").first())


def experiment_by_id(*, pk: int) -> Experiment | None:
    return Experiment.objects.filter(pk=pk).prefetch_related("variants", "changes__actor").first()


def due_to_start_ids(*, now: datetime) -> list[int]:
    return list(Experiment.objects.filter(status=Experiment.Status.DRAFT, starts_at__lte=now)
                .order_by("pk").values_list("pk", flat=True))


def due_to_stop_ids(*, now: datetime) -> list[int]:
    return list(Experiment.objects.filter(status=Experiment.Status.RUNNING, stops_at__lte=now)
                .order_by("pk").values_list("pk", flat=True))
