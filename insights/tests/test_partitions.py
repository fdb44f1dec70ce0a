"""The event table is partitioned by day on PostgreSQL: partitions are created ahead (idempotent,
moving nothing), rows land in their day's partition (or the default one), and old days are
dropped whole, never younger ones."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from core import analytics
from insights import selectors, services, tasks
from insights.models import Event

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("postgres")]


def day_names() -> list[str]:
    return [p.name for p in selectors.event_partitions() if p.day is not None]


def store(when: datetime) -> uuid.UUID:
    event_id = uuid.uuid4()
    services.events_insert([analytics.make_record("Signed In", visitor_id="a" * 32, occurred_at=when,
                                                  event_id=event_id)])
    return event_id


def test_the_table_is_partitioned_by_range_on_occurred_at_with_a_default_partition():
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_partkeydef('insights_event'::regclass)")
        assert cursor.fetchone()[0] == "RANGE (occurred_at)"
    partitions = selectors.event_partitions()
    assert [p.bound for p in partitions if p.name == selectors.DEFAULT_PARTITION] == ["DEFAULT"]


def test_partitions_are_created_ahead_once():
    today = timezone.now().astimezone(UTC).date()
    services.partitions_ensure(days_ahead=9)
    names = day_names()
    for offset in range(10):
        assert f"insights_event_p{today + timedelta(days=offset):%Y%m%d}" in names
    assert services.partitions_ensure(days_ahead=9) == []  # idempotent
    later = services.partitions_ensure(days_ahead=10)
    assert later == [f"insights_event_p{today + timedelta(days=10):%Y%m%d}"]


def test_rows_land_in_their_days_partition_or_the_default_one():
    services.partitions_ensure(days_ahead=2)
    today = timezone.now().astimezone(UTC).date()
    tomorrow_late = datetime(today.year, today.month, today.day, 23, 59, 59, tzinfo=UTC) + timedelta(days=1)
    midnight = datetime(today.year, today.month, today.day, tzinfo=UTC) + timedelta(days=2)
    far = datetime(2001, 1, 1, tzinfo=UTC)
    assert selectors.partition_of_event(event_id=store(tomorrow_late)) == \
        f"insights_event_p{today + timedelta(days=1):%Y%m%d}"
    assert selectors.partition_of_event(event_id=store(midnight)) == \
        f"insights_event_p{today + timedelta(days=2):%Y%m%d}"
    assert selectors.partition_of_event(event_id=store(far)) == "insights_event_default"
    assert Event.objects.count() == 3


def test_a_day_whose_rows_are_in_the_default_partition_gets_none_and_nothing_moves():
    day = date(2030, 6, 1)
    store(datetime(2030, 6, 1, 10, tzinfo=UTC))
    created = services.partitions_ensure(days_ahead=1, today=day)
    assert created == ["insights_event_p20300602"]
    assert "insights_event_p20300601" not in day_names()
    assert Event.objects.filter(occurred_at__date=day).count() == 1


def test_old_partitions_are_dropped_whole_and_younger_ones_kept():
    today = timezone.now().astimezone(UTC).date()
    old_day = today - timedelta(days=401)
    edge_day = today - timedelta(days=400)
    services.partitions_ensure(days_ahead=1, today=old_day)  # old_day and the next (the edge) day
    old_event = store(datetime(old_day.year, old_day.month, old_day.day, 12, tzinfo=UTC))
    edge_event = store(datetime(edge_day.year, edge_day.month, edge_day.day, 12, tzinfo=UTC))
    default_event = store(datetime(1999, 1, 1, tzinfo=UTC))
    services.partitions_ensure()
    before = set(day_names())

    dropped = services.partitions_drop_older_than(days=400)

    assert dropped == [f"insights_event_p{old_day:%Y%m%d}"]
    assert set(day_names()) == before - set(dropped)
    assert not Event.objects.filter(event_id=old_event).exists()
    assert Event.objects.filter(event_id=edge_event).exists()
    assert Event.objects.filter(event_id=default_event).exists()  # the default partition is never dropped
    assert selectors.DEFAULT_PARTITION in [p.name for p in selectors.event_partitions()]
    assert services.partitions_drop_older_than(days=400) == []


def test_the_beat_tasks_keep_partitions(settings):
    settings.INSIGHTS_PARTITIONS_AHEAD_DAYS = 12
    today = timezone.now().astimezone(UTC).date()
    tasks.ensure_partitions.delay()
    assert f"insights_event_p{today + timedelta(days=12):%Y%m%d}" in day_names()
    services.partitions_ensure(days_ahead=0, today=today - timedelta(days=30))
    settings.INSIGHTS_RETENTION_DAYS = 20
    tasks.drop_old_partitions.delay()
    assert f"insights_event_p{today - timedelta(days=30):%Y%m%d}" not in day_names()
    assert f"insights_event_p{today:%Y%m%d}" in day_names()

