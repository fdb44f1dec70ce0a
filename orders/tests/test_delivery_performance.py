"""On-time delivery, measured per seller, per warehouse shipped from and per shipping method, and
used by the sellers' account health: only what the carrier or staff confirmed counts."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from finance import services as finance_services
from finance.models import SellerHealth
from orders import selectors, services
from orders.models import DeliveryConfirmation, Package
from orders.tests.test_shipping import buy, package_of
from tests.buying import ship
from tests.commit import committed
from tests.factories import seller_member, staff_user

pytestmark = pytest.mark.django_db


def at(day, hour=12):
    return timezone.make_aware(datetime.combine(day, time(hour)))


def test_shipping_records_where_from_and_delivery_who_said_so(offers):
    kettle, towel = offers
    order = buy(offers, quantity=1)
    with committed():
        ship(package_of(order, kettle))
        ship(package_of(order, towel))
    platform, merchant = package_of(order, kettle), package_of(order, towel)
    assert platform.shipped_from_id == kettle.stock_items.get().warehouse_id
    assert merchant.shipped_from_id == towel.stock_items.get().warehouse_id
    services.package_tracking_update(reference=f"package:{platform.pk}", status="delivered",
                                     occurred_at=timezone.now().isoformat())
    services.package_deliver(package=merchant, actor=staff_user("orders.ship_package"))
    assert package_of(order, kettle).delivery_confirmed_by == DeliveryConfirmation.CARRIER
    assert package_of(order, towel).delivery_confirmed_by == DeliveryConfirmation.STAFF


def test_on_time_late_overdue_assumed_and_cancelled(offers):
    kettle, towel = offers
    orders = [buy(offers, quantity=1) for _ in range(4)]
    with committed():
        for order in orders[:3]:
            ship(package_of(order, kettle))
            ship(package_of(order, towel))
    latest = package_of(orders[0], kettle).estimated_latest
    towel_latest = package_of(orders[0], towel).estimated_latest
    # kettle: on time, late by a day, still on its way after its latest day
    services.package_deliver(package=package_of(orders[0], kettle), now=at(latest, 20))
    services.package_deliver(package=package_of(orders[1], kettle), now=at(latest + timedelta(days=1), 9))
    # towel: on time, then one only taken as delivered (overdue, untracked): left out
    services.package_deliver(package=package_of(orders[0], towel), now=at(towel_latest - timedelta(days=1)))
    services.package_deliver(package=package_of(orders[1], towel), now=at(towel_latest),
                             confirmed_by=DeliveryConfirmation.ASSUMED)
    with committed():
        services.order_cancel(order=orders[3])  # never shipped: left out
    today = max(latest, towel_latest) + timedelta(days=2)
    since = today - timedelta(days=30)

    by_seller = {row.key: row for row in selectors.delivery_performance(by="seller", since=since, today=today)}
    assert (by_seller[kettle.seller_id].due, by_seller[kettle.seller_id].on_time,
            by_seller[kettle.seller_id].undelivered) == (3, 1, 1)
    assert str(by_seller[kettle.seller_id].rate) == "33.3"
    # orders[2]'s towel: shipped, not delivered, its latest day past: late
    assert (by_seller[towel.seller_id].due, by_seller[towel.seller_id].on_time) == (2, 1)
    by_warehouse = {row.key: row for row in selectors.delivery_performance(by="warehouse", since=since, today=today)}
    centre = kettle.stock_items.get().warehouse
    assert by_warehouse[centre.pk].name == centre.name
    assert by_warehouse[centre.pk].due == 3
    by_method = {row.key: row for row in selectors.delivery_performance(by="method", since=since, today=today)}
    assert set(by_method) == {"free", "standard"}
    assert by_method["free"].on_time == 1
    worst_first = selectors.delivery_performance(by="seller", since=since, today=today)
    assert [row.key for row in worst_first] == [kettle.seller_id, towel.seller_id]
    # before the latest days: only the packages delivered already count (early ones are on time)
    early = {row.key: (row.due, row.on_time) for row in
             selectors.delivery_performance(by="seller", since=since, today=latest - timedelta(days=5))}
    assert early == {kettle.seller_id: (2, 1), towel.seller_id: (1, 1)}
    # only for the sellers asked about
    mine = selectors.delivery_performance(by="seller", since=since, today=today, seller_ids=[towel.seller_id])
    assert [row.key for row in mine] == [towel.seller_id]


@override_settings(FINANCE_HEALTH_MIN_ORDERS=2)
def test_late_deliveries_take_a_seller_out_of_the_buy_box(offers):
    _kettle, towel = offers
    orders = [buy([towel], quantity=1) for _ in range(3)]
    with committed():
        for order in orders:
            ship(package_of(order, towel))
    latest = package_of(orders[0], towel).estimated_latest
    services.package_deliver(package=package_of(orders[0], towel), now=at(latest))
    for order in orders[1:]:
        services.package_deliver(package=package_of(order, towel), now=at(latest + timedelta(days=3)))
    with time_machine.travel(at(latest + timedelta(days=5))), committed():
        finance_services.health_compute()
        health = SellerHealth.objects.get(seller=towel.seller)
    assert health.on_time_delivery_rate == Decimal("33.33")
    assert health.delivered == 3
    assert not health.eligible
    assert "on-time delivery rate 33.33% (target: at least 90.00%)" in health.problems


def test_the_admin_page_for_staff_and_for_a_seller(client, offers):
    kettle, towel = offers
    order = buy(offers, quantity=1)
    with committed():
        ship(package_of(order, kettle))
        ship(package_of(order, towel))
    latest = max(p.estimated_latest for p in Package.objects.filter(order=order))
    for package in Package.objects.filter(order=order):
        services.package_deliver(package=package, now=at(package.estimated_latest))
    url = reverse("admin:orders_package_delivery_performance")
    assert client.get(url).status_code == 302  # signed out: to the sign-in page
    client.force_login(staff_user("orders.view_package"))
    with time_machine.travel(at(latest + timedelta(days=1))):
        page = client.get(url, {"days": "7"}).content.decode()
        assert f'data-key="{kettle.seller_id}"' in page
        assert f'data-key="{towel.seller_id}"' in page
        assert "100.0%" in page
        assert client.get(url, {"days": "<script>"}).status_code == 200  # unknown: 30 days
        client.force_login(seller_member(towel.seller))
        page = client.get(url).content.decode()
    assert f'data-key="{towel.seller_id}"' in page
    assert f'data-key="{kettle.seller_id}"' not in page  # another seller's deliveries are not theirs to see
    client.force_login(staff_user())
    assert client.get(url).status_code == 403
