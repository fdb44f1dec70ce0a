"""Durable hand-off of Celery tasks: the transactional outbox (invariant 5 in docs/architecture.md).

:func:`enqueue` writes an :class:`~core.models.OutboxMessage` row in the caller's transaction,
so the task exists exactly when the work that asked for it was committed (a rollback takes it
away too). After the commit this process publishes it to the broker and marks it sent. When
publishing fails (broker or Redis down or unreachable) the row simply stays, the request goes on,
and the sweeper (:func:`sweep`: the beat task ``core.tasks.sweep_outbox`` every minute, or
``manage.py outbox_sweep``) publishes it once the broker is back. Every task therefore runs at
least once; tasks take ids and are idempotent.

Who sends a row is settled in the database, never by timing alone: a sender first *claims* the
row with a conditional UPDATE (the writer after its commit) or under ``SELECT ... FOR UPDATE SKIP
LOCKED`` (a sweeper), which moves ``available_at`` a lease into the future. Two sweepers, or a
sweeper and the writer, never publish the same row twice; a sender that died mid-way leaves the
row to the next sweep once its lease ran out.

Eager mode (tests, the embedded default: ``CELERY_TASK_ALWAYS_EAGER``) runs the task inline after
the commit, as ``task.delay()`` in an ``on_commit`` hook always did, and its exceptions propagate
as they did; only publishing errors are kept from the caller.
"""

from __future__ import annotations

import importlib
import logging
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from functools import partial, wraps
from typing import Any

from celery import current_app
from celery.exceptions import NotRegistered
from django.db import DatabaseError, transaction
from django.db.models import F
from django.utils import timezone

from core.models import OutboxMessage

logger = logging.getLogger(__name__)

# A fresh row belongs to the process that wrote it for this long: it publishes it right after
# the commit, and the sweeper only takes rows that are older (or were given back after a failure).
SEND_GRACE = timedelta(seconds=5)
# How much of the grace the writer leaves unused, for clocks of web and worker hosts that differ a
# little (a row sent twice is harmless, tasks are idempotent; this keeps it rare).
CLOCK_MARGIN = timedelta(seconds=2)
# A claimed row is its sender's for this long; if the sender died, the sweeper takes it after.
LEASE = timedelta(minutes=5)
# A row that failed for another reason than the broker (a task that no longer exists...) is
# retried after 30 s, 1 min, 2 min... at most an hour apart; the error is kept on the row.
FIRST_BACKOFF = timedelta(seconds=30)
MAX_BACKOFF = timedelta(hours=1)
# Sent rows are kept this long (to look at in admin), then the sweeper deletes them.
RETENTION = timedelta(days=7)
BATCH_SIZE = 100


def _broker_errors() -> tuple[type[BaseException], ...]:
    """What "the broker (or Redis) is down or unreachable" looks like when publishing."""
    from kombu.exceptions import OperationalError
    from redis.exceptions import RedisError

    return (OperationalError, RedisError, OSError)  # OSError: ConnectionError, TimeoutError, socket errors


class Outcome(Enum):
    SENT = "sent"
    BROKER_DOWN = "broker_down"
    FAILED = "failed"


@dataclass(frozen=True)
class SweepReport:
    sent: int = 0
    failed: int = 0
    deleted: int = 0
    broker_down: bool = False


def enqueue(task: Any, *args: Any, **kwargs: Any) -> None:
    """Run Celery ``task`` (a task object or its registered name) with these JSON-serialisable
    arguments after the current transaction commits, at least once. Writes an OutboxMessage row
    in the current transaction (or at once under autocommit); after commit it is sent to the
    broker and marked sent. If sending fails (broker or Redis down: kombu OperationalError,
    ConnectionError, OSError, TimeoutError...) the row stays and the sweeper sends it later;
    the caller never sees the error."""
    name = task if isinstance(task, str) else task.name
    _task(name)  # an unknown task name is a programming error: raise it here, in the transaction
    created_at, available_at = fresh_row_times()
    message = OutboxMessage.objects.create(
        task_name=name, args=list(args), kwargs=kwargs, created_at=created_at, available_at=available_at
    )
    transaction.on_commit(partial(_send_after_commit, message))


def check_task(name: str) -> None:
    """Raise NotRegistered (a KeyError) if no Celery task is called ``name``."""
    _task(name)


def fresh_row_times() -> tuple[datetime, datetime]:
    """``created_at`` and ``available_at`` for a row written now (see SEND_GRACE)."""
    now = timezone.now()
    return now, now + SEND_GRACE


def send_after_commit(messages: list[OutboxMessage]) -> None:
    """Rows the caller wrote in its transaction itself (the event log writes an event and its
    consumers' rows in one statement): sent after the commit, exactly as :func:`enqueue` does."""
    for message in messages:
        transaction.on_commit(partial(_send_after_commit, message))


def check_event_consumers() -> list[str]:
    """Every consumer named in ``EVENT_CONSUMERS`` is a registered task (a system check)."""
    from django.conf import settings

    problems = []
    for event, names in getattr(settings, "EVENT_CONSUMERS", {}).items():
        for name in names:
            try:
                _task(name)
            except KeyError:
                problems.append(f"EVENT_CONSUMERS[{event!r}] names {name!r}, which is not a Celery task.")
    return problems


def enqueue_later(task: Any, delay: timedelta, *args: Any, **kwargs: Any) -> None:
    """Like :func:`enqueue`, but not before ``delay`` has passed (a retry with backoff): the row
    waits in the outbox and the sweeper publishes it when it is due, so a broker outage by then
    loses nothing either. Eager mode has no sweeper: the task runs after the commit, as enqueue."""
    if _eager():
        enqueue(task, *args, **kwargs)
        return
    name = task if isinstance(task, str) else task.name
    _task(name)
    now = timezone.now()
    OutboxMessage.objects.create(task_name=name, args=list(args), kwargs=kwargs, created_at=now,
                                 available_at=now + max(delay, SEND_GRACE))


def sweep(*, batch_size: int = BATCH_SIZE) -> SweepReport:
    """Publish every unsent row whose time has come, in id order; delete sent rows past the
    retention period. Safe to run in several processes at once. Stops early while the broker is
    down (the rows wait for the next sweep)."""
    started = timezone.now()
    sent = failed = 0
    broker_down = False
    while not broker_down:
        batch = _claim_batch(now=started, limit=batch_size)
        if not batch:
            break
        for index, message in enumerate(batch):
            outcome = _deliver(message, reconnect=True)
            if outcome is Outcome.SENT:
                sent += 1
            elif outcome is Outcome.FAILED:
                failed += 1
            elif outcome is Outcome.BROKER_DOWN:
                failed += 1
                broker_down = True
                _give_back([m.pk for m in batch[index + 1 :]])
                break
    deleted = delete_sent(before=started - RETENTION)
    if sent or failed or deleted:
        logger.info("outbox sweep: %s sent, %s failed, %s old rows deleted", sent, failed, deleted)
    return SweepReport(sent=sent, failed=failed, deleted=deleted, broker_down=broker_down)


def delete_sent(*, before: datetime, chunk: int = 1000) -> int:
    """Delete rows sent before ``before`` (in chunks, so no statement runs long)."""
    deleted = 0
    while True:
        ids = list(
            OutboxMessage.objects.filter(sent_at__lt=before).order_by().values_list("pk", flat=True)[:chunk]
        )
        if not ids:
            return deleted
        deleted += OutboxMessage.objects.filter(pk__in=ids).delete()[0]


def pending_count() -> int:
    """How many rows still wait to be sent (reported beside /readyz)."""
    return OutboxMessage.objects.filter(sent_at__isnull=True).count()


# --- internals ------------------------------------------------------------------------------


def _eager() -> bool:
    return bool(current_app.conf.task_always_eager)


def _task(name: str):
    """The registered task called ``name``; task modules are imported on first need (a web
    process only imports the ones its code paths touched)."""
    tasks = current_app.tasks
    if name not in tasks:
        # A task's name is its module's path plus its function (Celery's default): import that
        # module (asking Celery to import every module here re-enters Django's set-up).
        module = name.rpartition(".")[0]
        try:
            importlib.import_module(module)
        except ImportError:
            logger.debug("outbox: no module %s for task %s", module, name)
    return tasks[name]  # NotRegistered (a KeyError) when there is no such task


_together = threading.local()


@contextmanager
def sending_together():
    """Inside this block, tasks committed by its transactions are not sent one by one right after
    each commit: they are sent at the end of the block, and marked sent with one UPDATE (a request
    that commits several transactions, like placing an order, saves a round trip per task). The
    rows are durable from their commit on; if the process dies before the end, the sweeper sends
    them. Eager mode runs tasks at once, as always."""
    if getattr(_together, "messages", None) is not None:  # nested: the outer block sends
        yield
        return
    _together.messages = []
    try:
        yield
    finally:
        messages, _together.messages = _together.messages, None
        _send_batch(messages)


def sends_together(function):
    """Decorate a service with :func:`sending_together`."""

    @wraps(function)
    def wrapper(*args, **kwargs):
        with sending_together():
            return function(*args, **kwargs)

    return wrapper


def _send_batch(messages: list[OutboxMessage]) -> None:
    if len(messages) > 1 and not _eager():
        sent = _publish_together(messages)
    else:
        sent = [message.pk for message in messages if _deliver(message, mark=False) is Outcome.SENT]
    if sent:
        try:
            OutboxMessage.objects.filter(pk__in=sent, sent_at__isnull=True).update(sent_at=timezone.now())
        except DatabaseError:
            logger.warning("outbox: %s rows sent but not marked", len(sent), exc_info=True)


def _publish_together(messages: list[OutboxMessage]) -> list[int]:
    """Publish several rows through one producer and, where the transport can (Redis: one pipeline),
    in one round trip to the broker: a request's tasks cost one trip, not one each. The rows sent
    (their ids); when the trip fails none of them is known to have arrived: each is recorded as
    failed and due at once, for the sweeper (which may publish one twice: at least once, as always)."""
    outcomes: dict[int, Outcome] = {}
    try:
        with current_app.producer_or_acquire() as producer, producer.batch():
            for message in messages:
                outcomes[message.pk] = _deliver(message, mark=False, producer=producer)
    except Exception as exc:  # noqa: BLE001 - the broker is down or the trip failed: the sweeper's turn
        logger.warning("outbox: broker unavailable, %s tasks wait for the sweeper: %r", len(messages), exc)
        now = timezone.now()
        for message in messages:
            if outcomes.get(message.pk) in (None, Outcome.SENT):
                _record_failure(message, exc, retry_at=now)
        return []
    return [pk for pk, outcome in outcomes.items() if outcome is Outcome.SENT]


def _send_after_commit(message: OutboxMessage) -> None:
    """The writer's own attempt, right after its commit. Within SEND_GRACE of writing the row it is
    the writer's alone (the sweeper only takes rows past their ``available_at``): it publishes at
    once and marks the row sent, one UPDATE in all. A transaction that outlasted the grace claims
    the row first, since a sweeper may have taken it meanwhile."""
    now = timezone.now()
    eager = _eager()
    if not eager and now < message.available_at - CLOCK_MARGIN:
        batch = getattr(_together, "messages", None)
        if batch is not None:
            batch.append(message)
        else:
            _deliver(message)
        return
    claim = {"sent_at": now} if eager else {"available_at": now + LEASE}
    try:
        claimed = OutboxMessage.objects.filter(
            pk=message.pk, sent_at__isnull=True, available_at=message.available_at
        ).update(**claim)
    except DatabaseError:
        logger.warning("outbox: could not claim #%s after commit; the sweeper will send it", message.pk, exc_info=True)
        return
    if claimed:
        _deliver(message, already_marked=eager)


def _claim_batch(*, now: datetime, limit: int) -> list[OutboxMessage]:
    """Lock up to ``limit`` due rows that no other sweeper holds, push them a lease ahead, commit."""
    with transaction.atomic():
        batch = list(
            OutboxMessage.objects.select_for_update(skip_locked=True)
            .filter(sent_at__isnull=True, available_at__lte=now)
            .only("pk", "task_name", "args", "kwargs", "attempts")
            .order_by("pk")[:limit]
        )
        if batch:
            OutboxMessage.objects.filter(pk__in=[m.pk for m in batch]).update(available_at=timezone.now() + LEASE)
    return batch


def _give_back(pks: list[int]) -> None:
    """Claimed rows this sweep will not try (the broker is down): due again at once."""
    if pks:
        OutboxMessage.objects.filter(pk__in=pks, sent_at__isnull=True).update(available_at=timezone.now())


# The sweeper (a worker, nobody waits on it) tries a fresh connection once: after a broker
# restart the pooled one may be dead. A request does not: the row is its retry.
SWEEPER_PUBLISH_RETRY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.5, "interval_max": 0.5}


def _deliver(message: OutboxMessage, *, already_marked: bool = False, reconnect: bool = False,
             mark: bool = True, producer=None) -> Outcome:
    """Hand one claimed row to Celery. Eager: mark it sent, then run it inline (its exceptions
    propagate). Otherwise: publish it, then mark it sent; a failure is recorded on the row."""
    try:
        task = _task(message.task_name)
    except NotRegistered as exc:  # the code that wrote it was deployed without that task
        logger.error("outbox: %s #%s: no such task", message.task_name, message.pk)
        _record_failure(message, exc, retry_at=timezone.now() + _backoff(message.attempts + 1))
        return Outcome.FAILED
    options = {"task_id": f"outbox-{message.pk}", "ignore_result": True}
    if producer is not None:  # a batch's (see _publish_together)
        options["producer"] = producer
    if _eager():
        if not already_marked:
            OutboxMessage.objects.filter(pk=message.pk, sent_at__isnull=True).update(sent_at=timezone.now())
        # Failing, it raises into the caller when asked (the test suite: a failing task fails its
        # test). Otherwise (the embedded default, which runs tasks inline after the request's
        # commit) what the request did is done, and a task's failure (a retry included) must not
        # turn its answer into a 500: it is logged, and the row kept for `manage.py outbox_sweep`.
        result = task.apply_async(message.args, message.kwargs, **options)
        if not result.successful():
            error = result.result if isinstance(result.result, BaseException) else RuntimeError(result.state)
            logger.error("outbox: %s #%s failed inline (%r); kept for outbox_sweep", message.task_name, message.pk,
                         error, exc_info=error)
            OutboxMessage.objects.filter(pk=message.pk).update(sent_at=None)
            _record_failure(message, error, retry_at=timezone.now() + _backoff(message.attempts + 1))
            return Outcome.FAILED
        return Outcome.SENT
    retry = {"retry": True, "retry_policy": SWEEPER_PUBLISH_RETRY} if reconnect else {"retry": False}
    try:
        task.apply_async(message.args, message.kwargs, **retry, **options)
    except _broker_errors() as exc:
        logger.warning("outbox: broker unavailable, %s #%s waits for the sweeper: %r", message.task_name,
                       message.pk, exc)
        _record_failure(message, exc, retry_at=timezone.now())
        return Outcome.BROKER_DOWN
    except Exception as exc:  # noqa: BLE001 - never the caller's problem: recorded on the row and retried later
        logger.exception("outbox: could not send %s #%s", message.task_name, message.pk)
        _record_failure(message, exc, retry_at=timezone.now() + _backoff(message.attempts + 1))
        return Outcome.FAILED
    if not mark:  # the caller marks a batch at once
        return Outcome.SENT
    try:
        OutboxMessage.objects.filter(pk=message.pk).update(sent_at=timezone.now())
    except DatabaseError:
        # Published but not marked: the sweeper publishes it again after the lease (at least once).
        logger.warning("outbox: %s #%s sent but not marked", message.task_name, message.pk, exc_info=True)
    return Outcome.SENT


def _backoff(attempts: int) -> timedelta:
    return min(MAX_BACKOFF, FIRST_BACKOFF * 2 ** max(0, min(attempts - 1, 16)))


def _record_failure(message: OutboxMessage, exc: BaseException, *, retry_at: datetime) -> None:
    try:
        OutboxMessage.objects.filter(pk=message.pk, sent_at__isnull=True).update(
            attempts=F("attempts") + 1, last_error=f"{exc.__class__.__name__}: {exc}"[:2000], available_at=retry_at
        )
    except DatabaseError:
        logger.warning("outbox: could not record the failure of #%s", message.pk, exc_info=True)
