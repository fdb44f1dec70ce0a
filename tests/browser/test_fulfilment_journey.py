""""Fulfilled by Bazaar" from end to end, in a real browser: a seller's units go into a Bazaar
centre, a guest buys one with a promised day, Bazaar's staff pick, pack, label and ship it, the
carrier's tracking delivers it, and the seller's ledger shows the fees.

A third-party seller's owner checks the fee preview of the product, plans an inbound shipment of
ten units in admin, marks it ready (Bazaar chooses the centre), fetches the box labels and marks it
shipped. Bazaar's receiving staff type the box id, count nine units and close the shipment; the
seller sees the shortage of one. A guest sees "Arrives Thu 3 Dec – Fri 4 Dec if you order within 4 h
0 min" on the product page (the server writes "by 14:00 EST", the page counts down), buys with the
test card and finds the same days on the order page.
Bazaar's shipping staff find the unit on the pick list of the centre, pack it with its weight, buy
the test carrier's label, open its PDF and mark the package shipped. The carrier's signed webhooks
(in transit, out for delivery, delivered) move the package to delivered and e-mail the guest, whose
order page shows the timeline. The seller's ledger shows the sale, the referral fee and the
fulfilment fee of the product's size tier; a month later the storage beat charges December.

Every step a person takes is taken in the browser; only the carrier's webhooks and the worker's
scheduled jobs (daily storage snapshots, the monthly storage charge) are called from Python. The
clock is moved by time-machine (the live server runs in this process, so it shares the clock):
the seller plans on Monday 30 November 2026, the guest orders on Tuesday 1 December at 10:00 in
the centre's New York time, four hours before its 14:00 cutoff. Postings and e-mails run inline
after each commit (the tests' eager Celery). Screenshots go to /tmp/shots/fulfilment-journey-*.png.
Transactional (the live server reads committed data); the rows made by migrations are restored
afterwards by serialized rollback."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, time
from decimal import Decimal

import pytest
import time_machine
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import dateformat
from playwright.sync_api import expect

from catalog import services as catalog_services
from finance.models import LedgerEntry
from fulfillment import carriers, labels
from fulfillment import selectors as fulfillment_selectors
from fulfillment import services as fulfillment_services
from fulfillment import tasks as fulfillment_tasks
from fulfillment.models import CarrierShipment, InboundShipment, StockItem, StorageRate, Warehouse
from orders.models import Order, Package
from tests.browser.journeys import admin_action_on, admin_open, ledger_row, money, ready, sign_in_admin, success_message
from tests.commit import committed
from tests.factories import OfferFactory, ProductFactory, SellerFactory, WarehouseFactory, seller_member, staff_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

PAYS = "4242 4242 4242 4242"
OWNER = "kim@kettleworks.example"
GUEST = "gus@example.com"
STORE = "Kettle Works"
SKU = "KW-COPPER-FBA"
BIN = "A03-12-2"
PRICE = Decimal("54.00")
PLANNED, COUNTED = 10, 9  # one unit short at the centre
PACKED_LB = "3.4"
CENTRE = "Newark centre"

# The clock (UTC; the centre is in New York, UTC-5 in December, cutoff 14:00 there = 19:00 UTC).
PLANNING = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)  # Monday 09:00 in New York
RECEIVING = datetime(2026, 12, 1, 13, 0, tzinfo=UTC)  # Tuesday 08:00
SHOPPING = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)  # Tuesday 10:00, four hours before the cutoff
TRACKING_NEWS = (  # what the carrier reports, and when
    (datetime(2026, 12, 1, 23, 0, tzinfo=UTC), "in_transit", "Departed the origin facility", "Newark NJ"),
    (datetime(2026, 12, 3, 13, 0, tzinfo=UTC), "out_for_delivery", "On the van", "Portland OR"),
    (datetime(2026, 12, 3, 18, 30, tzinfo=UTC), "delivered", "Left at the front door", "Portland OR"),
)
NEW_YEAR = datetime(2027, 1, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock():
    """Time for the whole journey (the live server's too), moving on from Monday morning."""
    with time_machine.travel(PLANNING, tick=True) as traveller:
        yield traveller


@pytest.fixture
def world(clock):
    """Bazaar's New York centre and its free platform delivery; a seller whose owner may sign in to
    admin, and its offer fulfilled by Bazaar of a measured product (no units anywhere yet)."""
    centre = WarehouseFactory(code="fc-ewr", name=CENTRE, city="Newark", country="US")
    centre.time_zone, centre.cutoff = "America/New_York", time(14, 0)
    with committed():
        fulfillment_services.warehouse_save(warehouse=centre)
        fulfillment_services.shipping_method_create(
            code="bazaar-standard", name="Bazaar standard", channel="platform", price=Decimal("0.00"),
            min_days=1, max_days=2)
    product = ProductFactory(title="Copper Kettle")
    with committed():  # 10 x 8 x 9 in, 3.1 lb: large standard, dimensional weight 5.18 lb
        catalog_services.product_size_set(product_id=product.pk, length_in=Decimal("10"), width_in=Decimal("8"),
                                          height_in=Decimal("9"), weight_lb=Decimal("3.1"))
    seller = SellerFactory(name=STORE, country="US")
    owner = seller_member(seller, email=OWNER, role="owner")
    offer = OfferFactory(seller=seller, product=product, sku=SKU, price=PRICE, handling_days=1)
    assert offer.fulfilled_by_platform
    return {"centre": Warehouse.objects.get(pk=centre.pk), "product": product, "seller": seller, "owner": owner,
            "offer": offer}


# --- helpers ---------------------------------------------------------------------------------------


def shot(page, shots, name: str) -> None:
    page.screenshot(path=str(shots / f"fulfilment-journey-{name}.png"), full_page=True)


def day(value: date) -> str:
    return dateformat.format(value, "D j M")  # as the templates show a promised day


def row(page, text: str):
    return page.locator("#result_list tbody tr").filter(has_text=text)


def fetch_pdf(page, link) -> bytes:
    """What a link to a PDF answers, fetched with the tab's cookies (its bytes are checked, not a viewer)."""
    response = page.context.request.get(link.evaluate("a => a.href"))
    assert response.ok, response.status
    assert response.headers["content-type"] == "application/pdf"
    body = response.body()
    assert body.startswith(b"%PDF")
    return body


def carrier_says(client: Client, tracking_number: str, status: str, when: datetime, text: str, where: str) -> dict:
    """The test carrier's signed webhook with one tracking event."""
    body = json.dumps({"events": [{"id": f"{tracking_number}-{status}", "tracking_number": tracking_number,
                                   "status": status, "occurred_at": when.isoformat(), "description": text,
                                   "location": where}]}).encode()
    response = client.post(reverse("fulfillment:carrier_webhook", args=["test"]), body,
                           content_type="application/json",
                           HTTP_X_CARRIER_SIGNATURE=carriers.TestCarrier.sign(body))
    assert response.status_code == 200, response.content
    return response.json()


# --- the journey -----------------------------------------------------------------------------------


def test_fulfilled_by_bazaar_from_inbound_to_delivery_and_fees(page, new_tab, live_server, world, clock, shots):
    product, offer, seller, centre = world["product"], world["offer"], world["seller"], world["centre"]
    quote = fulfillment_selectors.fee_quotes(product_ids=[product.pk])[product.pk]
    # 720 cu in / 139 = 5.180 lb dimensional, above 3.1 lb: 6.10 + 0.32 for each of 3 started pounds over 3
    assert (quote.tier_name, quote.shipping_weight_lb, quote.fee, quote.cubic_feet) == (
        "Large standard", Decimal("5.180"), Decimal("7.06"), Decimal("0.4167"))

    # 1. Monday: the seller's owner signs in to admin and reads what Bazaar charges per unit shipped...
    sign_in_admin(page, live_server, OWNER)
    admin_open(page, "Products")
    page.locator("#result_list").get_by_role("link", name=product.title).click()
    expect(page.locator(".field-fulfilment_fee")).to_contain_text(
        f"{quote.tier_name}, shipping weight {quote.shipping_weight_lb} lb")
    expect(page.locator(".field-fulfilment_fee")).to_contain_text(f"{money(quote.fee)} per unit shipped")
    shot(page, shots, "1-fee-preview")

    # ... plans an inbound shipment of ten units in two boxes, with the same fee beside the offer...
    admin_open(page, "Inbound shipments")
    page.get_by_role("link", name="Add inbound shipment").click()
    expect(page.locator("#id_seller option:checked")).to_have_text(STORE)  # their one seller
    page.locator("#id_name").fill("December restock")
    page.locator("#id_box_count").fill("2")
    first_row = page.locator("#items-0")
    first_row.locator(".field-offer .select2-selection").click()
    page.locator(".select2-container--open .select2-search__field").fill("COPPER")
    page.locator(".select2-results__option", has_text=SKU).click()
    page.locator("#id_items-0-quantity").fill(str(PLANNED))
    page.locator("input[name=_continue]").click()
    expect(success_message(page)).to_be_visible()
    expect(page.locator(".field-status .readonly")).to_have_text("Draft")
    expect(first_row.locator("td.field-fee_per_unit")).to_have_text(f"{money(quote.fee)} ({quote.tier_name})")
    shot(page, shots, "1-inbound-draft")

    # ... marks it ready (Bazaar chooses the centre), fetches the box labels and ships it with UPS.
    page.get_by_role("button", name="Save and mark ready to ship").click()
    expect(success_message(page)).to_be_visible()
    shipment = InboundShipment.objects.get(seller=seller)
    # the shipment stays open: its next step, the box labels, is here
    expect(page.locator(".field-status .readonly")).to_have_text("Ready to ship")
    expect(page.locator(".field-warehouse .readonly")).to_contain_text(CENTRE)
    box_labels = fetch_pdf(page, page.get_by_role("link", name="Box labels (PDF)"))
    assert len(re.findall(rb"/Type /Page\b(?!s)", box_labels)) == 2  # one label per box
    page.locator("#id_carrier").fill("UPS")
    page.locator("#id_tracking_number").fill("1Z999AA10123456784")
    page.get_by_role("button", name="Save and mark shipped").click()
    expect(success_message(page)).to_be_visible()
    expect(page.locator(".field-status .readonly")).to_have_text("Shipped")
    shipment.refresh_from_db()
    assert (shipment.status, shipment.warehouse_id, shipment.box_count, shipment.carrier) == (
        InboundShipment.Status.SHIPPED, centre.pk, 2, "UPS")
    assert list(shipment.items.values_list("offer_id", "quantity")) == [(offer.pk, PLANNED)]

    # 2. Tuesday morning: Bazaar's receiving staff type the id of a box, count nine units and close.
    clock.move_to(RECEIVING)
    receiver = staff_user("fulfillment.receive_inbound", "fulfillment.view_inboundshipment",
                          "fulfillment.view_inbounditem")
    dock = new_tab()
    sign_in_admin(dock, live_server, receiver.email)
    admin_open(dock, "Inbound shipments")
    dock.get_by_role("link", name="Receive: scan a box").click()
    dock.get_by_label("Scan a box label").fill(labels.box_id(shipment.code, 2))
    dock.get_by_role("button", name="Open the shipment").click()
    expect(dock).to_have_url(re.compile(rf"/inboundshipment/{shipment.pk}/receive/$"))
    expect(dock.locator("#content")).to_contain_text(f"From {STORE} to {CENTRE} · Shipped")
    counted = dock.locator("#receive-items tbody tr").filter(has_text=SKU)
    expect(counted).to_contain_text(product.title)
    counted.get_by_label(f"units of {SKU} counted now").fill(str(COUNTED))
    dock.get_by_role("button", name="Receive into stock").click()
    expect(success_message(dock)).to_have_text(f"{COUNTED} units received into {CENTRE}.")
    expect(counted.locator("td").nth(3)).to_have_text(str(COUNTED))  # received so far
    shot(dock, shots, "2-receive")
    dock.get_by_role("link", name="Back").click()
    dock.get_by_role("button", name="Close: receiving is over").click()
    expect(success_message(dock)).to_be_visible()
    expect(dock.locator(".field-status .readonly")).to_have_text("Closed")
    in_centre = StockItem.objects.get(offer=offer, warehouse=centre)
    assert (in_centre.on_hand, in_centre.reserved) == (COUNTED, 0)
    fulfillment_services.stock_item_set_bin(stock_item=in_centre, bin_code=BIN, actor=receiver)  # shelved

    # The seller sees what arrived and the unit missing.
    page.reload()  # the shipment's page, where they left it
    expect(page.locator(".field-status .readonly")).to_have_text("Closed")
    received = page.locator("#items-0")
    expect(received.locator("td.field-received")).to_have_text(str(COUNTED))
    expect(received.locator("td.field-discrepancy")).to_have_text(str(COUNTED - PLANNED))
    shot(page, shots, "2-discrepancy")

    # 3. Tuesday 10:00 in New York: a guest sees the promised days, computed for now by fulfillment.
    clock.move_to(SHOPPING)
    facts = fulfillment_selectors.offer_facts([offer])[offer.pk]
    # before the 14:00 cutoff: counts from today, leaves Wednesday (1 handling day), arrives in 1 to 2 days
    assert (facts.arrives_from, facts.arrives_by) == (date(2026, 12, 3), date(2026, 12, 4))
    assert facts.order_by.isoformat() == "2026-12-01T14:00:00-05:00"
    promised = f"{day(facts.arrives_from)} – {day(facts.arrives_by)}"
    shopper = new_tab()
    # time-machine moves only this process's clock: the browser's is set to the same moment, or the
    # page's countdown would count from the real day (and say the cutoff passed once it has)
    shopper.clock.set_fixed_time(SHOPPING)
    url = live_server.url + product.get_absolute_url()
    # the server writes the cutoff's time; shop.js turns it into what is left within its last day
    served = shopper.request.get(url).text()
    assert f"if you order by {dateformat.time_format(facts.order_by, 'H:i T')}" in served
    shopper.goto(url)
    ready(shopper)
    expect(shopper.locator(".buy-box__seller")).to_have_text(f"Sold by {STORE}")
    expect(shopper.locator(".buy-box")).to_contain_text("Fulfilled by Bazaar")
    expect(shopper.locator(".buy-box__delivery")).to_have_text(f"Arrives {promised} if you order within 4 h 0 min")
    assert promised == "Thu 3 Dec – Fri 4 Dec"
    expect(shopper.locator(".buy-box__delivery .order-by")).to_have_attribute("data-order-by",
                                                                              facts.order_by.isoformat())
    shot(shopper, shots, "3-product")

    buy_box = shopper.locator(".add-to-cart").first
    buy_box.get_by_role("button", name="Add to cart").click()
    expect(buy_box.get_by_role("status")).to_contain_text("Added to your cart")
    shopper.locator(".cart-link").click()
    shopper.get_by_role("link", name="Proceed to checkout").click()
    shopper.get_by_label("E-mail for your receipt").fill(GUEST)
    shopper.get_by_label("Full name").fill("Gus Guest")
    shopper.get_by_label("Address line 1").fill("12 Harbour Road")
    shopper.get_by_label("City").fill("Portland")
    shopper.get_by_label("Postal code").fill("97201")
    shopper.get_by_label("State or region").fill("OR")
    shopper.get_by_label("Country").select_option("US")
    shopper.get_by_role("button", name="Continue to delivery").click()
    delivery = shopper.locator("fieldset.package")
    expect(delivery).to_contain_text(STORE)
    expect(delivery.get_by_label(re.compile(r"^Bazaar standard"))).to_be_checked()
    expect(delivery).to_contain_text(f"Bazaar standard — Free · arrives {promised}")
    shopper.get_by_role("button", name="Continue to payment").click()
    expect(shopper.locator(".totals")).to_contain_text(money(PRICE))
    shopper.get_by_label("Card number").fill(PAYS)
    shopper.get_by_role("button", name=re.compile(r"^Place order and pay")).click()
    expect(shopper).to_have_url(re.compile(r"/orders/guest/[^/]+/$"))
    order = Order.objects.get()
    expect(shopper.get_by_text(f"Thank you! Your order {order.number} is placed.")).to_be_visible()
    parcel = shopper.get_by_role("region", name=f"Package from {STORE}")
    expect(parcel).to_contain_text(f"Bazaar standard · arrives {promised}")
    shot(shopper, shots, "3-order")
    package = order.packages.get()
    assert (order.status, order.total, package.fulfillment_channel) == (Order.Status.PAID, PRICE, "platform")
    assert (package.estimated_earliest, package.estimated_latest) == (facts.arrives_from, facts.arrives_by)

    # 4. Bazaar's shipping staff find the unit on the centre's pick list...
    shipper = staff_user("orders.view_package", "orders.change_package", "orders.ship_package")
    floor = new_tab()
    sign_in_admin(floor, live_server, shipper.email)
    admin_open(floor, "Packages")
    floor.get_by_role("link", name="Pick list").click()
    floor.get_by_label("Centre").select_option(label=CENTRE)
    floor.get_by_role("button", name="Show").click()
    picks = floor.locator("#pick-list tbody tr")
    expect(picks).to_have_count(1)
    expect(picks.locator("td").nth(0)).to_have_text(BIN)  # where to walk to
    expect(picks.locator("td").nth(1)).to_have_text(SKU)
    expect(picks.locator("td").nth(2)).to_have_text(product.title)
    expect(picks.locator("td").nth(3)).to_have_text("1")
    expect(picks).to_contain_text(f"{order.number} ×1")
    expect(floor.get_by_label("Centre").locator("option:checked")).to_have_text(CENTRE)
    shot(floor, shots, "4-pick-list")

    # ... pack it with its weight, buy the carrier's label and open it...
    picks.get_by_role("link", name=order.number).click()
    packing = floor.locator("#pack")
    packing.get_by_label("Weight (lb)").fill(PACKED_LB)
    packing.get_by_role("button", name="Mark packed").click()
    expect(success_message(floor)).to_have_text("Packed: 3.400 lb.")
    floor.get_by_role("button", name="Buy a label").click()
    label = CarrierShipment.objects.get(reference=f"package:{package.pk}")
    expect(success_message(floor)).to_have_text(f"Label bought: TEST {label.tracking_number}.")
    expect(floor.locator("#package-tracking")).to_have_attribute("data-tracking-status", "pending")
    fetch_pdf(floor, floor.get_by_role("link", name="Label (PDF)"))
    shot(floor, shots, "4-label")
    package.refresh_from_db()
    assert (package.carrier, package.tracking_number, package.packed_weight_lb) == (
        "test", label.tracking_number, Decimal("3.400"))
    assert (label.service, label.weight_lb) == ("ground", Decimal("3.400"))  # the packed weight, not a guess

    # ... and mark it shipped: the unit leaves the centre and the guest is told.
    admin_open(floor, "Packages")
    admin_action_on(floor, order.number, "Mark shipped")
    expect(success_message(floor)).to_have_text("1 package(s) shipped.")
    expect(row(floor, order.number).locator("td.field-status")).to_have_text("Shipped")
    expect(row(floor, order.number).locator("td.field-tracking_number")).to_have_text(label.tracking_number)
    in_centre.refresh_from_db()
    assert (in_centre.on_hand, in_centre.reserved) == (COUNTED - 1, 0)
    assert f"Your order {order.number} is on its way" in [m.subject for m in mail.outbox if m.to == [GUEST]]

    # 5. The carrier's webhooks, as the parcel travels: out for delivery and delivered are e-mailed,
    # and "delivered" delivers the package (the carrier says so, nobody at Bazaar clicks).
    carrier = Client()
    for when, status, text, where in TRACKING_NEWS:
        clock.move_to(when)
        assert carrier_says(carrier, label.tracking_number, status, when, text, where) == {
            "received": 1, "applied": 1}
    package.refresh_from_db()
    order.refresh_from_db()
    delivered_at = TRACKING_NEWS[-1][0]
    assert (package.status, package.delivered_at, order.status) == (
        Package.Status.DELIVERED, delivered_at, Order.Status.DELIVERED)
    told = [m.subject for m in mail.outbox if m.to == [GUEST]]
    assert f"Your order {order.number} is out for delivery today" in told
    assert f"Your order {order.number} was delivered" in told

    # The guest reloads the order page: delivered, with the carrier's timeline.
    shopper.reload()
    parcel = shopper.get_by_role("region", name=f"Package from {STORE}")
    expect(shopper.locator(".order")).to_contain_text("Status: Delivered")
    expect(parcel.locator("h2 .badge")).to_have_text("Delivered")
    expect(parcel).to_contain_text(f"Delivered on {dateformat.format(delivered_at, 'D j M Y')}")
    timeline = parcel.locator(".package-timeline")
    expect(timeline).to_have_attribute("data-tracking-status", "delivered")
    timeline.locator("summary").click()
    expect(timeline.locator("summary")).to_have_text("TEST tracking: Delivered")
    steps = timeline.locator("li")
    expect(steps).to_have_count(3)  # newest first
    expect(steps.nth(0)).to_contain_text("Delivered: Left at the front door (Portland OR)")
    expect(steps.nth(1)).to_contain_text("Out for delivery: On the van (Portland OR)")
    expect(steps.nth(2)).to_contain_text("In transit: Departed the origin facility (Newark NJ)")
    shot(shopper, shots, "5-delivered")

    # 6. The seller's ledger: the sale, the referral fee (15%), Bazaar's fulfilment fee of the product's
    # size tier per unit, and a reserve holding the rest until the delivery is old enough.
    line = order.lines.get()
    fulfilment_fee = quote.fee * line.quantity
    earned = line.subtotal - line.referral_fee - fulfilment_fee
    assert (line.subtotal, line.referral_fee, fulfilment_fee, earned) == (
        PRICE, Decimal("8.10"), Decimal("7.06"), Decimal("38.84"))
    page.locator("#site-name a").click()
    page.get_by_role("link", name=re.compile(r"^Seller centre")).click()
    page.locator("#content-main").get_by_role("link", name="Ledger and statements").click()
    expect(ledger_row(page, "Sale")).to_contain_text(money(line.subtotal))
    expect(ledger_row(page, "Sale")).to_contain_text(f"1 x {product.title}")
    expect(ledger_row(page, "Referral fee")).to_contain_text(money(-line.referral_fee))
    expect(ledger_row(page, "Fulfilment fee")).to_contain_text(money(-fulfilment_fee))
    expect(ledger_row(page, "Fulfilment fee")).to_contain_text(f"1 x {quote.fee} ({quote.tier_name})")
    expect(ledger_row(page, "Reserve held")).to_contain_text(money(-earned))
    for kind in ("Sale", "Referral fee", "Fulfilment fee", "Reserve held"):
        expect(ledger_row(page, kind)).to_contain_text(order.number)
    expect(page.locator("#content")).to_contain_text(f"Available {money(Decimal('0'))}, reserved {money(earned)}")
    shot(page, shots, "6-ledger")

    # The storage beat: a snapshot at the end of every day of December, then December's charge on
    # 1 January (peak month rate of the product's storage class, for the eight units left).
    for december_day in range(1, 32):
        clock.move_to(datetime(2026, 12, december_day, 23, 0, tzinfo=UTC))
        assert fulfillment_tasks.snapshot_storage() == 1
    clock.move_to(NEW_YEAR)
    assert fulfillment_tasks.charge_storage_fees() == 1
    assert fulfillment_tasks.charge_storage_fees() == 0  # the next day's run charges nothing again
    rate = StorageRate.objects.get(storage_class=quote.storage_class, peak=True).per_cubic_foot
    storage_fee = (quote.cubic_feet * (COUNTED - 1) * rate).quantize(Decimal("0.01"))
    assert storage_fee == Decimal("8.00")  # 8 x 0.4167 cu ft x 2.40 a month
    assert LedgerEntry.objects.get(seller=seller, kind=LedgerEntry.Kind.STORAGE_FEE).amount == -storage_fee

    # On New Year's Day the seller signs in again and finds it.
    january = new_tab()
    sign_in_admin(january, live_server, OWNER)
    january.get_by_role("link", name=re.compile(r"^Seller centre")).click()
    january.locator("#content-main").get_by_role("link", name="Ledger and statements").click()
    expect(ledger_row(january, "Storage fee")).to_contain_text(money(-storage_fee))
    expect(ledger_row(january, "Storage fee")).to_contain_text("Storage, December 2026")
    expect(ledger_row(january, "Fulfilment fee")).to_contain_text(money(-fulfilment_fee))
    shot(january, shots, "6-storage-fee")
