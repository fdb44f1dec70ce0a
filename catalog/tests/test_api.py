"""Catalog API: the category tree and brands, read from the cached selectors."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from catalog import services
from tests.factories import BrandFactory, CategoryFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def client():
    return APIClient()


@pytest.fixture
def tree():
    kitchen = CategoryFactory(name="Kitchen", position=1)
    kettles = CategoryFactory(name="Kettles", parent=kitchen)
    toasters = CategoryFactory(name="Toasters", parent=kitchen, position=1)
    garden = CategoryFactory(name="Garden", position=2)
    hidden = CategoryFactory(name="Hidden", is_active=False)
    CategoryFactory(name="Under hidden", parent=hidden)
    return {"kitchen": kitchen, "kettles": kettles, "toasters": toasters, "garden": garden}


def test_category_list_is_the_visible_tree_depth_first(client, tree):
    response = client.get("/api/v1/categories/")
    assert response.status_code == 200
    body = response.json()
    assert [c["slug"] for c in body] == ["kitchen", "kettles", "toasters", "garden"]
    kitchen = body[0]
    assert kitchen == {
        "id": tree["kitchen"].pk, "name": "Kitchen", "slug": "kitchen", "parent": None, "depth": 0,
        "children": [tree["kettles"].pk, tree["toasters"].pk], "url": "http://testserver/c/kitchen/",
    }
    assert body[1]["parent"] == tree["kitchen"].pk
    assert body[1]["depth"] == 1


def test_category_tree_is_cached_and_invalidated_on_change(client, tree, django_assert_num_queries):
    client.get("/api/v1/categories/")
    with django_assert_num_queries(0):
        assert client.get("/api/v1/categories/").status_code == 200
    CategoryFactory(name="Sheds", parent=tree["garden"])
    slugs = [c["slug"] for c in client.get("/api/v1/categories/").json()]
    assert slugs[-1] == "sheds"


def test_category_detail_has_ancestors_and_a_products_link(client, tree):
    response = client.get("/api/v1/categories/kettles/")
    assert response.status_code == 200
    body = response.json()
    assert body["slug"] == "kettles"
    assert [a["slug"] for a in body["ancestors"]] == ["kitchen"]
    assert body["products"] == "http://testserver/api/v1/products/?category=kettles"


@pytest.mark.parametrize("slug", ["nope", "hidden", "under-hidden"])
def test_unknown_or_hidden_category_is_404_in_the_error_shape(client, tree, slug):
    response = client.get(f"/api/v1/categories/{slug}/")
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "not_found"
    assert error["message"]
    assert error["fields"] == {}


def test_brand_list_sorted_by_name(client):
    BrandFactory(name="Zephyr")
    acme = BrandFactory(name="Acme")
    services.brand_create(name="Bolt")
    response = client.get("/api/v1/brands/")
    assert response.status_code == 200
    body = response.json()
    assert [b["slug"] for b in body] == ["acme", "bolt", "zephyr"]
    assert body[0] == {"id": acme.pk, "slug": "acme", "name": "Acme"}


@pytest.mark.parametrize("size", [3, 30])
def test_catalog_endpoints_query_count_does_not_grow(client, size, django_assert_max_num_queries):
    root = CategoryFactory(name="Root")
    for i in range(size):
        CategoryFactory(name=f"Child {i}", parent=root)
        BrandFactory(name=f"Brand {i}")
    # cold cache: one query for the tree, one for the brands
    with django_assert_max_num_queries(1):
        assert len(client.get("/api/v1/categories/").json()) == size + 1
    with django_assert_max_num_queries(1):
        assert len(client.get("/api/v1/brands/").json()) == size
    with django_assert_max_num_queries(0):
        assert client.get("/api/v1/categories/child-1/").status_code == 200


def test_writes_are_not_allowed(client, tree):
    response = client.post("/api/v1/categories/", {"name": "x"}, format="json")
    assert response.status_code in (401, 403, 405)
    assert "error" in response.json()
