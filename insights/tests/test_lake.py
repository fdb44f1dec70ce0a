"""The analytics lake (insights.lake, manage.py export_lake): the Hive layout DuckDB reads as it is,
raw against clean (bots, copies, test orders), pseudonyms (stable, keyed, no identifier left in any
file), incremental and atomic days, the curated zone against its tables, the command."""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import duckdb
import pyarrow.parquet as pq
import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from core import analytics
from experiments import services as experiments_services
from insights import lake, rollups, services
from insights.models import DailyMetric, DailySearch, Session
from orders.models import Order

pytestmark = pytest.mark.django_db

DAY1, DAY2, EMPTY_DAY = date(2025, 3, 4), date(2025, 3, 5), date(2025, 3, 6)
V1, V2, V3 = "a1" * 16, "b2" * 16, "c3" * 16  # visitor ids
USER = 770011223344  # a user id no other number in the files could be
EMAIL = "shopper.private@mail-provider.net"
DUPLICATE = uuid.UUID("11111111-2222-4333-8444-555555555555")


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


def put(name, when, *, visitor=V1, user=None, bot=False, event_id=None, **properties):
    record = analytics.make_record(name, visitor_id=visitor, user_id=user, properties=properties, occurred_at=when,
                                   device="desktop", event_id=event_id, anonymous=True)
    record["is_bot"] = bot
    services.events_insert([record])


@pytest.fixture
def lake_root(settings, tmp_path):
    settings.LAKE_ROOT = str(tmp_path / "lake")
    settings.LAKE_PSEUDONYM_KEY = "a test key"
    return tmp_path / "lake"


@pytest.fixture
def traffic():
    """Two days: a signed-in shopper seen both days, a guest, a bot, one event stored twice (two times),
    an order flagged "test", an order whose e-mail is at example.com (cancelled the next day), a real one."""
    Order.objects.create(number="T-EMAIL", email="qa@shop.example.com", currency="USD", subtotal=5, total=5,
                         shipping_address={}, billing_address={}, idempotency_key="k1")
    # day 1
    put("Signed In", at(DAY1, 9), user=USER)
    put("Product Viewed", at(DAY1, 9, 1), user=USER, product_id=1, email=EMAIL, customer_name="Ann Private")
    put("Products Searched", at(DAY1, 9, 2), user=USER, query=f"order for {EMAIL}", results=0)
    put("Order Completed", at(DAY1, 9, 5), user=USER, order_id="R-1", revenue="20.00",
        products=[{"product_id": 1, "quantity": 2}])
    put("Product Viewed", at(DAY1, 10), visitor=V2, product_id=2, event_id=DUPLICATE)
    put("Product Viewed", at(DAY1, 10, 0) + timedelta(seconds=3), visitor=V2, product_id=2, event_id=DUPLICATE)
    put("Order Completed", at(DAY1, 10, 5), visitor=V2, order_id="T-FLAG", revenue="9.00", test=True)
    put("Order Completed", at(DAY1, 11), visitor=V2, order_id="T-EMAIL", revenue="5.00")
    put("Product Viewed", at(DAY1, 12), visitor=V3, bot=True, product_id=3)
    # day 2
    put("Product Viewed", at(DAY2, 8), user=USER, product_id=4)
    put("Order Cancelled", at(DAY2, 9), visitor=V2, order_id="T-EMAIL")
    put("Order Cancelled", at(DAY2, 9, 30), visitor=V2, order_id="T-FLAG")
    for day in (DAY1, DAY2):
        rollups.rollup_day(day)


def export(**kwargs):
    kwargs.setdefault("days", [DAY1, DAY2])
    return {(r.zone, r.table, r.day): r for r in lake.export(**kwargs)}


def files(root) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


TABLES = ("raw_events", "clean_events", "curated_sessions", "curated_daily_metrics", "curated_daily_searches",
          "curated_experiment_results")


def query(root, sql: str, params=()):
    """``sql`` in DuckDB over the lake as an analyst reads it: one view per table, Hive partitions on."""
    db = duckdb.connect()
    for name in TABLES:
        zone, table = name.split("_", 1)
        if (root / zone / table).exists():
            db.read_parquet(f"{root}/{zone}/{table}/*/*.parquet", hive_partitioning=True).create_view(name)
    return db.execute(sql, list(params)).fetchall()


def rows_in(path) -> int:
    return pq.read_metadata(path).num_rows


def test_the_hive_layout_has_one_file_per_table_and_day(lake_root, traffic):
    export()

    per_day = [f"{table}/date={day}/part-0.parquet" for table in ("raw/events", "clean/events", "curated/sessions",
                                                                   "curated/daily_metrics", "curated/daily_searches")
               for day in ("2025-03-04", "2025-03-05")]
    searches_day2 = "curated/daily_searches/date=2025-03-05/part-0.parquet"  # nobody searched on day 2
    manifests = [f"{t}/_manifest.json" for t in ("raw/events", "clean/events", "curated/sessions",
                                                 "curated/daily_metrics", "curated/daily_searches")]
    assert files(lake_root) == (set(per_day) - {searches_day2}) | set(manifests)
    assert not (lake_root / "curated/experiment_results").exists()  # no experiment has started
    assert not list((lake_root / "_staging").iterdir())
    manifest = json.loads((lake_root / "raw/events/_manifest.json").read_text())
    assert manifest["days"]["2025-03-04"]["rows"] == 9


def test_duckdb_reads_every_zone_with_hive_partitions(lake_root, traffic):
    export()

    def by_day(table):
        return query(lake_root, f"SELECT date, count(*) FROM {table} GROUP BY date ORDER BY date")  # noqa: S608

    assert by_day("raw_events") == [(DAY1, 9), (DAY2, 3)]
    assert by_day("clean_events") == [(DAY1, 5), (DAY2, 1)]  # copy, bot, test orders (and their cancels) gone
    assert by_day("curated_sessions") == [(DAY1, Session.objects.filter(day=DAY1).count()),
                                          (DAY2, Session.objects.filter(day=DAY2).count())]
    assert by_day("curated_daily_metrics") == [(DAY1, DailyMetric.objects.filter(day=DAY1).count()),
                                               (DAY2, DailyMetric.objects.filter(day=DAY2).count())]
    assert by_day("curated_daily_searches") == [(DAY1, 1)]
    [(kind,)] = query(lake_root, "SELECT typeof(occurred_at) FROM raw_events LIMIT 1")
    assert kind == "TIMESTAMP WITH TIME ZONE"
    [(revenue,)] = query(lake_root, "SELECT sum(CAST(json_extract_string(properties, '$.revenue') AS DECIMAL(14,2))) "
                         "FROM clean_events WHERE name = 'Order Completed'")
    assert revenue == Decimal("20.00")  # only the real order


def test_raw_keeps_bots_and_copies_and_clean_drops_them_and_test_orders(lake_root, traffic):
    reports = export()

    raw = query(lake_root, "SELECT name, visitor_id, is_bot, properties FROM raw_events WHERE event_id = ? OR is_bot",
                [str(DUPLICATE)])
    assert sorted((name, visitor, bot) for name, visitor, bot, _p in raw) == [
        ("Product Viewed", V2, False), ("Product Viewed", V2, False), ("Product Viewed", V3, True)]
    clean = query(lake_root, "SELECT event_id, name, json_extract_string(properties, '$.order_id') "
                  "FROM clean_events ORDER BY occurred_at")
    assert [row[1] for row in clean] == ["Signed In", "Product Viewed", "Products Searched", "Order Completed",
                                         "Product Viewed", "Product Viewed"]
    assert [row[0] for row in clean].count(str(DUPLICATE)) == 1
    assert {row[2] for row in clean} == {None, "R-1"}  # T-FLAG ("test": true), T-EMAIL (example.com) dropped
    assert reports[("clean", "events", DAY1)].dropped == 4  # a copy, a bot, two test orders' events
    assert reports[("clean", "events", DAY2)].dropped == 2  # the test orders' cancellations
    [(first,)] = query(lake_root, "SELECT occurred_at FROM clean_events WHERE event_id = ?", [str(DUPLICATE)])
    assert first == at(DAY1, 10)  # the copy received first


def test_pseudonyms_are_stable_across_days_and_runs_and_change_with_the_key(lake_root, traffic, settings):
    export()
    distinct_users = "SELECT DISTINCT user_key FROM clean_events WHERE user_key IS NOT NULL"
    keys = query(lake_root, "SELECT DISTINCT date, user_key FROM clean_events WHERE user_key IS NOT NULL ORDER BY date")
    assert [day for day, _k in keys] == [DAY1, DAY2]
    assert keys[0][1] == keys[1][1]  # the same user on both days
    assert len(keys[0][1]) == 32
    [(session_user,)] = query(lake_root, "SELECT DISTINCT user_key FROM curated_sessions WHERE user_key IS NOT NULL")
    assert session_user == keys[0][1]  # clean and curated join
    # an event's session: the curated session of its unit whose time range holds it
    joined = query(lake_root, "SELECT e.date, count(*), count(DISTINCT s.session_key) FROM clean_events e "
                   "JOIN curated_sessions s ON s.date = e.date AND s.unit_key = COALESCE(e.visitor_key, e.user_key) "
                   "AND e.occurred_at BETWEEN s.started_at AND s.ended_at GROUP BY e.date ORDER BY e.date")
    assert joined == [(DAY1, 5, 2), (DAY2, 1, 1)]  # every clean event finds its one session

    export(force=True)
    assert query(lake_root, distinct_users) == [(keys[0][1],)]

    settings.LAKE_PSEUDONYM_KEY = "another key"
    reports = export()
    assert reports[("clean", "events", DAY1)].status == "written"  # the rules changed: rewritten
    assert reports[("raw", "events", DAY1)].status == "unchanged"
    [(other,)] = query(lake_root, distinct_users)
    assert other != keys[0][1]


def test_no_identifier_is_left_in_any_clean_or_curated_file(lake_root, traffic, settings):
    settings.LAKE_COMPRESSION = "none"  # plain bytes, so a search finds what is there
    export()
    needles = [V1.encode(), V2.encode(), V3.encode(), str(USER).encode(), USER.to_bytes(8, "little"),
               EMAIL.encode(), b"Ann Private", b"qa@shop.example.com"]
    raw = b"".join(p.read_bytes() for p in (lake_root / "raw").rglob("*.parquet"))
    # the search finds them where they are (the raw zone stores the user id as an int64, not as text)
    assert [n in raw for n in needles[:6]] == [True, True, True, False, True, True]
    for zone in ("clean", "curated"):
        for path in (lake_root / zone).rglob("*"):
            if path.is_file():
                content = path.read_bytes()
                assert not [n for n in needles if n in content], path
    [(props,)] = query(lake_root, "SELECT properties FROM clean_events WHERE name = 'Products Searched'")
    assert json.loads(props) == {"query": "order for [email]", "results": 0}


def test_a_second_run_writes_nothing_and_a_new_event_rewrites_its_day_only(lake_root, traffic):
    export()
    before = {p: (lake_root / p).read_bytes() for p in files(lake_root) if p.endswith(".parquet")}

    again = export()
    assert {r.status for r in again.values()} == {"unchanged", "empty"}
    assert {p: (lake_root / p).read_bytes() for p in before} == before

    put("Product Viewed", at(DAY1, 15), visitor=V3, product_id=9)
    third = export()
    written = sorted((zone, table, day) for (zone, table, day), r in third.items() if r.status == "written")
    assert written == [("clean", "events", DAY1), ("raw", "events", DAY1)]
    assert rows_in(lake_root / "raw/events/date=2025-03-04/part-0.parquet") == 10

    rollups.rollup_day(DAY1)  # the new event's session: sessions and metrics change, the events are not rewritten
    fourth = export()
    assert {key for key, r in fourth.items() if r.status == "written"} == {
        ("curated", "sessions", DAY1), ("curated", "daily_metrics", DAY1)}


def test_an_interrupted_write_leaves_the_old_day_intact(lake_root, traffic, monkeypatch):
    export(zones=["raw"])
    path = lake_root / "raw/events/date=2025-03-04/part-0.parquet"
    old = path.read_bytes()
    manifest = (lake_root / "raw/events/_manifest.json").read_text()
    put("Product Viewed", at(DAY1, 16), visitor=V3, product_id=9)

    def crash(*args):
        raise OSError("disk gone")

    monkeypatch.setattr(lake, "_publish", crash)
    with pytest.raises(OSError, match="disk gone"):
        export(zones=["raw"])

    assert path.read_bytes() == old
    assert (lake_root / "raw/events/_manifest.json").read_text() == manifest
    assert not list((lake_root / "_staging").iterdir())
    assert rows_in(path) == 9
    monkeypatch.undo()
    assert export(zones=["raw"])[("raw", "events", DAY1)].status == "written"
    assert rows_in(path) == 10


def test_curated_sessions_and_metrics_match_the_tables(lake_root, traffic):
    export(zones=["curated"])

    sessions = query(lake_root, "SELECT date, count(*), sum(events), sum(orders), sum(revenue), sum(pages) "
                                "FROM curated_sessions GROUP BY date ORDER BY date")
    expected = []
    for day in (DAY1, DAY2):
        rows = Session.objects.filter(day=day)
        expected.append((day, rows.count(), sum(s.events for s in rows), sum(s.orders for s in rows),
                         sum((s.revenue for s in rows), Decimal(0)), sum(s.pages for s in rows)))
    assert sessions == expected
    metrics = query(lake_root, "SELECT date, dimension, value, sessions, visitors, orders, revenue, items "
                               "FROM curated_daily_metrics ORDER BY date, dimension, value")
    assert metrics == [(m.day, m.dimension, m.value, m.sessions, m.visitors, m.orders, m.revenue, m.items)
                       for m in DailyMetric.objects.order_by("day", "dimension", "value")]
    assert query(lake_root, "SELECT query, searches, zero_results FROM curated_daily_searches") == [
        (s.query.replace(EMAIL, "[email]"), s.searches, s.zero_results) for s in DailySearch.objects.all()]


def test_a_running_experiment_has_one_row_per_variant_on_the_export_day(lake_root):
    started = timezone.now() - timedelta(days=1)
    experiment = experiments_services.experiment_create(
        key="lake-test", name="Lake test", variants=[("control", "Control", 1), ("t1", "Treatment", 1)])
    experiments_services.experiment_start(experiment=experiment, now=started)
    for n, (variant, visitor) in enumerate([("control", V1), ("control", V2), ("t1", V3)]):
        put("Experiment Viewed", started + timedelta(minutes=n + 1), visitor=visitor,
            experiment_id="lake-test", variation_id=variant)
    put("Order Completed", started + timedelta(minutes=30), visitor=V3, order_id="E-1", revenue="12.50")

    today = timezone.now().astimezone(UTC).date()
    reports = export(days=[], zones=["curated"])

    assert reports[("curated", "experiment_results", today)].status == "written"
    rows = query(lake_root, "SELECT date, experiment_key, variant_key, is_control, visitors, converters, orders, "
                            "revenue, conversion, conversion_low, conversion_p_value, srm_p_value "
                            "FROM curated_experiment_results ORDER BY variant_key")
    assert [row[:8] for row in rows] == [
        (today, "lake-test", "control", True, 2, 0, 0, Decimal("0.00")),
        (today, "lake-test", "t1", False, 1, 1, 1, Decimal("12.50"))]
    assert rows[1][8] == 1.0
    assert rows[1][9] is not None
    assert rows[1][10] is not None
    assert rows[0][10] is None  # nothing to compare the control with
    assert rows[0][11] is not None
    assert export(days=[], zones=["curated"])[("curated", "experiment_results", today)].status == "unchanged"


def test_a_day_without_events_exports_nothing(lake_root):
    reports = export(days=[EMPTY_DAY])

    assert {r.status for r in reports.values()} == {"empty"}
    assert not [p for p in files(lake_root) if p.endswith(".parquet")]


def test_the_command_shows_progress_and_takes_its_options(lake_root, traffic):
    out = io.StringIO()
    call_command("export_lake", "--from", "2025-03-04", "--to", "2025-03-05", "--zone", "raw", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["raw/events", "2025-03-04", "[#####.....]", "9", "rows", "written",
                                *lines[0].split()[6:]]
    assert lines[1].startswith("raw/events                  2025-03-05 [##########]           3 rows  written")
    assert "2 day file(s) written (12 rows)" in lines[-1]
    assert not (lake_root / "clean").exists()

    quiet = io.StringIO()
    call_command("export_lake", "--from", "2025-03-04", "--to", "2025-03-05", "--quiet", stdout=quiet)
    assert quiet.getvalue() == ""
    assert (lake_root / "clean/events/date=2025-03-05/part-0.parquet").exists()

    out = io.StringIO()
    call_command("export_lake", "--from", "2025-03-04", "--to", "2025-03-04", "--zone", "raw", stdout=out)
    assert "unchanged" in out.getvalue().splitlines()[0]
    out = io.StringIO()
    call_command("export_lake", "--from", "2025-03-04", "--to", "2025-03-04", "--zone", "raw", "--force", stdout=out)
    assert "written" in out.getvalue().splitlines()[0]

    with pytest.raises(CommandError, match="one of"):
        call_command("export_lake", "--days", "2", "--full")
    with pytest.raises(CommandError, match="after"):
        call_command("export_lake", "--from", "2025-03-05", "--to", "2025-03-04")
    with pytest.raises(CommandError, match="not a day"):
        call_command("export_lake", "--from", "March")


def test_full_covers_every_day_kept_and_days_the_last_ones(lake_root, traffic):
    today = timezone.now().astimezone(UTC).date()
    assert lake.stored_days(today=today)[0] == DAY1
    assert lake.stored_days(today=today)[-1] == today
    assert lake.recent_days(2, today=today) == [today - timedelta(days=1), today]
    out = io.StringIO()
    call_command("export_lake", "--full", "--zone", "raw", stdout=out)
    assert "2 day file(s) written (12 rows)" in out.getvalue()


def test_one_export_at_a_time(lake_root):
    from django.core.cache import cache

    cache.set(lake.LOCK_KEY, "someone", 60)
    try:
        with pytest.raises(lake.LakeBusy):
            lake.export(days=[DAY1])
        with pytest.raises(CommandError, match="another lake export"):
            call_command("export_lake", "--days", "1")
    finally:
        cache.delete(lake.LOCK_KEY)
