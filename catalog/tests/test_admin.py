"""Catalog admin: every page opens, saves go through the services (tree paths, caches, search
vectors, thumbnails), a category cycle is a form error, and no changelist does a query per row."""

from __future__ import annotations

import io
import itertools
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import reverse
from PIL import Image

from catalog import cache_keys, services
from catalog.models import Brand, Category, Product, ProductImage, Review
from core import cache as vcache
from tests.commit import committed
from tests.factories import (
    BrandFactory,
    CategoryFactory,
    OfferFactory,
    ProductFactory,
    SellerFactory,
    UserFactory,
    admin_form_data,
    seller_member,
    stock,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser(email="root@example.com", password="pw-root-123")


@pytest.fixture
def su_client(client, superuser):
    client.force_login(superuser)
    return client


def _url(model: str, view: str, *args) -> str:
    return reverse(f"admin:catalog_{model}_{view}", args=args)


def _png(name: str = "photo.png") -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (640, 480), (200, 30, 30)).save(buffer, format="PNG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/png")


@pytest.fixture
def catalog_data():
    root = CategoryFactory(name="Audio")
    child = CategoryFactory(name="Headphones", parent=root)
    brand = BrandFactory(name="Acme")
    product = ProductFactory(title="Acme One", category=child, brand=brand, attributes={"colour": "black"})
    review = services.review_create(product=product, user=UserFactory(), rating=4, title="Good",
        verified_purchase=False)
    return {"root": root, "child": child, "brand": brand, "product": product, "review": review}


class TestPagesOpen:
    @pytest.mark.parametrize("model", ["category", "brand", "attribute", "product", "review"])
    def test_changelist(self, su_client, catalog_data, model):
        assert su_client.get(_url(model, "changelist")).status_code == 200

    @pytest.mark.parametrize("model", ["category", "brand", "attribute", "product"])
    def test_add_page(self, su_client, model):
        assert su_client.get(_url(model, "add")).status_code == 200

    def test_change_pages(self, su_client, catalog_data):
        attribute = catalog_data["product"].attribute_values.get().attribute
        for model, obj in [
            ("category", catalog_data["child"]), ("brand", catalog_data["brand"]), ("attribute", attribute),
            ("product", catalog_data["product"]), ("review", catalog_data["review"]),
        ]:
            assert su_client.get(_url(model, "change", obj.pk)).status_code == 200, model

    def test_view_on_site_only_for_a_product_the_shop_shows(self, su_client, catalog_data):
        product = catalog_data["product"]
        page = product.get_absolute_url()
        assert page in su_client.get(_url("product", "change", product.pk)).content.decode()
        product.is_active = False  # hidden, or proposed and waiting: its page is a 404
        product.save(update_fields=["is_active"])
        assert page not in su_client.get(_url("product", "change", product.pk)).content.decode()

    def test_search_and_filters(self, su_client, catalog_data):
        response = su_client.get(_url("product", "changelist"), {"q": "acme", "is_active__exact": "1"})
        assert response.status_code == 200
        assert list(response.context["cl"].result_list) == [catalog_data["product"]]

    def test_reviews_cannot_be_added(self, su_client):
        assert su_client.get(_url("review", "add")).status_code == 403


class TestCategories:
    def test_tree_is_listed_in_path_order_indented_by_depth(self, su_client, catalog_data):
        other = CategoryFactory(name="Books")
        response = su_client.get(_url("category", "changelist"))
        rows = list(response.context["cl"].result_list)
        assert rows.index(catalog_data["root"]) + 1 == rows.index(catalog_data["child"])
        assert other in rows
        assert b"padding-left: 1.5em" in response.content

    def test_add_child_sets_path(self, su_client, catalog_data):
        root = catalog_data["root"]
        response = su_client.post(
            _url("category", "add"),
            {"name": "Speakers", "slug": "speakers", "parent": root.pk, "position": 0, "is_active": "on"},
        )
        assert response.status_code == 302
        speakers = Category.objects.get(slug="speakers")
        assert speakers.path == f"{root.path}{speakers.pk}/"
        assert speakers.depth == 1

    def test_moving_a_category_moves_its_subtree(self, su_client, catalog_data):
        root, child = catalog_data["root"], catalog_data["child"]
        grandchild = CategoryFactory(name="Wireless", parent=child)
        books = CategoryFactory(name="Books")
        page = su_client.get(_url("category", "change", child.pk))
        response = su_client.post(_url("category", "change", child.pk), admin_form_data(page, parent=str(books.pk)))
        assert response.status_code == 302
        child.refresh_from_db()
        grandchild.refresh_from_db()
        assert child.path == f"/{books.pk}/{child.pk}/"
        assert grandchild.path == f"/{books.pk}/{child.pk}/{grandchild.pk}/"
        assert grandchild.depth == 2
        assert not root.children.exists()

    def test_cycle_is_a_form_error(self, su_client, catalog_data):
        root, child = catalog_data["root"], catalog_data["child"]
        page = su_client.get(_url("category", "change", root.pk))
        response = su_client.post(_url("category", "change", root.pk), admin_form_data(page, parent=str(child.pk)))
        assert response.status_code == 200
        assert "parent" in response.context["adminform"].form.errors
        root.refresh_from_db()
        assert root.parent_id is None
        assert root.path == f"/{root.pk}/"

    def test_own_parent_is_a_form_error(self, su_client, catalog_data):
        root = catalog_data["root"]
        page = su_client.get(_url("category", "change", root.pk))
        response = su_client.post(_url("category", "change", root.pk), admin_form_data(page, parent=str(root.pk)))
        assert response.status_code == 200
        assert response.context["adminform"].form.errors["parent"]

    def test_saving_invalidates_catalog_pages(self, su_client, catalog_data):
        before = vcache.versions([cache_keys.CATALOG])
        page = su_client.get(_url("category", "change", catalog_data["root"].pk))
        with committed():
            su_client.post(_url("category", "change", catalog_data["root"].pk), admin_form_data(page, name="Sound"))
        assert vcache.versions([cache_keys.CATALOG]) != before


class TestBrands:
    def test_rename_refreshes_caches_and_search_vectors(self, su_client, catalog_data):
        brand, product = catalog_data["brand"], catalog_data["product"]
        before = vcache.versions([cache_keys.CATALOG, cache_keys.LISTING])
        page = su_client.get(_url("brand", "change", brand.pk))
        with committed():
            response = su_client.post(_url("brand", "change", brand.pk), admin_form_data(page, name="Zyxwave"))
        assert response.status_code == 302
        assert Brand.objects.get(pk=brand.pk).name == "Zyxwave"
        assert vcache.versions([cache_keys.CATALOG, cache_keys.LISTING]) != before
        if connection.vendor == "postgresql":
            vector = Product.objects.values_list("search_vector", flat=True).get(pk=product.pk)
            assert "'zyxwav':3B" in vector  # the brand's words, weighted B by the trigger


class TestProducts:
    def test_edit_goes_through_the_service(self, su_client, catalog_data):
        product = catalog_data["product"]
        before = vcache.versions([cache_keys.product(product.slug), cache_keys.LISTING])
        page = su_client.get(_url("product", "change", product.pk))
        with committed():
            response = su_client.post(
                _url("product", "change", product.pk), admin_form_data(page, title="Acme One Pro")
            )
        assert response.status_code == 302, response.context and response.context["adminform"].form.errors
        assert Product.objects.get(pk=product.pk).title == "Acme One Pro"
        assert vcache.versions([cache_keys.product(product.slug), cache_keys.LISTING]) != before

    def test_uploaded_image_gets_a_thumbnail(self, su_client, catalog_data):
        product = catalog_data["product"]
        page = su_client.get(_url("product", "change", product.pk))
        data = admin_form_data(page)
        data.update({"images-TOTAL_FORMS": "1", "images-0-alt_text": "front", "images-0-position": "0",
                     "images-0-image": _png()})
        with committed():
            response = su_client.post(_url("product", "change", product.pk), data)
        assert response.status_code == 302, response.context and response.context["adminform"].form.errors
        image = ProductImage.objects.get(product=product)
        assert image.thumbnail  # made by the Celery task (eager in tests)
        with Image.open(image.thumbnail.path) as thumb:
            assert max(thumb.size) <= services.THUMBNAIL_SIZE[0]
        page = su_client.get(_url("product", "change", product.pk))
        assert image.thumbnail.url.encode() in page.content

    def test_not_an_image_is_a_form_error(self, su_client, catalog_data):
        product = catalog_data["product"]
        page = su_client.get(_url("product", "change", product.pk))
        data = admin_form_data(page)
        data.update({"images-TOTAL_FORMS": "1", "images-0-position": "0",
                     "images-0-image": SimpleUploadedFile("x.png", b"not an image", content_type="image/png")})
        response = su_client.post(_url("product", "change", product.pk), data)
        assert response.status_code == 200
        assert not ProductImage.objects.exists()

    def test_add_product(self, su_client, catalog_data):
        response = su_client.post(_url("product", "add"), {
            "title": "New thing", "slug": "new-thing", "category": catalog_data["child"].pk,
            "brand": catalog_data["brand"].pk, "is_active": "on",
            "images-TOTAL_FORMS": "0", "images-INITIAL_FORMS": "0",
            "attribute_values-TOTAL_FORMS": "0", "attribute_values-INITIAL_FORMS": "0",
            "offers-TOTAL_FORMS": "0", "offers-INITIAL_FORMS": "0",
        })
        assert response.status_code == 302
        assert Product.objects.filter(slug="new-thing", category=catalog_data["child"]).exists()

    def test_seller_member_can_view_but_not_change_products(self, client, catalog_data):
        client.force_login(seller_member(SellerFactory()))
        product = catalog_data["product"]
        assert client.get(_url("product", "changelist")).status_code == 200
        page = client.get(_url("product", "change", product.pk))
        assert page.status_code == 200
        assert page.context["has_change_permission"] is False
        response = client.post(_url("product", "change", product.pk), {"title": "Hacked"})
        assert response.status_code == 403
        assert Product.objects.get(pk=product.pk).title == "Acme One"
        assert client.get(_url("category", "changelist")).status_code == 403


class TestReviews:
    def test_deleting_a_review_recomputes_the_rating(self, su_client, catalog_data):
        review, product = catalog_data["review"], catalog_data["product"]
        assert Product.objects.get(pk=product.pk).rating_count == 1
        response = su_client.post(_url("review", "delete", review.pk), {"post": "yes"})
        assert response.status_code == 302
        assert not Review.objects.exists()
        product.refresh_from_db()
        assert (product.rating_count, product.rating_avg) == (0, Decimal(0))

    def test_reviews_are_read_only(self, su_client, catalog_data):
        review = catalog_data["review"]
        response = su_client.post(_url("review", "change", review.pk), {"title": "Changed", "rating": 1})
        assert response.status_code == 403
        assert Review.objects.get(pk=review.pk).title == "Good"


_seq = itertools.count()


def _products(n: int) -> None:
    category, brand = CategoryFactory(), BrandFactory()
    seller = SellerFactory()
    for _i in range(n):
        product = ProductFactory(category=category, brand=brand)
        stock(OfferFactory(product=product, seller=seller), 2)
        services.review_create(product=product, user=UserFactory(), rating=5, title="Yes", verified_purchase=False)


@pytest.mark.parametrize(
    ("model", "make"),
    [
        ("product", _products),
        ("category", lambda n: [CategoryFactory(parent=CategoryFactory()) for _i in range(n)]),
        ("brand", lambda n: [ProductFactory(brand=BrandFactory()) for _i in range(n)]),
        ("attribute", lambda n: [ProductFactory(attributes={f"attr-{next(_seq)}": "x"}) for _i in range(n)]),
        ("review", _products),
    ],
)
def test_changelists_query_count_does_not_grow_with_rows(su_client, django_assert_max_num_queries, model, make):
    url = _url(model, "changelist")
    su_client.get(url)  # warm up sessions and content types
    make(2)
    with django_assert_max_num_queries(15) as small:
        assert su_client.get(url).status_code == 200
    make(10)
    with django_assert_max_num_queries(len(small.captured_queries)):
        response = su_client.get(url)
    assert response.context["cl"].result_count >= 12
