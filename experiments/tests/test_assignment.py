"""Assignment: deterministic and stable per unit, spread by the weights, the user once signed in,
nothing without a unit or outside the audience, no query on a page once cached, and the exposure
tracked once per unit and half hour."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core import analytics
from experiments import selectors, services
from experiments.tests.conftest import exposures, make, request_for
from insights import stats
from tests.factories import UserFactory
from tests.test_member_benefits import make_member, plan  # noqa: F401 - the plan fixture

pytestmark = pytest.mark.django_db


def test_the_same_unit_always_gets_the_same_variant_and_units_differ():
    make("stable", weights=(1, 1))
    visitor = analytics.new_visitor_id()
    seen = {selectors.variant(request_for(visitor_id=visitor), "stable", expose=False) for _ in range(20)}
    assert len(seen) == 1  # deterministic, across requests (and so across sessions and servers)
    assert seen <= {"control", "t1"}
    assert selectors.variant_for(visitor, "stable") == seen.pop()  # the same without a request
    others = Counter(selectors.variant_for(analytics.new_visitor_id(), "stable") for _ in range(200))
    assert set(others) == {"control", "t1"}


def test_the_bucket_is_sha256_of_key_and_unit():
    import hashlib

    digest = hashlib.sha256(b"stable:user:42").digest()
    assert selectors.bucket("stable", "user:42") == int.from_bytes(digest[:8], "big") % 10_000


def test_weights_are_respected_one_to_three():
    make("split", weights=(1, 3))
    counts = Counter(selectors.variant_for(f"v{i:05d}", "split") for i in range(20_000))
    share = counts["t1"] / 20_000
    assert abs(share - 0.75) < 0.01  # within a percentage point (the standard error is 0.3 points)
    srm = stats.srm_check([counts["control"], counts["t1"]], [1, 3])
    assert srm.p_value > 0.001
    assert not srm.flagged


def test_a_signed_in_customer_is_assigned_by_user_id_whatever_the_browser():
    make("signed-in", weights=(1, 1))
    user = UserFactory()
    answers = {selectors.variant(request_for(visitor_id=analytics.new_visitor_id(), user=user), "signed-in",
                                 expose=False) for _ in range(10)}
    assert answers == {selectors.variant_for(f"user:{user.pk}", "signed-in")}


def test_no_unit_means_the_default_experience_and_nothing_logged():
    make("no-unit")
    assert selectors.variant(request_for(visitor_id=""), "no-unit") is None  # declined, or no consent yet
    assert selectors.variant(request_for(visitor_id="", user=UserFactory()), "no-unit") is None
    assert selectors.variant_for("", "no-unit") is None
    assert exposures() == []


def test_unknown_draft_and_stopped_experiments_assign_nobody():
    visitor = analytics.new_visitor_id()
    assert selectors.variant(request_for(visitor_id=visitor), "nope") is None
    draft = make("drafted", start=False)
    assert selectors.variant(request_for(visitor_id=visitor), "drafted") is None
    services.experiment_start(experiment=draft)
    assert selectors.variant(request_for(visitor_id=visitor), "drafted") is not None
    services.experiment_stop(experiment=draft)
    assert selectors.variant(request_for(visitor_id=visitor), "drafted") is None  # the cache was bumped
    running = make("ending", stops_at=timezone.now() + timedelta(hours=1))
    with time_machine.travel(running.stops_at + timedelta(seconds=1)):
        assert selectors.variant(request_for(visitor_id=visitor), "ending") is None  # before the beat records it


def test_members_audience_reads_the_strategy(plan):  # noqa: F811
    make("members-only", audience="members")
    member, guest_user = make_member(plan), UserFactory()
    visitor = analytics.new_visitor_id()
    assert selectors.variant(request_for(visitor_id=visitor, user=member), "members-only") in {"control", "t1"}
    assert selectors.variant(request_for(visitor_id=visitor, user=guest_user), "members-only") is None
    assert selectors.variant(request_for(visitor_id=visitor), "members-only") is None
    assert selectors.variant_for(f"user:{member.pk}", "members-only") is None
    assert selectors.variant_for(f"user:{member.pk}", "members-only", is_member=True) is not None


def test_new_visitors_audience_counts_only_ids_issued_after_the_start():
    started = timezone.now()
    make("newcomers", audience="new_visitors", now=started)
    before = analytics.new_visitor_id(started - timedelta(days=3))
    after = analytics.new_visitor_id(started + timedelta(seconds=5))
    assert selectors.variant(request_for(visitor_id=before), "newcomers") is None
    assert selectors.variant(request_for(visitor_id=after), "newcomers") in {"control", "t1"}
    assert selectors.variant(request_for(visitor_id="f" * 32), "newcomers") is None  # an old-format id: not new
    assert selectors.variant(request_for(visitor_id=after, user=UserFactory()), "newcomers") is None  # a guest audience


def test_assignment_costs_no_query_once_the_definitions_are_cached():
    make("cheap")
    selectors.variant(request_for(visitor_id=analytics.new_visitor_id()), "cheap", expose=False)  # fills the cache
    with CaptureQueriesContext(connection) as queries:
        for _ in range(5):
            selectors.variant(request_for(visitor_id=analytics.new_visitor_id()), "cheap", expose=False)
            selectors.variant(request_for(visitor_id=analytics.new_visitor_id()), "unknown-key", expose=False)
    assert len(queries) == 0


def test_the_exposure_is_tracked_once_per_unit_and_half_hour():
    experiment = make("exposed")
    visitor = analytics.new_visitor_id()
    shown = selectors.variant(request_for(visitor_id=visitor), "exposed")
    selectors.variant(request_for(visitor_id=visitor), "exposed")
    assert selectors.variant(request_for(visitor_id=visitor), "exposed", expose=False) == shown
    [event] = exposures()
    assert event.visitor_id == visitor
    assert event.user_id is None
    assert event.properties == {"experiment_id": "exposed", "experiment_name": experiment.name,
                                "variation_id": shown, "variation_name": "Control" if shown == "control"
                                else "Treatment 1"}
    other = analytics.new_visitor_id()
    selectors.variant(request_for(visitor_id=other), "exposed")
    assert [e.visitor_id for e in exposures()] == [visitor, other]
    from django.core.cache import cache

    cache.delete(selectors.exposure_key("exposed", visitor))  # the half hour has passed (the key expired)
    selectors.variant(request_for(visitor_id=visitor), "exposed")
    assert [e.visitor_id for e in exposures()] == [visitor, other, visitor]


def test_a_signed_in_exposure_carries_the_user_and_variant_for_can_expose_too():
    make("exposed-user")
    user = UserFactory()
    selectors.variant(request_for(visitor_id=analytics.new_visitor_id(), user=user), "exposed-user")
    selectors.variant_for(f"user:{user.pk}", "exposed-user", expose=True)  # the same unit: not again
    selectors.variant_for("a" * 32, "exposed-user", expose=True)
    assert [(e.user_id, e.visitor_id) for e in exposures()] == [(user.pk, exposures()[0].visitor_id), (None, "a" * 32)]


def test_a_broken_definition_never_breaks_the_page(monkeypatch):
    make("fragile")

    def boom():
        raise RuntimeError("cache and database both gone")

    monkeypatch.setattr(selectors, "running_definitions", boom)
    assert selectors.variant(request_for(visitor_id=analytics.new_visitor_id()), "fragile") is None
    assert selectors.variant_for("a" * 32, "fragile") is None
