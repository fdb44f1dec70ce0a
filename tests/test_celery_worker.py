"""A real Celery worker consumes a task from Redis and refreshes a buy box in PostgreSQL."""

import time
from decimal import Decimal

import pytest
from celery import current_app
from celery.contrib.testing.worker import start_worker
from django.conf import settings

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
