"""The outbox: a task is written in the caller's transaction, sent after commit, kept when the
broker is down (the request still succeeds) and sent later by the sweeper, exactly once even
when two sweepers run at once."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta

import pytest
import redis
import time_machine
from celery import shared_task
from celery.exceptions import NotRegistered
from django.conf import settings
from django.core.management import call_command
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from core import outbox
from core.models import OutboxMessage
from tests.commit import committed
from tests.concurrency import race
from tests.factories import UserFactory
from tests.redis_server import DEAD_BROKER, celery_broker

pytestmark = pytest.mark.django_db

RUNS: list[tuple] = []
_RUNS_LOCK = threading.Lock()


@shared_task(name="core.tests.record")
def record(*args, **kwargs) -> None:
    with _RUNS_LOCK:
        RUNS.append((args, kwargs))


@shared_task(name="core.tests.explode")
def explode() -> None:
    raise RuntimeError("the task itself failed")


@shared_task(name="core.tests.flaky")
def flaky() -> None:
    """Fails the first time (say, SQLite was busy), then does its work."""
    with _RUNS_LOCK:
        RUNS.append(("flaky",))
        if len(RUNS) == 1:
            raise RuntimeError("busy the first time")


@pytest.fixture(autouse=True)
def _no_runs():
    RUNS.clear()
    yield
    RUNS.clear()


def broker_redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


def published_ids(queue: str = "default") -> list[str]:
    """Celery task ids of the messages waiting in a Redis queue (newest first)."""
    return [json.loads(raw)["headers"]["id"] for raw in broker_redis().lrange(queue, 0, -1)]


@pytest.mark.django_db(transaction=True)
def test_the_row_is_written_in_the_transaction_and_the_task_runs_after_commit():
    with transaction.atomic():
        outbox.enqueue(record, 7, note="after commit")
        message = OutboxMessage.objects.get()
        assert (message.task_name, message.args, message.kwargs) == ("core.tests.record", [7], {"note": "after commit"})
        assert message.sent_at is None
        assert RUNS == []  # not before the commit
    assert RUNS == [((7,), {"note": "after commit"})]
    message.refresh_from_db()
    assert message.sent_at is not None
    assert message.attempts == 0


def _enqueue_then_fail():
    with transaction.atomic():
        outbox.enqueue(record, 1)
        outbox.enqueue("core.tests.record", 2)  # by name works too
        raise ZeroDivisionError  # the caller's transaction fails after enqueueing


def test_a_rollback_takes_the_row_away_and_nothing_runs():
    with committed() as ran, pytest.raises(ZeroDivisionError):
        _enqueue_then_fail()
    assert ran == []
    assert OutboxMessage.objects.count() == 0
    assert RUNS == []


def test_an_unknown_task_fails_in_the_callers_transaction():
    with pytest.raises(NotRegistered), transaction.atomic():
        outbox.enqueue("core.tests.no_such_task", 1)
    assert OutboxMessage.objects.count() == 0


def test_in_eager_mode_a_task_error_propagates_as_before():
    with pytest.raises(RuntimeError, match="the task itself failed"), committed():
        outbox.enqueue(explode)
    # It was handed over (and ran): the sweeper does not run it again.
    assert OutboxMessage.objects.get().sent_at is not None
    assert outbox.sweep().sent == 0


def test_embedded_a_task_failing_inline_never_fails_the_request_and_is_kept_for_the_sweep(client):
    """The embedded default runs tasks inline after the request's commit without raising: a task
    that fails there is logged and its row kept; `outbox_sweep` runs it again."""
    from celery import current_app

    current_app.conf.task_eager_propagates = False  # conftest's autouse fixture sets it back
    with committed():
        outbox.enqueue(flaky)  # no exception: the caller's work was committed
    message = OutboxMessage.objects.get()
    assert (message.sent_at, message.attempts) == (None, 1)
    assert "busy the first time" in message.last_error
    OutboxMessage.objects.filter(pk=message.pk).update(available_at=timezone.now())
    call_command("outbox_sweep")
    message.refresh_from_db()
    assert message.sent_at is not None
    assert len(RUNS) == 2


def test_a_broker_failure_leaves_the_row_for_the_sweeper_and_the_caller_goes_on():
    with celery_broker(DEAD_BROKER), committed(), transaction.atomic():
        outbox.enqueue(record, 1)
    message = OutboxMessage.objects.get()
    assert message.sent_at is None
    assert message.attempts == 1
    assert "OperationalError" in message.last_error
    assert message.available_at <= timezone.now()  # due at the next sweep

    # The broker is still down: the sweep tries, keeps it, and says so.
    with celery_broker(DEAD_BROKER):
        report = outbox.sweep()
    assert report.broker_down
    message.refresh_from_db()
    assert (message.sent_at, message.attempts) == (None, 2)

    # The broker is back: the sweep publishes it once, later sweeps leave it alone.
    broker_redis().delete("default")
    with celery_broker(settings.REDIS_URL):
        assert outbox.sweep().sent == 1
        assert outbox.sweep().sent == 0
    message.refresh_from_db()
    assert message.sent_at is not None
    assert published_ids() == [f"outbox-{message.pk}"]


def test_a_request_succeeds_while_the_broker_is_down_and_its_email_is_sent_later(client, mailoutbox):
    user = UserFactory(email="ann@example.com")
    with celery_broker(DEAD_BROKER), committed():
        response = client.post(reverse("accounts:password_reset"), {"email": "ann@example.com"})
    assert response.status_code == 302
    message = OutboxMessage.objects.get()
    assert (message.task_name, message.args, message.sent_at) == ("accounts.tasks.send_password_reset_email",
                                                                   [user.pk], None)
    assert mailoutbox == []

    call_command("outbox_sweep")  # eager again here: the sweeper runs the task inline
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == ["ann@example.com"]
    call_command("outbox_sweep")
    assert len(mailoutbox) == 1


def test_a_fresh_row_is_left_to_its_writer_for_a_few_seconds():
    OutboxMessage.objects.create(task_name="core.tests.record", args=[1],
                                 available_at=timezone.now() + outbox.SEND_GRACE)
    assert outbox.sweep().sent == 0
    with time_machine.travel(timezone.now() + outbox.SEND_GRACE + timedelta(seconds=1)):
        assert outbox.sweep().sent == 1
    assert RUNS == [((1,), {})]


def test_a_row_whose_task_is_gone_backs_off_and_does_not_block_the_others():
    gone = OutboxMessage.objects.create(task_name="core.tests.removed_since", available_at=timezone.now())
    OutboxMessage.objects.create(task_name="core.tests.record", args=[2], available_at=timezone.now())
    report = outbox.sweep()
    assert (report.sent, report.failed) == (1, 1)
    assert RUNS == [((2,), {})]
    gone.refresh_from_db()
    assert gone.sent_at is None
    assert gone.attempts == 1
    assert "NotRegistered" in gone.last_error
    assert gone.available_at > timezone.now() + timedelta(seconds=20)
    assert outbox.sweep().failed == 0  # not retried before its back-off ran out


def test_sent_rows_are_deleted_after_the_retention_period_unsent_ones_never():
    now = timezone.now()
    old_sent = OutboxMessage.objects.create(task_name="core.tests.record", sent_at=now - timedelta(days=8))
    recent_sent = OutboxMessage.objects.create(task_name="core.tests.record", sent_at=now - timedelta(days=6))
    old_unsent = OutboxMessage.objects.create(task_name="core.tests.removed_since", created_at=now - timedelta(days=30),
                                              available_at=now + timedelta(hours=1))
    assert outbox.sweep().deleted == 1
    assert set(OutboxMessage.objects.values_list("pk", flat=True)) == {recent_sent.pk, old_unsent.pk}
    assert not OutboxMessage.objects.filter(pk=old_sent.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_two_sweepers_at_once_publish_each_row_once():
    past = timezone.now() - timedelta(minutes=1)
    rows = OutboxMessage.objects.bulk_create(
        OutboxMessage(task_name="core.tests.record", args=[i], available_at=past) for i in range(60)
    )
    broker_redis().delete("default")
    with celery_broker(settings.REDIS_URL):
        reports = race(lambda: outbox.sweep(batch_size=7), [()] * 2)
    assert not [r for r in reports if isinstance(r, Exception)], reports
    assert sum(r.sent for r in reports) == 60
    assert all(r.sent for r in reports), "both sweepers took a share"
    ids = published_ids()
    assert sorted(ids) == sorted(f"outbox-{row.pk}" for row in rows)  # each row once, none twice
    assert not OutboxMessage.objects.filter(sent_at__isnull=True).exists()


@pytest.mark.django_db(transaction=True)
def test_a_row_a_sweeper_took_first_is_not_sent_again_by_its_writer():
    """A transaction that outlasts the grace period: at its commit a sweeper may already see
    the row as due. Whoever claims it first sends it; the other one does not."""

    def sweeper_gets_there_first():
        with time_machine.travel(timezone.now() + outbox.SEND_GRACE + timedelta(seconds=1)):
            [report] = race(outbox.sweep, [()])  # another process, on its own connection
        assert report.sent == 1

    with transaction.atomic():
        transaction.on_commit(sweeper_gets_there_first)  # runs before the writer's own hook
        outbox.enqueue(record, "once")
    assert RUNS == [(("once",), {})]
    assert OutboxMessage.objects.get().sent_at is not None


def test_the_beat_task_and_the_command_sweep():
    from core.tasks import sweep_outbox

    OutboxMessage.objects.create(task_name="core.tests.record", args=[1], available_at=timezone.now())
    assert sweep_outbox.delay().get() == {"sent": 1, "failed": 0, "deleted": 0, "broker_down": False}
    assert settings.CELERY_BEAT_SCHEDULE["sweep-outbox"]["task"] == "core.tasks.sweep_outbox"
    OutboxMessage.objects.create(task_name="core.tests.record", args=[2], available_at=timezone.now())
    call_command("outbox_sweep")
    assert RUNS == [((1,), {}), ((2,), {})]


def test_publishing_to_a_frozen_broker_gives_up_quickly():
    """A broker that hangs (no reply, connection open) must not hang the request: the socket
    timeout of the broker transport bounds the wait and the task waits in the outbox."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)  # accepts connections (the kernel does) but never answers
    try:
        started = time.monotonic()
        with celery_broker(f"redis://127.0.0.1:{listener.getsockname()[1]}/0"), committed():
            outbox.enqueue(record, 1)
        assert time.monotonic() - started < 10
    finally:
        listener.close()
    message = OutboxMessage.objects.get()
    assert message.sent_at is None
    assert message.attempts == 1


def _separate_commits(*values) -> None:
    """Each value's task written by its own transaction, as a request that commits several does."""
    for value in values:
        with committed(), transaction.atomic():
            outbox.enqueue(record, value)


def test_tasks_sent_together_go_to_the_broker_in_one_round_trip_and_are_marked_sent(monkeypatch):
    broker_redis().delete("default")
    single_commands = []
    original = redis.Redis.execute_command

    def counting(self, *args, **kwargs):  # a command sent alone (a pipeline's go through its own method)
        single_commands.append(args[0])
        return original(self, *args, **kwargs)

    with celery_broker(settings.REDIS_URL):
        with outbox.sending_together():
            _separate_commits(1, 2, 3)
            assert published_ids() == []  # nothing leaves before the block ends
            monkeypatch.setattr(redis.Redis, "execute_command", counting)
        monkeypatch.undo()
    rows = list(OutboxMessage.objects.order_by("pk"))
    assert [row.args for row in rows] == [[1], [2], [3]]
    assert all(row.sent_at is not None for row in rows)
    assert published_ids() == [f"outbox-{row.pk}" for row in reversed(rows)]  # in order (LPUSH: newest first)
    assert "LPUSH" not in single_commands


def test_tasks_sent_together_while_the_broker_is_down_all_wait_for_the_sweeper():
    with celery_broker(DEAD_BROKER), outbox.sending_together():
        _separate_commits(1, 2)
    rows = list(OutboxMessage.objects.order_by("pk"))
    assert [(row.sent_at, row.attempts) for row in rows] == [(None, 1), (None, 1)]
    assert all(row.available_at <= timezone.now() for row in rows)  # due at the next sweep
    broker_redis().delete("default")
    with celery_broker(settings.REDIS_URL):
        assert outbox.sweep().sent == 2
    assert sorted(published_ids()) == sorted(f"outbox-{row.pk}" for row in rows)


def test_tasks_sent_together_whose_trip_fails_at_the_end_all_wait_for_the_sweeper(monkeypatch):
    """The broker answers while the messages are prepared, then the one trip that carries them
    fails: none of them counts as sent."""
    from kombu.transport.redis import PublishBatch

    def lost(self):
        raise ConnectionError("the connection dropped")

    broker_redis().delete("default")
    with celery_broker(settings.REDIS_URL):
        monkeypatch.setattr(PublishBatch, "flush", lost)
        with outbox.sending_together():
            _separate_commits(1, 2)
        monkeypatch.undo()
        assert published_ids() == []
        rows = list(OutboxMessage.objects.order_by("pk"))
        assert [(row.sent_at, row.attempts) for row in rows] == [(None, 1), (None, 1)]
        assert "the connection dropped" in rows[0].last_error
        assert outbox.sweep().sent == 2
    assert len(published_ids()) == 2


def test_a_task_sent_alone_inside_the_block_is_sent_as_before():
    broker_redis().delete("default")
    with celery_broker(settings.REDIS_URL), outbox.sending_together():
        _separate_commits(1)
    row = OutboxMessage.objects.get()
    assert row.sent_at is not None
    assert published_ids() == [f"outbox-{row.pk}"]


def test_tasks_sent_together_to_a_frozen_broker_give_up_quickly():
    """The one trip of a request's tasks to a broker that hangs is bounded like a lone task's: the
    request goes on, every row waits for the sweeper."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)  # accepts connections (the kernel does) but never answers
    try:
        started = time.monotonic()
        with celery_broker(f"redis://127.0.0.1:{listener.getsockname()[1]}/0"), outbox.sending_together():
            _separate_commits(1, 2, 3)
        assert time.monotonic() - started < 10
    finally:
        listener.close()
    rows = list(OutboxMessage.objects.order_by("pk"))
    assert [(row.sent_at, row.attempts) for row in rows] == [(None, 1)] * 3
