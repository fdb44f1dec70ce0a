"""Redis goes down in the middle of a checkout and comes back.

The test starts its own redis-server (cache on db 0, Celery broker on db 1; sessions live in
PostgreSQL) and a real Celery worker process that sends e-mail into files. Redis stops after the
cart is filled and the checkout started; the order is then placed through the API with the test
card: it is placed and paid (201), its confirmation e-mail waits in the outbox, pages still render.
Redis comes back, the sweeper runs: the e-mail is sent exactly once, and no order, payment or
stock reservation is lost or doubled.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test import override_settings
from rest_framework.test import APIClient

from core.models import OutboxMessage
from fulfillment.models import StockItem, StockMovement
from orders.models import Order, OrderReservation
from payments.models import Payment
from tests.factories import OfferFactory, ProductFactory, shipping_method, stock
from tests.redis_server import RedisServer, celery_broker

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

ADDRESS = {"full_name": "Rita Outage", "line1": "9 Quiet St", "city": "Austin", "postal_code": "73301",
           "country": "US", "region": "TX"}


def _database_url() -> str:
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class Worker:
    """``celery -A shop worker`` in its own process, on the test database and the private Redis."""

    def __init__(self, *, broker_url: str, cache_url: str, mail_dir: Path, log: Path):
        self.log = log
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "shop.settings",
            "DATABASE_URL": _database_url(),
            "DB_CONN_MAX_AGE": "0",
            "REDIS_URL": cache_url,
            "CELERY_BROKER_URL": broker_url,
            "CELERY_RESULT_BACKEND": broker_url,
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "EMAIL_URL": f"filemail:///{mail_dir}",
            "PYTHONPATH": str(settings.BASE_DIR),
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "shop", "worker", "-Q", "default,media,email", "--pool", "solo",
             "--without-gossip", "--without-mingle", "--without-heartbeat", "-n", f"outage-{os.getpid()}@%h",
             "-l", "info"],
            cwd=settings.BASE_DIR, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while "ready." not in self.output():
            assert self.process.poll() is None, f"the worker exited:\n{self.output()[-3000:]}"
            assert time.monotonic() < deadline, f"the worker did not start:\n{self.output()[-3000:]}"
            time.sleep(0.2)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture
def outage(tmp_path):
    """A private Redis used by this process (cache, broker) and by a worker process."""
    if not settings.REDIS_URL:
        pytest.skip("needs REDIS_URL (services mode)")
    server = RedisServer(tmp_path / "redis").start()
    mail_dir = tmp_path / "mail"
    mail_dir.mkdir()
    caches = {"default": {**settings.CACHES["default"], "LOCATION": server.url(0)}}
    worker = None
    try:
        with override_settings(CACHES=caches), celery_broker(server.url(1)):
            worker = Worker(broker_url=server.url(1), cache_url=server.url(0), mail_dir=mail_dir,
                            log=tmp_path / "worker.log")
            yield server, worker, mail_dir
    finally:
        if worker is not None:
            worker.stop()
        server.kill()


def emails_about(mail_dir: Path, subject: str) -> int:
    return sum(path.read_text(errors="replace").count(f"Subject: {subject}") for path in mail_dir.iterdir())


def wait_for(condition, *, seconds: float, message) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, message()
        time.sleep(0.2)


def test_an_order_placed_while_redis_is_down_is_paid_and_its_email_sent_once_after_it_returns(outage):
    server, worker, mail_dir = outage
    shipping_method(channel="platform", price="0.00", code="free")
    product = ProductFactory(title="Outage Kettle")
    offer = OfferFactory(product=product, price=Decimal("30.00"))
    stock_item = stock(offer, 5)

    # The cart is filled and the checkout started while everything is up.
    buyer = APIClient()
    added = buyer.post("/api/v1/cart/lines/", {"offer": offer.pk, "quantity": 2}, format="json")
    assert added.status_code == 201, added.content
    quote = buyer.post("/api/v1/checkout/quote/", {"country": "US"}, format="json")
    assert quote.status_code == 200, quote.content
    assert quote.json()["total"] == "60.00"

    server.stop()  # Redis goes down: cache, broker and the worker's connection with it

    body = {"email": "rita@example.com", "shipping_address": ADDRESS, "payment_method": "4242 4242 4242 4242",
            "expected_total": "60.00"}
    placed = buyer.post("/api/v1/checkout/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY="outage-1")
    assert placed.status_code == 201, placed.content
    assert placed.json()["status"] == "paid"
    order = Order.objects.get(number=placed.json()["number"])
    subject = f"Your Bazaar order {order.number}"

    # The confirmation e-mail waits in the outbox; nothing was sent.
    waiting = OutboxMessage.objects.get(task_name="orders.tasks.send_order_email", args=[order.pk, "confirmation"])
    assert waiting.sent_at is None
    assert waiting.attempts >= 1
    assert emails_about(mail_dir, subject) == 0

    # Pages still render from the database while Redis is down.
    assert buyer.get("/").status_code == 200
    assert buyer.get(product.get_absolute_url()).status_code == 200

    server.start()  # Redis is back, with the data it had
    call_command("outbox_sweep")
    wait_for(lambda: emails_about(mail_dir, subject) >= 1, seconds=60,
             message=lambda: f"no e-mail after the sweep:\n{worker.output()[-4000:]}")
    # Work the worker hands on (the order's events to their consumers) is sent by it too.
    # If the worker's first publish after the outage met a connection Redis had dropped, its row is
    # due again at once and the next sweep sends it (beat runs the sweeper every minute; here, now).
    unsent = OutboxMessage.objects.filter(sent_at__isnull=True)

    def all_sent() -> bool:
        if unsent.exists():
            call_command("outbox_sweep")
        return not unsent.exists()

    wait_for(all_sent, seconds=60,
             message=lambda: f"outbox rows still unsent: {list(unsent.values_list('task_name', flat=True))}")

    # A second sweep and the same Idempotency-Key again change nothing.
    call_command("outbox_sweep")
    replay = buyer.post("/api/v1/checkout/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY="outage-1")
    assert replay.status_code == 200, replay.content
    assert replay.json()["number"] == order.number
    time.sleep(2)  # give the worker time to do anything it was (wrongly) given twice
    assert emails_about(mail_dir, subject) == 1
    body = "".join(path.read_text(errors="replace") for path in mail_dir.iterdir())
    assert re.search(r"To: rita@example.com", body)

    # Nothing lost, nothing doubled.
    assert Order.objects.count() == 1
    order.refresh_from_db()
    assert order.status == "paid"
    assert Payment.objects.count() == 1
    payment = Payment.objects.get()
    assert (payment.reference, payment.amount) == (order.number, Decimal("60.00"))
    assert OrderReservation.objects.filter(order=order).count() == 1
    stock_item = StockItem.objects.get(pk=stock_item.pk)
    assert (stock_item.on_hand, stock_item.reserved) == (5, 2)
    assert StockMovement.objects.filter(stock_item=stock_item, reserved_delta=2).count() == 1
