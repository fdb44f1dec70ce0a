"""Starting, stopping and weights: the rules and the append-only history, and the schedule."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from core.exceptions import ApplicationError, Conflict
from experiments import selectors, services, tasks
from experiments.models import Experiment, ExperimentChange, Variant
from experiments.tests.conftest import make
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _kinds(experiment) -> list[str]:
    return list(ExperimentChange.objects.filter(experiment=experiment).values_list("kind", flat=True))


def test_start_and_stop_are_recorded_with_who_and_when():
    actor = UserFactory()
    experiment = make("recorded", start=False)
    services.experiment_start(experiment=experiment, actor=actor)
    experiment.refresh_from_db()
    assert experiment.status == Experiment.Status.RUNNING
    assert experiment.started_at is not None
    with pytest.raises(Conflict):
        services.experiment_start(experiment=experiment)
    services.experiment_stop(experiment=experiment, actor=actor)
    experiment.refresh_from_db()
    assert experiment.status == Experiment.Status.STOPPED
    assert experiment.stopped_at is not None
    with pytest.raises(Conflict):
        services.experiment_stop(experiment=experiment)
    assert _kinds(experiment) == ["created", "started", "stopped"]
    started = ExperimentChange.objects.get(experiment=experiment, kind="started")
    assert started.actor == actor
    assert started.after == {"weights": {"control": 1, "t1": 1}}


def test_an_experiment_needs_two_variants_to_start():
    experiment = services.experiment_create(key="lonely", name="Lonely", variants=[("control", "Control", 1)])
    with pytest.raises(ApplicationError, match="at least two variants"):
        services.experiment_start(experiment=experiment)
    assert Experiment.objects.get(pk=experiment.pk).status == Experiment.Status.DRAFT
    with pytest.raises(ApplicationError, match="positive weight"):
        services.experiment_create(key="zero", name="Zero", variants=[("control", "C", 1), ("t", "T", 0)])


def test_weights_cannot_change_while_running():
    experiment = make("locked", weights=(1, 1))
    with pytest.raises(Conflict, match="stop it first; changing weights mid-run biases the results"):
        services.variant_weights_set(experiment=experiment, weights={"control": 1, "t1": 3})
    assert dict(Variant.objects.filter(experiment=experiment).values_list("key", "weight")) == {"control": 1, "t1": 1}
    assert "weights" not in _kinds(experiment)


def test_weights_change_when_stopped_and_the_change_is_recorded_from_and_to():
    actor = UserFactory()
    experiment = make("unlocked", weights=(1, 1))
    services.experiment_stop(experiment=experiment)
    assert services.variant_weights_set(experiment=experiment, weights={"t1": 3}, actor=actor) == {"control": 1,
                                                                                                   "t1": 3}
    change = ExperimentChange.objects.get(experiment=experiment, kind="weights")
    assert (change.before, change.after, change.actor) == ({"weights": {"control": 1, "t1": 1}},
                                                           {"weights": {"control": 1, "t1": 3}}, actor)
    services.variant_weights_set(experiment=experiment, weights={"t1": 3})  # no change: nothing recorded
    assert _kinds(experiment).count("weights") == 1
    with pytest.raises(ApplicationError, match="positive"):
        services.variant_weights_set(experiment=experiment, weights={"t1": 0})
    with pytest.raises(ApplicationError, match="Unknown"):
        services.variant_weights_set(experiment=experiment, weights={"nope": 2})
    services.experiment_start(experiment=experiment)
    assert selectors.experiment_definition("unlocked").variants[1].weight == 3  # the cache followed


def test_the_history_is_append_only():
    experiment = make("history")
    change = ExperimentChange.objects.filter(experiment=experiment).first()
    change.note = "rewritten"
    with pytest.raises(ValueError, match="append-only"):
        change.save()
    with pytest.raises(ValueError, match="append-only"):
        change.delete()


def test_the_schedule_starts_and_stops_due_experiments():
    now = timezone.now()
    due = make("due", start=False, starts_at=now - timedelta(minutes=1), stops_at=now + timedelta(hours=1))
    later = make("later", start=False, starts_at=now + timedelta(hours=1))
    ending = make("ending-soon", stops_at=now + timedelta(minutes=30))
    broken = services.experiment_create(key="broken", name="Broken", variants=[("control", "C", 1)],
                                        starts_at=now - timedelta(minutes=1))
    assert services.experiments_apply_schedule(now=now) == (["due"], [])
    assert tasks.apply_schedule() == {"started": [], "stopped": []}  # idempotent
    assert Experiment.objects.get(pk=later.pk).status == "draft"
    assert Experiment.objects.get(pk=broken.pk).status == "draft"  # logged, left for a person
    assert services.experiments_apply_schedule(now=now + timedelta(hours=2)) == (["later"], ["due", "ending-soon"])
    assert Experiment.objects.get(pk=due.pk).status == "stopped"
    assert Experiment.objects.get(pk=ending.pk).status == "stopped"
    assert ExperimentChange.objects.get(experiment=due, kind="stopped").note == "schedule"
    # a stopped experiment is not restarted by its (past) start time
    assert services.experiments_apply_schedule(now=now + timedelta(hours=3)) == ([], [])
