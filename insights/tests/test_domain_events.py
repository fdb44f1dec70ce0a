"""Orders' and membership's domain events become Segment's "Order Completed", "Order Cancelled",
"Order Refunded" and "Membership Joined", after a cursor that moves with the rows it wrote."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core import events as core_events
from insights import services, tasks
from insights.models import Cursor, Event
from membership import events as membership_events
from orders import services as orders_services
from orders.models import Order
from tests.buying import cart_with, place
from tests.commit import committed
from tests.factories import OfferFactory, UserFactory, shipping_method, stock

pytestmark = pytest.mark.django_db


@pytest.fixture
def offers():
    shipping_method(channel="platform", price="0.00", code="free")
    shipping_method(channel="merchant", price="4.99", code="standard")
    kettle = OfferFactory(price=Decimal("20.00"), product__title="Blue Kettle", product__category__name="Kettles")
    towel = OfferFactory(price=Decimal("5.00"), fulfillment_channel="merchant", product__title="Tea Towel")
    stock(kettle, 5)
    stock(towel, 5)
    return kettle, towel


def ingest() -> int:
    return services.domain_events_ingest(settle_seconds=0)


def test_a_paid_order_becomes_order_completed_with_its_money(offers):
    kettle, towel = offers
    user = UserFactory()
    order = place(cart_with((kettle, 2), (towel, 1), user=user), user=user).order
    Order.objects.filter(pk=order.pk).update(visitor_id="9" * 32)
    order.refresh_from_db()
    assert order.status == Order.Status.PAID

    assert ingest() >= 1
    event = Event.objects.get(name="Order Completed")
    props = event.properties
    assert (event.visitor_id, event.user_id) == ("9" * 32, user.pk)
    assert props["order_id"] == order.number
    assert props["currency"] == order.currency
    assert Decimal(props["subtotal"]) == order.subtotal == Decimal("45.00")
    assert Decimal(props["shipping"]) == order.shipping == Decimal("4.99")
    assert Decimal(props["tax"]) == order.tax
    assert Decimal(props["discount"]) == order.discount
    assert Decimal(props["total"]) == order.total
    assert Decimal(props["revenue"]) == order.subtotal - order.discount  # net of discounts, no tax or shipping
    assert all(isinstance(props[k], str) for k in ("subtotal", "total", "revenue"))  # never floats
    products = {p["name"]: p for p in props["products"]}
    assert products["Blue Kettle"] == {
        "product_id": kettle.product_id, "sku": products["Blue Kettle"]["sku"], "name": "Blue Kettle",
        "category": "Kettles", "price": "20.00", "quantity": 2, "seller_id": kettle.seller_id,
    }
    assert products["Tea Towel"]["quantity"] == 1
    assert event.occurred_at == Event.objects.get().occurred_at


def test_the_cursor_makes_a_second_run_add_nothing(offers):
    kettle, _towel = offers
    place(cart_with((kettle, 1)))
    ingest()
    count = Event.objects.count()
    cursor = Cursor.objects.get(name=services.DOMAIN_EVENTS_CURSOR)
    assert cursor.last_id > 0
    assert ingest() == 0
    assert Event.objects.count() == count
    # a replay from the start (cursor lost) stores nothing twice: ids derive from the domain events
    Cursor.objects.filter(pk=cursor.pk).update(last_id=0)
    assert ingest() > 0
    assert Event.objects.count() == count


def test_events_of_the_last_seconds_wait_for_the_next_run(offers):
    kettle, _towel = offers
    place(cart_with((kettle, 1)))
    assert services.domain_events_ingest(settle_seconds=3600) == 0
    assert not Event.objects.exists()
    assert ingest() > 0


def test_cancelled_and_refunded_orders(offers):
    kettle, towel = offers
    cancelled = place(cart_with((kettle, 1))).order
    refunded = place(cart_with((towel, 2))).order
    with committed():
        orders_services.order_cancel(order=cancelled)
        orders_services.order_refund(order=Order.objects.get(pk=refunded.pk))
    ingest()
    [cancel] = Event.objects.filter(name="Order Cancelled")
    assert cancel.properties["order_id"] == cancelled.number
    assert Decimal(cancel.properties["total"]) == cancelled.total
    [refund] = Event.objects.filter(name="Order Refunded")
    assert refund.properties["order_id"] == refunded.number
    assert Decimal(refund.properties["amount"]) == Order.objects.get(pk=refunded.pk).refunded_amount > 0


def test_partial_refunds_and_membership_joins_from_the_log(offers):
    kettle, _towel = offers
    order = place(cart_with((kettle, 1))).order
    user = UserFactory()
    with committed():
        core_events.record("orders.order_partially_refunded", aggregate="order", aggregate_id=order.pk,
                           order_id=order.pk, refund_id=1, amount="7.50")
        core_events.record(membership_events.JOINED, aggregate="subscription", aggregate_id=4, subscription_id=4,
                           user_id=user.pk, plan="prime", interval="month", status="trialing")
    ingest()
    refund = Event.objects.get(name="Order Refunded")
    assert refund.properties["amount"] == "7.50"
    joined = Event.objects.get(name="Membership Joined")
    assert (joined.user_id, joined.visitor_id) == (user.pk, "")
    assert joined.properties == {"subscription_id": 4, "plan": "prime", "interval": "month", "status": "trialing"}


def test_the_beat_task_reads_the_log(offers, settings):
    settings.INSIGHTS_DOMAIN_EVENTS_SETTLE_SECONDS = 0
    kettle, _towel = offers
    place(cart_with((kettle, 1)))
    assert tasks.ingest_domain_events.delay().get() > 0
    assert Event.objects.filter(name="Order Completed").count() == 1
