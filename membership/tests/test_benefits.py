"""benefits_for: what each status gives, at most one query, cached and invalidated on change."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache

from marketplace.benefits import Benefits
from membership import selectors, services
from membership.models import Subscription
from membership.tests.conftest import join, make_plan, reload
from tests.commit import committed
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
S = Subscription.Status
PLUS = Benefits(plan_name="Bazaar Plus", free_shipping=True, fast_shipping=True, member_prices=True,
                      member_deals=True)


def test_guests_and_non_members_have_none(django_assert_max_num_queries):
    make_plan()
    with django_assert_max_num_queries(0):
        assert selectors.benefits_for(AnonymousUser()) is None
        assert selectors.benefits_for(None) is None
    someone = UserFactory()
    with django_assert_max_num_queries(1):
        assert selectors.benefits_for(someone) is None
    with django_assert_max_num_queries(0):  # cached as "not a member"
        assert selectors.benefits_for(someone) is None


@pytest.mark.parametrize(("status", "benefits"), [
    (S.TRIALING, True), (S.ACTIVE, True), (S.PAST_DUE, True), (S.CANCELLED, True), (S.EXPIRED, False)])
def test_each_status_inside_its_period(user, plan, travel, status, benefits):
    subscription = join(user, plan)
    if status == S.PAST_DUE:
        grace = subscription.current_period_end + timedelta(days=7)
        services.subscription_transition(subscription=subscription, to=status, grace_until=grace)
    elif status != S.TRIALING:
        services.subscription_transition(subscription=subscription, to=status)
    assert selectors.benefits_for(user) == (PLUS if benefits else None)
    assert reload(subscription).has_benefits is benefits


def test_benefits_stop_at_the_instant_they_end_even_when_cached(user, plan, travel):
    subscription = join(user, plan)
    services.membership_cancel(user=user)
    assert selectors.benefits_for(user) == PLUS  # now cached, with the instant they stop
    travel(subscription.current_period_end - timedelta(seconds=1))
    assert selectors.benefits_for(user) == PLUS
    travel(subscription.current_period_end)
    assert selectors.benefits_for(user) is None


def test_past_due_keeps_benefits_during_grace_only(user, plan, travel):
    subscription = join(user, plan)
    grace = subscription.current_period_end + timedelta(days=7)
    services.subscription_transition(subscription=subscription, to=S.PAST_DUE, grace_until=grace)
    travel(grace - timedelta(seconds=1))
    assert selectors.benefits_for(user) == PLUS
    travel(grace)
    assert selectors.benefits_for(user) is None


def test_a_renewal_the_worker_has_not_run_yet_does_not_cut_benefits(user, plan, travel):
    subscription = join(user, plan)
    travel(subscription.current_period_end + timedelta(hours=6))
    assert selectors.benefits_for(user) == PLUS


def test_a_cache_hit_costs_no_query_and_every_change_is_seen(user, plan, django_assert_num_queries):
    join(user, plan)
    selectors.benefits_for(user)
    with django_assert_num_queries(0):
        assert selectors.benefits_for(user) == PLUS
    with committed():
        services.subscription_expire(subscription=selectors.live_subscription(user))
    with django_assert_num_queries(1):
        assert selectors.benefits_for(user) is None
    join(user, plan)
    assert selectors.benefits_for(user) == PLUS


def test_editing_a_plan_changes_every_members_benefits(user, plan):
    join(user, plan)
    assert selectors.benefits_for(user).member_deals
    plan.member_deals = False
    with committed():
        services.plan_save(plan=plan)
    assert selectors.benefits_for(user) == Benefits(plan_name="Bazaar Plus", free_shipping=True, fast_shipping=True,
                                                   member_prices=True, member_deals=False)


def test_without_the_cache_it_still_answers_from_the_database(user, plan, settings):
    join(user, plan)
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
    cache.clear()
    assert selectors.benefits_for(user) == PLUS


def test_preview_and_featured_plan():
    assert selectors.featured_plan() is None
    assert selectors.benefits_preview() is None
    cheap = make_plan(slug="cheap", name="Cheap", monthly_price="5.00")
    make_plan(slug="dear", name="Dear", monthly_price="20.00")
    make_plan(slug="off", name="Off", monthly_price="1.00", is_active=False)
    assert selectors.featured_plan() == cheap
    assert selectors.benefits_preview().plan_name == "Cheap"


def test_a_change_made_in_another_process_reaches_this_ones_copy(user, plan):
    """Benefits are kept in the process (core.cache's local layer, no Redis round trip per request);
    a membership that ends in another process (a worker, another web process) is seen here as soon
    as its bump is heard."""
    import time

    from core import cache as vcache

    if vcache._redis_url() is None:
        pytest.skip("needs REDIS_URL (the layer listens on Redis pub/sub)")
    deadline = time.monotonic() + 5
    while not vcache._local_ready():
        assert time.monotonic() < deadline, "the listener never subscribed"
        time.sleep(0.05)
    join(user, plan)
    assert selectors.benefits_for(user) == PLUS
    key = f"membership:benefits:{user.pk}"
    assert key in vcache._local.entries  # served from the process from now on
    # another process expires the membership: its row, then its bump, published as that process would
    Subscription.objects.filter(user=user).update(status=S.EXPIRED)
    new = vcache._new_version(vcache.BUMPED)
    namespace = selectors.user_namespace(user.pk)
    cache.set(vcache._version_key(namespace), new, vcache.VERSION_TIMEOUT)
    cache.client.get_client(write=True).publish(vcache._channel(), vcache._encode({namespace: new}))
    deadline = time.monotonic() + 3
    while vcache._local.versions.get(namespace) != new:
        assert time.monotonic() < deadline, "the bump was never heard"
        time.sleep(0.02)
    assert selectors.benefits_for(user) is None
