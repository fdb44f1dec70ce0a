"""The bulk loaders of catalog, marketplace and fulfillment used together the way the demo
seeder uses them: ids taken first, offers, stock (with its ledger) and buy boxes written before
the products, which arrive already listed; all in one transaction, checked at commit."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models import Sum

from catalog import bulk as catalog_bulk
from catalog import services as catalog_services
from catalog.models import Product
from fulfillment import bulk as fulfillment_bulk
from fulfillment import selectors as fulfillment_selectors
from fulfillment.models import StockItem, StockMovement, Warehouse
from marketplace import bulk as marketplace_bulk
from marketplace.models import BuyBox, Offer
from shop.strategy import for_job
from tests.factories import BrandFactory, CategoryFactory, SellerFactory, WarehouseFactory, shipping_method

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    shipping_method(channel="platform", price="0.00", code="free-platform")
    shipping_method(channel="merchant", price="4.99", code="merchant-standard")
    seller = SellerFactory()
    return {
        "category": CategoryFactory(),
        "brand": BrandFactory(name="Kettleworks"),
        "seller": seller,
        "platforms": [WarehouseFactory(), WarehouseFactory()],
        "own": WarehouseFactory(kind=Warehouse.Kind.SELLER, seller=seller),
    }


def _warehouses(world, channel: str) -> list[Warehouse]:
    return world["platforms"] if channel == "platform" else [world["own"]]


def _load(world, *, titles: list[str], offers: list[tuple[int, str, str, str | None, list[int]]]):
    """Products ``titles``; ``offers``: (product index, price, channel, member price, units in each of
    the platform's warehouses, or in the seller's own)."""
    seller = world["seller"]
    with transaction.atomic():
        product_ids = catalog_bulk.product_ids_reserve(count=len(titles))
        offer_rows = [
            marketplace_bulk.OfferRow(
                seller_id=seller.pk, product_id=product_ids[index], sku=f"SKU-{n}", price=Decimal(price),
                fulfillment_channel=channel, member_price=Decimal(member) if member else None,
                condition="new" if channel == "platform" else "refurbished",
            )
            for n, (index, price, channel, member, _units) in enumerate(offers)
        ]
        offer_ids = marketplace_bulk.offer_ids_reserve(count=len(offer_rows))
        assert marketplace_bulk.offers_bulk_create(rows=offer_rows, ids=offer_ids) == offer_ids
        stock_rows = [
            fulfillment_bulk.StockRow(offer_id, seller.pk, channel, warehouse.pk, n)
            for offer_id, (_index, _price, channel, _member, units) in zip(offer_ids, offers, strict=True)
            for warehouse, n in zip(_warehouses(world, channel), units, strict=False)
        ]
        stock_ids = fulfillment_bulk.stock_ids_reserve(count=len(stock_rows))
        assert fulfillment_bulk.stock_bulk_receive(rows=stock_rows, ids=stock_ids, reference="load") == stock_ids
        listings = marketplace_bulk.buy_boxes_bulk_create(product_ids=product_ids, inputs=for_job())
        rows = [
            catalog_bulk.ProductRow(title=title, slug=f"product-{n}", category_id=world["category"].pk,
                                    brand_id=world["brand"].pk, description="A kettle for tea.")
            for n, title in enumerate(titles)
        ]
        assert catalog_bulk.products_bulk_create(rows=rows, ids=product_ids, listings=listings) == product_ids
    return product_ids, offer_ids


def test_products_arrive_listed_with_their_buy_box(world):
    product_ids, offer_ids = _load(world, titles=["Glass kettle", "Steel kettle", "Empty kettle"], offers=[
        (0, "24.00", "platform", "21.99", [3]),  # 24 + 0
        (0, "20.00", "merchant", None, [2]),  # 20 + 4.99: loses
        (1, "15.00", "merchant", None, [1]),
        (2, "9.00", "platform", None, [0]),  # nothing to sell
    ])
    glass, steel, empty = (Product.objects.get(pk=pk) for pk in product_ids)
    assert (glass.listing_offer_id, glass.listing_price, glass.listing_member_price) == (
        offer_ids[0], Decimal("24.00"), Decimal("21.99"))
    assert (glass.in_stock, glass.offer_count, glass.listing_member_delivery) == (True, 2, True)
    assert (steel.listing_offer_id, steel.listing_price, steel.offer_count) == (offer_ids[2], Decimal("15.00"), 1)
    assert not steel.listing_member_delivery
    assert (empty.listing_offer_id, empty.listing_price, empty.in_stock, empty.offer_count) == (None, None, False, 0)
    boxes = {b.product_id: b for b in BuyBox.objects.filter(product_id__in=product_ids)}
    assert boxes[steel.pk].shipping == Decimal("4.99")
    assert boxes[steel.pk].landed_price == Decimal("19.99")
    assert boxes[empty.pk].offer_id is None
    # the search trigger filled the vector of rows that arrived by COPY
    assert Product.objects.filter(pk__in=product_ids, search_vector__isnull=True).count() == 0
    assert set(Product.objects.filter(search_vector="kettl").values_list("pk", flat=True)) == set(product_ids)


def test_stock_loaded_in_bulk_is_explained_by_its_ledger(world):
    _product_ids, offer_ids = _load(world, titles=["Kettle"], offers=[(0, "24.00", "platform", None, [5, 0])])
    items = list(StockItem.objects.filter(offer_id=offer_ids[0]))
    assert sorted(i.on_hand for i in items) == [0, 5]
    assert all(i.reserved == 0 for i in items)
    for item in items:
        moves = StockMovement.objects.filter(stock_item=item)
        assert moves.count() == 1
        move = moves.get()
        assert move.kind == (StockMovement.Kind.RECEIVE if item.on_hand else StockMovement.Kind.ADJUST)
        assert (move.on_hand_after, move.reserved_after, move.reference) == (item.on_hand, 0, "load")
        assert move.note == ("" if item.on_hand else "initial count: empty")
        assert move.actor_id is None
        assert moves.aggregate(s=Sum("on_hand_delta"))["s"] == item.on_hand
    assert fulfillment_selectors.available_by_offer(offer_ids=offer_ids) == {offer_ids[0]: 5}


def test_reserved_ids_must_match_and_listings_belong_to_the_products(world):
    with pytest.raises(ValueError, match="1 ids for 2 offers"):
        marketplace_bulk.offers_bulk_create(rows=[
            marketplace_bulk.OfferRow(seller_id=world["seller"].pk, product_id=1, sku=f"S-{n}", price=Decimal("2"))
            for n in range(2)
        ], ids=[1])
    with pytest.raises(ValueError, match="1 ids for 2 stock rows"):
        fulfillment_bulk.stock_bulk_receive(rows=[
            fulfillment_bulk.StockRow(1, world["seller"].pk, "platform", world["platforms"][0].pk, 1) for _ in range(2)
        ], ids=[1])
    row = catalog_bulk.ProductRow(title="Kettle", slug="kettle", category_id=world["category"].pk, brand_id=None)
    with pytest.raises(ValueError, match="2 ids for 1 products"):
        catalog_bulk.products_bulk_create(rows=[row], ids=[1, 2])
    listing = catalog_services.ListingRow(product_id=10**9, price=None, currency="USD", offer_id=None,
                                          in_stock=False, offer_count=0)
    with pytest.raises(ValueError, match="Listings are for the products created here"):
        catalog_bulk.products_bulk_create(rows=[row], listings=[listing])
    assert not Product.objects.filter(slug="kettle").exists()


def test_offers_of_a_product_never_created_are_refused_at_commit(world):
    [product_id] = catalog_bulk.product_ids_reserve(count=1)
    with transaction.atomic():
        marketplace_bulk.offers_bulk_create(rows=[marketplace_bulk.OfferRow(
            seller_id=world["seller"].pk, product_id=product_id, sku="ORPHAN", price=Decimal("5.00"))])
        # what the commit does (the test's own transaction never commits)
        with pytest.raises(IntegrityError), connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        transaction.set_rollback(True)
    assert not Offer.objects.filter(sku="ORPHAN").exists()
