"""The pricing pipeline: subtotals from the database, discounts split over lines, shipping per
seller package, tax by destination (inclusive or exclusive), and totals that add up."""

from datetime import date
from decimal import Decimal

import pytest

from checkout import pricing
from checkout.models import TaxRate
from checkout.services import tax_rate_save
from core.money import Money
from marketplace import services as marketplace_services
from marketplace.models import Offer
from tests.factories import OfferFactory, SellerFactory, shipping_method, stock

pytestmark = pytest.mark.django_db


def _tax_rate_create(**fields) -> TaxRate:
    return tax_rate_save(rate=TaxRate(**fields))


def usd(amount: str) -> Money:
    return Money(amount, "USD")


@pytest.fixture
def methods():
    shipping_method(channel="platform", price="0.00", code="free", min_days=3, max_days=5)
    shipping_method(channel="platform", price="7.99", code="express", min_days=1, max_days=1)
    shipping_method(channel="merchant", price="4.99", code="standard", min_days=2, max_days=6)


@pytest.fixture
def cart(methods):
    seller = SellerFactory(name="Kettle World")
    platform = OfferFactory(price=Decimal("24.00"), seller=seller)
    merchant = OfferFactory(price=Decimal("10.50"), seller=seller, fulfillment_channel=Offer.Channel.MERCHANT)
    other = OfferFactory(price=Decimal("3.25"), fulfillment_channel=Offer.Channel.MERCHANT)
    for offer in (platform, merchant, other):
        stock(offer, 10)
    return {"platform": platform, "merchant": merchant, "other": other}


def lines(cart, **quantities):
    return [pricing.LineInput(cart[name].pk, qty) for name, qty in quantities.items()]


def test_subtotals_come_from_the_database_and_packages_split_by_seller_and_channel(cart):
    priced = pricing.cart_price(lines=lines(cart, platform=2, merchant=1, other=3))
    assert priced.subtotal == usd("68.25")  # 48.00 + 10.50 + 9.75
    assert len(priced.packages) == 3
    shipping = {p.key: p.shipping for p in priced.packages}
    assert shipping[f"{cart['platform'].seller_id}:platform"] == usd("0.00")
    assert shipping[f"{cart['merchant'].seller_id}:merchant"] == usd("4.99")
    assert priced.shipping == usd("9.98")
    assert priced.tax == usd("0")
    assert priced.total == usd("78.23")


def test_the_shopper_can_choose_a_faster_method_and_unknown_choices_fall_back(cart):
    key = pricing.package_key(cart["platform"].seller_id, "platform")
    priced = pricing.cart_price(
        lines=lines(cart, platform=1), context=pricing.PricingContext(shipping_choices={key: "express"})
    )
    assert priced.packages[0].chosen.code == "express"
    assert priced.total == usd("31.99")
    priced = pricing.cart_price(
        lines=lines(cart, platform=1), context=pricing.PricingContext(shipping_choices={key: "teleport"})
    )
    assert priced.packages[0].chosen.code == "free"


def test_delivery_estimates_count_business_days(cart):
    friday = date(2026, 11, 20)
    priced = pricing.cart_price(lines=lines(cart, platform=1), context=pricing.PricingContext(today=friday))
    free = next(o for o in priced.packages[0].options if o.code == "free")
    # handling 1 + 3..5 transit business days from a Friday: Thursday to the Monday after
    assert (free.earliest, free.latest) == (date(2026, 11, 26), date(2026, 11, 30))


def test_tax_added_on_top_when_prices_exclude_it(cart, settings):
    settings.PRICES_INCLUDE_TAX = False
    _tax_rate_create(country="US", name="Sales tax", rate=Decimal("0.0825"))
    priced = pricing.cart_price(lines=lines(cart, merchant=2))
    # 21.00 goods + 4.99 shipping, both taxed at 8.25%: 1.73 + 0.41
    assert priced.tax == usd("2.14")
    assert priced.total == usd("28.13")
    assert priced.tax_name == "Sales tax"


def test_tax_is_the_included_part_when_prices_include_it(cart, settings):
    settings.PRICES_INCLUDE_TAX = True
    _tax_rate_create(country="DE", name="VAT", rate=Decimal("0.19"), applies_to_shipping=False)
    priced = pricing.cart_price(lines=lines(cart, platform=1), context=pricing.PricingContext(country="de"))
    assert priced.tax == usd("3.83")  # 24.00 * 0.19 / 1.19
    assert priced.total == usd("24.00")


def test_a_regional_rate_wins_over_the_country_rate(cart):
    _tax_rate_create(country="US", name="Sales tax", rate=Decimal("0.05"), applies_to_shipping=False)
    _tax_rate_create(country="US", region="CA", name="CA sales tax", rate=Decimal("0.10"),
                           applies_to_shipping=False)
    ca = pricing.cart_price(lines=lines(cart, platform=1), context=pricing.PricingContext(region="CA"))
    ny = pricing.cart_price(lines=lines(cart, platform=1), context=pricing.PricingContext(region="NY"))
    assert (ca.tax, ny.tax) == (usd("2.40"), usd("1.20"))


def test_discounts_are_split_over_lines_and_sum_exactly(cart, monkeypatch):
    def ten_off(priced_lines, is_member, context):
        amount = usd("10.00")
        indexes = list(range(len(priced_lines)))
        return [pricing.Discount("TEN", "Ten off", amount, pricing.split_discount(amount, priced_lines, indexes))]

    monkeypatch.setattr(pricing, "_promotions_step", ten_off)
    priced = pricing.cart_price(lines=lines(cart, platform=1, merchant=1, other=1))
    assert priced.discount == usd("10.00")
    assert sum((line.discount for line in priced.lines), usd("0")) == usd("10.00")
    assert priced.total == priced.subtotal - usd("10.00") + priced.shipping
    assert [d.label for d in priced.discounts] == ["Ten off"]


def test_split_discount_never_exceeds_what_is_there():
    priced = pricing.PricedLine(
        offer_id=1, product_id=1, product_title="x", product_slug="x", seller_id=1, seller_name="s", sku="s",
        channel="platform", handling_days=1, quantity=1, unit_price=usd("3.00"), subtotal=usd("3.00"),
        discount=usd("0"),
    )
    parts = pricing.split_discount(usd("5.00"), [priced], [0])
    assert parts == {0: usd("3.00")}


def test_inactive_offers_are_reported_not_priced(cart):
    marketplace_services.offer_update(offer=cart["other"], is_active=False)
    priced = pricing.cart_price(lines=lines(cart, platform=1, other=1))
    assert [line.offer_id for line in priced.lines] == [cart["platform"].pk]
    assert priced.unavailable == [cart["other"].pk]


def test_a_price_change_is_picked_up_at_once(cart):
    marketplace_services.offer_update(offer=cart["platform"], price="19.99")
    assert pricing.cart_price(lines=lines(cart, platform=1)).subtotal == usd("19.99")


def test_constant_queries_whatever_the_cart_size(methods, django_assert_max_num_queries):
    small = [OfferFactory() for _ in range(2)]
    big = small + [OfferFactory(fulfillment_channel=Offer.Channel.MERCHANT) for _ in range(10)]
    with django_assert_max_num_queries(4):  # + the live promotions, read once into the cache
        pricing.cart_price(lines=[pricing.LineInput(o.pk, 1) for o in small])
    with django_assert_max_num_queries(3):
        pricing.cart_price(lines=[pricing.LineInput(o.pk, 1) for o in big])
