"""Shipping reserved stock: on hand and reserved both go down, a SHIP ledger row per stock row,
never more than is reserved, all or nothing."""

import pytest

from core.exceptions import ApplicationError
from fulfillment import services
from fulfillment.models import StockItem, StockMovement, Warehouse
from tests.factories import OfferFactory, WarehouseFactory, stock

pytestmark = pytest.mark.django_db


def test_shipping_takes_units_off_the_shelf_and_out_of_the_reservation():
    item = stock(OfferFactory(), 10)
    reservations = services.stock_reserve(lines=[(item.offer_id, 3)], reference="order-1")
    services.stock_ship(reservations=reservations, reference="ship:order-1")
    item.refresh_from_db()
    assert (item.on_hand, item.reserved) == (7, 0)
    last = StockMovement.objects.filter(stock_item=item).order_by("pk").last()
    assert (last.kind, last.on_hand_delta, last.reserved_delta) == (StockMovement.Kind.SHIP, -3, -3)
    assert (last.on_hand_after, last.reserved_after, last.reference) == (7, 0, "ship:order-1")


def test_available_units_do_not_change_when_reserved_units_ship():
    item = stock(OfferFactory(), 5)
    reservations = services.stock_reserve(lines=[(item.offer_id, 2)], reference="o")
    item.refresh_from_db()
    before = item.on_hand - item.reserved
    services.stock_ship(reservations=reservations, reference="ship:o")
    item.refresh_from_db()
    assert item.on_hand - item.reserved == before == 3


def test_one_ship_row_per_stock_row_across_warehouses():
    offer = OfferFactory()
    first = stock(offer, 2)
    second = stock(offer, 3, warehouse=WarehouseFactory(kind=Warehouse.Kind.PLATFORM))
    reservations = services.stock_reserve(lines=[(offer.pk, 5)], reference="o")
    assert len(reservations) == 2
    services.stock_ship(reservations=reservations, reference="ship:o")
    rows = StockItem.objects.filter(offer=offer).order_by("pk").values_list("on_hand", "reserved")
    assert list(rows) == [(0, 0), (0, 0)]
    ships = StockMovement.objects.filter(kind=StockMovement.Kind.SHIP, stock_item__in=[first, second])
    assert ships.count() == 2


def test_shipping_more_than_reserved_is_refused_and_changes_nothing():
    a = stock(OfferFactory(), 5)
    b = stock(OfferFactory(), 5)
    reserved_a = services.stock_reserve(lines=[(a.offer_id, 2)], reference="o")
    services.stock_reserve(lines=[(b.offer_id, 1)], reference="o")
    too_much = [*reserved_a, services.Reservation(b.pk, b.offer_id, 2)]
    with pytest.raises(ApplicationError):
        services.stock_ship(reservations=too_much, reference="ship:o")
    a.refresh_from_db()
    b.refresh_from_db()
    assert (a.on_hand, a.reserved, b.on_hand, b.reserved) == (5, 2, 5, 1)
    assert not StockMovement.objects.filter(kind=StockMovement.Kind.SHIP).exists()


def test_shipping_the_same_reservation_twice_is_refused():
    item = stock(OfferFactory(), 4)
    reservations = services.stock_reserve(lines=[(item.offer_id, 2)], reference="o")
    services.stock_ship(reservations=reservations, reference="ship:o")
    with pytest.raises(ApplicationError):
        services.stock_ship(reservations=reservations, reference="ship:o")
    item.refresh_from_db()
    assert (item.on_hand, item.reserved) == (2, 0)
