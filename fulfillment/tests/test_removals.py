"""Removal orders and the aged inventory surcharge: a seller asks stock back from Bazaar's centres
(Bazaar sends it, the units leave stock through the ledger and the tier's removal fee is posted
once); units stored longer than 180 days pay a monthly surcharge on their cubic feet."""

from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from core.exceptions import ApplicationError, Conflict, PermissionDenied
from finance.models import LedgerEntry
from fulfillment import removals, storage
from fulfillment.models import RemovalOrder, StockItem, StockMovement, StorageCharge
from tests.commit import committed
from tests.factories import OfferFactory, ProductFactory, SellerFactory, WarehouseFactory, seller_member, staff_user
from tests.factories import stock as put_stock

pytestmark = pytest.mark.django_db

SENDER = ("fulfillment.complete_removalorder", "fulfillment.view_removalorder")


def measured(length, width, height, weight):
    product = ProductFactory()
    product.length_in, product.width_in, product.height_in, product.weight_lb = (D(str(v)) for v in (
        length, width, height, weight))
    product.save()
    return product


@pytest.fixture
def held():
    """8 units of a seller's offer (12 x 12 x 6 in, large standard) in a Bazaar centre."""
    centre = WarehouseFactory(code="fc-r")
    seller = SellerFactory()
    offer = OfferFactory(seller=seller, product=measured(12, 12, 6, 2))
    put_stock(offer, 8, centre)
    return {"seller": seller, "offer": offer, "centre": centre, "manager": seller_member(seller, role="manager"),
            "sender": staff_user(*SENDER)}


def test_request_then_bazaar_sends_the_units_and_charges_the_removal_fee_once(held):
    removal = removals.removal_request(offer=held["offer"], quantity=5, actor=held["manager"])
    assert (removal.status, removal.warehouse) == ("requested", held["centre"])
    with committed():
        done = removals.removal_complete(removal=removal, actor=held["sender"])
    item = StockItem.objects.get(offer=held["offer"], warehouse=held["centre"])
    assert (done.status, done.fee_per_unit, item.on_hand) == ("completed", D("0.97"), 3)
    assert StockMovement.objects.filter(reference=f"removal:{removal}", on_hand_delta=-5).exists()
    fee = LedgerEntry.objects.get(seller=held["seller"], kind="removal_fee")
    assert (fee.amount, fee.source_type) == (D("-4.85"), "removal_order")
    with pytest.raises(Conflict):
        removals.removal_complete(removal=removal, actor=held["sender"])


def test_what_a_removal_refuses_and_who_may(held):
    with pytest.raises(ApplicationError, match="available"):
        removals.removal_request(offer=held["offer"], quantity=9, actor=held["manager"])
    merchant = OfferFactory(seller=held["seller"], fulfillment_channel="merchant")
    with pytest.raises(ApplicationError, match="Bazaar holds"):
        removals.removal_request(offer=merchant, quantity=1, actor=held["manager"])
    with pytest.raises(ApplicationError, match="whole number"):
        removals.removal_request(offer=held["offer"], quantity="all", actor=held["manager"])
    for outsider in (seller_member(held["seller"], role="staff"), seller_member(SellerFactory(), role="owner")):
        with pytest.raises(PermissionDenied):
            removals.removal_request(offer=held["offer"], quantity=1, actor=outsider)
    removal = removals.removal_request(offer=held["offer"], quantity=2, actor=held["manager"])
    with pytest.raises(PermissionDenied):
        removals.removal_complete(removal=removal, actor=held["manager"])  # sellers never take stock out of Bazaar's
    assert removals.removal_cancel(removal=removal, actor=held["manager"]).status == "cancelled"
    with pytest.raises(Conflict):
        removals.removal_complete(removal=removal, actor=held["sender"])
    assert StockItem.objects.get(offer=held["offer"]).on_hand == 8


def test_units_promised_to_orders_stay(held):
    from fulfillment import services as fulfillment_services

    removal = removals.removal_request(offer=held["offer"], quantity=6, actor=held["manager"])
    fulfillment_services.stock_reserve(lines=[(held["offer"].pk, 4)], reference="order")
    with pytest.raises(ApplicationError, match="reserved"):
        removals.removal_complete(removal=removal, actor=held["sender"])
    assert RemovalOrder.objects.get(pk=removal.pk).status == "requested"


def test_units_older_than_180_days_pay_the_aged_surcharge(held, settings):
    old_receipt = StockMovement.objects.filter(stock_item__offer=held["offer"], kind="receive")
    old_receipt.update(created_at=timezone.now() - timedelta(days=200))  # the 8 units came in 200 days ago
    put_stock(held["offer"], 2, held["centre"])  # 2 fresh ones beside them
    last_month = timezone.localdate().replace(day=1) - timedelta(days=1)
    with committed():
        storage.storage_charge_month(month=last_month)
    charge = StorageCharge.objects.get(seller=held["seller"])
    assert charge.aged_amount == D("6.00")  # 8 units x 0.5 cu ft x $1.50
    assert charge.amount == D("0.00")  # nothing was recorded stored last month
    entry = LedgerEntry.objects.get(seller=held["seller"], kind="aged_inventory_fee")
    assert entry.amount == D("-6.00")
    assert not LedgerEntry.objects.filter(seller=held["seller"], kind="storage_fee").exists()



def test_sellers_request_in_admin_and_staff_send(held):
    client = Client()
    client.force_login(held["manager"])
    add = reverse("admin:fulfillment_removalorder_add")
    assert client.get(add).status_code == 200
    response = client.post(add, {"offer": held["offer"].pk, "quantity": 3})
    assert response.status_code == 302, response.content.decode()[:2000]
    removal = RemovalOrder.objects.get()
    change = reverse("admin:fulfillment_removalorder_change", args=[removal.pk])
    page = client.get(change).content.decode()
    assert 'name="_cancel"' in page
    assert 'name="_complete"' not in page
    staff = Client()
    staff.force_login(held["sender"])
    with committed():
        assert staff.post(change, {"_complete": "1"}).status_code == 302
    assert RemovalOrder.objects.get(pk=removal.pk).status == "completed"
    other = Client()
    other.force_login(seller_member(SellerFactory(), role="owner"))
    assert other.get(change).status_code == 302
