"""Durable domain events: written with the change, handed to consumers after the commit, ordered
per aggregate, replayable, kept for the retention period."""

from __future__ import annotations

from datetime import timedelta

import pytest
from celery import shared_task
from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core import events
from core.models import DomainEvent, OutboxMessage
from tests.commit import committed

pytestmark = pytest.mark.django_db



CONSUMED: list[dict] = []


@shared_task(name="tests.consume_happened")
def consume_happened(**payload) -> bool:
    CONSUMED.append(payload)
    return True


@pytest.fixture
def consumed(settings):
    """One consumer for "test.happened" that records what it was given."""
    CONSUMED.clear()
    settings.EVENT_CONSUMERS = {**settings.EVENT_CONSUMERS, "test.happened": ("tests.consume_happened",)}
    return CONSUMED


def test_an_event_is_written_with_the_change_and_its_consumers_run_after_the_commit(consumed):
    with committed(), transaction.atomic():
        event = events.record("test.happened", aggregate="order", aggregate_id=7, order_id=7, total="9.50")
        assert OutboxMessage.objects.filter(task_name="tests.consume_happened").count() == 1
    stored = DomainEvent.objects.get()
    assert (stored.name, stored.aggregate, stored.aggregate_id) == ("test.happened", "order", "7")
    assert stored.payload == {"order_id": 7, "total": "9.50"}
    assert consumed == [{"event_id": event.pk, "order_id": 7, "total": "9.50"}]


@shared_task(name="tests.consume_happened_too")
def consume_happened_too(**payload) -> bool:
    CONSUMED.append({"too": True, **payload})
    return True


def test_every_consumer_gets_its_own_row_in_the_declared_order(consumed, settings):
    settings.EVENT_CONSUMERS = {"test.happened": ("tests.consume_happened", "tests.consume_happened_too")}
    with committed(), transaction.atomic():
        event = events.record("test.happened", aggregate="cart", aggregate_id="c1", sku="A-1")
    rows = list(OutboxMessage.objects.order_by("pk").values_list("task_name", "kwargs"))
    assert rows == [("tests.consume_happened", {"sku": "A-1", "event_id": event.pk}),
                    ("tests.consume_happened_too", {"sku": "A-1", "event_id": event.pk})]
    assert consumed == [{"event_id": event.pk, "sku": "A-1"}, {"too": True, "event_id": event.pk, "sku": "A-1"}]
    assert not OutboxMessage.objects.filter(sent_at__isnull=True).exists()


def test_without_the_one_statement_path_the_rows_and_the_deliveries_are_the_same(consumed, settings, monkeypatch):
    """The embedded default (SQLite) writes the event and its rows one by one, with the same result."""
    monkeypatch.setattr(events, "_one_statement", lambda: False)
    settings.EVENT_CONSUMERS = {"test.happened": ("tests.consume_happened", "tests.consume_happened_too")}
    with committed(), transaction.atomic():
        event = events.record("test.happened", aggregate="cart", aggregate_id="c1", sku="A-1")
    rows = list(OutboxMessage.objects.order_by("pk").values_list("task_name", "kwargs"))
    assert rows == [("tests.consume_happened", {"sku": "A-1", "event_id": event.pk}),
                    ("tests.consume_happened_too", {"sku": "A-1", "event_id": event.pk})]
    assert consumed == [{"event_id": event.pk, "sku": "A-1"}, {"too": True, "event_id": event.pk, "sku": "A-1"}]


def test_a_consumer_that_is_not_a_task_is_refused_in_the_transaction(settings):
    settings.EVENT_CONSUMERS = {"test.happened": ("tests.no_such_task",)}
    with pytest.raises(KeyError), transaction.atomic():
        events.record("test.happened", aggregate="cart", aggregate_id="c1")
    assert not DomainEvent.objects.exists()


def test_a_rolled_back_change_leaves_no_event_and_no_task(consumed):
    def change_that_fails():
        with transaction.atomic():
            events.record("test.happened", aggregate="order", aggregate_id=1)
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        change_that_fails()
    assert not DomainEvent.objects.exists()
    assert not OutboxMessage.objects.exists()
    assert consumed == []


@pytest.mark.parametrize("one_statement", [True, False], ids=["postgresql", "row-by-row"])
def test_events_without_consumers_are_still_kept_for_readers(one_statement, monkeypatch):
    monkeypatch.setattr(events, "_one_statement", lambda: one_statement)
    with CaptureQueriesContext(connection) as captured:
        event = events.record("test.nobody_listens", aggregate="payment", aggregate_id=3, status="authorized",
                              note="caf\u00e9 \"quoted\"")
    assert len(captured.captured_queries) == 1
    stored = DomainEvent.objects.get()
    assert (stored.pk, stored.name, stored.aggregate, stored.aggregate_id, stored.payload, stored.occurred_at) == (
        event.pk, "test.nobody_listens", "payment", "3", {"status": "authorized", "note": "caf\u00e9 \"quoted\""},
        event.occurred_at)
    assert not event._state.adding  # saved: a later save() updates this row
    event.save()
    assert DomainEvent.objects.count() == 1
    assert not OutboxMessage.objects.exists()


def test_one_aggregate_reads_back_in_the_order_it_changed():
    for status in ("placed", "paid", "shipped"):
        events.record("test.status", aggregate="order", aggregate_id=5, to_status=status)
        events.record("test.status", aggregate="order", aggregate_id=6, to_status=status)
    history = events.events_for(aggregate="order", aggregate_id=5)
    assert [e.payload["to_status"] for e in history] == ["placed", "paid", "shipped"]


def test_replay_hands_stored_events_to_their_consumers_again(consumed):
    first = events.record("test.happened", aggregate="order", aggregate_id=1)
    second = events.record("test.happened", aggregate="order", aggregate_id=2)
    events.record("test.other", aggregate="order", aggregate_id=3)
    consumed.clear()
    with committed():
        assert events.replay(since_id=first.pk) == 1
    assert consumed == [{"event_id": second.pk}]
    consumed.clear()
    with committed():
        call_command("events_replay", "--name", "test.happened")
    assert [c["event_id"] for c in consumed] == [first.pk, second.pk]
    assert events.replay(only=["someone.else"]) == 0


def test_old_events_are_pruned_after_the_retention_period(settings):
    settings.EVENT_RETENTION_DAYS = 30
    old = events.record("test.old", aggregate="order", aggregate_id=1)
    DomainEvent.objects.filter(pk=old.pk).update(occurred_at=timezone.now() - timedelta(days=31))
    kept = events.record("test.new", aggregate="order", aggregate_id=1)
    assert events.prune() == 1
    assert list(DomainEvent.objects.values_list("pk", flat=True)) == [kept.pk]


def test_a_money_path_records_its_events_in_its_transaction():
    """Moving money leaves the payment's history in the log (no in-process bus)."""
    from decimal import Decimal

    from payments import services as payment_services

    payment = payment_services.payment_authorize(amount=Decimal("5.00"), currency="USD",
                                                 payment_method="4242424242424242", reference="B-1",
                                                 idempotency_key="k")
    payment_services.payment_capture(payment=payment)
    history = events.events_for(aggregate="payment", aggregate_id=payment.pk)
    assert [e.name for e in history] == ["payments.payment_captured"]
    assert history[0].payload["captured_amount"] == "5.00"
    assert not hasattr(events, "subscribe")
