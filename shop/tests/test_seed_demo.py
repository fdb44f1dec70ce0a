"""The demo seeder: the shape of the data it makes, and that running it again changes nothing."""

from __future__ import annotations

from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db.models import Count, Sum
from django.utils import timezone

from accounts.models import User
from catalog import services as catalog_services
from catalog.models import Category, Product, ProductImage, Review
from fulfillment import selectors as fulfillment_selectors
from fulfillment.models import StockItem, StockMovement, Warehouse
from marketplace.models import HOUSE_SELLER_SLUG, BuyBox, Offer, Seller, SellerMember
from shop.demo.seed import SELLER_EMAIL, SELLER_PASSWORD

pytestmark = pytest.mark.django_db

SIZE = 40


def _seed(products: int = SIZE) -> str:
    out = StringIO()
    call_command("seed_demo", products=products, stdout=out)
    return out.getvalue()


def _counts() -> dict[str, int]:
    models = [Category, Product, ProductImage, Review, Offer, Seller, SellerMember, BuyBox, StockItem, StockMovement,
              Warehouse, User]
    return {m.__name__: m.objects.count() for m in models}


@pytest.fixture
def seeded():
    return _seed()


def test_catalog_shape(seeded):
    assert Product.objects.filter(is_active=True).count() == SIZE  # and one the demo seller proposed
    depths = set(Category.objects.values_list("depth", flat=True))
    assert depths == {0, 1, 2}  # a 2-3 level tree
    for product in Product.objects.select_related("category"):
        assert product.category.children.count() == 0, "products sit in leaf categories"
    assert Product.objects.filter(title__icontains="electric kettle").exists()
    assert Product.objects.filter(search_vector__isnull=True).count() == 0
    # every product has a picture whose file and thumbnail exist
    media = Path(settings.MEDIA_ROOT)
    assert not Product.objects.filter(is_active=True).annotate(n=Count("images")).filter(n=0).exists()
    for image in ProductImage.objects.all():
        assert image.thumbnail, image.image.name
        assert (media / image.image.name).is_file()
        assert (media / image.thumbnail.name).is_file()


def test_offers_stock_and_buy_boxes(seeded, house):
    assert Offer.objects.filter(seller=house).exists()
    assert Offer.objects.filter(fulfillment_channel="merchant").exists()
    assert Offer.objects.filter(fulfillment_channel="platform").exclude(seller=house).exists()
    per_product = Product.objects.annotate(n=Count("offers")).values_list("n", flat=True)
    assert all(1 <= n <= 5 for n in per_product)
    assert Seller.objects.count() == 8

    # the ledger explains every stock row
    ledger = {
        row["stock_item_id"]: row
        for row in StockMovement.objects.values("stock_item_id").annotate(
            on_hand=Sum("on_hand_delta"), reserved=Sum("reserved_delta"), n=Count("id")
        )
    }
    items = list(StockItem.objects.select_related("offer", "warehouse"))
    assert items
    for item in items:
        assert ledger[item.pk]["n"] >= 1
        assert ledger[item.pk]["on_hand"] == item.on_hand
        assert ledger[item.pk]["reserved"] == item.reserved
        if item.offer.fulfillment_channel == "platform":
            assert item.warehouse.kind == "platform"
        else:
            assert item.warehouse.seller_id == item.offer.seller_id

    # some products cannot be bought; the others show an in-stock winner
    assert Product.objects.filter(in_stock=False).exists()
    assert BuyBox.objects.filter(product__is_active=True).count() == SIZE
    winners = list(BuyBox.objects.filter(offer__isnull=False).select_related("offer", "product"))
    assert winners
    available = fulfillment_selectors.available_by_offer(offer_ids=[b.offer_id for b in winners])
    for box in winners:
        assert box.offer.product_id == box.product_id
        assert available[box.offer_id] > 0
        assert box.product.in_stock
        assert box.product.listing_price == box.offer.price
    for box in BuyBox.objects.filter(offer__isnull=True).select_related("product"):
        assert not box.product.in_stock
        ids = list(Offer.objects.filter(product_id=box.product_id).values_list("pk", flat=True))
        assert sum(fulfillment_selectors.available_by_offer(offer_ids=ids).values()) == 0


def test_reviews_ratings_and_accounts(seeded):
    assert Review.objects.exists()
    before = dict(Product.objects.values_list("pk", "rating_avg"))
    counts = dict(Product.objects.values_list("pk", "rating_count"))
    catalog_services.product_ratings_refresh(product_ids=list(before))
    assert dict(Product.objects.values_list("pk", "rating_avg")) == before
    assert dict(Product.objects.values_list("pk", "rating_count")) == counts

    member = User.objects.get(email=SELLER_EMAIL)
    assert member.check_password(SELLER_PASSWORD)
    assert member.is_staff
    assert not member.is_superuser
    membership = SellerMember.objects.get(user=member)
    assert not membership.seller.is_house
    # the demo seller has a business to show: a claim on an order in transit, a proposal under review
    from marketplace.models import ProductProposal
    from orders.models import Claim

    assert Claim.objects.filter(seller=membership.seller, status="open").count() == 1
    # its history reads in order: each package placed, then shipped, then delivered, all in the past
    from orders.models import Package

    history = Package.objects.filter(seller=membership.seller).select_related("order")
    assert history.count() == 6
    assert history.filter(delivered_at__isnull=False).count() == 4
    for package in history:
        assert package.order.placed_at < package.shipped_at <= timezone.now()
        assert package.delivered_at is None or package.shipped_at < package.delivered_at <= timezone.now()
    proposal = ProductProposal.objects.get(seller=membership.seller)
    assert (proposal.status, proposal.product.is_active, proposal.offer.sku) == ("pending", False, "NW-TEAPOT-08")
    # inbound shipments in several states, sized products, and a purchase order of Bazaar's own
    from fulfillment.models import InboundShipment, PurchaseOrder

    states = set(InboundShipment.objects.filter(seller=membership.seller).values_list("status", flat=True))
    assert states == {"draft", "ready", "shipped", "receiving", "closed"}
    closed = InboundShipment.objects.get(seller=membership.seller, status="closed")
    assert sorted(closed.items.values_list("discrepancy", flat=True))[0] == -1
    assert PurchaseOrder.objects.filter(status="ordered").count() == 1
    # the centres' clocks and a holiday calendar for the delivery promise
    from fulfillment.models import Holiday, Warehouse

    east = Warehouse.objects.get(code="fc-east")
    assert (east.time_zone, str(east.cutoff)) == ("America/New_York", "14:00:00")
    assert Holiday.objects.filter(name="Christmas Day").exists()
    assert SELLER_EMAIL in seeded
    assert SELLER_PASSWORD in seeded
    customers = User.objects.filter(email__endswith="@demo.bazaar.localhost")
    assert customers.count() == 200
    assert len(set(customers.values_list("password", flat=True))) == 1  # hashed once


def test_second_run_changes_nothing(seeded):
    before = _counts()
    listing = list(Product.objects.order_by("pk").values_list("pk", "slug", "listing_price", "in_stock"))
    output = _seed()
    assert _counts() == before
    assert list(Product.objects.order_by("pk").values_list("pk", "slug", "listing_price", "in_stock")) == listing
    assert "0 products created" in output


def test_larger_run_adds_only_the_missing_products(seeded):
    first = set(Product.objects.values_list("pk", "slug"))
    _seed(SIZE + 10)
    assert Product.objects.filter(is_active=True).count() == SIZE + 10
    assert first <= set(Product.objects.values_list("pk", "slug"))
    assert BuyBox.objects.filter(product__is_active=True).count() == SIZE + 10
    assert Seller.objects.count() == 8


def test_a_slug_is_known_without_the_rest_of_the_plan():
    from shop.demo.generate import product_plan, product_slug

    for seed in (42, 7):
        for index in range(200):
            assert product_slug(index, seed) == product_plan(index, seed).slug


def _content() -> dict[str, list]:
    """What a seed made, by slug and SKU (not by id), and the order of the ids."""
    skus = dict(Offer.objects.values_list("pk", "sku"))
    return {
        "products": [
            (*row, skus.get(offer_id)) for *row, offer_id in Product.objects.order_by("pk").values_list(
                "slug", "title", "listing_price", "in_stock", "offer_count", "rating_avg", "listing_offer_id")
        ],
        "offers": list(Offer.objects.order_by("pk").values_list("sku", "seller__slug", "product__slug", "price")),
        "stock": list(StockItem.objects.order_by("pk").values_list("offer__sku", "warehouse__code", "on_hand")),
        "boxes": sorted(BuyBox.objects.values_list("product__slug", "offer__sku", "landed_price",
                                                   "eligible_offer_count"), key=str),
        "reviews": sorted(Review.objects.values_list("product__slug", "user__email", "rating", "title")),
    }


@pytest.mark.django_db(transaction=True)
def test_writers_in_threads_load_the_same_shop(monkeypatch):
    """On PostgreSQL, outside a transaction, chunks are written by two threads while another
    process generates the next ones: the shop is the same, ids included, as one writer makes."""
    from shop.demo.seed import seed_demo

    seed_demo(products=30, chunk_size=7, writers=0)
    alone = _content()
    call_command("flush", "--no-input")
    # from a data migration: the flush took it too
    Seller.objects.create(is_house=True, name="Bazaar", slug=HOUSE_SELLER_SLUG, rating=Decimal("4.80"))
    result = seed_demo(products=30, chunk_size=7)  # the default here: 2 writers
    assert result.products_created == 30
    assert any("2 writer(s)" in name for name, _seconds in result.timings)
    assert any("background process" in name for name, _seconds in result.timings)
    together = _content()
    # the same rows in the same order (the ids themselves moved on: the flush keeps sequences)
    assert together == alone
    assert len(set(ProductImage.objects.values_list("thumbnail", flat=True))) == len(
        set(ProductImage.objects.values_list("image", flat=True))
    )  # one shared thumbnail per picture, made once
    assert seed_demo(products=30, chunk_size=7).products_created == 0


@pytest.mark.parametrize("transactional", [False, True])
def test_an_interrupted_load_leaves_whole_chunks_and_a_rerun_completes(monkeypatch, request, transactional):
    """A failure while generating (in a thread, or in a process beside writer threads) stops the
    load after the chunks already written; running again adds the rest."""
    request.getfixturevalue("transactional_db" if transactional else "db")
    from shop.demo import seed as seed_module

    real_plan = seed_module.product_plan

    def failing_plan(index, *args, **kwargs):
        if index == 17:
            raise RuntimeError("generator broke")
        return real_plan(index, *args, **kwargs)

    monkeypatch.setattr(seed_module, "product_plan", failing_plan)
    with pytest.raises(RuntimeError, match="generator broke"):
        seed_module.seed_demo(products=30, chunk_size=7)
    assert Product.objects.count() == 14  # chunks 0-6 and 7-13
    assert BuyBox.objects.count() == 14
    monkeypatch.setattr(seed_module, "product_plan", real_plan)
    assert seed_module.seed_demo(products=30, chunk_size=7).products_created == 16
    assert BuyBox.objects.filter(product__is_active=True).count() == 30


def test_events_make_traffic_sessions_kpis_exposures_and_recommendations_once():
    from experiments.models import Experiment
    from insights.models import DailyMetric, Event, Recommendation, Session

    out = StringIO()
    call_command("seed_demo", products=SIZE, events=4000, event_days=7, stdout=out)
    events = Event.objects.count()
    assert events > 1000
    assert Session.objects.exists()
    assert DailyMetric.objects.filter(dimension="all").count() >= 7
    assert Event.objects.filter(name="Order Completed").exists()
    assert Event.objects.filter(name="Experiment Viewed").exists()
    assert Experiment.objects.get(key="cart-membership-banner").status == "running"
    assert Recommendation.objects.exists()
    # Sellers have slices of their own: the demo seller's products are viewed, and the orders name the
    # seller of each line, so sellers' slices count orders and revenue (which sellers, at this size, varies).
    demo_seller = Seller.objects.get(slug="northwind-traders")
    assert DailyMetric.objects.filter(dimension="seller", value=str(demo_seller.pk)).aggregate(
        views=Sum("product_views"))["views"] > 0
    sellers = DailyMetric.objects.filter(dimension="seller").aggregate(orders=Sum("orders"), revenue=Sum("revenue"))
    assert sellers["orders"] > 0
    assert sellers["revenue"] > 0
    call_command("seed_demo", products=SIZE, events=4000, event_days=7, stdout=StringIO())
    assert Event.objects.count() == events  # the same events (their ids come from the seed): none twice


def test_events_options_are_checked():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("seed_demo", products=1, events=-1, stdout=StringIO())
    with pytest.raises(CommandError):
        call_command("seed_demo", products=1, events=10, event_days=0, stdout=StringIO())
