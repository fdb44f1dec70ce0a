"""First-party purchasing: the house seller's purchase orders (draft, order, receive into stock,
close with shortages and overages, or cancel), reorder suggestions from sales velocity, lead time
and safety stock, and drafts made from them; platform buyers only."""

from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from core.exceptions import ApplicationError, Conflict, PermissionDenied
from fulfillment import purchasing
from fulfillment import services as fulfillment_services
from fulfillment.models import PurchaseOrder, StockItem, StockMovement, Supplier, SupplierOffer, Warehouse
from tests.factories import OfferFactory, SellerFactory, WarehouseFactory, house_seller, seller_member, staff_user
from tests.factories import stock as put_stock

pytestmark = pytest.mark.django_db

P = PurchaseOrder.Status
BUYER = ("fulfillment.add_purchaseorder", "fulfillment.change_purchaseorder", "fulfillment.view_purchaseorder",
         "fulfillment.add_purchaseorderline", "fulfillment.change_purchaseorderline",
         "fulfillment.view_purchaseorderline", "fulfillment.receive_purchaseorder")


@pytest.fixture
def shop():
    centre = WarehouseFactory(code="fc-main", name="Main centre")
    supplier = Supplier.objects.create(name="Acme Wholesale", lead_time_days=10)
    kettle = OfferFactory(seller=house_seller(), sku="H-KETTLE")
    toaster = OfferFactory(seller=house_seller(), sku="H-TOASTER")
    SupplierOffer.objects.create(supplier=supplier, offer=kettle, unit_cost=D("11.50"))
    return {"centre": centre, "supplier": supplier, "kettle": kettle, "toaster": toaster,
            "buyer": staff_user(*BUYER)}


def on_hand(offer, warehouse) -> int:
    item = StockItem.objects.filter(offer=offer, warehouse=warehouse).first()
    return item.on_hand if item else 0


def test_order_receive_and_close_with_discrepancies(shop):
    order = purchasing.po_create(supplier=shop["supplier"], warehouse=shop["centre"], actor=shop["buyer"],
                                 lines=[(shop["kettle"], 40, "11.50"), (shop["toaster"], 10, D("20"))])
    now = timezone.now()
    ordered = purchasing.po_order(order=order, actor=shop["buyer"], now=now)
    assert (ordered.status, ordered.expected_on) == (P.ORDERED, timezone.localdate(now) + timedelta(days=10))
    lines = {line.offer_id: line for line in ordered.lines.all()}
    kettle, toaster = lines[shop["kettle"].pk], lines[shop["toaster"].pk]
    assert purchasing.po_receive(order=ordered, counts={str(kettle.pk): "38"}, actor=shop["buyer"]) == 38
    purchasing.po_receive(order=ordered, counts={toaster.pk: 12}, actor=shop["buyer"])
    assert (on_hand(shop["kettle"], shop["centre"]), on_hand(shop["toaster"], shop["centre"])) == (38, 12)
    assert set(StockMovement.objects.filter(stock_item__warehouse=shop["centre"]).values_list(
        "reference", flat=True)) == {f"po:{order.code}"}
    closed = purchasing.po_close(order=ordered, actor=shop["buyer"])
    kettle.refresh_from_db()
    toaster.refresh_from_db()
    assert (closed.status, kettle.discrepancy, toaster.discrepancy) == (P.CLOSED, -2, 2)
    with pytest.raises(Conflict):
        purchasing.po_receive(order=closed, counts={kettle.pk: 1}, actor=shop["buyer"])


def test_what_a_purchase_order_refuses(shop):
    seller_offer = OfferFactory(seller=SellerFactory())
    order = purchasing.po_create(supplier=shop["supplier"], warehouse=shop["centre"], actor=shop["buyer"])
    for offer, quantity, cost, message in ((seller_offer, 1, "1", "own offers"),
                                           (shop["kettle"], "lots", "1", "whole number"),
                                           (shop["kettle"], 2_000_000, "1", "1,000,000"),
                                           (shop["kettle"], 1, "-1", "Unit cost")):
        with pytest.raises(ApplicationError, match=message):
            purchasing.po_line_set(order=order, offer=offer, quantity=quantity, unit_cost=cost, actor=shop["buyer"])
    with pytest.raises(ApplicationError, match="at least one line"):
        purchasing.po_order(order=order, actor=shop["buyer"])
    home = WarehouseFactory(kind=Warehouse.Kind.SELLER, seller=SellerFactory(), code="seller-home")
    with pytest.raises(ApplicationError, match="Bazaar centre"):
        purchasing.po_create(supplier=shop["supplier"], warehouse=home, actor=shop["buyer"])
    Supplier.objects.filter(pk=shop["supplier"].pk).update(is_active=False)
    shop["supplier"].refresh_from_db()
    with pytest.raises(ApplicationError, match="not active"):
        purchasing.po_create(supplier=shop["supplier"], warehouse=shop["centre"], actor=shop["buyer"])


def test_states_cancel_and_who_may(shop):
    order = purchasing.po_create(supplier=shop["supplier"], warehouse=shop["centre"], actor=shop["buyer"],
                                 lines=[(shop["kettle"], 5, "11.50")])
    purchasing.po_order(order=order, actor=shop["buyer"])
    with pytest.raises(Conflict):
        purchasing.po_line_set(order=order, offer=shop["kettle"], quantity=9, unit_cost="1", actor=shop["buyer"])
    line = order.lines.get()
    for outsider in (seller_member(SellerFactory(), role="owner"), staff_user("fulfillment.view_purchaseorder")):
        with pytest.raises(PermissionDenied):
            purchasing.po_receive(order=order, counts={line.pk: 5}, actor=outsider)
        with pytest.raises(PermissionDenied):
            purchasing.po_cancel(order=order, actor=outsider)
    purchasing.po_receive(order=order, counts={line.pk: 1}, actor=shop["buyer"])
    with pytest.raises(Conflict):
        purchasing.po_cancel(order=order, actor=shop["buyer"])  # something arrived: close instead
    draft = purchasing.po_create(supplier=shop["supplier"], warehouse=shop["centre"], actor=shop["buyer"])
    assert purchasing.po_cancel(order=draft, actor=shop["buyer"]).status == P.CANCELLED


def sell(offer, units, warehouse):
    """``units`` of ``offer`` shipped from ``warehouse`` today (reserved and shipped, as orders do)."""
    put_stock(offer, units, warehouse)
    reservations = fulfillment_services.stock_reserve(lines=[(offer.pk, units)], reference="sold")
    fulfillment_services.stock_ship(reservations=reservations, reference="sold")


def test_reorder_suggestions_from_velocity_lead_time_and_safety_then_a_draft_per_supplier(shop, settings):
    sell(shop["kettle"], 56, shop["centre"])  # 2 a day over the last 28 days
    put_stock(shop["kettle"], 20, shop["centre"])
    sell(shop["toaster"], 28, shop["centre"])  # sold too, but no supplier: nothing to suggest
    [suggestion] = purchasing.reorder_suggestions()
    assert (suggestion.sku, suggestion.daily_sales, suggestion.available, suggestion.reorder_point) == (
        "H-KETTLE", D("2.00"), 20, 34)  # 2 x (10 lead + 7 safety)
    assert suggestion.quantity == 70  # up to 34 plus 28 days of sales, less the 20 there
    [order] = purchasing.po_from_suggestions(offer_ids=[shop["kettle"].pk], warehouse=shop["centre"],
                                             actor=shop["buyer"])
    assert list(order.lines.values_list("offer_id", "quantity", "unit_cost")) == [(shop["kettle"].pk, 70, D("11.50"))]
    assert purchasing.reorder_suggestions() == []  # 70 on order now
    settings.PURCHASING_SAFETY_DAYS = 40
    assert purchasing.reorder_suggestions()[0].reorder_point == 100


class TestAdmin:
    def test_buyers_draft_from_suggestions_order_and_receive_in_admin(self, shop):
        sell(shop["kettle"], 56, shop["centre"])
        staff = Client()
        staff.force_login(shop["buyer"])
        url = reverse("admin:fulfillment_purchaseorder_suggestions")
        assert "H-KETTLE" in staff.get(url).content.decode()
        response = staff.post(url, {"offer": [shop["kettle"].pk], "warehouse": shop["centre"].pk})
        assert response.status_code == 302
        order = PurchaseOrder.objects.get()
        line = order.lines.get()
        change = reverse("admin:fulfillment_purchaseorder_change", args=[order.pk])
        inline = {"lines-TOTAL_FORMS": "1", "lines-INITIAL_FORMS": "1", "lines-MIN_NUM_FORMS": "0",
                  "lines-MAX_NUM_FORMS": "1000", "lines-0-id": line.pk, "lines-0-purchase_order": order.pk,
                  "lines-0-offer": shop["kettle"].pk, "lines-0-quantity": line.quantity, "lines-0-unit_cost": "11.50"}
        response = staff.post(change, {"_order": "1", **inline})
        assert response.status_code == 302, response.content.decode()[:2000]
        assert PurchaseOrder.objects.get(pk=order.pk).status == P.ORDERED
        receive = reverse("admin:fulfillment_purchaseorder_receive", args=[order.pk])
        assert staff.post(receive, {f"count-{line.pk}": "30"}).status_code == 302
        assert on_hand(shop["kettle"], shop["centre"]) == 30

    def test_sellers_never_see_purchase_orders(self, shop):
        purchasing.po_create(supplier=shop["supplier"], warehouse=shop["centre"], actor=None)
        seller = Client()
        seller.force_login(seller_member(SellerFactory(), role="owner"))
        assert seller.get(reverse("admin:fulfillment_purchaseorder_changelist")).status_code == 403
        assert seller.get(reverse("admin:fulfillment_purchaseorder_suggestions")).status_code == 403
