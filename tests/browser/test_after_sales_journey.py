"""After the sale, in a real browser: a member pays partly with store credit, returns a defective
unit, the seller approves and receives it, and the money goes back where it came from.

A third-party seller ships its own packages (merchant channel) from its workshop; its kettle's
category has a return policy (14 days; "no longer needed" is the shopper's to pay). A signed-in
shopper holding $70.00 of store credit buys two kettles at $40.00 with $4.99 delivery, ticks "Pay
with my store credit first" and pays the other $14.99 with the test card. The seller ships (its
tracking number, from Python) and Bazaar's staff confirm delivery. The shopper returns one unit as
defective from the order page; the seller's owner approves it in admin, the shopper finds the
return label on the return's page; the seller receives the unit, marks it sellable (back on the
shelf) and the refund follows: the unit and, the shop being at fault, the package's shipping. It
goes back to the card first (all $14.99 the card paid), the rest to the store credit the order
spent. Then Bazaar's staff refund the other unit from the order's "Refund part of this order" page:
the card has nothing left, so it is store credit, and the shopper sees both refunds.

Every step a person takes is taken in the browser; the seller's shipping and the delivery are
services called from Python. The clock is moved by time-machine (the live server runs in this
process and shares it). Refund pay-backs and e-mails run inline after each commit (the tests'
eager Celery). Screenshots go to /tmp/shots/after-sales-*.png. Transactional (the live server
reads committed data); the rows made by migrations are restored afterwards by serialized rollback."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import time_machine
from playwright.sync_api import expect

from fulfillment import services as fulfillment_services
from fulfillment.models import StockItem, Warehouse
from orders import refunds, returns
from orders import services as order_services
from orders.models import Order, OrderRefund, Package, ReturnPolicy, ReturnReason, ReturnRequest
from payments import selectors as payment_selectors
from payments import services as payment_services
from payments.models import StoreCreditEntry
from tests.browser.journeys import admin_open, money, ready, sign_in_admin, sign_in_storefront, success_message
from tests.commit import committed
from tests.factories import (
    CategoryFactory,
    OfferFactory,
    ProductFactory,
    SellerFactory,
    UserFactory,
    WarehouseFactory,
    seller_member,
    shipping_method,
    staff_user,
    stock,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

PAYS = "4242 4242 4242 4242"
OWNER = "kim@kettleworks.example"
SHOPPER = "mia@example.com"
STORE = "Kettle Works"
TITLE = "Copper Kettle"
PRICE = Decimal("40.00")
SHIPPING = Decimal("4.99")  # the seller's own delivery
ON_SHELF = 5
CREDIT = Decimal("70.00")  # the shopper's store credit before the order
TOTAL = 2 * PRICE + SHIPPING  # 84.99: 70.00 store credit, 14.99 the card

# The clock (UTC): bought on Monday, delivered on Wednesday, returned on Thursday, back on Monday.
BUYING = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
SHIPPED = datetime(2026, 12, 1, 16, 0, tzinfo=UTC)
DELIVERED = datetime(2026, 12, 2, 14, 0, tzinfo=UTC)
RETURNING = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
ANSWERING = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)
RECEIVING = datetime(2026, 12, 7, 11, 0, tzinfo=UTC)


@pytest.fixture
def clock():
    """Time for the whole journey (the live server's too), moving on from Monday afternoon."""
    with time_machine.travel(BUYING, tick=True) as traveller:
        yield traveller


@pytest.fixture
def world(clock):
    """A seller shipping its own kettles from its workshop (five on the shelf), its owner, the
    kitchen's return policy, and a shopper holding store credit."""
    kitchen = CategoryFactory(name="Kitchen")
    returns.return_policy_save(policy=ReturnPolicy(category=kitchen, window_days=14,
                                                   buyer_pays_reasons=[ReturnReason.NO_LONGER_NEEDED]))
    shipping_method(channel="merchant", price=str(SHIPPING), code="std-merchant", min_days=1, max_days=2)
    seller = SellerFactory(name=STORE, country="US")
    owner = seller_member(seller, email=OWNER, role="owner")
    workshop = WarehouseFactory(code="kw-workshop", name="Kettle Works workshop", kind=Warehouse.Kind.SELLER,
                                seller=seller, city="Portland", country="US")
    workshop.street, workshop.postal_code, workshop.region = "5 Foundry Lane", "97214", "OR"
    with committed():
        fulfillment_services.warehouse_save(warehouse=workshop)
    product = ProductFactory(title=TITLE, category=kitchen)
    offer = OfferFactory(seller=seller, product=product, sku="KW-COPPER-1", price=PRICE,
                         fulfillment_channel="merchant")
    stock(offer, ON_SHELF, warehouse=workshop)
    shopper = UserFactory(email=SHOPPER, full_name="Mia Member")
    payment_services.store_credit_grant(user=shopper, amount=CREDIT, kind=payment_services.StoreCreditKind.REFUND,
                                        reference="refund:goodwill-2026-11", currency="USD",
                                        description="Sorry for the late parcel")
    return {"seller": seller, "owner": owner, "workshop": workshop, "product": product, "offer": offer,
            "shopper": shopper}


# --- helpers ---------------------------------------------------------------------------------------


def shot(page, shots, name: str) -> None:
    page.screenshot(path=str(shots / f"after-sales-{name}.png"), full_page=True)


def card_refunded(order: Order) -> Decimal:
    return sum((p.refunded_amount for p in payment_selectors.payment_list_for_reference(reference=order.number)),
               Decimal("0.00"))


# --- the journey -----------------------------------------------------------------------------------


def test_a_defective_unit_comes_back_and_the_money_goes_back_where_it_came_from(
        page, new_tab, live_server, world, clock, shots):
    seller, offer, product, shopper = world["seller"], world["offer"], world["product"], world["shopper"]

    # 1. Monday: the shopper signs in, puts two kettles in the cart and checks out.
    sign_in_storefront(page, live_server, SHOPPER, then=product.get_absolute_url())
    ready(page)
    buy_box = page.locator(".add-to-cart").first
    expect(page.locator(".buy-box__seller")).to_have_text(f"Sold by {STORE}")
    buy_box.get_by_label("Quantity").fill("2")
    buy_box.get_by_role("button", name="Add to cart").click()
    expect(buy_box.get_by_role("status")).to_contain_text("Added to your cart")
    expect(page.locator("#cart-count")).to_have_text("2")
    page.locator(".cart-link").click()
    page.get_by_role("link", name="Proceed to checkout").click()
    expect(page.get_by_label("E-mail for your receipt")).to_have_value(SHOPPER)
    page.get_by_label("Full name").fill("Mia Member")
    page.get_by_label("Address line 1").fill("12 Harbour Road")
    page.get_by_label("City").fill("Portland")
    page.get_by_label("Postal code").fill("97201")
    page.get_by_label("State or region").fill("OR")
    page.get_by_label("Country").select_option("US")
    page.get_by_role("button", name="Continue to delivery").click()
    expect(page.locator("fieldset.package")).to_contain_text(STORE)
    page.get_by_role("button", name="Continue to payment").click()
    expect(page.locator(".totals")).to_contain_text(money(TOTAL))

    # ... pays with the store credit first and the card for the rest.
    use_credit = page.get_by_role("checkbox", name=f"Pay with my store credit first ({money(CREDIT)} available)")
    use_credit.check()
    # The pay button says what the card pays once the credit is used.
    expect(page.locator("[data-pay-button]")).to_have_text(
        f"Place order: store credit, then {money(TOTAL - CREDIT)} by card")
    page.get_by_label("Card number").fill(PAYS)
    shot(page, shots, "1-review")
    page.get_by_role("button", name=re.compile(r"^Place order: store credit")).click()
    expect(page).to_have_url(re.compile(r"/orders/[A-Z0-9-]+/$"))
    order = Order.objects.get()
    expect(page.get_by_text(f"Thank you! Your order {order.number} is placed.")).to_be_visible()
    expect(page.locator("[data-store-credit]")).to_have_text(money(CREDIT))
    expect(page.locator(".totals")).to_contain_text("Paid with store credit")
    shot(page, shots, "1-order")
    line, package = order.lines.get(), order.packages.get()
    assert (order.total, order.store_credit_used, order.status) == (TOTAL, CREDIT, Order.Status.PAID)
    assert (line.quantity, line.total, package.shipping_price, package.fulfillment_channel) == (
        2, 2 * PRICE, SHIPPING, "merchant")

    # 2. The seller ships with its own carrier (the first shipment captures the card), and Bazaar's
    # staff confirm the delivery on Wednesday.
    clock.move_to(SHIPPED)
    with committed():
        order_services.package_set_tracking(package=package, tracking_number="1Z999AA10123456784",
                                            carrier_name="UPS")
        order_services.package_ship(package=package, tracking_number="1Z999AA10123456784",
                                    actor=world["owner"])
    clock.move_to(DELIVERED)
    with committed():
        order_services.package_deliver(package=Package.objects.get(pk=package.pk))
    order.refresh_from_db()
    assert order.status == Order.Status.DELIVERED
    [card] = payment_selectors.payment_list_for_reference(reference=order.number)
    assert card.captured_amount == TOTAL - CREDIT  # captured when the package shipped
    shelf = StockItem.objects.get(offer=offer, warehouse=world["workshop"])
    assert (shelf.on_hand, shelf.reserved) == (ON_SHELF - 2, 0)

    # 3. Thursday: one kettle does not heat. The shopper returns it from the order page.
    clock.move_to(RETURNING)
    page.reload()
    parcel = page.get_by_role("region", name=f"Package from {STORE}")
    expect(parcel.locator("h2 .badge")).to_have_text("Delivered")
    parcel.get_by_role("link", name="Return items").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Return items from {STORE}")
    page.get_by_label(TITLE).fill("1")
    page.get_by_label("Why do you return them?").select_option(ReturnReason.DEFECTIVE)
    page.get_by_label("Details").fill("It does not heat at all.")
    shot(page, shots, "3-return-form")
    page.get_by_role("button", name="Start the return").click()
    expect(page).to_have_url(re.compile(rf"/orders/{order.number}/returns/\d+/$"))
    request = ReturnRequest.objects.get()
    assert page.url.endswith(f"/returns/{request.pk}/")
    expect(page.get_by_text(f"Your return {request.pk} is registered.")).to_be_visible()
    status = page.locator("[data-return-status]")
    expect(status).to_have_attribute("data-return-status", "requested")
    expect(status).to_have_text("Requested: the seller answers")
    expect(page.locator(".account-panel")).to_contain_text(f"1 x {TITLE}")
    expect(page.locator(".account-panel")).to_contain_text("The seller answers by")
    shot(page, shots, "3-requested")
    assert (request.seller_id, request.reason, request.buyer_pays_shipping) == (seller.pk, "defective", False)

    # 4. The seller's owner approves it in admin (Orders → returns); a label is bought at once.
    clock.move_to(ANSWERING)
    desk = new_tab()
    sign_in_admin(desk, live_server, OWNER)
    admin_open(desk, "Returns")
    desk.locator("#result_list tbody tr").filter(has_text=order.number).locator("th a").click()
    expect(desk.locator(".field-reason .readonly")).to_have_text("Defective or does not work")
    desk.get_by_role("button", name="Approve").click()
    expect(success_message(desk)).to_be_visible()
    # the return stays open: its next step, receiving it, is here
    expect(desk.locator(".field-status .readonly")).to_have_text("Label ready: send it back")
    request.refresh_from_db()
    assert request.status == ReturnRequest.Status.LABEL_ISSUED  # the test carrier sold a label
    assert request.tracking_number
    assert request.drop_off_instructions == ""
    assert request.destination_id == world["workshop"].pk  # back to where it left from

    # The shopper's return page shows the label, not drop-off instructions.
    page.reload()
    expect(status).to_have_attribute("data-return-status", "label_issued")
    expect(status).to_have_text("Label ready: send it back")
    expect(page.get_by_text(f"Return label, tracking number {request.tracking_number}.")).to_be_visible()
    label = page.get_by_role("link", name="Download the label (PDF)")
    response = page.context.request.get(label.evaluate("a => a.href"))
    assert response.ok, response.status
    assert response.headers["content-type"] == "application/pdf"
    assert response.body().startswith(b"%PDF")
    expect(page.locator("[data-drop-off]")).to_have_count(0)
    shot(page, shots, "4-label")

    # 5. Monday: the kettle is back at the workshop. The seller inspects it (sellable) and receives it:
    # back on the shelf, and refunded with the package's shipping, the fault being the shop's.
    clock.move_to(RECEIVING)
    expected = refunds.refund_quote(order=order, lines={line.pk: 1}, shipping=[package.pk])
    assert (expected.items_amount, expected.shipping_amount, expected.amount) == (
        PRICE, SHIPPING, PRICE + SHIPPING)
    desk.reload()
    inspect = desk.get_by_label(f"1 x {TITLE}")
    inspect.select_option(label="Sellable: restocked")
    shot(desk, shots, "5-inspect")
    desk.get_by_role("button", name="Received: restock and refund").click()
    expect(success_message(desk)).to_be_visible()
    expect(desk.locator(".field-status .readonly")).to_have_text("Refunded")
    request.refresh_from_db()
    refund = OrderRefund.objects.get(pk=request.refund_id)
    assert request.status == ReturnRequest.Status.REFUNDED
    assert (refund.amount, refund.items_amount, refund.shipping_amount, refund.deduction) == (
        expected.amount, expected.items_amount, expected.shipping_amount, Decimal("0.00"))
    assert list(refund.lines.values_list("line_id", "quantity", "amount")) == [(line.pk, 1, PRICE)]
    shelf.refresh_from_db()
    assert (shelf.on_hand, shelf.reserved) == (ON_SHELF - 1, 0)  # one back on the shelf

    # 6. The money goes back where it came from: the card first (all it paid), then the store credit.
    card_paid = TOTAL - CREDIT
    refund.refresh_from_db()
    assert refund.status == OrderRefund.Status.SUCCEEDED
    assert (card_refunded(order), refund.credit_amount) == (card_paid, refund.amount - card_paid)
    assert card_refunded(order) + refund.credit_amount == refund.amount
    given_back = StoreCreditEntry.objects.get(kind=StoreCreditEntry.Kind.REFUND, reference=f"refund:{refund.pk}")
    assert given_back.amount == refund.credit_amount == Decimal("30.00")

    # The shopper's order page explains the refund; the return page says refunded.
    page.reload()
    expect(status).to_have_attribute("data-return-status", "refunded")
    expect(page.locator("[data-refund]")).to_contain_text(f"Refunded: {money(refund.amount)}")
    page.get_by_role("link", name="Back to the order").click()
    refunds_block = page.get_by_role("region", name="Refunds")
    first = refunds_block.locator("li[data-refund-status=succeeded]").first
    expect(first).to_contain_text(f"{money(refund.amount)} (Refunded)")
    expect(first).to_contain_text(f"1 x {TITLE}: {money(PRICE)}")
    expect(first).to_contain_text(f"Shipping: {money(SHIPPING)}")
    expect(page.locator("[data-refunded]")).to_have_text(f"-{money(refund.amount)}")
    expect(page.locator(".order-returns li[data-return-status=refunded]")).to_contain_text(f"1 x {TITLE}")
    shot(page, shots, "6-refunded")

    # ... and their store credit page shows what it paid and what came back.
    page.goto(f"{live_server.url}/account/store-credit/")
    history = page.locator("table tbody tr")
    expect(history).to_have_count(3)  # newest first
    expect(history.nth(0)).to_contain_text(f"Refund: Refund for order {order.number}")
    expect(history.nth(0)).to_contain_text(f"+{money(refund.credit_amount)}")
    expect(history.nth(1)).to_contain_text(f"-{money(CREDIT)}")
    expect(history.nth(2)).to_contain_text("Sorry for the late parcel")
    expect(page.locator("#store-credit-balance")).to_contain_text(money(refund.credit_amount))
    shot(page, shots, "6-store-credit")

    # 7. The shopper asks for the other unit to be refunded too; Bazaar's staff do it from the
    # order's "Refund part of this order" page. The card has nothing left: it is store credit.
    refunder = staff_user("orders.view_order", "orders.refund_order")
    office = new_tab()
    sign_in_admin(office, live_server, refunder.email)
    admin_open(office, "Orders")
    office.locator("#result_list").get_by_role("link", name=order.number).click()
    office.get_by_role("link", name="Refund part of this order").click()
    office.get_by_label(f"units of {TITLE} to refund").fill("1")
    office.get_by_label("Reason (the buyer reads it)").fill("The second kettle shows the same fault")
    office.get_by_role("button", name="Refund").click()
    expect(success_message(office)).to_have_text(re.compile(r"^Refunding "))
    second = OrderRefund.objects.exclude(pk=refund.pk).get()
    expect(success_message(office)).to_have_text(f"Refunding {money(second.amount)} (refund {second.pk}).")
    expect(office.locator("#partial-refunds tbody tr")).to_have_count(2)
    shot(office, shots, "7-admin-refunds")
    assert (second.amount, second.credit_amount, second.status) == (PRICE, PRICE, OrderRefund.Status.SUCCEEDED)
    assert card_refunded(order) == card_paid  # unchanged: the card had nothing more to give back
    order.refresh_from_db()
    assert order.refunded_amount == TOTAL
    assert payment_selectors.store_credit_balance(user=shopper).amount == CREDIT

    page.goto(f"{live_server.url}/orders/{order.number}/")
    refunds_block = page.get_by_role("region", name="Refunds")
    expect(refunds_block.locator("li[data-refund-status]")).to_have_count(2)
    expect(refunds_block).to_contain_text("The second kettle shows the same fault")
    expect(refunds_block).to_contain_text(f"{money(PRICE)} (Refunded)")
    expect(page.locator("[data-refunded]")).to_have_text(f"-{money(TOTAL)}")
    shot(page, shots, "7-order-refunds")
