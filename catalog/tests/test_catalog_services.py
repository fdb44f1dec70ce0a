"""Catalog services: the category tree, images with thumbnails made by a task, ratings."""

import io
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from PIL import Image

from catalog import selectors, services
from catalog.models import Category, Product, ProductImage
from core.exceptions import ApplicationError
from tests.commit import committed
from tests.factories import CategoryFactory, ProductFactory, UserFactory

pytestmark = pytest.mark.django_db


def png_bytes(size=(800, 600), colour=(200, 40, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


class TestCategoryTree:
    def test_paths_depths_and_descendants(self):
        root = CategoryFactory(name="Home")
        kitchen = CategoryFactory(name="Kitchen", parent=root)
        kettles = CategoryFactory(name="Kettles", parent=kitchen)
        assert (root.depth, kitchen.depth, kettles.depth) == (0, 1, 2)
        assert kettles.path == f"/{root.pk}/{kitchen.pk}/{kettles.pk}/"
        tree = selectors.category_tree()
        assert set(tree.descendant_ids(root.pk)) == {root.pk, kitchen.pk, kettles.pk}
        assert [n.slug for n in tree.ancestors(kettles.pk)] == ["home", "kitchen", "kettles"]

    def test_moving_a_category_moves_its_subtree(self):
        a, b = CategoryFactory(name="A"), CategoryFactory(name="B")
        child = CategoryFactory(name="Child", parent=a)
        grandchild = CategoryFactory(name="Grandchild", parent=child)
        child.parent = b
        services.category_save(category=child)
        grandchild.refresh_from_db()
        assert grandchild.path == f"/{b.pk}/{child.pk}/{grandchild.pk}/"
        assert selectors.category_tree().ancestors(grandchild.pk)[0].slug == "b"

    def test_a_category_cannot_be_inside_itself(self):
        a = CategoryFactory(name="A")
        child = CategoryFactory(name="Child", parent=a)
        a.parent = child
        with pytest.raises(ValidationError):
            services.category_save(category=a)
        assert Category.objects.get(pk=a.pk).parent_id is None

    def test_inactive_categories_and_their_subtrees_are_hidden(self):
        a = CategoryFactory(name="A", is_active=False)
        CategoryFactory(name="Child", parent=a)
        tree = selectors.category_tree()
        assert tree.get("a") is None
        assert tree.get("child") is None


class TestImages:
    def test_thumbnail_is_made_by_the_task(self):
        product = ProductFactory()
        with committed():
            image = services.product_image_add(product=product, image=ContentFile(png_bytes(), name="red.png"))
        image.refresh_from_db()
        assert image.thumbnail.name
        with Image.open(image.thumbnail.path) as thumb:
            assert max(thumb.size) <= 320
        assert image.thumbnail_url.endswith(".jpg")

    def test_thumbnail_task_is_idempotent_and_skips_deleted_images(self):
        from catalog.tasks import make_thumbnail

        product = ProductFactory()
        image = services.product_image_add(product=product, image=ContentFile(png_bytes(), name="x.png"))
        assert make_thumbnail(image.pk) is True
        assert make_thumbnail(image.pk) is True
        assert ProductImage.objects.filter(pk=image.pk).count() == 1
        image.delete()
        assert make_thumbnail(image.pk) is False

    def test_a_file_that_is_not_an_image_is_refused(self):
        product = ProductFactory()
        with pytest.raises(ApplicationError, match="not an image"):
            services.product_image_add(product=product, image=ContentFile(b"%PDF-1.4 nope", name="x.png"))
        assert not ProductImage.objects.exists()


class TestRatings:
    def test_average_and_count_follow_reviews(self):
        product = ProductFactory()
        for rating in (5, 4, 4):
            services.review_create(product=product, user=UserFactory(), rating=rating, title="ok",
                verified_purchase=False)
        product = Product.objects.get(pk=product.pk)
        assert (product.rating_avg, product.rating_count) == (Decimal("4.33"), 3)

    def test_one_review_per_customer_and_rating_in_range(self):
        product, user = ProductFactory(), UserFactory()
        services.review_create(product=product, user=user, rating=5, title="great", verified_purchase=False)
        with pytest.raises(ApplicationError, match="already reviewed"):
            services.review_create(product=product, user=user, rating=1, title="changed my mind",
                verified_purchase=False)
        with pytest.raises(ApplicationError):
            services.review_create(product=product, user=UserFactory(), rating=6, title="too good",
                verified_purchase=False)
        assert Product.objects.get(pk=product.pk).rating_count == 1
