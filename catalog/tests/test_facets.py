"""Facet counts: each facet counts what the other filters leave, ignoring its own selection."""

from decimal import Decimal

import pytest

from catalog import selectors
from tests.factories import BrandFactory, CategoryFactory, OfferFactory, ProductFactory, stock

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop():
    root = CategoryFactory(name="Audio")
    child = CategoryFactory(name="Headphones", parent=root)
    acme, zen = BrandFactory(name="Acme"), BrandFactory(name="Zen")
    rows = [
        ("Acme One", child, acme, "10.00", {"colour": "black", "wireless": "yes"}),
        ("Acme Two", child, acme, "30.00", {"colour": "white", "wireless": "yes"}),
        ("Acme Three", root, acme, "60.00", {"colour": "black", "wireless": "no"}),
        ("Zen One", child, zen, "120.00", {"colour": "black", "wireless": "yes"}),
        ("Zen Two", root, zen, "250.00", {"colour": "red"}),
    ]
    for title, cat, brand, price, attrs in rows:
        product = ProductFactory(title=title, category=cat, brand=brand, attributes=attrs)
        stock(OfferFactory(product=product, price=Decimal(price)), 3)
    return {"root": root, "child": child}


def facets(**kwargs):
    return selectors.product_facets(filters=selectors.ProductFilter(**kwargs))


def counts(values):
    return {v.value: v.count for v in values}


def test_category_includes_descendants(shop):
    products = selectors.product_list(filters=selectors.ProductFilter(category_id=shop["root"].pk))
    assert products.count() == 5
    products = selectors.product_list(filters=selectors.ProductFilter(category_id=shop["child"].pk))
    assert products.count() == 3


def test_brand_counts_ignore_the_brand_selection(shop):
    f = facets(category_id=shop["root"].pk, brands=("acme",))
    assert counts(f.brands) == {"acme": 3, "zen": 2}
    assert [b.value for b in f.brands if b.selected] == ["acme"]


def test_price_buckets_count_the_other_filters(shop):
    f = facets(category_id=shop["root"].pk, brands=("acme",))
    assert [v.count for v in f.prices] == [1, 1, 1, 0, 0]
    f = facets(category_id=shop["root"].pk)
    assert [v.count for v in f.prices] == [1, 1, 1, 1, 1]


def test_attribute_counts(shop):
    f = facets(category_id=shop["root"].pk)
    attrs = {code: counts(values) for code, _name, values in f.attributes}
    assert attrs["colour"] == {"black": 3, "white": 1, "red": 1}
    assert attrs["wireless"] == {"yes": 3, "no": 1}
    f = facets(category_id=shop["root"].pk, brands=("zen",))
    attrs = {code: counts(values) for code, _name, values in f.attributes}
    assert attrs["colour"] == {"black": 1, "red": 1}


def test_filters_combine(shop):
    f = selectors.ProductFilter(
        category_id=shop["root"].pk, brands=("acme",), attributes=(("colour", ("black",)),),
        min_price=Decimal("20"), max_price=Decimal("100"),
    )
    assert [p.title for p in selectors.product_list(filters=f)] == ["Acme Three"]


def test_sorting(shop):
    def order(sort):
        return [p.title for p in selectors.product_list(filters=selectors.ProductFilter(sort=sort))]

    assert order("price_asc")[0] == "Acme One"
    assert order("price_desc")[0] == "Zen Two"
    assert order("newest")[0] == "Zen Two"


def test_unavailable_products_sort_last_by_price(shop):
    product = ProductFactory(title="Nothing In Stock", category=shop["child"])
    stock(OfferFactory(product=product, price=Decimal("1.00")), 0)
    titles = [p.title for p in selectors.product_list(filters=selectors.ProductFilter(sort="price_asc"))]
    assert titles[-1] == "Nothing In Stock"
