"""Changing experiments: start, stop (by hand or by schedule), weights. Every change is recorded
in the append-only :class:`~experiments.models.ExperimentChange` and bumps the cached definitions.

The weights rule: **a running experiment's weights cannot be changed**. Changing the split
mid-run mixes visitors assigned under two splits: the sample-ratio check then fails for a reason
that is not a bug, and, since traffic mixes change over the days (weekdays, campaigns), the
variants are no longer compared on the same population. So the service refuses with "stop it
first"; a stopped (or draft) experiment may have its weights changed, and the change is recorded
with who, when, from and to, so the results page can say that the split changed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core import cache as vcache
from core.exceptions import ApplicationError, Conflict
from experiments import selectors
from experiments.models import Experiment, ExperimentChange, Variant

logger = logging.getLogger(__name__)

MIN_VARIANTS = 2
WEIGHTS_LOCKED_MESSAGE = "stop it first; changing weights mid-run biases the results"


def _weights(experiment: Experiment) -> dict[str, int]:
    return {v.key: v.weight for v in Variant.objects.filter(experiment=experiment).order_by("position", "id")}


def _record(experiment: Experiment, kind: str, *, actor=None, before=None, after=None, note: str = "") -> None:
    ExperimentChange.objects.create(experiment=experiment, kind=kind, actor=actor, before=before or {},
                                    after=after or {}, note=note[:200])
    vcache.bump_now_and_on_commit(selectors.NAMESPACE)


def _locked(pk: int) -> Experiment:
    return Experiment.objects.select_for_update().get(pk=pk)


def experiment_created(*, experiment: Experiment, actor=None) -> None:
    """Record that ``experiment`` (and its variants) was created, with its weights."""
    with transaction.atomic():
        _record(experiment, ExperimentChange.Kind.CREATED, actor=actor, after={"weights": _weights(experiment)})


def experiment_start(*, experiment: Experiment, actor=None, now: datetime | None = None,
                     note: str = "") -> Experiment:
    """Start ``experiment`` (a draft, or a stopped one again): at least two variants, each with a
    positive weight. Assignment sees it at once."""
    now = now or timezone.now()
    with transaction.atomic():
        experiment = _locked(experiment.pk)
        if experiment.is_running:
            raise Conflict(_("%(name)s is already running.") % {"name": experiment.name})
        weights = _weights(experiment)
        if len(weights) < MIN_VARIANTS:
            raise ApplicationError(_("An experiment needs at least two variants (the first is the control) to start."))
        if any(w <= 0 for w in weights.values()):
            raise ApplicationError(_("Every variant needs a positive weight."))
        if experiment.stops_at is not None and experiment.stops_at <= now:
            raise ApplicationError(_("Its scheduled stop has passed: clear or move it first."))
        experiment.status = Experiment.Status.RUNNING
        experiment.started_at = experiment.started_at or now  # a restart keeps the first start
        experiment.stopped_at = None
        experiment.save(update_fields=["status", "started_at", "stopped_at", "updated_at"])
        _record(experiment, ExperimentChange.Kind.STARTED, actor=actor, after={"weights": weights}, note=note)
    return experiment


def experiment_stop(*, experiment: Experiment, actor=None, now: datetime | None = None, note: str = "") -> Experiment:
    """Stop a running experiment: everyone gets the default experience again."""
    now = now or timezone.now()
    with transaction.atomic():
        experiment = _locked(experiment.pk)
        if not experiment.is_running:
            raise Conflict(_("%(name)s is not running.") % {"name": experiment.name})
        experiment.status = Experiment.Status.STOPPED
        experiment.stopped_at = now
        experiment.save(update_fields=["status", "stopped_at", "updated_at"])
        _record(experiment, ExperimentChange.Kind.STOPPED, actor=actor, note=note)
    return experiment


def variant_weights_set(*, experiment: Experiment, weights: Mapping[str, int], actor=None,
                        note: str = "") -> dict[str, int]:
    """Set the weights of ``experiment``'s variants (``{variant key: weight}``), recorded from ->
    to. Refused while it runs (see the module's docstring), for unknown variants and for weights
    that are not positive."""
    with transaction.atomic():
        experiment = _locked(experiment.pk)
        if experiment.is_running:
            raise Conflict(_(WEIGHTS_LOCKED_MESSAGE))
        before = _weights(experiment)
        unknown = set(weights) - set(before)
        if unknown:
            raise ApplicationError(_("Unknown variants: %(keys)s.") % {"keys": ", ".join(sorted(unknown))})
        if any(int(w) <= 0 for w in weights.values()):
            raise ApplicationError(_("Every variant needs a positive weight."))
        for variant in Variant.objects.filter(experiment=experiment, key__in=list(weights)):
            if variant.weight != int(weights[variant.key]):
                variant.weight = int(weights[variant.key])
                variant.save(update_fields=["weight"])
        after = _weights(experiment)
        if after != before:
            _record(experiment, ExperimentChange.Kind.WEIGHTS_CHANGED, actor=actor, before={"weights": before},
                    after={"weights": after}, note=note)
    return after


def variants_edited(*, experiment: Experiment, before: Mapping[str, int], actor=None) -> None:
    """After variants were edited (admin's inline, on a draft or stopped experiment): refuse if it
    runs (the caller's transaction rolls back), else record the weights from -> to if they differ."""
    experiment = _locked(experiment.pk)
    if experiment.is_running:
        raise Conflict(_(WEIGHTS_LOCKED_MESSAGE))
    after = _weights(experiment)
    if after != dict(before):
        _record(experiment, ExperimentChange.Kind.WEIGHTS_CHANGED, actor=actor, before={"weights": dict(before)},
                after={"weights": after})


def experiments_apply_schedule(*, now: datetime | None = None) -> tuple[list[str], list[str]]:
    """Start the drafts whose start time has come and stop the running ones whose stop time has
    (beat, every minute; idempotent). Returns the keys started and stopped. A draft that cannot
    start (fewer than two variants) is logged and left as it is."""
    now = now or timezone.now()
    started, stopped = [], []
    for pk in selectors.due_to_stop_ids(now=now):
        try:
            stopped.append(experiment_stop(experiment=Experiment(pk=pk), now=now, note="schedule").key)
        except ApplicationError:
            continue  # stopped meanwhile
    for pk in selectors.due_to_start_ids(now=now):
        experiment = Experiment.objects.get(pk=pk)
        if experiment.stops_at is not None and experiment.stops_at <= now:
            continue  # its whole window passed while it was a draft: leave it for a person to decide
        try:
            started.append(experiment_start(experiment=experiment, now=now, note="schedule").key)
        except ApplicationError as exc:
            logger.warning("experiments: %s not started by schedule: %s", experiment.key, exc.message)
    return started, stopped


def experiment_create(*, key: str, name: str, variants: list[tuple[str, str, int]], hypothesis: str = "",
                      audience: str = Experiment.Audience.EVERYONE, starts_at: datetime | None = None,
                      stops_at: datetime | None = None, actor=None) -> Experiment:
    """A draft experiment with ``variants`` (``(key, name, weight)``, the control first), recorded.
    Idempotent on ``key``: an existing experiment is returned as it is (the demo seeder runs twice)."""
    with transaction.atomic():
        experiment, created = Experiment.objects.get_or_create(
            key=key, defaults={"name": name, "hypothesis": hypothesis, "audience": audience,
                               "starts_at": starts_at, "stops_at": stops_at})
        if not created:
            return experiment
        if any(int(weight) <= 0 for _key, _name, weight in variants):
            raise ApplicationError(_("Every variant needs a positive weight."))
        Variant.objects.bulk_create([Variant(experiment=experiment, key=v_key, name=v_name, weight=int(weight),
                                             position=i) for i, (v_key, v_name, weight) in enumerate(variants)])
        experiment_created(experiment=experiment, actor=actor)
    return experiment
