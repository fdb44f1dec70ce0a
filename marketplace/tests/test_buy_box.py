"""The buy box: chosen by landed price, then platform fulfilment, then seller rating; stored on
write and refreshed when an offer or its stock changes; out-of-stock offers never win."""

from decimal import Decimal

import pytest

from catalog.models import Product
from fulfillment import services as fulfillment_services
from marketplace import services
from marketplace.models import BuyBox, Offer
from shop.strategy import for_job
from tests.commit import committed
from tests.factories import OfferFactory, ProductFactory, SellerFactory, shipping_method, stock

pytestmark = pytest.mark.django_db


def winner_of(product) -> int | None:
    return BuyBox.objects.get(product=product).offer_id


@pytest.fixture
def shipping():
    shipping_method(channel="platform", price="0.00", code="free-platform")
    shipping_method(channel="merchant", price="5.00", code="standard-merchant")


def test_lowest_landed_price_wins_counting_shipping(shipping):
    product = ProductFactory()
    # 20 + 5 shipping = 25 (merchant) vs 24 + 0 (platform): the platform offer wins.
    merchant = OfferFactory(product=product, price=Decimal("20.00"), fulfillment_channel=Offer.Channel.MERCHANT)
    platform = OfferFactory(product=product, price=Decimal("24.00"))
    stock(merchant, 5)
    stock(platform, 5)
    assert winner_of(product) == platform.pk
    product.refresh_from_db()
    assert product.listing_price == Decimal("24.00")
    assert product.in_stock is True
    assert product.offer_count == 2


def test_tie_on_landed_price_goes_to_platform_then_rating(shipping):
    product = ProductFactory()
    low_rated = OfferFactory(product=product, price=Decimal("10.00"), seller=SellerFactory(rating=Decimal("3.0")))
    high_rated = OfferFactory(product=product, price=Decimal("10.00"), seller=SellerFactory(rating=Decimal("4.9")))
    merchant = OfferFactory(
        product=product, price=Decimal("5.00"), fulfillment_channel=Offer.Channel.MERCHANT,
        seller=SellerFactory(rating=Decimal("5.0")),
    )  # 5 + 5 shipping = 10, same landed price, but merchant-fulfilled
    for offer in (low_rated, high_rated, merchant):
        stock(offer, 3)
    assert winner_of(product) == high_rated.pk


def test_out_of_stock_offer_never_wins(shipping):
    product = ProductFactory()
    cheap = OfferFactory(product=product, price=Decimal("1.00"))
    dear = OfferFactory(product=product, price=Decimal("50.00"))
    stock(cheap, 0)
    stock(dear, 2)
    assert winner_of(product) == dear.pk


def test_refresh_when_stock_runs_out_and_returns(shipping):
    product = ProductFactory()
    cheap = OfferFactory(product=product, price=Decimal("9.00"))
    dear = OfferFactory(product=product, price=Decimal("12.00"))
    cheap_stock = stock(cheap, 1)
    stock(dear, 1)
    assert winner_of(product) == cheap.pk

    with committed():
        fulfillment_services.stock_adjust(stock_item=cheap_stock, delta=-1, note="damaged")
    assert winner_of(product) == dear.pk

    with committed():
        fulfillment_services.stock_receive(stock_item=cheap_stock, quantity=4)
    assert winner_of(product) == cheap.pk


def test_refresh_when_offer_price_or_active_flag_changes(shipping):
    product = ProductFactory()
    a = OfferFactory(product=product, price=Decimal("9.00"))
    b = OfferFactory(product=product, price=Decimal("12.00"))
    stock(a, 1)
    stock(b, 1)
    with committed():
        services.offer_update(offer=a, price="15.00")
    assert winner_of(product) == b.pk
    with committed():
        services.offer_update(offer=b, is_active=False)
    assert winner_of(product) == a.pk


def test_product_without_sellable_offer_is_unavailable(shipping):
    product = ProductFactory()
    offer = OfferFactory(product=product)
    stock(offer, 0)
    box = BuyBox.objects.get(product=product)
    assert box.offer_id is None
    product = Product.objects.get(pk=product.pk)
    assert product.in_stock is False
    assert product.listing_price is None


def test_refresh_of_many_products_takes_constant_queries(shipping, django_assert_max_num_queries):
    products = [ProductFactory() for _ in range(3)]
    for p in products:
        stock(OfferFactory(product=p), 2)
    with django_assert_max_num_queries(12):
        services.buy_box_refresh(product_ids=[p.pk for p in products], inputs=for_job())
    more = [ProductFactory() for _ in range(12)]
    for p in more:
        stock(OfferFactory(product=p), 2)
    with django_assert_max_num_queries(12):
        services.buy_box_refresh(product_ids=[p.pk for p in products + more], inputs=for_job())


def test_changing_a_shipping_price_refreshes_the_buy_box(shipping):
    from fulfillment.models import ShippingMethod

    product = ProductFactory()
    merchant = OfferFactory(product=product, price=Decimal("20.00"), fulfillment_channel=Offer.Channel.MERCHANT)
    platform = OfferFactory(product=product, price=Decimal("24.00"))
    stock(merchant, 5)
    stock(platform, 5)
    assert winner_of(product) == platform.pk  # 20 + 5 > 24 + 0

    method = ShippingMethod.objects.get(code="standard-merchant")
    method.price = Decimal("0.00")
    with committed():
        fulfillment_services.shipping_method_save(method=method)
    assert winner_of(product) == merchant.pk  # 20 + 0 < 24

    with committed():
        fulfillment_services.shipping_method_delete(method=method)  # no merchant method: shipping 0
    assert winner_of(product) == merchant.pk
