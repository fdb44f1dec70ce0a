"""Membership test helpers: plans, members joined through the service, a provider that counts
its calls, and a fixed start time to travel from (time-machine)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import time_machine

from membership import services, tasks
from membership.models import Plan, Subscription
from payments.providers import base as providers
from payments.providers.test import TestProvider
from tests.commit import committed
from tests.factories import UserFactory
from tests.providers import payment_provider

GOOD_CARD = "4242 4242 4242 4242"
DECLINED_CARD = "4000 0000 0000 0002"
NO_FUNDS_CARD = "4000 0000 0000 9995"
INVALID_CARD = "4242 4242 4242 4241"
START = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)


class CountingProvider(TestProvider):
    """The test provider, recording every call (optionally slow, or down)."""

    code = "counting"

    def __init__(self, box: Box) -> None:
        self.box = box

    def authorize(self, amount, currency, payment_method, idempotency_key, metadata):
        with self.box.lock:
            self.box.calls.append(("authorize", idempotency_key, amount))
        if self.box.delay:
            time.sleep(self.box.delay)
        if self.box.down:
            raise providers.ProviderError("connection reset")
        return super().authorize(amount, currency, payment_method, idempotency_key, metadata)

    def capture(self, reference, amount, currency, idempotency_key):
        with self.box.lock:
            self.box.calls.append(("capture", idempotency_key, amount))
        return super().capture(reference, amount, currency, idempotency_key)

    def refund(self, reference, amount, currency, idempotency_key):
        with self.box.lock:
            self.box.calls.append(("refund", idempotency_key, amount))
        return super().refund(reference, amount, currency, idempotency_key)


class Box:
    def __init__(self) -> None:
        self.calls: list = []
        self.delay = 0.0
        self.down = False
        self.lock = threading.Lock()

    def count(self, kind: str, *, amount: Decimal | None = None) -> int:
        return sum(1 for name, _key, value in self.calls if name == kind and (amount is None or value == amount))

    def charged(self) -> list[Decimal]:
        """Amounts captured (what the member actually paid), in order."""
        return [value for name, _key, value in self.calls if name == "capture"]


@pytest.fixture
def provider(settings):
    """Every payment of the test goes to a counting copy of the test provider."""
    box = Box()
    with payment_provider("counting", lambda: CountingProvider(box)):
        settings.PAYMENT_PROVIDER = "counting"
        yield box


@pytest.fixture
def travel():
    """``travel(when)`` moves the clock (and keeps it still) until the test ends."""
    travellers = []

    def go(when: datetime):
        if travellers:
            travellers.pop().stop()
        traveller = time_machine.travel(when, tick=False)
        traveller.start()
        travellers.append(traveller)

    go(START)
    yield go
    while travellers:
        travellers.pop().stop()


def make_plan(**overrides) -> Plan:
    values = {"name": "Bazaar Plus", "slug": "bazaar-plus", "monthly_price": Decimal("12.99"),
              "annual_price": Decimal("119.00"), "currency": "USD", "trial_days": 30}
    values.update(overrides)
    with committed():  # saved by staff: cached plans are refreshed when this returns
        return services.plan_save(plan=Plan(**values))


@pytest.fixture
def plan(db) -> Plan:
    return make_plan()


@pytest.fixture
def paid_plan(db) -> Plan:
    """A plan without a free trial: the first period is charged when joining."""
    return make_plan(name="Bazaar Plus Now", slug="plus-now", trial_days=0)


@pytest.fixture
def user(db):
    return UserFactory()


def card_number(n: int) -> str:
    """A different Luhn-valid test card for each ``n`` (one free trial per card)."""
    body = f"40000001{n:07d}"
    total = 0
    for i, ch in enumerate(reversed(body)):
        digit = int(ch) * (2 if i % 2 == 0 else 1)
        total += digit - 9 if digit > 9 else digit
    return body + str((10 - total % 10) % 10)


def join(user, plan, *, card=GOOD_CARD, interval="month", **kwargs) -> Subscription:
    """Join as the join page does (committed: the welcome e-mail has gone when this returns)."""
    with committed():
        return services.membership_join(user=user, plan=plan, interval=interval, payment_method=card, **kwargs)


def card_now_declines(subscription: Subscription, card: str = "pm_test_card_declined_0002") -> None:
    """The saved card stops working (expired, blocked...) after the member joined."""
    Subscription.objects.filter(pk=subscription.pk).update(payment_method=card)


def beat(**kwargs) -> int:
    """The beat's renewal run and the renewals it hands to the worker (committed: they have run,
    with their e-mails, when this returns). Returns how many it handed over."""
    with committed():
        return tasks.renew_due_subscriptions(**kwargs)


def renew(subscription: Subscription) -> str:
    """One renewal run, as the worker does it (committed: receipts and dunning e-mails have gone)."""
    with committed():
        return services.subscription_renew(subscription_id=subscription.pk)


def reload(subscription: Subscription) -> Subscription:
    return Subscription.objects.select_related("plan").get(pk=subscription.pk)
