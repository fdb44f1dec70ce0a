"""Storage fees: daily cubic feet per seller and storage class, a monthly charge on the average at
the off-peak or peak rate, charged once per seller and month and posted to the seller's ledger
once; Bazaar's own stock is free; a seller sees only its own charges."""

from datetime import date
from decimal import Decimal as D

import pytest
from django.test import Client
from django.urls import reverse

from core.exceptions import ApplicationError
from finance.models import LedgerEntry
from fulfillment import storage
from fulfillment.models import StorageCharge, StorageSnapshot, Warehouse
from fulfillment.tasks import charge_storage_fees
from tests.commit import committed
from tests.factories import OfferFactory, ProductFactory, SellerFactory, WarehouseFactory, house_seller, seller_member
from tests.factories import stock as put_stock

pytestmark = pytest.mark.django_db


def measured(length, width, height, weight):
    product = ProductFactory()
    product.length_in, product.width_in, product.height_in, product.weight_lb = (D(str(v)) for v in (
        length, width, height, weight))
    product.save()
    return product


@pytest.fixture
def stored():
    """A seller with 10 boxes of 12 x 12 x 6 in (half a cubic foot each, large standard) and 2 units
    of 24 x 24 x 24 in (8 cu ft each, oversize) in a Bazaar centre; Bazaar's own stock beside them."""
    centre = WarehouseFactory(code="fc-1")
    seller = SellerFactory(name="Kettle Works")
    box = OfferFactory(seller=seller, product=measured(12, 12, 6, 5))
    bulky = OfferFactory(seller=seller, product=measured(24, 24, 24, 30))
    put_stock(box, 10, centre)
    put_stock(bulky, 2, centre)
    put_stock(OfferFactory(seller=house_seller(), product=measured(12, 12, 12, 5)), 100, centre)
    own_place = WarehouseFactory(kind=Warehouse.Kind.SELLER, seller=seller, code="kw-home")
    put_stock(OfferFactory(seller=seller, fulfillment_channel="merchant"), 500, own_place)  # not Bazaar's to charge
    return seller


def test_a_day_is_recorded_by_storage_class_and_a_rerun_replaces_it(stored):
    assert storage.storage_snapshot(day=date(2026, 3, 1)) == 2
    rows = {r.storage_class: (r.cubic_feet, r.units) for r in StorageSnapshot.objects.filter(seller=stored)}
    assert rows == {"standard": (D("5.0000"), 10), "oversize": (D("16.0000"), 2)}
    assert not StorageSnapshot.objects.filter(seller=house_seller()).exists()
    assert storage.storage_snapshot(day=date(2026, 3, 1)) == 2
    assert StorageSnapshot.objects.filter(day=date(2026, 3, 1)).count() == 2


def snapshots(seller, month: date, days: int, standard: str, oversize: str = "0"):
    for day in range(1, days + 1):
        for storage_class, cubic in (("standard", standard), ("oversize", oversize)):
            if D(cubic):
                StorageSnapshot.objects.create(seller=seller, day=month.replace(day=day), storage_class=storage_class,
                                               cubic_feet=D(cubic), units=1)


def test_the_month_is_charged_on_the_average_at_the_off_peak_and_peak_rates_once():
    seller = SellerFactory()
    snapshots(seller, date(2026, 3, 1), 31, "10", "16")  # all of March
    with committed():
        assert storage.storage_charge_month(month=date(2026, 3, 15), today=date(2026, 4, 1)) == 1
    charge = StorageCharge.objects.get(seller=seller)
    assert charge.amount == D("16.76")  # 10 x 0.78 + 16 x 0.56
    assert (charge.detail["standard"]["average_cubic_feet"], charge.detail["peak"]) == ("10.0000", False)
    entry = LedgerEntry.objects.get(seller=seller, kind="storage_fee")
    assert (entry.amount, entry.source_type, entry.source_id, entry.description) == (
        D("-16.76"), "storage_charge", charge.pk, "Storage, March 2026")
    with committed():
        assert storage.storage_charge_month(month=date(2026, 3, 1), today=date(2026, 4, 2)) == 0  # once
    assert LedgerEntry.objects.filter(seller=seller, kind="storage_fee").count() == 1

    half = SellerFactory()
    snapshots(half, date(2026, 11, 1), 15, "30")  # half of November, a peak month
    with committed():
        storage.storage_charge_month(month=date(2026, 11, 1), today=date(2026, 12, 1))
    assert StorageCharge.objects.get(seller=half).amount == D("36.00")  # 30 x 15/30 days x 2.40


def test_a_month_is_charged_only_once_it_is_over_and_the_beat_charges_last_month(settings):
    seller = SellerFactory()
    snapshots(seller, date(2026, 11, 1), 2, "1")
    with pytest.raises(ApplicationError, match="over"):
        storage.storage_charge_month(month=date(2026, 11, 1), today=date(2026, 11, 30))
    with committed():
        assert storage.storage_charge_last_month(today=date(2026, 12, 3)) == 1
    with committed():
        assert charge_storage_fees() == 0  # the beat's own run: that month is charged already, or empty
    assert StorageCharge.objects.count() == 1


def test_nothing_stored_nothing_charged_and_the_house_seller_is_free():
    snapshots(house_seller(), date(2026, 1, 1), 31, "100")
    with committed():
        assert storage.storage_charge_month(month=date(2026, 1, 1), today=date(2026, 2, 1)) == 0
    assert not LedgerEntry.objects.filter(kind="storage_fee").exists()


@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_charge_once():
    from tests.concurrency import race

    seller = SellerFactory()
    snapshots(seller, date(2026, 2, 1), 28, "5")
    results = race(lambda: storage.storage_charge_month(month=date(2026, 2, 1), today=date(2026, 3, 1)), [(), ()])
    assert sorted(results) == [0, 1]
    assert StorageCharge.objects.filter(seller=seller).count() == 1


def test_sellers_see_their_own_charges_and_the_rates(stored):
    other = SellerFactory()
    StorageCharge.objects.create(seller=stored, month=date(2026, 3, 1), amount=D("16.76"))
    StorageCharge.objects.create(seller=other, month=date(2026, 3, 1), amount=D("99.99"))
    client = Client()
    client.force_login(seller_member(stored, role="staff"))
    page = client.get(reverse("admin:fulfillment_storagecharge_changelist")).content.decode()
    assert "16.76" in page
    assert "99.99" not in page
    assert client.get(reverse("admin:fulfillment_storagerate_changelist")).status_code == 200
