"""Stock invariants: never negative, reserved within on hand (CHECK constraints), a ledger row for
every change, all-or-nothing reservations, and exactly the available units sold under concurrency."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.db.models import F, Sum

from core.exceptions import ApplicationError
from fulfillment import services
from fulfillment.models import StockItem, StockMovement, Warehouse
from marketplace.models import Offer
from tests.concurrency import race
from tests.factories import OfferFactory, SellerFactory, WarehouseFactory, stock


@pytest.mark.django_db
class TestConstraints:
    def test_on_hand_cannot_go_negative(self):
        item = stock(OfferFactory(), 2)
        with pytest.raises(IntegrityError), transaction.atomic():
            StockItem.objects.filter(pk=item.pk).update(on_hand=F("on_hand") - 3)

    def test_reserved_cannot_exceed_on_hand(self):
        item = stock(OfferFactory(), 2)
        with pytest.raises(IntegrityError), transaction.atomic():
            StockItem.objects.filter(pk=item.pk).update(reserved=3)

    def test_reserved_cannot_go_negative(self):
        item = stock(OfferFactory(), 2)
        with pytest.raises(IntegrityError), transaction.atomic():
            StockItem.objects.filter(pk=item.pk).update(reserved=-1)

    def test_one_row_per_offer_and_warehouse(self):
        item = stock(OfferFactory(), 1)
        with pytest.raises(IntegrityError), transaction.atomic():
            StockItem.objects.create(offer=item.offer, warehouse=item.warehouse)


@pytest.mark.django_db
class TestLedger:
    def test_every_change_writes_a_ledger_row_that_adds_up(self):
        item = stock(OfferFactory(), 10)
        services.stock_adjust(stock_item=item, delta=-3, note="damaged")
        services.stock_reserve(lines=[(item.offer_id, 4)], reference="order-1")
        reservations = services.stock_reserve(lines=[(item.offer_id, 1)], reference="order-2")
        services.stock_release(reservations=reservations, reference="order-2")
        item.refresh_from_db()
        assert (item.on_hand, item.reserved) == (7, 4)
        totals = StockMovement.objects.filter(stock_item=item).aggregate(
            on_hand=Sum("on_hand_delta"), reserved=Sum("reserved_delta")
        )
        assert totals == {"on_hand": 7, "reserved": 4}
        kinds = list(StockMovement.objects.filter(stock_item=item).order_by("pk").values_list("kind", flat=True))
        assert kinds == ["receive", "adjust", "reserve", "reserve", "release"]
        last = StockMovement.objects.filter(stock_item=item).order_by("pk").last()
        assert (last.on_hand_after, last.reserved_after, last.reference) == (7, 4, "order-2")

    def test_adjust_below_reserved_is_refused_and_changes_nothing(self):
        item = stock(OfferFactory(), 5)
        services.stock_reserve(lines=[(item.offer_id, 4)], reference="order")
        before = StockMovement.objects.count()
        with pytest.raises(ApplicationError, match="reserved"):
            services.stock_adjust(stock_item=item, delta=-2)
        item.refresh_from_db()
        assert (item.on_hand, item.reserved) == (5, 4)
        assert StockMovement.objects.count() == before

    @pytest.mark.parametrize("quantity", [0, -1, "abc", None, "1.5"])
    def test_bad_quantities_are_refused(self, quantity):
        item = stock(OfferFactory(), 1)
        with pytest.raises(ApplicationError):
            services.stock_receive(stock_item=item, quantity=quantity)
        with pytest.raises(ApplicationError):
            services.stock_reserve(lines=[(item.offer_id, quantity)], reference="x")


@pytest.mark.django_db
class TestReservations:
    def test_reservation_spans_warehouses_fullest_first(self):
        offer = OfferFactory()
        a = stock(offer, 2, WarehouseFactory())
        b = stock(offer, 3, WarehouseFactory())
        services.stock_reserve(lines=[(offer.pk, 4)], reference="o")
        a.refresh_from_db()
        b.refresh_from_db()
        assert a.reserved + b.reserved == 4
        assert a.reserved <= a.on_hand
        assert b.reserved <= b.on_hand

    def test_all_or_nothing_with_a_clear_message(self):
        plenty = stock(OfferFactory(), 10)
        scarce = stock(OfferFactory(), 3)
        with pytest.raises(services.InsufficientStock, match="Only 3 left") as err:
            services.stock_reserve(lines=[(plenty.offer_id, 2), (scarce.offer_id, 5)], reference="o")
        assert err.value.available == 3
        plenty.refresh_from_db()
        scarce.refresh_from_db()
        assert plenty.reserved == 0
        assert scarce.reserved == 0

    def test_out_of_stock_message(self):
        item = stock(OfferFactory(), 0)
        with pytest.raises(services.InsufficientStock, match="out of stock"):
            services.stock_reserve(lines=[(item.offer_id, 1)], reference="o")

    def test_platform_offer_stock_must_be_in_a_platform_warehouse(self):
        offer = OfferFactory(fulfillment_channel=Offer.Channel.PLATFORM)
        seller_place = WarehouseFactory(kind=Warehouse.Kind.SELLER, seller=offer.seller)
        with pytest.raises(ApplicationError, match="fulfilment centre"):
            services.stock_item_ensure(offer=offer, warehouse=seller_place)

    def test_merchant_offer_stock_must_be_at_its_sellers_location(self):
        offer = OfferFactory(fulfillment_channel=Offer.Channel.MERCHANT)
        other = WarehouseFactory(kind=Warehouse.Kind.SELLER, seller=SellerFactory())
        with pytest.raises(ApplicationError, match="own locations"):
            services.stock_item_ensure(offer=offer, warehouse=other)


@pytest.mark.django_db(transaction=True)
def test_concurrent_buyers_of_the_last_units_never_oversell():
    """20 threads each try to reserve 1 of 10 units spread over two warehouses."""
    offer = OfferFactory(price=Decimal("5.00"))
    stock(offer, 6, WarehouseFactory())
    stock(offer, 4, WarehouseFactory())
    outcomes = race(lambda n: services.stock_reserve(lines=[(offer.pk, 1)], reference=f"buyer-{n}"),
                    [(n,) for n in range(20)])
    results = [r.message if isinstance(r, services.InsufficientStock) else repr(r) if isinstance(r, Exception)
               else "ok" for r in outcomes]
    assert results.count("ok") == 10
    assert len(results) == 20
    assert all("out of stock" in r or "left" in r for r in results if r != "ok")
    totals = StockItem.objects.filter(offer=offer).aggregate(on_hand=Sum("on_hand"), reserved=Sum("reserved"))
    assert totals == {"on_hand": 10, "reserved": 10}
    assert StockMovement.objects.filter(stock_item__offer=offer, kind="reserve").count() == 10
