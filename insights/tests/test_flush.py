"""Draining the Redis buffer: at least once, deduplicated by event id, malformed records skipped
and counted, never a crash; one flusher at a time."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
from django.core.management import call_command

from core import analytics
from insights import services
from insights.models import Event

pytestmark = pytest.mark.django_db

WHEN = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)


def record(**changes) -> str:
    base = analytics.make_record("Product Viewed", visitor_id="a" * 32, properties={"product_id": 1},
                                 occurred_at=WHEN)
    base.update(changes)
    return json.dumps(base)


def test_the_same_batch_twice_stores_each_event_once(buffer):
    batch = [record(), record(), record(name="Products Searched", properties={"query": "tea"})]
    buffer.push(*batch)
    assert services.events_flush().accepted == 3
    buffer.push(*batch)  # replayed (a flusher died after its commit, before its trim)
    assert services.events_flush().read == 3
    assert Event.objects.count() == 3
    assert len({e.event_id for e in Event.objects.all()}) == 3


def test_a_worker_dying_after_its_insert_loses_nothing_and_doubles_nothing(buffer):
    buffer.push(*[record() for _ in range(7)])
    raw = buffer.client.lrange(buffer.key, 0, 3)
    services.events_insert(raw)  # the dead worker's batch: committed, never trimmed from the list
    assert Event.objects.count() == 4
    report = services.events_flush(batch_size=5)
    assert report.read == 7
    assert Event.objects.count() == 7
    assert len(buffer) == 0


def test_malformed_records_are_skipped_and_counted_never_crashing_the_drain(buffer):
    good = [record(), record()]
    bad = [
        "{not json", json.dumps([1, 2]), record(event_id="nope"), record(name=""), record(name="x" * 65),
        record(occurred_at="yesterday"), record(occurred_at="2026-05-04T08:00:00"),  # naive
        record(user_id="12"), record(user_id=True),
        record(properties=["a"]), record(properties={"q": "nul\x00byte"}), record(visitor_id="v" * 37),
        b"\xff\xfe",
    ]
    buffer.push(good[0], *bad, good[1])
    report = services.events_flush()
    assert (report.read, report.accepted, report.skipped) == (len(bad) + 2, 2, len(bad))
    assert Event.objects.count() == 2
    assert len(buffer) == 0


def test_records_are_drained_in_batches(buffer):
    buffer.push(*[record() for _ in range(25)])
    report = services.events_flush(batch_size=10)
    assert report.read == 25
    assert Event.objects.count() == 25


def test_one_flusher_at_a_time_and_a_flusher_that_lost_its_lock_trims_nothing(buffer):
    buffer.push(record())
    lock = f"{buffer.key}:flush-lock"
    buffer.client.set(lock, "someone-else", px=60_000)
    report = services.events_flush()
    assert report.busy
    assert report.read == 0
    assert len(buffer) == 1
    assert buffer.client.eval(services._TRIM_IF_OWNER, 2, buffer.key, lock, "not-the-owner", 1, 1000) == 0
    assert len(buffer) == 1
    buffer.client.delete(lock)
    assert services.events_flush().accepted == 1
    assert not buffer.client.exists(lock)  # released


def test_the_management_command_drains_the_buffer(buffer, capsys):
    buffer.push(record(), "junk")
    call_command("insights_flush")
    assert "read 2, stored 1, skipped 1" in capsys.readouterr().out
    assert Event.objects.count() == 1


def test_the_beat_task_drains_the_buffer(buffer):
    from insights import tasks

    analytics.track("Signed In", visitor_id="b" * 32, user_id=1, event_id=uuid.uuid4())
    assert tasks.flush_events.delay().get() == 1
    assert Event.objects.get().name == "Signed In"
