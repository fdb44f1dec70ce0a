"""The KPI dashboard in admin (insights.admin_dashboard): staff with the permission see the shop's
KPIs with their previous period, SVG charts, splits and searches, in the same number of queries for
1 or 28 days; the CSV holds the daily series and the splits; a seller member sees only their own
slice with their buy-box share, never another seller's; staff without the permission are refused."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from insights import rollups
from insights.models import DailyMetric, DailySearch
from tests.factories import SellerFactory, seller_member, staff_user

pytestmark = pytest.mark.django_db

URL = "/admin/insights/dailymetric/"
END = date(2025, 3, 28)


def day_row(day, dimension="all", value="", **sums):
    base = {"sessions": 100, "visitors": 80, "bounces": 40, "sessions_list": 70, "sessions_product": 60,
            "sessions_cart": 20, "sessions_checkout": 8, "sessions_order": 4, "cart_sessions": 16, "orders": 4,
            "revenue": Decimal("200.00"), "items": 6, "product_views": 90, "featured_views": 0}
    DailyMetric.objects.create(day=day, dimension=dimension, value=str(value), **{**base, **sums})


@pytest.fixture
def sellers():
    return SellerFactory(name="Acme Lamps"), SellerFactory(name="Zed Rakes")


@pytest.fixture
def metrics(sellers):
    acme, zed = sellers
    for offset in range(56):  # 28 days and the 28 before them
        day = END - timedelta(days=offset)
        current = offset < 28
        day_row(day, sessions=100 if current else 50, orders=4 if current else 1)
        day_row(day, "device", "mobile", sessions=60)
        day_row(day, "channel", "web", sessions=90)
        day_row(day, "category", "Lamps", sessions=30)
        day_row(day, "seller", acme.pk, sessions=10, orders=1, revenue=Decimal("50.00"), product_views=20,
                featured_views=15)
        day_row(day, "seller", zed.pk, sessions=7, orders=2, revenue=Decimal("99.00"), product_views=10,
                featured_views=1)
        DailySearch.objects.create(day=day, query="lamp", searches=5, zero_results=0)
        DailySearch.objects.create(day=day, query="lampp", searches=2, zero_results=2)
    return sellers


def page(client, **params):
    params.setdefault("end", END.isoformat())
    return client.get(URL, params)


def test_staff_see_kpis_compared_with_the_previous_period_charts_splits_and_searches(client, metrics):
    client.force_login(staff_user("insights.view_dailymetric"))

    response = page(client, start=(END - timedelta(days=27)).isoformat())

    assert response.status_code == 200
    html = response.content.decode()
    report = response.context["report"]
    assert (report.current.sessions, report.previous.sessions) == (2800, 1400)
    assert report.current.conversion_rate == Decimal(112) / Decimal(2800)  # 4% now
    assert [d.change for d in report.deltas if d.name == "sessions"] == [Decimal(1)]  # +100%
    assert "+100.0%" in html
    assert "+2.00 pp" in html  # conversion: 4.00% against 28 / 1400 = 2.00%
    assert html.count('<svg class="chart"') == 4  # sessions, conversion, revenue, funnel
    assert "AOV and revenue per visitor are net of discounts, excluding tax and shipping" in html
    assert "Acme Lamps" in html
    assert "Zed Rakes" in html
    assert "lampp" in html
    assert "/admin/insights/dailymetric/csv/?" in html


def test_the_page_costs_the_same_queries_for_one_day_and_for_28(client, metrics):
    client.force_login(staff_user("insights.view_dailymetric"))
    page(client, start=END.isoformat())  # warm up what is cached per process

    with CaptureQueriesContext(connection) as one_day:
        assert page(client, start=END.isoformat()).status_code == 200
    with CaptureQueriesContext(connection) as four_weeks:
        assert page(client, start=(END - timedelta(days=27)).isoformat()).status_code == 200

    assert len(one_day) == len(four_weeks) <= 12


def test_the_csv_holds_the_daily_series_and_the_splits(client, metrics):
    client.force_login(staff_user("insights.view_dailymetric"))

    response = client.get(URL + "csv/", {"start": "2025-03-27", "end": "2025-03-28"})

    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    series = [row for row in rows if row["dimension"] == "all"]
    assert [(row["day"], row["sessions"], row["orders"], row["conversion_rate"], row["average_order_value"])
            for row in series] == [("2025-03-27", "100", "4", "0.0400", "50.00"),
                                   ("2025-03-28", "100", "4", "0.0400", "50.00")]
    acme = next(row for row in rows if row["label"] == "Acme Lamps")
    assert (acme["day"], acme["dimension"], acme["sessions"], acme["buy_box_share"]) == (
        "2025-03-27..2025-03-28", "seller", "20", "0.7500")
    assert {row["dimension"] for row in rows} == {"all", "device", "channel", "category", "seller"}


def test_a_seller_sees_only_their_own_slice_and_buy_box_share(client, metrics):
    acme, zed = metrics
    client.force_login(seller_member(acme))

    response = page(client, start="2025-03-01")

    assert response.status_code == 200
    html = response.content.decode()
    report = response.context["report"]
    assert (report.dimension, report.value) == ("seller", str(acme.pk))
    assert report.current.sessions == 280
    assert report.current.buy_box_share == Decimal("0.75")
    assert "Buy-box share" in html
    assert "75.00%" in html
    assert "Zed Rakes" not in html
    assert "lampp" not in html  # the shop's searches are not a seller's
    assert report.splits == {}
    # Another seller's figures, by page or by CSV, are refused.
    assert page(client, start="2025-03-01", seller=zed.pk).status_code == 403
    assert client.get(URL + "csv/", {"seller": zed.pk}).status_code == 403
    own = client.get(URL + "csv/", {"start": "2025-03-28", "end": "2025-03-28"}).content.decode()
    assert {row["value"] for row in csv.DictReader(io.StringIO(own))} == {str(acme.pk)}


def test_platform_staff_can_pick_a_seller(client, metrics):
    acme, zed = metrics
    client.force_login(staff_user("insights.view_dailymetric"))

    report = page(client, start="2025-03-28", seller=zed.pk).context["report"]

    assert (report.value, report.current.orders, report.current.buy_box_share) == (str(zed.pk), 2, Decimal("0.1"))


def test_staff_without_the_permission_are_refused(client, metrics):
    client.force_login(staff_user("insights.view_event"))

    assert client.get(URL).status_code == 403
    assert client.get(URL + "csv/").status_code == 403
    index = client.get("/admin/").content.decode()
    assert URL not in index


def test_a_bad_range_is_a_form_error(client):
    client.force_login(staff_user("insights.view_dailymetric"))

    response = client.get(URL, {"start": "2025-03-10", "end": "2025-03-01"})

    assert response.status_code == 200
    assert "before its start" in response.content.decode()
    assert client.get(URL + "csv/", {"start": "2025-03-10", "end": "2025-03-01"}).status_code == 400


def test_the_dashboard_reads_what_the_rollup_wrote(client):
    rollups.rollup_day(END)
    client.force_login(staff_user("insights.view_dailymetric"))

    response = page(client, start=END.isoformat())

    assert response.context["report"].current.sessions == 0
    assert "No searches." in response.content.decode()
