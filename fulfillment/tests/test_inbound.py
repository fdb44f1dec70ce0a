"""Inbound shipments: a seller plans stock for a Bazaar centre, Bazaar chooses the centre, the seller
prints box labels and ships; only platform staff receive units (into sellable stock through the
stock ledger) and close, recording shortages and overages; every state change happens once."""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from core.exceptions import ApplicationError, Conflict, PermissionDenied
from fulfillment import inbound, labels, selectors
from fulfillment.models import InboundShipment, StockItem, StockMovement, Warehouse
from tests.factories import OfferFactory, SellerFactory, WarehouseFactory, seller_member, staff_user, stock

pytestmark = pytest.mark.django_db

S = InboundShipment.Status
RECEIVER = ("fulfillment.receive_inbound", "fulfillment.view_inboundshipment", "fulfillment.view_inbounditem")


@pytest.fixture
def world():
    busy = WarehouseFactory(code="fc-busy", name="Busy centre", country="US")
    quiet = WarehouseFactory(code="fc-quiet", name="Quiet centre", country="US", city="Reno")
    WarehouseFactory(code="fc-abroad", name="Abroad", country="DE")
    seller = SellerFactory(name="Kettle Works", country="US")
    kettle = OfferFactory(seller=seller, sku="KET-FBA")  # fulfilled by Bazaar
    mug = OfferFactory(seller=seller, sku="MUG-FBA")
    stock(OfferFactory(), 50, busy)  # someone else's units make the busy centre busy
    return {"seller": seller, "kettle": kettle, "mug": mug, "quiet": quiet, "busy": busy,
            "manager": seller_member(seller, role="manager"), "receiver": staff_user(*RECEIVER)}


def plan(world, **changes):
    fields = {"name": "December restock", "box_count": 2, "items": [(world["kettle"], 10), (world["mug"], 4)],
              **changes}
    return inbound.inbound_create(seller=world["seller"], actor=world["manager"], **fields)


def available(offer, warehouse) -> int:
    item = StockItem.objects.filter(offer=offer, warehouse=warehouse).first()
    return item.on_hand - item.reserved if item else 0


def test_plan_ship_receive_and_close_with_a_shortage_and_an_overage(world):
    shipment = plan(world)
    ready = inbound.inbound_ready(shipment=shipment, actor=world["manager"])
    assert (ready.status, ready.warehouse) == (S.READY, world["quiet"])  # in the seller's country, least busy
    shipped = inbound.inbound_ship(shipment=ready, actor=world["manager"], carrier="UPS", tracking_number="1Z9")
    assert (shipped.status, shipped.carrier, shipped.tracking_number) == (S.SHIPPED, "UPS", "1Z9")
    inbound.inbound_in_transit(shipment=shipped, actor=world["receiver"])
    items = {item.offer_id: item for item in shipped.items.all()}
    kettle, mug = items[world["kettle"].pk], items[world["mug"].pk]
    assert inbound.inbound_receive(shipment=shipped, counts={kettle.pk: 6}, actor=world["receiver"]) == 6
    assert InboundShipment.objects.get(pk=shipped.pk).status == S.RECEIVING
    assert available(world["kettle"], world["quiet"]) == 6  # sellable at once
    inbound.inbound_receive(shipment=shipped, counts={kettle.pk: "3", mug.pk: 5}, actor=world["receiver"])
    closed = inbound.inbound_close(shipment=shipped, actor=world["receiver"])
    assert closed.status == S.CLOSED
    kettle.refresh_from_db()
    mug.refresh_from_db()
    assert (kettle.received, kettle.discrepancy, mug.received, mug.discrepancy) == (9, -1, 5, 1)
    assert (available(world["kettle"], world["quiet"]), available(world["mug"], world["quiet"])) == (9, 5)
    references = set(StockMovement.objects.filter(stock_item__warehouse=world["quiet"])
                     .values_list("reference", flat=True))
    assert references == {f"inbound:{shipment.code}"}
    with pytest.raises(Conflict):
        inbound.inbound_receive(shipment=closed, counts={kettle.pk: 1}, actor=world["receiver"])


def test_each_state_allows_only_its_own_moves(world):
    empty = inbound.inbound_create(seller=world["seller"], actor=world["manager"], name="Empty")
    with pytest.raises(ApplicationError, match="at least one"):
        inbound.inbound_ready(shipment=empty, actor=world["manager"])
    shipment = plan(world)
    with pytest.raises(Conflict):
        inbound.inbound_ship(shipment=shipment, actor=world["manager"])  # a draft is not ready
    with pytest.raises(Conflict):
        inbound.inbound_receive(shipment=shipment, counts={}, actor=world["receiver"])
    inbound.inbound_ready(shipment=shipment, actor=world["manager"])
    with pytest.raises(Conflict):
        inbound.inbound_item_set(shipment=shipment, offer=world["kettle"], quantity=99, actor=world["manager"])
    with pytest.raises(Conflict):
        inbound.inbound_ready(shipment=shipment, actor=world["manager"])
    with pytest.raises(Conflict):
        inbound.inbound_close(shipment=shipment, actor=world["receiver"])


def test_a_plan_takes_only_the_sellers_offers_fulfilled_by_bazaar_in_sane_amounts(world):
    shipment = plan(world, items=[])
    merchant = OfferFactory(seller=world["seller"], fulfillment_channel="merchant")
    for offer, quantity, message in ((merchant, 1, "shipped by you"), (OfferFactory(), 1, "own offers"),
                                     (world["kettle"], -1, "1 to 100,000"), (world["kettle"], 100_001, "100,000"),
                                     (world["kettle"], "ten", "whole number")):
        with pytest.raises(ApplicationError, match=message):
            inbound.inbound_item_set(shipment=shipment, offer=offer, quantity=quantity, actor=world["manager"])
    inbound.inbound_item_set(shipment=shipment, offer=world["kettle"], quantity=3, actor=world["manager"])
    inbound.inbound_item_set(shipment=shipment, offer=world["kettle"], quantity=0, actor=world["manager"])
    assert not shipment.items.exists()
    with pytest.raises(ApplicationError, match="Boxes"):
        plan(world, box_count=0)


def test_voiding_a_shipped_plan_is_possible_for_24_hours(world):
    assert inbound.inbound_void(shipment=plan(world), actor=world["manager"]).status == S.CANCELLED
    shipment = inbound.inbound_ship(shipment=inbound.inbound_ready(shipment=plan(world), actor=world["manager"]),
                                    actor=world["manager"], carrier="UPS", tracking_number="1Z9")
    late = shipment.shipped_at + timedelta(hours=24, minutes=1)
    with pytest.raises(Conflict, match="24 hours"):
        inbound.inbound_void(shipment=shipment, actor=world["manager"], now=late)
    voided = inbound.inbound_void(shipment=shipment, actor=world["manager"],
                                  now=shipment.shipped_at + timedelta(hours=23))
    assert voided.status == S.CANCELLED
    with pytest.raises(Conflict):
        inbound.inbound_void(shipment=voided, actor=world["manager"])


def test_sellers_plan_but_never_receive_and_only_their_own(world):
    with pytest.raises(PermissionDenied):
        inbound.inbound_create(seller=world["seller"], actor=seller_member(world["seller"], role="staff"), name="x")
    with pytest.raises(PermissionDenied):
        inbound.inbound_create(seller=world["seller"], actor=seller_member(SellerFactory(), role="owner"), name="x")
    with pytest.raises(PermissionDenied):
        inbound.inbound_create(seller=world["seller"], actor=staff_user(*RECEIVER), name="x")  # no plan permission
    shipment = inbound.inbound_ship(shipment=inbound.inbound_ready(shipment=plan(world), actor=world["manager"]),
                                    actor=world["manager"], carrier="UPS", tracking_number="1Z9")
    item = shipment.items.first()
    owner = seller_member(world["seller"], role="owner")
    for not_bazaar in (world["manager"], owner, staff_user("fulfillment.view_inboundshipment")):
        with pytest.raises(PermissionDenied):
            inbound.inbound_receive(shipment=shipment, counts={item.pk: 5}, actor=not_bazaar)
        with pytest.raises(PermissionDenied):
            inbound.inbound_close(shipment=shipment, actor=not_bazaar)
    assert available(world["kettle"], world["quiet"]) == 0
    stranger = SellerFactory()
    theirs = inbound.inbound_create(seller=stranger, actor=None, name="Theirs",
                                    items=[(OfferFactory(seller=stranger), 1)])
    with pytest.raises(ApplicationError, match="not on this document"):  # another shipment's item
        inbound.inbound_receive(shipment=shipment, counts={theirs.items.get().pk: 1}, actor=world["receiver"])


def test_box_labels_and_scanned_ids(world):
    Warehouse.objects.filter(kind="platform").update(street="400 Dock Road", city="Newark", region="NJ",
                                                     postal_code="07114", country="US")
    shipment = inbound.inbound_ready(shipment=plan(world, box_count=3), actor=world["manager"])
    data = selectors.inbound_label_data(shipment=shipment)
    assert data.destination_lines == ("400 Dock Road", "Newark, NJ 07114", "United States")  # where to send them
    pdf = labels.inbound_labels_pdf(data)
    assert pdf.startswith(b"%PDF")
    assert len(re.findall(rb"/Type /Page\b(?!s)", pdf)) == 3  # one label per box
    assert labels.box_id(shipment.code, 3) == f"{shipment.code}-B03"
    assert selectors.inbound_find(code=f"  {shipment.code.lower()}-b03 ") == shipment
    assert selectors.inbound_find(code=shipment.code) == shipment
    for bad in ("", "IB", "XX0000001", f"{shipment.code}-B1234", "IB99999999"):
        assert selectors.inbound_find(code=bad) is None


def test_no_centre_open_is_said_plainly(world):
    Warehouse.objects.filter(kind="platform").update(is_active=False)
    with pytest.raises(ApplicationError, match="no fulfilment centre"):
        inbound.inbound_ready(shipment=plan(world), actor=world["manager"])


class TestAdmin:
    def test_a_seller_plans_in_admin_and_staff_receive_by_scanning(self, client, world):
        client.force_login(world["manager"])
        add = reverse("admin:fulfillment_inboundshipment_add")
        assert client.get(add).status_code == 200
        management = {"items-TOTAL_FORMS": "1", "items-INITIAL_FORMS": "0", "items-MIN_NUM_FORMS": "0",
                      "items-MAX_NUM_FORMS": "1000"}
        response = client.post(add, {"seller": world["seller"].pk, "name": "Winter", "box_count": 1,
                                     "items-0-offer": world["kettle"].pk, "items-0-quantity": 8, **management})
        assert response.status_code == 302, response.content.decode()[:3000]
        shipment = InboundShipment.objects.get(name="Winter")
        assert list(shipment.items.values_list("offer_id", "quantity")) == [(world["kettle"].pk, 8)]
        change = reverse("admin:fulfillment_inboundshipment_change", args=[shipment.pk])
        page = client.get(change).content.decode()
        assert "$4.99 (Large standard, not measured)" in page  # the fee, before the stock is sent
        item = shipment.items.get()
        inline = {"items-TOTAL_FORMS": "1", "items-INITIAL_FORMS": "1", "items-MIN_NUM_FORMS": "0",
                  "items-MAX_NUM_FORMS": "1000", "items-0-id": item.pk, "items-0-shipment": shipment.pk,
                  "items-0-offer": world["kettle"].pk, "items-0-quantity": 8}
        response = client.post(change, {"name": "Winter", "box_count": 1, "_ready": "1", **inline})
        assert response.status_code == 302, response.content.decode()[:3000]
        assert InboundShipment.objects.get(pk=shipment.pk).status == S.READY
        assert 'id="send-to"' in client.get(change).content.decode()  # the centre's address, once it is chosen
        labels_url = reverse("admin:fulfillment_inboundshipment_labels", args=[shipment.pk])
        assert client.get(labels_url)["Content-Type"] == "application/pdf"
        ship_form = {"name": "Winter", "box_count": 1, "_ship": "1", "items-TOTAL_FORMS": "1",
                     "items-INITIAL_FORMS": "1", "items-MIN_NUM_FORMS": "0", "items-MAX_NUM_FORMS": "1000",
                     "items-0-id": item.pk, "items-0-shipment": shipment.pk}
        refused = client.post(change, {**ship_form, "carrier": "", "tracking_number": ""}, follow=True)
        assert "Say which carrier has the boxes and its tracking number." in refused.content.decode()
        assert InboundShipment.objects.get(pk=shipment.pk).status == S.READY  # nothing shipped without them
        response = client.post(change, {**ship_form, "carrier": "UPS", "tracking_number": "1Z"})
        assert response.status_code == 302, response.content.decode()[:3000]
        assert InboundShipment.objects.get(pk=shipment.pk).status == S.SHIPPED
        scan = reverse("admin:fulfillment_inboundshipment_scan")
        assert client.get(scan).status_code == 403  # a seller never receives
        receive = reverse("admin:fulfillment_inboundshipment_receive", args=[shipment.pk])
        assert client.post(receive, {f"count-{item.pk}": 8}).status_code == 403

        other = Client()
        other.force_login(seller_member(SellerFactory(), role="owner"))
        assert other.get(change).status_code == 302
        assert other.get(labels_url).status_code == 404

        staff = Client()
        staff.force_login(world["receiver"])
        opened = staff.post(scan, {"code": f"{shipment.code}-B01"})
        assert opened["Location"] == receive
        assert staff.post(receive, {f"count-{item.pk}": "8"}).status_code == 302
        assert available(world["kettle"], world["quiet"]) == 8
        assert 'name="_close"' in staff.get(change).content.decode()
        assert staff.post(change, {"_close": "1", "items-TOTAL_FORMS": "1", "items-INITIAL_FORMS": "1",
                                   "items-MIN_NUM_FORMS": "0", "items-MAX_NUM_FORMS": "1000", "items-0-id": item.pk,
                                   "items-0-shipment": shipment.pk}).status_code == 302
        assert InboundShipment.objects.get(pk=shipment.pk).status == S.CLOSED
        missing = staff.post(scan, {"code": "IB9999999"}, follow=True)
        assert "No inbound shipment has the id IB9999999" in missing.content.decode()


@pytest.mark.django_db(transaction=True)
def test_ready_clicked_twice_at_once_happens_once():
    from tests.concurrency import race

    WarehouseFactory(code="fc-race", country="US")
    seller = SellerFactory()
    shipment = inbound.inbound_create(seller=seller, actor=None, name="Race",
                                      items=[(OfferFactory(seller=seller), 2)])
    results = race(lambda: inbound.inbound_ready(shipment=shipment, actor=None), [(), ()])
    assert sum(isinstance(r, InboundShipment) for r in results) == 1
    assert sum(isinstance(r, Conflict) for r in results) == 1
    assert timezone.now() >= InboundShipment.objects.get(pk=shipment.pk).ready_at
