"""A real Celery worker consumes a task from Redis and refreshes a buy box in PostgreSQL."""

import time
from decimal import Decimal

import pytest
from celery import current_app
from celery.contrib.testing.worker import start_worker
from django.conf import settings
from django.db import connections

from marketplace.models import BuyBox
from tests.factories import OfferFactory, ProductFactory, stock

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def redis_worker():
    if not settings.REDIS_URL:
        pytest.skip("needs REDIS_URL (services mode)")
    app = current_app
    app.conf.task_always_eager = False
    app.conf.broker_url = settings.REDIS_URL
    app.conf.result_backend = settings.REDIS_URL
    queue = "bazaar-test-worker"  # fixed: Celery caches its router after the first message
    app.conf.task_default_queue = queue
    app.conf.task_routes = {"*": {"queue": queue}}
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, queues=[queue], shutdown_timeout=10):
            yield app
    finally:
        app.conf.task_always_eager = True
        app.conf.task_default_queue = settings.CELERY_TASK_DEFAULT_QUEUE
        app.conf.task_routes = settings.CELERY_TASK_ROUTES


def test_worker_refreshes_the_buy_box_through_redis(redis_worker):
    product = ProductFactory()
    cheap = OfferFactory(product=product, price=Decimal("10.00"))
    dear = OfferFactory(product=product, price=Decimal("20.00"))
    stock(dear, 2)
    stock(cheap, 2)  # each stock change enqueues a refresh on commit; the worker runs them

    deadline = time.monotonic() + 30
    winner = None
    while time.monotonic() < deadline:
        winner = BuyBox.objects.filter(product=product).values_list("offer_id", flat=True).first()
        if winner == cheap.pk:
            break
        time.sleep(0.2)
    assert winner == cheap.pk
    product.refresh_from_db()
    assert product.listing_price == Decimal("10.00")


def test_task_result_travels_through_redis(redis_worker):
    from shop.tasks import refresh_buy_boxes

    product = ProductFactory()
    offer = OfferFactory(product=product)
    stock(offer, 1)
    assert refresh_buy_boxes.ignore_result  # Bazaar stores no results unless asked (nothing waits for them)
    result = refresh_buy_boxes.apply_async([[product.pk]], ignore_result=False)
    assert result.get(timeout=30) == {str(product.pk): offer.pk}


@current_app.task(name="tests.database_backend")
def database_backend() -> int:
    """Which PostgreSQL backend (server process) this task's connection talks to."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


@current_app.task(name="tests.kill_own_backend")
def kill_own_backend() -> None:
    """A task whose connection dies under it (the server process ends, as in a PostgreSQL restart)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")


def test_tasks_keep_their_database_connection_like_web_requests(redis_worker):
    """Connecting anew for each task cost a worker about a sixth of its CPU and PostgreSQL a new
    server process (and its prepared statements) per task; a worker now keeps its connection for
    DB_CONN_MAX_AGE seconds like a web process, and drops it when it has aged or broke."""
    database = connections.settings["default"]  # the dict every thread's connection reads
    kept = database["CONN_MAX_AGE"]
    database["CONN_MAX_AGE"] = 0  # a connection made now has aged by the end of its task
    try:
        aged = [database_backend.apply_async(ignore_result=False).get(timeout=30) for _ in range(2)]
    finally:
        database["CONN_MAX_AGE"] = kept
    assert aged[0] != aged[1]
    kept_for = [database_backend.apply_async(ignore_result=False).get(timeout=30) for _ in range(3)]
    assert len(set(kept_for)) == 1
    assert kept_for[0] not in aged


def test_a_task_that_broke_its_connection_leaves_the_next_one_a_working_one(redis_worker):
    first = database_backend.apply_async(ignore_result=False).get(timeout=30)
    with pytest.raises(Exception, match="terminating connection|server closed|connection"):
        kill_own_backend.apply_async(ignore_result=False).get(timeout=30)
    after = database_backend.apply_async(ignore_result=False).get(timeout=30)
    assert after != first
