"""Fulfilled by Bazaar: a unit's size tier from its sides, weight and dimensional weight; its fee per
unit from the tier's rates (data staff edit, not code); the fee posted to the seller's ledger when
Bazaar ships the unit, once; and the fee shown to sellers on the product before they send stock."""

from decimal import Decimal as D

import pytest
from django.test import Client
from django.urls import reverse

from finance import services as finance_services
from finance.models import LedgerEntry
from fulfillment import selectors, sizing
from fulfillment.models import FulfilmentFeeRate, SizeTier
from orders import services as orders_services
from orders.models import Package
from tests.buying import cart_with, place, ship
from tests.commit import committed
from tests.factories import (
    OfferFactory,
    ProductFactory,
    SellerFactory,
    seller_member,
    shipping_method,
    staff_user,
    stock,
)

pytestmark = pytest.mark.django_db


def measured(length, width, height, weight):
    product = ProductFactory()
    product.length_in, product.width_in, product.height_in, product.weight_lb = (D(str(v)) for v in (
        length, width, height, weight))
    product.save()
    return product


def quote_of(product):
    return selectors.fee_quotes(product_ids=[product.pk])[product.pk]


@pytest.mark.parametrize(("size", "tier", "shipping_weight", "fee"), [
    ((6, 3, 0.5, 0.3), "small-standard", "0.3", "3.06"),  # a phone case
    ((6, 3, 0.5, 0.8), "small-standard", "0.8", "3.33"),
    ((6, 3, 0.5, 1.2), "large-standard", "1.2", "4.99"),  # too heavy for small standard
    ((9, 6, 1, 1.2), "large-standard", "1.2", "4.99"),  # a book: too thick for small standard
    ((12, 10, 8, 3.5), "large-standard", "6.907", "7.38"),  # light and boxy: dimensional weight 960/139
    ((20, 15, 10, 3), "large-bulky", "21.583", "17.59"),  # longer than 18 in: 9.61 + 21 lb x 0.38
    ((70, 30, 30, 60), "extra-large", "453.238", "198.47"),  # 26.33 + 453 lb x 0.38
    ((50, 40, 2, 10), "extra-large", "28.777", "36.97"),  # median side over 33 in: 26.33 + 28 lb x 0.38
])
def test_tiers_and_fees_from_size_weight_and_dimensional_weight(size, tier, shipping_weight, fee):
    quote = quote_of(measured(*size))
    assert (quote.tier_code, quote.shipping_weight_lb, quote.fee, quote.measured) == (
        tier, D(shipping_weight), D(fee), True)


def test_length_plus_girth_decides_between_bulky_and_extra_large():
    assert quote_of(measured(58, 33, 3.6, 10)).tier_code == "extra-large"  # 58 + 2 x 36.6 = 131.2 > 130
    assert quote_of(measured(58, 33, 2.9, 10)).tier_code == "large-bulky"  # 58 + 2 x 35.9 = 129.8


def test_a_product_not_measured_is_charged_as_the_setting_says_and_the_quote_says_so(settings):
    quote = quote_of(ProductFactory())
    assert (quote.tier_code, quote.shipping_weight_lb, quote.fee, quote.measured) == (
        "large-standard", D("2"), D("4.99"), False)
    settings.FULFILLMENT_UNMEASURED = ("small-standard", D("0.4"))
    assert quote_of(ProductFactory()).fee == D("3.06")


def test_tiers_and_rates_are_data_a_change_applies_at_once():
    product = measured(6, 3, 0.5, 0.3)
    FulfilmentFeeRate.objects.filter(tier__code="small-standard", over_lb=0).update(fee=D("2.50"))
    assert quote_of(product).fee == D("2.50")
    SizeTier.objects.filter(code="small-standard").update(max_shortest_in=D("0.25"))
    assert quote_of(product).tier_code == "large-standard"
    FulfilmentFeeRate.objects.all().delete()
    assert quote_of(product).fee is None  # no rate covers it: shown, never a guess


def test_the_pure_rules():
    size = sizing.Size(D("12"), D("10"), D("8"), D("1"))
    assert sizing.dimensional_weight(size, D("139")) == D("6.907")
    assert sizing.dimensional_weight(size, D("166")) == D("5.784")
    assert size.cubic_feet == D("0.5556")
    assert sizing.quote(size, (), divisor=D("139"), unmeasured=("x", D("1"))) is None
    rate = sizing.Rate(D("3"), None, D("6.10"), D("0.32"), D("3"))
    assert (rate.fee_for(D("3.01")), rate.fee_for(D("4")), rate.fee_for(D("4.001"))) == (
        D("6.42"), D("6.42"), D("6.74"))


@pytest.fixture
def fba_sale():
    """Two units of a seller's offer fulfilled by Bazaar (large standard, 1.5 lb: 4.99 a unit), sold."""
    shipping_method(channel="platform", price="0.00", code="free-platform", min_days=1, max_days=2)
    seller = SellerFactory()
    product = measured(9, 6, 2, 1.5)
    offer = OfferFactory(seller=seller, product=product, price=D("30.00"))
    stock(offer, 5)
    order = place(cart_with((offer, 2))).order
    return seller, order, Package.objects.get(order=order)


def test_the_fee_is_posted_when_bazaar_ships_once_and_kept_on_a_refund(fba_sale):
    seller, order, package = fba_sale
    with committed():
        ship(package, tracking_number="1Z")
    fee = LedgerEntry.objects.get(seller=seller, kind="fulfilment_fee")
    assert (fee.amount, fee.source_type, fee.description) == (D("-9.98"), "order_line", "2 x 4.99 (Large standard)")
    hold = LedgerEntry.objects.get(seller=seller, kind="reserve_hold")
    assert hold.amount == -(D("60.00") - D("9.00") - D("9.98"))  # sale - 15% referral fee - fulfilment fee
    assert finance_services.ledger_post_package_shipped(package_id=package.pk) == 0  # delivered again: once
    with committed():
        orders_services.package_deliver(package=Package.objects.get(pk=package.pk))
        orders_services.order_refund(order=order, reason="damaged")
    assert LedgerEntry.objects.filter(seller=seller, kind="fulfilment_fee").count() == 1  # Bazaar did ship it


def test_a_seller_shipping_itself_pays_no_fulfilment_fee():
    shipping_method(channel="merchant", price="4.99", code="standard")
    seller = SellerFactory()
    offer = OfferFactory(seller=seller, product=measured(9, 6, 2, 1.5), fulfillment_channel="merchant")
    stock(offer, 5)
    order = place(cart_with((offer, 1))).order
    with committed():
        ship(Package.objects.get(order=order), tracking_number="1Z")
    assert not LedgerEntry.objects.filter(kind="fulfilment_fee").exists()


class TestAdmin:
    def test_the_seller_sees_the_fee_on_the_product_and_reads_the_tiers(self, client):
        seller = SellerFactory()
        product = measured(9, 6, 1, 1.2)
        OfferFactory(seller=seller, product=product, fulfillment_channel="merchant")
        client.force_login(seller_member(seller, role="manager"))
        page = client.get(reverse("admin:catalog_product_change", args=[product.pk])).content.decode()
        assert "Large standard, shipping weight 1.200 lb" in page
        assert "$4.99 per unit shipped" in page
        unmeasured = ProductFactory()
        page = client.get(reverse("admin:catalog_product_change", args=[unmeasured.pk])).content.decode()
        assert "Not measured yet" in page
        tiers = reverse("admin:fulfillment_sizetier_changelist")
        assert "Extra large" in client.get(tiers).content.decode()
        small = SizeTier.objects.get(code="small-standard")
        change = reverse("admin:fulfillment_sizetier_change", args=[small.pk])
        client.post(change, {"name": "Cheap", "code": "small-standard", "position": 10})
        assert SizeTier.objects.get(pk=small.pk).name == "Small standard"  # read only for sellers

    def test_platform_staff_change_a_rate_in_admin(self):
        staff = Client()
        staff.force_login(staff_user("fulfillment.view_sizetier", "fulfillment.change_sizetier",
                                     "fulfillment.view_fulfilmentfeerate", "fulfillment.change_fulfilmentfeerate",
                                     "fulfillment.add_fulfilmentfeerate", "fulfillment.delete_fulfilmentfeerate"))
        small = SizeTier.objects.get(code="small-standard")
        url = reverse("admin:fulfillment_sizetier_change", args=[small.pk])
        assert staff.get(url).status_code == 200
        rates = list(small.rates.order_by("over_lb"))
        data = {"code": small.code, "name": small.name, "position": small.position, "max_longest_in": "15",
                "max_median_in": "12", "max_shortest_in": "0.75", "max_weight_lb": "1", "storage_class": "standard",
                "removal_fee": "0.97",
                "rates-TOTAL_FORMS": str(len(rates)), "rates-INITIAL_FORMS": str(len(rates)),
                "rates-MIN_NUM_FORMS": "0", "rates-MAX_NUM_FORMS": "1000"}
        for i, rate in enumerate(rates):
            data.update({f"rates-{i}-id": rate.pk, f"rates-{i}-tier": small.pk, f"rates-{i}-over_lb": rate.over_lb,
                         f"rates-{i}-up_to_lb": rate.up_to_lb, f"rates-{i}-fee": "2.75" if i == 0 else rate.fee,
                         f"rates-{i}-per_lb": rate.per_lb, f"rates-{i}-per_lb_above": rate.per_lb_above})
        response = staff.post(url, data)
        assert response.status_code == 302, response.content.decode()[:3000]
        assert quote_of(measured(6, 3, 0.5, 0.3)).fee == D("2.75")


def test_shoppers_and_the_api_see_the_size_and_weight(client):
    product = measured(9, 6, 1.25, 1.2)
    OfferFactory(product=product)
    page = client.get(product.get_absolute_url()).content.decode()
    assert "9 × 6 × 1.25 in" in page
    assert "1.20 lb" in page
    body = client.get(f"/api/v1/products/{product.slug}/").json()
    assert (body["length_in"], body["height_in"], body["weight_lb"]) == ("9.00", "1.25", "1.200")
    assert client.get(f"/api/v1/products/{ProductFactory().slug}/").json()["weight_lb"] is None
