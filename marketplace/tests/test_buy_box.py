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


def test_buy_boxes_of_loaded_products_match_a_refresh(shipping):
    """A loader's first buy boxes (``bulk.buy_boxes_bulk_create``) rank exactly like a refresh."""
    from django.db import IntegrityError, transaction

    from marketplace import bulk

    products = [ProductFactory() for _ in range(4)]
    cheap_merchant = OfferFactory(product=products[0], price=Decimal("20.00"),
                                  fulfillment_channel=Offer.Channel.MERCHANT)
    stock(cheap_merchant, 5)
    stock(OfferFactory(product=products[0], price=Decimal("24.00")), 5)  # 24 + 0 beats 20 + 5
    stock(OfferFactory(product=products[1], price=Decimal("9.00")), 0)  # nothing sells
    stock(OfferFactory(product=products[1], price=Decimal("12.00"), is_active=False), 3)
    member = OfferFactory(product=products[2], price=Decimal("30.00"), member_price=Decimal("27.00"))
    stock(member, 1)
    ids = [p.pk for p in products]  # products[3] has no offer at all
    expected = {
        b.product_id: (b.offer_id, b.price, b.shipping, b.landed_price, b.currency, b.eligible_offer_count)
        for b in BuyBox.objects.filter(product_id__in=ids)
    }
    listed = {p.pk: (p.listing_price, p.listing_offer_id, p.in_stock, p.offer_count, p.listing_member_price,
                     p.listing_member_delivery) for p in Product.objects.filter(pk__in=ids)}
    assert products[3].pk not in expected  # never refreshed: no offer ever changed
    expected[products[3].pk] = (None, None, None, None, "USD", 0)
    BuyBox.objects.filter(product_id__in=ids).delete()

    rows = bulk.buy_boxes_bulk_create(product_ids=ids, inputs=for_job())

    stored = {
        b.product_id: (b.offer_id, b.price, b.shipping, b.landed_price, b.currency, b.eligible_offer_count)
        for b in BuyBox.objects.filter(product_id__in=ids)
    }
    assert stored == expected
    assert stored[products[2].pk][0] == member.pk
    assert [r.product_id for r in rows] == ids
    assert {r.product_id: (r.price, r.offer_id, r.in_stock, r.offer_count, r.member_price, r.member_delivery)
            for r in rows} == listed
    with pytest.raises(IntegrityError), transaction.atomic():  # only products without a buy box
        bulk.buy_boxes_bulk_create(product_ids=ids[:1], inputs=for_job())
    assert bulk.buy_boxes_bulk_create(product_ids=[], inputs=for_job()) == []
