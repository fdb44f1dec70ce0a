"""Carriers, labels and tracking: the test carrier's rates, labels and timeline; one label per
package; tracking events applied once whether by signed webhook or polling, never moving a parcel
back; a package delivered because the carrier says so, with the buyer e-mailed; the timeline on the
order page; and only those who may ship a package buy its label."""

import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from core.exceptions import PermissionDenied
from fulfillment import carriers, tracking
from fulfillment.models import CarrierShipment, TrackingEvent
from orders import services as orders_services
from orders.models import Package
from tests.buying import cart_with, place, ship
from tests.commit import committed
from tests.factories import OfferFactory, SellerFactory, UserFactory, seller_member, shipping_method, staff_user, stock

pytestmark = pytest.mark.django_db

PARCEL = carriers.Parcel(Decimal("2.5"), "Reno", "US", "Springfield", "12345", "US")
WEBHOOK = "/fulfillment/webhooks/carriers/test/"
SHIPPER = ("orders.view_package", "orders.change_package", "orders.ship_package")


def signed_post(client, events):
    body = json.dumps({"events": events}).encode()
    return client.post(WEBHOOK, body, content_type="application/json",
                       HTTP_X_CARRIER_SIGNATURE=carriers.TestCarrier.sign(body))


def test_the_test_carrier_is_deterministic_and_offline():
    carrier = carriers.get_carrier("test")
    assert [(r.service, r.amount, r.days) for r in carrier.rates(PARCEL)] == [
        ("ground", Decimal("6.75"), 3), ("express", Decimal("14.50"), 1)]
    first = carrier.buy_label(reference="package:1", parcel=PARCEL, service="ground")
    assert first.tracking_number == carrier.buy_label(reference="package:1", parcel=PARCEL,
                                                      service="ground").tracking_number
    assert first.tracking_number.startswith("BZT")
    assert first.pdf.startswith(b"%PDF")
    bought = timezone.now() - timedelta(hours=25)
    seen = carrier.track(tracking_number=first.tracking_number, label_bought_at=bought, now=timezone.now())
    assert [e.status for e in seen] == ["info_received", "in_transit", "out_for_delivery"]
    with pytest.raises(carriers.CarrierError):
        carrier.buy_label(reference="package:1", parcel=PARCEL, service="teleport")
    with pytest.raises(carriers.CarrierError):
        carriers.get_carrier("pigeon")


def test_one_label_per_reference_and_polling_applies_each_event_once():
    shipment = tracking.label_buy(reference="package:77", carrier_code="test", service="express", parcel=PARCEL)
    assert tracking.label_buy(reference="package:77", carrier_code="test", service="ground", parcel=PARCEL) == shipment
    assert (shipment.status, shipment.cost, shipment.label.name.endswith(".pdf")) == ("pending", Decimal("14.50"), True)
    later = shipment.created_at + timedelta(hours=30)
    with committed():
        assert tracking.tracking_poll(now=later) == 4
        assert tracking.tracking_poll(now=later) == 0  # delivered: no longer polled; events are stored once
    shipment.refresh_from_db()
    assert shipment.status == "delivered"
    assert TrackingEvent.objects.filter(shipment=shipment).count() == 4


def test_webhooks_are_checked_by_signature_and_applied_once_never_backwards(client):
    shipment = tracking.label_buy(reference="package:5", carrier_code="test", service="ground", parcel=PARCEL)
    now = timezone.now()
    events = [{"id": "e2", "tracking_number": shipment.tracking_number, "status": "out_for_delivery",
               "occurred_at": now.isoformat(), "description": "On the van"},
              {"id": "e1", "tracking_number": shipment.tracking_number, "status": "in_transit",
               "occurred_at": (now - timedelta(hours=5)).isoformat()},
              {"id": "x", "tracking_number": "SOMEONE-ELSE", "status": "delivered", "occurred_at": now.isoformat()}]
    with committed():
        assert signed_post(client, events).json() == {"received": 3, "applied": 2}
        assert signed_post(client, events).json() == {"received": 3, "applied": 0}  # repeated by the carrier
    shipment.refresh_from_db()
    assert shipment.status == "out_for_delivery"  # the older in-transit scan did not move it back
    body = json.dumps({"events": events}).encode()
    forged = client.post(WEBHOOK, body, content_type="application/json", HTTP_X_CARRIER_SIGNATURE="sha256=00")
    assert forged.status_code == 400
    assert client.post(WEBHOOK, body, content_type="application/json").status_code == 400  # unsigned
    for bad in (b"not json", json.dumps({"events": [{"id": "z"}]}).encode(),
                json.dumps({"events": [{"id": "z", "tracking_number": "t", "status": "teleported",
                                        "occurred_at": now.isoformat()}]}).encode()):
        response = client.post(WEBHOOK, bad, content_type="application/json",
                               HTTP_X_CARRIER_SIGNATURE=carriers.TestCarrier.sign(bad))
        assert response.status_code == 400
    unknown = client.post("/fulfillment/webhooks/carriers/pigeon/", body, content_type="application/json")
    assert unknown.status_code == 400
    assert client.get(WEBHOOK).status_code == 405
    assert TrackingEvent.objects.count() == 2


@pytest.fixture
def fba_order():
    shipping_method(channel="platform", price="0.00", code="free-platform", min_days=1, max_days=2)
    offer = OfferFactory(seller=SellerFactory(), price=Decimal("30.00"))
    stock(offer, 5)
    buyer = UserFactory()
    order = place(cart_with((offer, 1), user=buyer), user=buyer).order
    return buyer, order, Package.objects.get(order=order)


def test_staff_buy_the_label_and_the_carrier_delivers_the_package(client, fba_order):
    buyer, order, package = fba_order
    staff = Client()
    staff.force_login(staff_user(*SHIPPER))
    change = reverse("admin:orders_package_change", args=[package.pk])
    assert 'id="buy-label"' in staff.get(change).content.decode()
    response = staff.post(reverse("admin:orders_package_label", args=[package.pk]), {"service": "express"})
    assert response.status_code == 302
    package.refresh_from_db()
    shipment = CarrierShipment.objects.get(reference=f"package:{package.pk}")
    assert (package.carrier, package.tracking_number) == ("test", shipment.tracking_number)
    pdf = staff.get(reverse("admin:orders_package_label_pdf", args=[package.pk]))
    assert pdf["Content-Type"] == "application/pdf"
    with committed():
        ship(package, tracking_number=package.tracking_number)
    mail.outbox.clear()
    now = timezone.now()
    with committed():
        signed_post(client, [{"id": "o", "tracking_number": shipment.tracking_number, "status": "out_for_delivery",
                              "occurred_at": now.isoformat()},
                             {"id": "d", "tracking_number": shipment.tracking_number, "status": "delivered",
                              "occurred_at": (now + timedelta(hours=3)).isoformat(), "location": "Front door"}])
    package.refresh_from_db()
    assert package.status == "delivered"
    assert abs(package.delivered_at - (now + timedelta(hours=3))) < timedelta(seconds=1)
    subjects = [m.subject for m in mail.outbox]
    assert f"Your order {order.number} is out for delivery today" in subjects
    assert f"Your order {order.number} was delivered" in subjects
    client.force_login(buyer)
    page = client.get(reverse("orders:detail", args=[order.number])).content.decode()
    assert 'data-tracking-status="delivered"' in page
    assert "Front door" in page


def test_sellers_never_buy_labels_for_packages_bazaar_ships(fba_order):
    _buyer, _order, package = fba_order
    member = seller_member(package.seller, role="manager")
    with pytest.raises(PermissionDenied):
        orders_services.package_buy_label(package=package, actor=member)
    client = Client()
    client.force_login(member)
    assert client.post(reverse("admin:orders_package_label", args=[package.pk])).status_code == 403
    assert not CarrierShipment.objects.exists()


def test_a_seller_never_downloads_the_label_of_a_package_bazaar_ships(fba_order):
    """The label carries the buyer's address, which is Bazaar's to see on the packages it fulfils."""
    _buyer, _order, package = fba_order
    staff = Client()
    staff.force_login(staff_user(*SHIPPER))
    staff.post(reverse("admin:orders_package_label", args=[package.pk]), {"service": "ground"})
    pdf_url = reverse("admin:orders_package_label_pdf", args=[package.pk])
    assert staff.get(pdf_url).status_code == 200
    seller = Client()
    seller.force_login(seller_member(package.seller, role="owner"))
    page = seller.get(reverse("admin:orders_package_change", args=[package.pk]))
    assert page.status_code == 200
    assert 'id="package-tracking"' in page.content.decode()
    assert pdf_url not in page.content.decode()
    assert seller.get(pdf_url).status_code == 403


def test_the_pick_list_then_packing_with_a_weight_that_the_label_uses(fba_order):
    from fulfillment.models import Warehouse

    _buyer, order, package = fba_order
    centre = Warehouse.objects.get(kind="platform")
    staff = Client()
    staff.force_login(staff_user(*SHIPPER))
    picks = staff.get(reverse("admin:orders_package_pick_list"), {"warehouse": centre.pk}).content.decode()
    assert order.number in picks
    assert f'data-offer="{package.lines.get().offer_id}"' in picks
    pack = reverse("admin:orders_package_pack", args=[package.pk])
    assert staff.post(pack, {"weight_lb": "heavy"}).status_code == 302  # refused with a message
    package.refresh_from_db()
    assert package.packed_at is None
    staff.post(pack, {"weight_lb": "3.25"})
    package.refresh_from_db()
    assert package.packed_weight_lb == Decimal("3.250")
    shipment = orders_services.package_buy_label(package=package, actor=None)
    assert shipment.weight_lb == Decimal("3.250")
    with committed():
        ship(package, tracking_number=shipment.tracking_number)
    assert order.number not in staff.get(reverse("admin:orders_package_pick_list"),
                                         {"warehouse": centre.pk}).content.decode()
    seller = Client()
    seller.force_login(seller_member(package.seller, role="owner"))
    assert seller.get(reverse("admin:orders_package_pick_list")).status_code == 403


@pytest.mark.django_db(transaction=True)
def test_two_label_purchases_for_one_package_at_once_buy_one():
    from tests.concurrency import race

    results = race(lambda: tracking.label_buy(reference="package:909", carrier_code="test", service="ground",
                                              parcel=PARCEL), [(), (), ()])
    assert all(isinstance(r, CarrierShipment) for r in results), results
    assert len({r.pk for r in results}) == 1
    assert CarrierShipment.objects.filter(reference="package:909").count() == 1


def test_the_pick_list_walks_the_bins_in_order_and_bins_are_staffs_to_set():
    from fulfillment import services
    from fulfillment.models import StockItem
    from orders import selectors as orders_selectors
    from tests.factories import WarehouseFactory

    shipping_method(channel="platform", price="0.00", code="free")
    centre = WarehouseFactory(code="reno-1", name="Reno centre")
    offers = [OfferFactory(product__title=title) for title in ("Apple corer", "Bread bin", "Cake tin")]
    for offer in offers:
        stock(offer, 5, warehouse=centre)
    order = place(cart_with(*((offer, 1) for offer in offers))).order
    items = {offer.pk: StockItem.objects.get(offer=offer, warehouse=centre) for offer in offers}
    services.stock_item_set_bin(stock_item=items[offers[0].pk], bin_code=" c01-02-1 ")  # normalised
    services.stock_item_set_bin(stock_item=items[offers[2].pk], bin_code="A07-01-3")
    rows = orders_selectors.pick_list(warehouse_id=centre.pk)
    assert [(row.bin, row.title) for row in rows] == [
        ("A07-01-3", "Cake tin"), ("C01-02-1", "Apple corer"), ("", "Bread bin")]  # not shelved: last
    assert rows[0].packages == [(order.number, order.packages.get(seller=offers[2].seller).pk, 1)]
    with pytest.raises(services.ApplicationError, match="A03-12-2"):
        services.stock_item_set_bin(stock_item=items[offers[1].pk], bin_code="shelf by the door")
    with pytest.raises(services.PermissionDenied):  # a seller's member never shelves in Bazaar's centre
        services.stock_item_set_bin(stock_item=items[offers[1].pk], bin_code="B01",
                                    actor=seller_member(offers[1].seller, role="owner"))
    assert StockItem.objects.get(pk=items[offers[1].pk].pk).bin == ""
    staff = Client()
    staff.force_login(staff_user("fulfillment.view_stockitem", "fulfillment.change_stockitem"))
    url = reverse("admin:fulfillment_stockitem_change", args=[items[offers[1].pk].pk])
    page = staff.post(url, {"bin": "not a bin!", "adjust_by": ""})
    assert page.status_code == 200  # the form again, with the message
    assert "A bin is letters and digits" in page.content.decode()
    assert staff.post(url, {"bin": "b02-03-1", "adjust_by": ""}).status_code == 302
    assert StockItem.objects.get(pk=items[offers[1].pk].pk).bin == "B02-03-1"


def test_labels_are_kept_where_media_is_never_served(client, settings):
    shipment = tracking.label_buy(reference="package:91", carrier_code="test", service="ground", parcel=PARCEL)
    private = Path(settings.STORAGES["private"]["OPTIONS"]["location"])
    assert (private / shipment.label.name).read_bytes().startswith(b"%PDF")
    assert not (Path(settings.MEDIA_ROOT) / shipment.label.name).exists()
    assert client.get(f"/media/{shipment.label.name}").status_code == 404


def test_a_package_delivered_without_the_carriers_scan_does_not_read_label_created(client, fba_order):
    buyer, order, package = fba_order
    staff = Client()
    staff.force_login(staff_user(*SHIPPER))
    staff.post(reverse("admin:orders_package_label", args=[package.pk]), {"service": "ground"})
    package.refresh_from_db()
    with committed():
        ship(package, tracking_number=package.tracking_number)
    package.refresh_from_db()
    with committed():
        orders_services.package_deliver(package=package, actor=staff_user(*SHIPPER))
    client.force_login(buyer)
    page = client.get(reverse("orders:detail", args=[order.number])).content.decode()
    assert "tracking: delivered (confirmed without the carrier" in page
    assert "tracking: Label created" not in page


def test_save_and_mark_shipped_refused_says_why_and_never_changed_successfully(fba_order):
    from tests.factories import admin_form_data

    _buyer, _order, package = fba_order
    staff = Client()
    staff.force_login(staff_user(*SHIPPER))
    change = reverse("admin:orders_package_change", args=[package.pk])
    response = staff.post(change, {**admin_form_data(staff.get(change)), "_ship": "1"}, follow=True)
    page = response.content.decode()
    assert "label" in page.lower()  # what is missing, said on the page
    assert "was changed successfully" not in page
    package.refresh_from_db()
    assert package.status == "pending"
