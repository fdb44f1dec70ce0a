"""Experiment results from the event store: hand-computed numbers (visitors in the variant of their
first exposure, orders only after it, users matched by user id and guests by visitor id), the same
numbers from the SQL and from the Python fallback, the sample-ratio check, and the admin page (the
view permission, constant queries)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core import analytics
from experiments import services as experiments_services
from insights import experiment_results, services
from tests.factories import staff_user

pytestmark = pytest.mark.django_db
KEY = "results-test"


def _experiment(weights=(1, 1), key=KEY):
    variants = [("control", "Control", weights[0])] + [(f"t{i}", f"Treatment {i}", w)
                                                       for i, w in enumerate(weights[1:], start=1)]
    experiment = experiments_services.experiment_create(key=key, name="Results test", variants=variants)
    return experiments_services.experiment_start(experiment=experiment, now=timezone.now() - timedelta(days=2))


def _exposure(at, variant, *, visitor="", user=None, key=KEY):
    return analytics.make_record("Experiment Viewed", visitor_id=visitor, user_id=user, occurred_at=at,
                                 properties={"experiment_id": key, "variation_id": variant})


def _order(at, number, revenue, *, visitor="", user=None, items=1):
    return analytics.make_record("Order Completed", visitor_id=visitor, user_id=user, occurred_at=at,
                                 anonymous=True, properties={"order_id": number, "revenue": revenue,
                                                             "currency": "USD",
                                                             "products": [{"product_id": 1, "quantity": items}]})


def _seed(started):
    t = started + timedelta(hours=1)
    later = t + timedelta(hours=2)
    next_day = t + timedelta(days=1)
    records = [
        # control: A buys twice after exposure, B bought only before, C never, D (user 7) once on another browser
        _exposure(t, "control", visitor="a" * 32),
        _order(later, "A-1", "10.00", visitor="a" * 32, items=1),
        _order(next_day, "A-2", "30.00", visitor="a" * 32, items=3),
        _order(t - timedelta(minutes=5), "B-0", "99.00", visitor="b" * 32),
        _exposure(t, "control", visitor="b" * 32),
        _exposure(t, "control", visitor="c" * 32),
        _exposure(t, "control", visitor="d" * 32, user=7),
        _order(later, "D-1", "20.00", visitor="e" * 32, user=7, items=2),
        # treatment: E buys once (then cancels), F never, G (user 8) first in t1, later shown control
        _exposure(t, "t1", visitor="e" * 31 + "0"),
        _order(later, "E-1", "50.00", visitor="e" * 31 + "0", items=1),
        analytics.make_record("Order Cancelled", visitor_id="", anonymous=True, occurred_at=next_day,
                              properties={"order_id": "E-1", "currency": "USD"}),
        _exposure(t, "t1", visitor="f" * 32),
        _exposure(t, "t1", visitor="9" * 32, user=8),
        _exposure(later, "control", visitor="9" * 32, user=8),
        # noise: another experiment, a bot, a duplicate order event, an unknown variant
        _exposure(t, "control", visitor="1" * 32, key="other"),
        _exposure(t, "mystery", visitor="2" * 32),
        _order(later + timedelta(minutes=1), "A-1", "10.00", visitor="a" * 32),
    ]
    services.events_insert([r for r in records if r is not None])


def _check(totals):
    control, treatment = totals["control"], totals["t1"]
    assert (control.visitors, control.converters, control.orders) == (4, 2, 3)
    assert control.revenue == Decimal("60.00")
    assert control.revenue_sumsq_per_order == Decimal("1400")  # 10² + 30² + 20²
    assert control.revenue_sumsq_per_visitor == Decimal("2000")  # (10 + 30)² + 20²
    assert (control.items, control.items_sumsq, control.undone_orders) == (6, 14, 0)
    assert (treatment.visitors, treatment.converters, treatment.orders) == (3, 1, 1)
    assert treatment.revenue == Decimal("50.00")
    assert (treatment.revenue_sumsq_per_order, treatment.revenue_sumsq_per_visitor) == (2500, 2500)
    assert treatment.undone_orders == 1


def test_hand_computed_totals_from_sql_and_from_python():
    experiment = _experiment()
    _seed(experiment.started_at)
    totals, daily = experiment_results.variant_totals(key=KEY, variant_keys=["control", "t1"],
                                                      since=experiment.started_at)
    _check(totals)
    py_totals, py_daily = experiment_results._variant_totals_python(key=KEY, variant_keys=["control", "t1"],
                                                                    since=experiment.started_at)
    _check(py_totals)
    assert daily == py_daily
    assert sum(v for variant, _day, v, _c in daily if variant == "control") == 4
    assert sum(c for variant, _day, _v, c in daily if variant == "control") == 2


def test_the_results_compare_each_treatment_with_the_control():
    experiment = _experiment()
    _seed(experiment.started_at)
    results = experiment_results.experiment_results(key=KEY)
    control, treatment = results.variants
    assert control.is_control
    assert control.conversion.estimate == pytest.approx(0.5)
    assert treatment.conversion.estimate == pytest.approx(1 / 3)
    assert control.aov.estimate == pytest.approx(20.0)
    assert control.rpv.estimate == pytest.approx(15.0)
    [versus] = results.treatments
    assert versus.comparison.conversion.difference.estimate == pytest.approx(1 / 3 - 0.5)
    assert 0 < versus.comparison.conversion_always_valid_p <= 1
    [cancelled, items] = versus.guardrails
    assert cancelled.treatment.estimate == pytest.approx(1.0)
    assert cancelled.control.estimate == pytest.approx(0.0)
    assert items.control.estimate == pytest.approx(2.0)
    assert not results.srm.flagged
    assert results.verdict


def test_a_sixty_forty_split_under_fifty_fifty_weights_is_flagged():
    experiment = _experiment()
    at = experiment.started_at + timedelta(minutes=5)
    records = [_exposure(at, "control" if i < 6000 else "t1", visitor=f"{i:032x}") for i in range(10_000)]
    services.events_insert(records)
    results = experiment_results.experiment_results(key=KEY)
    assert [row.totals.visitors for row in results.variants] == [6000, 4000]
    assert results.srm.flagged
    assert results.srm.p_value < 0.001
    assert results.verdict[0].startswith("Sample ratio mismatch")


def test_the_results_page_needs_the_view_permission_and_flags_the_mismatch(client):
    experiment = _experiment()
    at = experiment.started_at + timedelta(minutes=5)
    services.events_insert([_exposure(at, "control" if i < 600 else "t1", visitor=f"{i:032x}") for i in range(1000)])
    url = f"/admin/insights/experiments/{experiment.pk}/results/"
    client.force_login(staff_user())
    assert client.get(url).status_code == 403
    client.force_login(staff_user("experiments.view_experiment"))
    page = client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert "Sample ratio mismatch" in html
    assert "srm--flagged" in html
    assert "net of discounts, excluding tax and shipping" in html
    assert client.get("/admin/insights/experiments/999999/results/").status_code == 404


@pytest.mark.parametrize("weights", [(1, 1), (1, 1, 1, 2)])
def test_the_results_page_costs_the_same_queries_whatever_the_data(client, weights):
    user = staff_user("experiments.view_experiment")
    client.force_login(user)
    small = _experiment(weights, key="small")
    url = f"/admin/insights/experiments/{small.pk}/results/"
    client.get(url)  # the session and user are warm
    with CaptureQueriesContext(connection) as empty:
        assert client.get(url).status_code == 200
    _seed_many(small, 300, len(weights))
    with CaptureQueriesContext(connection) as full:
        assert client.get(url).status_code == 200
    assert len(full) == len(empty) <= 12  # session, user, permissions, the experiment (3), the 2 statements


def _seed_many(experiment, n, variants):
    at = experiment.started_at + timedelta(minutes=5)
    names = ["control"] + [f"t{i}" for i in range(1, variants)]
    records = []
    for i in range(n):
        visitor = f"{i:032x}"
        records.append(_exposure(at, names[i % variants], visitor=visitor, key=experiment.key))
        if i % 7 == 0:
            records.append(_order(at + timedelta(hours=i % 30), f"N-{i}", f"{10 + i % 13}.50", visitor=visitor))
    services.events_insert(records)
