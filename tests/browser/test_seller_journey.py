"""A seller's whole journey in a real browser, from applying to being paid.

Someone with a shopper's account applies to sell on the storefront; platform staff approve the
application in admin; the new seller's owner lists an offer on an existing product and receives
stock into the location approval opened for them; a guest buys it with the test card; the seller
adds a tracking number, ships and delivers the package in admin and finds the sale, the referral
fee, the shipping credit and the reserve in their ledger. Then, as the beat would days later, the
reserve is released and the payout run pays the seller, who sees the payout and an empty balance.

Every step a person takes is taken in the browser; only the worker's scheduled jobs (reserve
release and payout run, on a clock moved past delivery plus ``FINANCE_RESERVE_DAYS``) are called
from Python. The postings of a shipped package are the outbox's, run inline after the commit by
the tests' eager Celery. Screenshots of the key pages go to /tmp/shots/seller-journey-*.png.
Transactional (the live server reads committed data); the house seller row made by a migration
is restored afterwards by serialized rollback."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, time, timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.conf import settings
from django.core import mail
from django.utils import timezone
from playwright.sync_api import expect

from finance import selectors as finance_selectors
from finance import tasks as finance_tasks
from finance.models import LedgerEntry, Payout
from marketplace.models import Offer, SellerApplication
from orders.models import Order, Package
from tests.browser.journeys import (
    admin_action_on,
    admin_open,
    ledger_row,
    money,
    ready,
    sign_in_admin,
    sign_in_storefront,
    success_message,
)
from tests.factories import CategoryFactory, ProductFactory, UserFactory, shipping_method, staff_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

PAYS = "4242 4242 4242 4242"
APPLICANT = "kim@kettleworks.example"
STORE = "Kettle Works"
SKU = "KW-COPPER-1"
PRICE = Decimal("40.00")
SHIPPING = Decimal("4.99")  # the merchant shipping method's price: credited to the seller who ships
TRACKING = "1Z999AA10123456784"


@pytest.fixture
def marketplace():
    """A kitchen category, a product nobody sells yet, and the merchant shipping method."""
    kitchen = CategoryFactory(name="Kitchen")
    shipping_method(channel="merchant", price=str(SHIPPING), code="std-merchant", min_days=3, max_days=5)
    return {"kitchen": kitchen, "product": ProductFactory(title="Copper Kettle", category=kitchen)}


# --- helpers ---------------------------------------------------------------------------------------


def shot(page, shots, name: str) -> None:
    page.screenshot(path=str(shots / f"seller-journey-{name}.png"), full_page=True)


def fill_application(page, category_name: str) -> None:
    page.get_by_label("Legal name of the business").fill("Kettle Works LLC")
    page.get_by_label("Store name shoppers see").fill(STORE)
    page.get_by_label("Contact person").fill("Kim Kettle")
    page.get_by_label("Contact e-mail").fill(APPLICANT)
    page.get_by_label("Phone").fill("+1 555 0100")
    page.get_by_label("Country (two letters").fill("US")
    page.get_by_label("Tax id").fill("12-3456789")
    page.get_by_label("Bank account holder").fill("Kettle Works LLC")
    page.get_by_label("Bank account: IBAN").fill("000123456789")
    page.get_by_label("Routing number").fill("021000021")
    page.get_by_label(category_name, exact=True).check()
    page.get_by_label("Expected volume").select_option(value="100_1000")
    page.get_by_label("I accept the seller terms").check()


def pick_autocomplete(page, field: str, search: str, option: str) -> None:
    """Choose in one of admin's autocomplete (Select2) fields, as a person does: open, type, click."""
    page.locator(f".field-{field} .select2-selection").click()
    page.locator(".select2-container--open .select2-search__field").fill(search)
    page.locator(".select2-results__option", has_text=option).click()
    expect(page.locator(f".field-{field} .select2-selection__rendered")).to_contain_text(option)


@contextmanager
def worker_clock(moment: datetime) -> Iterator[None]:
    """The worker runs its scheduled jobs at ``moment`` (``timezone.now()`` and ``localdate()`` say so)."""
    with mock.patch("django.utils.timezone.now", return_value=moment):
        yield


def noon(day) -> datetime:
    return timezone.make_aware(datetime.combine(day, time(12)))


# --- the journey -----------------------------------------------------------------------------------


def test_a_seller_applies_lists_sells_ships_and_is_paid(page, new_tab, live_server, marketplace, shots):
    product = marketplace["product"]
    UserFactory(email=APPLICANT, full_name="Kim Kettle")
    reviewer = staff_user("marketplace.view_sellerapplication", "marketplace.review_sellerapplication")

    # 1. The applicant signs in on the storefront and applies to sell.
    sign_in_storefront(page, live_server, APPLICANT, then="/sell/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sell on Bazaar")
    page.get_by_role("link", name="Apply to sell").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Apply to sell")
    fill_application(page, "Kitchen")
    shot(page, shots, "1-apply")
    page.get_by_role("button", name="Submit the application").click()
    expect(page).to_have_url(re.compile(r"/sell/application/$"))
    expect(page.get_by_text("your application is submitted")).to_be_visible()
    expect(page.locator("[data-application-status]")).to_have_attribute("data-application-status", "submitted")
    expect(page.locator(".account-panel")).to_contain_text(f"{STORE} (Kettle Works LLC)")
    shot(page, shots, "1-submitted")

    # 2. Platform staff approve it in admin, with a message to the applicant.
    staff = new_tab()
    sign_in_admin(staff, live_server, reviewer.email)
    admin_open(staff, "Seller applications")
    staff.locator("#result_list tbody tr").filter(has_text=STORE).locator("th a").click()
    expect(staff.locator(".field-category_names")).to_contain_text("Kitchen")
    staff.locator("#id_review_message").fill("Welcome to Bazaar, Kim!")
    shot(staff, shots, "2-review")
    staff.get_by_role("button", name="Approve").click()
    expect(success_message(staff)).to_be_visible()
    expect(staff.locator("#result_list tbody tr").filter(has_text=STORE)).to_contain_text("Approved")
    application = SellerApplication.objects.get()
    seller = application.seller
    assert (application.status, seller.name) == (SellerApplication.Status.APPROVED, STORE)
    location = seller.warehouses.get()  # opened by fulfillment on the seller_approved event
    approval = [m for m in mail.outbox if m.to == [APPLICANT]][-1]  # the message goes by e-mail
    assert "can start selling" in approval.subject
    assert "Welcome to Bazaar, Kim!" in approval.body

    # 3. The applicant, now the seller's owner, follows the link to the seller area, lists an offer...
    page.reload()
    expect(page.locator("[data-application-status]")).to_have_attribute("data-application-status", "approved")
    page.get_by_role("link", name="Open the seller area").click()
    expect(page.get_by_role("link", name=re.compile(r"^Seller centre"))).to_be_visible()
    expect(page.locator("#content-main")).not_to_contain_text("Seller applications")
    admin_open(page, "Offers")
    page.get_by_role("link", name="Add offer").click()
    pick_autocomplete(page, "product", "Copper", "Copper Kettle")
    expect(page.locator("#id_seller option:checked")).to_have_text(STORE)  # their one seller, fixed
    page.locator("#id_sku").fill(SKU)
    page.locator("#id_price").fill(str(PRICE))
    shot(page, shots, "3-offer")
    page.locator("input[name=_save]").click()
    expect(success_message(page)).to_be_visible()
    offer_row = page.locator("#result_list tbody tr").filter(has_text=SKU)
    expect(offer_row).to_contain_text("Copper Kettle")
    expect(offer_row).to_contain_text(money(PRICE))
    offer = Offer.objects.get(seller=seller)
    assert (offer.product_id, offer.fulfillment_channel) == (product.pk, Offer.Channel.MERCHANT)

    # ... and receives five units into the location approval opened for them.
    admin_open(page, "Stock items")
    page.get_by_role("link", name="Add stock item").click()
    pick_autocomplete(page, "offer", SKU, SKU)
    page.locator("#id_warehouse").select_option(label=location.name)
    page.locator("#id_quantity").fill("5")
    page.locator("#id_note").fill("First delivery from the workshop")
    page.locator("input[name=_save]").click()
    expect(success_message(page)).to_be_visible()
    stock_row = page.locator("#result_list tbody tr").filter(has_text=SKU)
    expect(stock_row.locator("td.field-on_hand")).to_have_text("5")
    expect(stock_row.locator("td.field-available")).to_have_text("5")

    # 4. A guest buys the kettle from its product page and pays with the test card.
    shopper = new_tab()
    shopper.goto(live_server.url + product.get_absolute_url())
    ready(shopper)
    expect(shopper.locator(".buy-box__seller")).to_have_text(f"Sold by {STORE}")
    buy_box = shopper.locator(".add-to-cart").first
    buy_box.get_by_role("button", name="Add to cart").click()
    expect(buy_box.get_by_role("status")).to_contain_text("Added to your cart")
    shopper.locator(".cart-link").click()
    shopper.get_by_role("link", name="Proceed to checkout").click()
    shopper.get_by_label("E-mail for your receipt").fill("gus@example.com")
    shopper.get_by_label("Full name").fill("Gus Guest")
    shopper.get_by_label("Address line 1").fill("12 Harbour Road")
    shopper.get_by_label("City").fill("Portland")
    shopper.get_by_label("Postal code").fill("97201")
    shopper.get_by_label("State or region").fill("OR")
    shopper.get_by_label("Country").select_option("US")
    shopper.get_by_role("button", name="Continue to delivery").click()
    expect(shopper.locator("fieldset.package")).to_contain_text(STORE)
    shopper.get_by_role("button", name="Continue to payment").click()
    expect(shopper.locator(".totals")).to_contain_text(money(PRICE + SHIPPING))
    shopper.get_by_label("Card number").fill(PAYS)
    shopper.get_by_role("button", name=re.compile(r"^Place order and pay")).click()
    expect(shopper).to_have_url(re.compile(r"/orders/guest/[^/]+/$"))
    order = Order.objects.get()
    expect(shopper.get_by_text(f"Thank you! Your order {order.number} is placed.")).to_be_visible()
    shot(shopper, shots, "4-order")
    line, package = order.lines.get(), order.packages.get()
    assert (line.seller_id, package.seller_id, order.status) == (seller.pk, seller.pk, Order.Status.PAID)

    # 5. The seller finds the order to ship in their seller centre, adds the tracking number and ships
    # it; Bazaar's staff mark it delivered when the carrier says so.
    page.locator("#site-name a").click()
    page.get_by_role("link", name=re.compile(r"^Seller centre")).click()
    expect(page.get_by_role("heading", name="Orders to ship")).to_be_visible()
    page.get_by_role("link", name=order.number).click()
    page.locator("#id_tracking_number").fill(TRACKING)
    page.locator("#id_carrier_name").fill("UPS")
    page.locator("input[name=_save]").click()
    expect(success_message(page)).to_be_visible()
    expect(page.locator("#result_list tbody tr").filter(has_text=order.number)).to_contain_text(TRACKING)
    admin_action_on(page, order.number, "Mark shipped")
    expect(success_message(page)).to_have_text("1 package(s) shipped.")
    # The seller cannot confirm its own delivery: Bazaar's staff do (or the carrier's tracking).
    expect(page.locator("select[name=action] option", has_text="Mark delivered")).to_have_count(0)
    ops = staff_user("orders.view_package", "orders.change_package", "orders.ship_package")
    ops_tab = new_tab()
    sign_in_admin(ops_tab, live_server, ops.email)
    admin_open(ops_tab, "Packages")
    admin_action_on(ops_tab, order.number, "Mark delivered")
    expect(success_message(ops_tab)).to_have_text("1 package(s) delivered.")
    package_row = ops_tab.locator("#result_list tbody tr").filter(has_text=order.number)
    expect(package_row.locator("td.field-status")).to_have_text("Delivered")
    shot(ops_tab, shots, "5-delivered")
    package.refresh_from_db()
    order.refresh_from_db()
    assert (package.status, package.tracking_number, order.status) == (
        Package.Status.DELIVERED, TRACKING, Order.Status.DELIVERED)

    # 6. The ledger shows the sale, its referral fee (15% by default), the shipping credit, and all of
    # it held in reserve: nothing is available yet.
    line.refresh_from_db()
    fee = line.referral_fee
    assert (line.subtotal, fee, package.shipping_price) == (PRICE, Decimal("6.00"), SHIPPING)
    earned = line.subtotal - fee + package.shipping_price
    assert earned == Decimal("38.99")
    page.locator("#site-name a").click()
    page.get_by_role("link", name=re.compile(r"^Seller centre")).click()
    page.locator("#content-main").get_by_role("link", name="Ledger and statements").click()
    expect(ledger_row(page, "Sale")).to_contain_text(money(line.subtotal))
    expect(ledger_row(page, "Sale")).to_contain_text(f"1 x {product.title}")
    expect(ledger_row(page, "Referral fee")).to_contain_text(money(-fee))
    expect(ledger_row(page, "Shipping credit")).to_contain_text(money(SHIPPING))
    expect(ledger_row(page, "Reserve held")).to_contain_text(money(-earned))
    for kind in ("Sale", "Referral fee", "Shipping credit", "Reserve held"):
        expect(ledger_row(page, kind)).to_contain_text(order.number)
    expect(page.locator("#content")).to_contain_text(
        f"Available {money(Decimal('0'))}, reserved {money(earned)}")
    shot(page, shots, "6-ledger")

    # 7. The worker's jobs, days later: before the reserve days are over nothing is released or paid;
    # after them the reserve is released and the next settlement pays the seller what they earned.
    delivered_at = package.delivered_at
    almost = delivered_at + timedelta(days=settings.FINANCE_RESERVE_DAYS) - timedelta(hours=1)
    with worker_clock(almost):
        assert finance_tasks.release_reserves() == 0
        assert finance_tasks.run_payouts()["created"] == 0
    after_reserve = delivered_at + timedelta(days=settings.FINANCE_RESERVE_DAYS, hours=1)
    with worker_clock(after_reserve):
        assert finance_tasks.release_reserves() == 1
    payday = finance_selectors.next_settlement_date(timezone.localdate(after_reserve))
    with worker_clock(noon(payday)):
        assert finance_tasks.run_payouts() == {"created": 1, "paid": 1, "failed": 0}
    payout = Payout.objects.get()
    assert (payout.seller_id, payout.settled_on, payout.amount, payout.status) == (
        seller.pk, payday, earned, Payout.Status.PAID)

    # The seller sees the payout, its ledger entry and the reserve released, and nothing left to pay.
    page.reload()
    expect(ledger_row(page, "Reserve released")).to_contain_text(money(earned))
    expect(ledger_row(page, "Payout")).to_contain_text(money(-earned))
    expect(page.locator("#content")).to_contain_text(
        f"Available {money(Decimal('0'))}, reserved {money(Decimal('0'))}")
    page.locator("#site-name a").click()
    page.get_by_role("link", name=re.compile(r"^Seller centre")).click()
    page.locator("#content-main").get_by_role("link", name="Payouts").click()
    payout_row = page.locator("#result_list tbody tr")
    expect(payout_row).to_have_count(1)
    expect(payout_row.locator("td.field-amount_column")).to_have_text(money(earned))
    expect(payout_row.locator("td.field-status")).to_have_text("Paid")
    expect(payout_row).to_contain_text(payout.provider_reference)
    shot(page, shots, "7-payout")
    assert LedgerEntry.objects.filter(seller=seller).count() == 6
    assert finance_selectors.seller_balance(seller_id=seller.pk).available == Decimal("0.00")
