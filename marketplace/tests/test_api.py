"""Marketplace API: product listing (filters, sort, search), product detail with offers, sellers,
offers (read for everyone, written by the seller's own members), the error shape, the schema."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from django.core.files.base import ContentFile
from django.core.management import call_command
from PIL import Image
from rest_framework.test import APIClient

from catalog import services as catalog_services
from marketplace import services
from marketplace.models import Offer
from tests.commit import committed
from tests.factories import (
    BrandFactory,
    CategoryFactory,
    OfferFactory,
    ProductFactory,
    SellerFactory,
    UserFactory,
    shipping_method,
    stock,
)

pytestmark = pytest.mark.django_db

PRODUCTS = "/api/v1/products/"
OFFERS = "/api/v1/offers/"


@pytest.fixture
def client():
    return APIClient()


def _image() -> ContentFile:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), "red").save(buffer, format="JPEG")
    return ContentFile(buffer.getvalue(), name="photo.jpg")


def _rate(product, *stars):
    for n in stars:
        catalog_services.review_create(product=product, user=UserFactory(), rating=n, title="ok",
            verified_purchase=False)


@pytest.fixture
def shop():
    shipping_method(channel="platform", price="0.00", code="free", min_days=1, max_days=2)
    shipping_method(channel="merchant", price="5.00", code="standard", min_days=2, max_days=5)
    kitchen = CategoryFactory(name="Kitchen")
    kettles = CategoryFactory(name="Kettles", parent=kitchen)
    garden = CategoryFactory(name="Garden")
    acme, bolt = BrandFactory(name="Acme"), BrandFactory(name="Bolt")
    rows = [
        # title, category, brand, price, stock, attributes
        ("Steel kettle", kettles, acme, "24.00", 5, {"colour": "silver", "capacity": "1.7l"}),
        ("Glass kettle", kettles, bolt, "40.00", 2, {"colour": "clear", "capacity": "1.5l"}),
        ("Red toaster", kitchen, acme, "15.00", 0, {"colour": "red"}),
        ("Garden hose", garden, bolt, "60.00", 3, {"colour": "green"}),
    ]
    products = {}
    for title, category, brand, price, units, attrs in rows:
        product = ProductFactory(title=title, category=category, brand=brand, attributes=attrs)
        stock(OfferFactory(product=product, price=Decimal(price)), units)
        products[product.slug] = product
    products["lonely"] = ProductFactory(title="Lonely lamp", category=kitchen, brand=None)
    with committed():  # the thumbnail is made after the commit
        catalog_services.product_image_add(product=products["steel-kettle"], image=_image())
    _rate(products["glass-kettle"], 5, 5)
    _rate(products["garden-hose"], 4)
    return {"products": products, "kitchen": kitchen, "kettles": kettles, "acme": acme, "bolt": bolt}


def slugs(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [p["slug"] for p in response.json()["results"]]


def assert_error(response, status: int, *fields: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"code", "message", "fields"}
    assert error["message"]
    for name in fields:
        assert name in error["fields"], error
        assert all(isinstance(m, str) for m in error["fields"][name])
    return error


# --- product list -------------------------------------------------------------------------


def test_product_list_shape(client, shop):
    response = client.get(PRODUCTS, {"sort": "price_asc"})
    body = response.json()
    assert body["count"] == 5
    assert body["facets"] is None
    steel = next(p for p in body["results"] if p["slug"] == "steel-kettle")
    assert steel == {
        "id": shop["products"]["steel-kettle"].pk, "slug": "steel-kettle", "title": "Steel kettle",
        "brand": {"slug": "acme", "name": "Acme"}, "category": "kettles", "price": "24.00", "currency": "USD",
        "in_stock": True, "offer_count": 1, "rating_avg": "0.00", "rating_count": 0,
        "thumbnail": steel["thumbnail"], "url": "http://testserver/p/steel-kettle/",
    }
    assert steel["thumbnail"].startswith("http://testserver/media/")
    lonely = next(p for p in body["results"] if p["slug"] == "lonely-lamp")
    assert lonely["price"] is None
    assert lonely["brand"] is None
    assert lonely["thumbnail"] is None
    assert lonely["in_stock"] is False


def test_filter_by_category_includes_subcategories(client, shop):
    assert sorted(slugs(client.get(PRODUCTS, {"category": "kettles"}))) == ["glass-kettle", "steel-kettle"]
    assert sorted(slugs(client.get(PRODUCTS, {"category": "kitchen"}))) == [
        "glass-kettle", "lonely-lamp", "red-toaster", "steel-kettle"
    ]


def test_filter_by_one_or_several_brands(client, shop):
    assert sorted(slugs(client.get(PRODUCTS, {"brand": "acme"}))) == ["red-toaster", "steel-kettle"]
    assert len(slugs(client.get(PRODUCTS, {"brand": ["acme", "bolt"]}))) == 4


def test_filter_by_price_range(client, shop):
    assert sorted(slugs(client.get(PRODUCTS, {"min_price": "20", "max_price": "40.00"}))) == [
        "glass-kettle", "steel-kettle"
    ]
    assert slugs(client.get(PRODUCTS, {"min_price": "41"})) == ["garden-hose"]
    # out of stock: no buy box, so no price, so outside every price range
    assert slugs(client.get(PRODUCTS, {"max_price": "24"})) == ["steel-kettle"]


def test_filter_in_stock(client, shop):
    in_stock = slugs(client.get(PRODUCTS, {"in_stock": "true"}))
    assert sorted(in_stock) == ["garden-hose", "glass-kettle", "steel-kettle"]
    assert len(slugs(client.get(PRODUCTS, {"in_stock": "false"}))) == 5


def test_filter_by_attributes(client, shop):
    assert slugs(client.get(PRODUCTS, {"a_colour": "silver"})) == ["steel-kettle"]
    assert sorted(slugs(client.get(PRODUCTS, {"a_colour": ["silver", "clear"]}))) == ["glass-kettle", "steel-kettle"]
    assert slugs(client.get(PRODUCTS, {"a_colour": ["silver", "clear"], "a_capacity": "1.5l"})) == ["glass-kettle"]


def test_filters_combine(client, shop):
    assert slugs(client.get(PRODUCTS, {"category": "kitchen", "brand": "acme", "in_stock": "1"})) == ["steel-kettle"]


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        # out-of-stock products go last when sorting by price
        ("price_asc", ["steel-kettle", "glass-kettle", "garden-hose", "red-toaster", "lonely-lamp"]),
        ("price_desc", ["garden-hose", "glass-kettle", "steel-kettle", "red-toaster", "lonely-lamp"]),
        ("newest", ["lonely-lamp", "garden-hose", "red-toaster", "glass-kettle", "steel-kettle"]),
        ("rating", ["glass-kettle", "garden-hose", "steel-kettle", "red-toaster", "lonely-lamp"]),
        ("featured", ["glass-kettle", "garden-hose", "steel-kettle", "red-toaster", "lonely-lamp"]),
    ],
)
def test_sorts(client, shop, sort, expected):
    assert slugs(client.get(PRODUCTS, {"sort": sort})) == expected


def test_search_words_and_typos(client, shop):
    assert sorted(slugs(client.get(PRODUCTS, {"q": "kettle"}))) == ["glass-kettle", "steel-kettle"]
    assert slugs(client.get(PRODUCTS, {"q": "steel kettle"}))[0] == "steel-kettle"
    assert "glass-kettle" in slugs(client.get(PRODUCTS, {"q": "kettel"}))
    assert slugs(client.get(PRODUCTS, {"q": "kettle", "brand": "bolt"})) == ["glass-kettle"]
    assert slugs(client.get(PRODUCTS, {"q": "zzqx"})) == []


def test_facets_on_request(client, shop):
    body = client.get(PRODUCTS, {"category": "kettles", "facets": "1", "brand": "acme"}).json()
    facets = body["facets"]
    assert {b["value"]: (b["count"], b["selected"]) for b in facets["brands"]} == {
        "acme": (1, True), "bolt": (1, False)
    }
    assert facets["prices"][0] == {"min_price": "0.00", "max_price": "25.00", "count": 1, "selected": False}
    assert facets["prices"][-1]["max_price"] is None
    colour = next(a for a in facets["attributes"] if a["code"] == "colour")
    assert {v["value"] for v in colour["values"]} == {"silver"}


def test_pagination_links(client, shop):
    body = client.get(PRODUCTS, {"page_size": 2, "sort": "newest"}).json()
    assert body["count"] == 5
    assert len(body["results"]) == 2
    assert body["previous"] is None
    assert "page=2" in body["next"]
    body = client.get(PRODUCTS, {"page_size": 2, "page": 3, "sort": "newest"}).json()
    assert [p["slug"] for p in body["results"]] == ["steel-kettle"]
    assert body["next"] is None


BAD_INPUT = [
    ({"page": "0"}, "page"),
    ({"page": "abc"}, "page"),
    ({"page": "99999"}, "page"),
    ({"page_size": "1000"}, "page_size"),
    ({"page_size": "0"}, "page_size"),
    ({"min_price": "abc"}, "min_price"),
    ({"min_price": "-1"}, "min_price"),
    ({"min_price": "NaN"}, "min_price"),
    ({"max_price": "1e400"}, "max_price"),
    ({"min_price": "1.999"}, "min_price"),
    ({"min_price": "50", "max_price": "10"}, "max_price"),
    ({"brand": "unknown"}, "brand"),
    ({"brand": ["acme", "nope"]}, "brand"),
    ({"category": "unknown"}, "category"),
    ({"sort": "bogus"}, "sort"),
    ({"a_unknown": "x"}, "a_unknown"),
    ({"a_colour": "x" * 101}, "a_colour"),
    ({"a_colour": "red\x00"}, "a_colour"),
    ({"in_stock": "maybe"}, "in_stock"),
    ({"facets": "perhaps"}, "facets"),
    ({"q": "k" * 1000}, "q"),
    ({"q": "kettle\x00"}, "q"),
    ({"brand": ["x"] * 51}, "brand"),
]


@pytest.mark.parametrize(("params", "field"), BAD_INPUT)
def test_bad_input_is_400_with_field_errors(client, shop, params, field):
    error = assert_error(client.get(PRODUCTS, params), 400, field)
    assert error["code"] == "invalid"


def test_several_bad_filters_are_reported_together(client, shop):
    error = assert_error(
        client.get(PRODUCTS, {"brand": "nope", "a_nope": "x", "sort": "bogus"}), 400, "brand", "a_nope", "sort"
    )
    assert error["message"]


def test_blank_parameters_mean_no_filter(client, shop):
    params = {"q": "", "category": "", "brand": "", "min_price": "", "max_price": "", "sort": "", "in_stock": ""}
    assert len(slugs(client.get(PRODUCTS, params))) == 5


def test_relevance_without_a_query_falls_back_to_featured(client, shop):
    assert slugs(client.get(PRODUCTS, {"sort": "relevance"})) == slugs(client.get(PRODUCTS, {"sort": "featured"}))


# --- product detail -----------------------------------------------------------------------


def test_product_detail_has_offers_and_buy_box(client, shop):
    product = shop["products"]["steel-kettle"]
    house_offer = OfferFactory(
        product=product, price=Decimal("20.00"), fulfillment_channel=Offer.Channel.MERCHANT,
        seller=SellerFactory(name="Cheap Co"),
    )  # 20 + 5 shipping = 25 > 24 + 0: loses the buy box
    stock(house_offer, 1)
    OfferFactory(product=product, price=Decimal("10.00"))  # no stock: listed last
    response = client.get(f"{PRODUCTS}steel-kettle/")
    assert response.status_code == 200
    body = response.json()
    assert body["title"] == "Steel kettle"
    assert body["description"] == "A fine product."
    assert {a["code"]: a["value"] for a in body["attributes"]} == {"colour": "silver", "capacity": "1.7l"}
    assert len(body["images"]) == 1
    assert body["images"][0]["url"].startswith("http://testserver/media/")
    assert [b["slug"] for b in body["breadcrumbs"]] == ["kitchen", "kettles"]
    buy_box = body["buy_box"]
    assert buy_box["price"] == "24.00"
    assert buy_box["shipping"] == "0.00"
    assert buy_box["landed_price"] == "24.00"
    assert buy_box["available"] == 5
    assert buy_box["in_stock"] is True
    assert buy_box["fulfillment_channel"] == "platform"
    assert buy_box["delivery_min_days"] == 2  # 1 handling day + 1 day shipping
    assert buy_box["seller"]["name"]
    offers = body["offers"]
    assert [o["price"] for o in offers] == ["24.00", "20.00", "10.00"]
    assert offers[1]["shipping"] == "5.00"
    assert offers[1]["landed_price"] == "25.00"
    assert offers[2]["in_stock"] is False
    assert offers[2]["available"] == 0
    assert offers[0]["id"] == buy_box["id"]


def test_product_without_offers_has_no_buy_box(client, shop):
    body = client.get(f"{PRODUCTS}lonely-lamp/").json()
    assert body["buy_box"] is None
    assert body["offers"] == []
    assert body["price"] is None


@pytest.mark.parametrize("slug", ["no-such-product", "inactive"])
def test_unknown_product_is_404_in_the_error_shape(client, shop, slug):
    ProductFactory(title="Inactive", is_active=False)
    error = assert_error(client.get(f"{PRODUCTS}{slug}/"), 404)
    assert error["code"] == "not_found"


@pytest.mark.parametrize(
    "url",
    ["/api/v1/products/%C2%AA%C3%A7/", "/api/v1/categories/a%0Ab/", "/api/v1/offers/null,null/", "/api/v1/nothing/"],
)
def test_urls_matching_no_endpoint_are_404_in_the_error_shape(client, url):
    assert assert_error(client.get(url), 404)["code"] == "not_found"
    assert assert_error(client.post(url, {}, format="json"), 404)["code"] == "not_found"


# --- sellers ------------------------------------------------------------------------------


def test_sellers_list_and_detail(client, house):
    SellerFactory(name="Zeta Goods", country="DE")
    inactive = SellerFactory(name="Gone")
    inactive.is_active = False
    inactive.save()
    body = client.get("/api/v1/sellers/").json()
    assert body["count"] == 2
    assert [s["slug"] for s in body["results"]] == [house.slug, "zeta-goods"]
    assert body["results"][0]["is_house"] is True
    detail = client.get("/api/v1/sellers/zeta-goods/").json()
    assert detail == {
        "name": "Zeta Goods", "slug": "zeta-goods", "is_house": False, "rating": "4.50", "rating_count": 0,
        "country": "DE", "url": "http://testserver/sellers/zeta-goods/", "description": "",
    }
    assert_error(client.get("/api/v1/sellers/gone/"), 404)
    assert_error(client.get("/api/v1/sellers/nobody/"), 404)


# --- offers: read -------------------------------------------------------------------------


def test_offer_list_and_filters(client, shop):
    other = SellerFactory(name="Other")
    steel = shop["products"]["steel-kettle"]
    offer = OfferFactory(product=steel, seller=other, price=Decimal("30.00"), list_price=Decimal("35.00"))
    stock(offer, 4)
    body = client.get(OFFERS, {"seller": "other"}).json()
    assert body["count"] == 1
    assert body["results"][0] == {
        "id": offer.pk, "sku": offer.sku, "seller": "other", "product": "steel-kettle", "price": "30.00",
        "list_price": "35.00", "member_price": None, "currency": "USD", "condition": "new",
        "fulfillment_channel": "platform", "handling_days": 1, "is_active": True, "available": 4, "in_stock": True,
    }
    assert client.get(OFFERS, {"product": "steel-kettle"}).json()["count"] == 2
    assert client.get(OFFERS).json()["count"] == 5
    toaster = client.get(OFFERS, {"product": "red-toaster"}).json()["results"][0]
    assert (toaster["available"], toaster["in_stock"]) == (0, False)
    assert client.get(f"{OFFERS}{offer.pk}/").json()["price"] == "30.00"


@pytest.mark.parametrize(
    ("params", "field"),
    [({"seller": "nobody"}, "seller"), ({"product": "nothing"}, "product"), ({"page": "0"}, "page")],
)
def test_offer_list_bad_filters(client, shop, params, field):
    assert_error(client.get(OFFERS, params), 400, field)


def test_unknown_offer_is_404(client, shop):
    assert_error(client.get(f"{OFFERS}999999/"), 404)


# --- offers: write ------------------------------------------------------------------------


@pytest.fixture
def sellers(shop):
    seller_a, seller_b = SellerFactory(name="Seller A"), SellerFactory(name="Seller B")
    user_a, user_b = UserFactory(), UserFactory()
    services.seller_member_add(seller=seller_a, user=user_a, role="manager")
    services.seller_member_add(seller=seller_b, user=user_b, role="manager")
    offer_b = OfferFactory(seller=seller_b, product=shop["products"]["glass-kettle"], price=Decimal("41.00"))
    return {"a": seller_a, "b": seller_b, "user_a": user_a, "user_b": user_b, "offer_b": offer_b}


def _new_offer(**overrides) -> dict:
    return {"product": "glass-kettle", "sku": "A-1", "price": "38.50", **overrides}


def test_anonymous_cannot_write(client, sellers):
    assert_error(client.post(OFFERS, _new_offer(seller="seller-a"), format="json"), 401)
    assert_error(client.patch(f"{OFFERS}{sellers['offer_b'].pk}/", {"price": "1.00"}, format="json"), 401)
    assert Offer.objects.filter(sku="A-1").count() == 0


def test_member_creates_an_offer_for_own_seller(client, sellers):
    client.force_authenticate(sellers["user_a"])
    response = client.post(OFFERS, _new_offer(seller="seller-a", list_price="45.00"), format="json")
    assert response.status_code == 201, response.content
    offer = Offer.objects.get(seller=sellers["a"], sku="A-1")
    assert offer.price == Decimal("38.50")
    assert offer.list_price == Decimal("45.00")
    assert offer.currency == "USD"
    assert response.json()["id"] == offer.pk
    assert response.json()["in_stock"] is False  # no stock yet: computed, not supplied
    # seller may be left out by a member of exactly one seller
    response = client.post(OFFERS, _new_offer(sku="A-2", product="garden-hose"), format="json")
    assert response.status_code == 201, response.content
    assert Offer.objects.get(sku="A-2").seller == sellers["a"]


def test_member_cannot_create_for_another_seller(client, sellers):
    client.force_authenticate(sellers["user_a"])
    error = assert_error(client.post(OFFERS, _new_offer(seller="seller-b"), format="json"), 403)
    assert error["code"] == "permission_denied"
    assert not Offer.objects.filter(sku="A-1").exists()


def test_non_member_cannot_create(client, sellers):
    client.force_authenticate(UserFactory())
    assert_error(client.post(OFFERS, _new_offer(seller="seller-a"), format="json"), 403)
    assert_error(client.post(OFFERS, _new_offer(), format="json"), 400, "seller")
    assert not Offer.objects.filter(sku="A-1").exists()


def test_member_edits_own_offer_and_the_buy_box_follows(client, sellers, shop):
    client.force_authenticate(sellers["user_b"])
    offer = sellers["offer_b"]
    stock(offer, 2)
    with committed():
        response = client.patch(f"{OFFERS}{offer.pk}/", {"price": "39.00", "handling_days": 3}, format="json")
    assert response.status_code == 200, response.content
    offer.refresh_from_db()
    assert (offer.price, offer.handling_days) == (Decimal("39.00"), 3)
    assert response.json()["price"] == "39.00"
    product = shop["products"]["glass-kettle"]
    product.refresh_from_db()
    assert product.listing_price == Decimal("39.00")  # cheaper than the 40.00 offer: wins the buy box
    response = client.patch(f"{OFFERS}{offer.pk}/", {"is_active": False}, format="json")
    assert response.json()["is_active"] is False
    response = client.patch(f"{OFFERS}{offer.pk}/", {"is_active": True}, format="json")  # inactive still editable
    assert response.status_code == 200


def test_members_read_their_own_offers_in_any_state_and_nobody_else_does(client, sellers):
    offer = sellers["offer_b"]
    offer.is_active = False
    offer.save(update_fields=["is_active"])
    url = f"{OFFERS}{offer.pk}/"
    assert_error(client.get(url), 404)  # paused: not for sale, not for anyone's eyes
    client.force_authenticate(sellers["user_a"])
    assert_error(client.get(url), 404)  # another seller's member
    client.force_authenticate(sellers["user_b"])
    response = client.get(url)
    assert response.status_code == 200
    assert (response.json()["id"], response.json()["is_active"]) == (offer.pk, False)


def test_member_cannot_edit_another_sellers_offer(client, sellers):
    client.force_authenticate(sellers["user_a"])
    offer = sellers["offer_b"]
    error = assert_error(client.patch(f"{OFFERS}{offer.pk}/", {"price": "1.00"}, format="json"), 404)
    assert error["code"] == "not_found"
    offer.refresh_from_db()
    assert offer.price == Decimal("41.00")


def test_superuser_may_act_for_any_seller(client, sellers):
    admin = UserFactory(is_superuser=True, is_staff=True)
    client.force_authenticate(admin)
    body = _new_offer(seller="seller-b", sku="B-9", product="garden-hose")
    assert client.post(OFFERS, body, format="json").status_code == 201
    response = client.patch(f"{OFFERS}{sellers['offer_b'].pk}/", {"price": "42.00"}, format="json")
    assert response.status_code == 200
    assert_error(client.post(OFFERS, _new_offer(), format="json"), 400, "seller")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"price": "0"}, "price"),
        ({"price": "abc"}, "price"),
        ({"price": "-5"}, "price"),
        ({"price": None}, "price"),
        ({"list_price": "0"}, "list_price"),
        ({"list_price": ""}, "list_price"),
        ({"handling_days": 61}, "handling_days"),
        ({"condition": "broken"}, "condition"),
        ({"fulfillment_channel": "drone"}, "fulfillment_channel"),
        ({"sku": ""}, "sku"),
        ({"product": "nothing"}, "product"),
        ({"seller": "nobody"}, "seller"),
        ({"in_stock": True}, "in_stock"),
        ({"is_active": 0}, "is_active"),
        ({"is_active": "false"}, "is_active"),
        ({"currency": "EUR"}, "currency"),
    ],
)
def test_create_bad_body_is_400(client, sellers, body, field):
    client.force_authenticate(sellers["user_a"])
    assert_error(client.post(OFFERS, _new_offer(**{"seller": "seller-a", **body}), format="json"), 400, field)
    assert not Offer.objects.filter(sku="A-1").exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [({"price": "0"}, "price"), ({"price": "abc"}, "price"), ({"price": ""}, "price"), ({"buy_box": True}, "buy_box"),
     ({"seller": "seller-a"}, "seller"), ({"available": 5}, "available")],
)
def test_update_bad_body_is_400(client, sellers, body, field):
    client.force_authenticate(sellers["user_b"])
    assert_error(client.patch(f"{OFFERS}{sellers['offer_b'].pk}/", body, format="json"), 400, field)
    sellers["offer_b"].refresh_from_db()
    assert sellers["offer_b"].price == Decimal("41.00")


def test_malformed_json_and_duplicates_are_400(client, sellers):
    client.force_authenticate(sellers["user_b"])
    response = client.post(OFFERS, data="{not json", content_type="application/json")
    assert_error(response, 400)
    assert_error(client.post(OFFERS, data="[1, 2]", content_type="application/json"), 400)
    duplicate = _new_offer(seller="seller-b", sku=sellers["offer_b"].sku, product="garden-hose")
    error = assert_error(client.post(OFFERS, duplicate, format="json"), 400)
    assert error["code"] == "duplicate_offer"


def test_write_bodies_must_be_json(client, sellers):
    client.force_authenticate(sellers["user_a"])
    response = client.post(OFFERS, _new_offer(seller="seller-a"))  # multipart form
    assert assert_error(response, 415)["code"] == "unsupported_media_type"
    client.force_authenticate(sellers["user_b"])
    url = f"{OFFERS}{sellers['offer_b'].pk}/"
    response = client.patch(url, "price=", content_type="application/x-www-form-urlencoded")
    assert_error(response, 415)
    assert not Offer.objects.filter(sku="A-1").exists()


def test_put_and_delete_are_not_allowed(client, sellers):
    client.force_authenticate(sellers["user_b"])
    url = f"{OFFERS}{sellers['offer_b'].pk}/"
    assert_error(client.put(url, {"price": "1.00"}, format="json"), 405)
    assert_error(client.delete(url), 405)


# --- no N+1: query counts pinned at two sizes of data ----------------------------------------


def _catalog_of(size: int) -> str:
    """``size`` products with an image and two stocked offers each; returns a brand slug."""
    category = CategoryFactory(name="Stuff")
    sellers = [SellerFactory(), SellerFactory()]
    for i in range(size):
        product = ProductFactory(category=category, attributes={"colour": f"c{i % 3}"})
        with committed():  # the thumbnail is made after the commit
            catalog_services.product_image_add(product=product, image=_image())
        for seller in sellers:
            stock(OfferFactory(product=product, seller=seller, price=Decimal(10 + i)), 2)
    return product.brand.slug


@pytest.mark.parametrize("size", [2, 12])
def test_list_endpoints_use_a_constant_number_of_queries(client, size, django_assert_max_num_queries):
    brand = _catalog_of(size)
    client.get(PRODUCTS)  # warm the cached tree, brands and attributes
    with django_assert_max_num_queries(3):  # count, page, images
        assert len(client.get(PRODUCTS, {"page_size": 50}).json()["results"]) == size
    with django_assert_max_num_queries(5):  # + search plan; count and page carry the search
        response = client.get(PRODUCTS, {"q": "product", "sort": "price_asc", "brand": brand})
        assert len(slugs(response)) == 1
    with django_assert_max_num_queries(7):  # + facet counts (brands, prices, attributes)
        assert client.get(PRODUCTS, {"facets": "1", "a_colour": "c0"}).status_code == 200
    with django_assert_max_num_queries(4):  # count, page, stock, shipping methods
        assert len(client.get(OFFERS, {"page_size": 50}).json()["results"]) == 2 * size
    with django_assert_max_num_queries(2):
        assert client.get("/api/v1/sellers/").status_code == 200


@pytest.mark.parametrize("offers", [1, 8])
def test_product_detail_uses_a_constant_number_of_queries(client, offers, django_assert_max_num_queries):
    product = ProductFactory(attributes={"colour": "red", "size": "M"})
    with committed():  # the thumbnail is made after the commit
        catalog_services.product_image_add(product=product, image=_image())
    for _ in range(offers):
        stock(OfferFactory(product=product), 1)
    client.get(f"{PRODUCTS}{product.slug}/")
    with django_assert_max_num_queries(8):
        body = client.get(f"{PRODUCTS}{product.slug}/").json()
    assert len(body["offers"]) == offers


# --- throttling and schema ----------------------------------------------------------------


def test_throttled_requests_get_429_in_the_error_shape(client, shop, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "api_anon": "2/min", "api_user": "3/min"}
    for _ in range(2):
        assert client.get("/api/v1/brands/").status_code == 200
    response = client.get(PRODUCTS)
    error = assert_error(response, 429)
    assert error["code"] == "throttled"
    assert int(response["Retry-After"]) > 0
    # a signed-in caller is counted on their own, at the user rate
    client.force_login(UserFactory())
    for _ in range(3):
        assert client.get("/api/v1/brands/").status_code == 200
    assert_error(client.get("/api/v1/brands/"), 429)


def test_schema_endpoint_serves_a_valid_schema(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in ("/api/v1/products/", "/api/v1/products/{slug}/", "/api/v1/categories/", "/api/v1/brands/",
                 "/api/v1/sellers/", "/api/v1/offers/", "/api/v1/offers/{id}/"):
        assert path in paths
    assert client.get("/api/docs/").status_code == 200


def test_schema_validates_without_warnings(tmp_path):
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    assert "products_list" in out.read_text()


def test_member_price_is_set_shown_and_checked(client, sellers):
    client.force_authenticate(sellers["user_a"])
    error = assert_error(
        client.post(OFFERS, _new_offer(seller="seller-a", member_price="38.50"), format="json"), 400, "member_price"
    )
    assert "below the price" in error["message"]
    assert not Offer.objects.filter(sku="A-1").exists()
    response = client.post(OFFERS, _new_offer(seller="seller-a", member_price="35.00"), format="json")
    assert response.status_code == 201, response.content
    offer = Offer.objects.get(sku="A-1")
    assert offer.member_price == Decimal("35.00")
    assert response.json()["member_price"] == "35.00"
    assert_error(client.patch(f"{OFFERS}{offer.pk}/", {"price": "30.00"}, format="json"), 400, "member_price")
    response = client.patch(f"{OFFERS}{offer.pk}/", {"member_price": None}, format="json")
    assert response.status_code == 200
    assert response.json()["member_price"] is None
