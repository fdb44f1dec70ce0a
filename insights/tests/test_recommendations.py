"""Recommendations: computed from the event store, stored per product, served from cache as fragments
the product page, the cart and the home page fetch; never stale on price or availability."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from catalog import cache_keys
from checkout.models import Cart, CartLine
from core import analytics
from core import cache as vcache
from insights import recommendations
from insights.models import Recommendation
from insights.services import events_insert
from tests.factories import OfferFactory, stock

pytestmark = pytest.mark.django_db
Kind = Recommendation.Kind


def order(customer: int, *product_ids, days_ago: float = 1.0):
    return analytics.make_record(
        "Order Completed", visitor_id=f"{customer:032x}", occurred_at=timezone.now() - timedelta(days=days_ago),
        properties={"order_id": uuid.uuid4().hex[:8], "revenue": "10.00", "currency": "USD",
                    "products": [{"product_id": pid, "quantity": 1, "price": "5.00"} for pid in product_ids]},
        anonymous=True)


def view(visitor: str, product_id: int, days_ago: float = 1.0):
    return analytics.make_record("Product Viewed", visitor_id=visitor, properties={"product_id": product_id},
                                 occurred_at=timezone.now() - timedelta(days=days_ago))


@pytest.fixture
def products():
    """Five products for sale: a kettle often bought with a mug and a teapot, a lamp alone."""
    made = {}
    for name in ("kettle", "mug", "teapot", "lamp", "socks"):
        offer = OfferFactory(product__title=name.title(), price=Decimal("10.00"))
        stock(offer, 5)
        made[name] = offer.product
    return made


@pytest.fixture
def history(products):
    p = {name: product.pk for name, product in products.items()}
    records = [order(1, p["kettle"], p["mug"]), order(2, p["kettle"], p["mug"], p["teapot"]),
               order(3, p["kettle"], p["teapot"]), order(4, p["mug"], p["teapot"]), order(5, p["lamp"]),
               order(6, p["kettle"], p["mug"]), order(7, p["lamp"], p["socks"]), order(8, p["lamp"], p["socks"])]
    records += [view("v1", p["lamp"]), view("v1", p["socks"]), view("v2", p["lamp"]), view("v2", p["socks"])]
    records.append(order(9, p["lamp"], days_ago=400))  # outside the window: not counted
    events_insert(records)
    return p


def test_compute_stores_every_kind_and_serves_them_best_first(history):
    counts = recommendations.recommendations_compute(top_n=5)
    assert counts["also_bought"] > 0
    assert counts["together"] > 0
    assert counts["category_best"] > 0
    also = recommendations.ids_for_product(product_id=history["kettle"], kind=Kind.ALSO_BOUGHT)
    assert also[:2] == sorted([history["mug"], history["teapot"]], key=lambda pid: pid != history["mug"])
    assert history["lamp"] not in also  # never bought with a kettle
    together = recommendations.ids_for_product(product_id=history["lamp"], kind=Kind.BOUGHT_TOGETHER)
    assert together == [history["socks"]]
    viewed = recommendations.ids_for_product(product_id=history["lamp"], kind=Kind.ALSO_VIEWED)
    assert viewed == [history["socks"]]
    # run again: the same lists, not twice as many
    assert recommendations.recommendations_compute(top_n=5) == counts
    assert Recommendation.objects.count() == sum(counts.values())


def test_a_cart_gets_what_goes_with_it_but_never_what_it_holds(history):
    recommendations.recommendations_compute(top_n=5)
    ids = recommendations.ids_for_products(product_ids=[history["kettle"], history["mug"]], kind=Kind.ALSO_BOUGHT)
    assert ids
    assert ids[0] == history["teapot"]
    assert history["kettle"] not in ids
    assert history["mug"] not in ids


def test_the_product_fragment_shows_cards_for_sale_at_todays_price(client, products, history):
    recommendations.recommendations_compute(top_n=5)
    url = f"/recommendations/product/{history['kettle']}/"
    page = client.get(url).content.decode()
    assert 'data-recommendations="also_bought"' in page
    assert "Mug" in page
    assert "Teapot" in page
    assert 'data-insights-list=\'{"list_id": "recommendations_also_bought"}\'' in page
    # a product taken off sale disappears on the next request (catalog's services bump these
    # namespaces when a product or a listing changes; the fragment is stored under them)
    products["teapot"].is_active = False
    products["teapot"].save()
    vcache.bump(cache_keys.CATALOG, cache_keys.LISTING)
    assert "Teapot" not in client.get(url).content.decode()


def test_nothing_to_recommend_is_an_empty_fragment_never_an_error(client, products):
    assert client.get(f"/recommendations/product/{products['kettle'].pk}/").status_code == 200
    assert client.get("/recommendations/product/999999/").content.decode().strip() == ""
    assert client.get("/recommendations/cart/").status_code == 200
    assert client.get("/recommendations/for-you/").status_code == 200


def test_home_offers_a_visitor_with_history_what_is_like_it_and_others_the_best_sellers(products, history):
    recommendations.recommendations_compute(top_n=5)
    newcomer = Client()
    page = newcomer.get("/recommendations/for-you/").content.decode()
    assert 'data-recommendations="popular"' in page
    assert "Kettle" in page
    returning = Client()
    returning.get("/")  # gets a visitor id
    visitor = returning.cookies[analytics.VISITOR_COOKIE].value
    events_insert([view(visitor, history["lamp"], days_ago=0.1)])
    page = returning.get("/recommendations/for-you/").content.decode()
    assert 'data-recommendations="history"' in page
    assert "Socks" in page
    assert ">Lamp<" not in page  # not what they saw already


def test_the_cart_fragment_uses_the_shoppers_own_cart(client, products, history):
    recommendations.recommendations_compute(top_n=5)
    offer = products["kettle"].offers.first()
    client.post("/cart/add/", {"offer": offer.pk, "quantity": "1"})
    page = client.get("/recommendations/cart/").content.decode()
    assert "Mug" in page
    assert ">Kettle<" not in page
    other = Cart.objects.create()
    CartLine.objects.create(cart=other, offer=products["lamp"].offers.first(), quantity=1, price_when_added=1)
    assert "Socks" not in page  # another cart's lamp does not count


def test_the_evaluation_command_prints_the_table(history, capsys):
    call_command("recommendations", "--evaluate")
    out = capsys.readouterr().out
    assert "hit rate@10" in out
    assert "popular" in out


def test_the_compute_command_reports_what_it_stored(history, capsys):
    call_command("recommendations")
    assert "also_bought" in capsys.readouterr().out


def test_a_product_nobody_bought_with_anything_shows_its_categorys_best_sellers(client):
    from catalog.models import Category

    category = Category.objects.create(name="Teaware", slug="teaware")
    made = []
    for title in ("Cup", "Saucer", "Tray"):
        offer = OfferFactory(product__title=title, product__category=category, price=Decimal("4.00"))
        stock(offer, 3)
        made.append(offer.product)
    cup, saucer, tray = made
    events_insert([order(20 + n, saucer.pk) for n in range(3)] + [order(30, tray.pk)])
    recommendations.recommendations_compute(top_n=5)
    page = client.get(f"/recommendations/product/{cup.pk}/").content.decode()
    assert "Best sellers in this category" in page
    assert page.index("Saucer") < page.index("Tray")
