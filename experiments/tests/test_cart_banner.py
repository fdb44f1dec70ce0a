"""The shop's experiment, cart-membership-banner: a non-member whose cart would cost less with the
plan sees the banner in the treatment and the usual line in the control; the exposure is logged
only where the variant is shown. The cart page is never stored by the page cache."""

from __future__ import annotations

import pytest

from core import analytics
from experiments.tests.conftest import FIREFOX, exposures
from shop.demo.experiments import CART_MEMBERSHIP_BANNER, seed_experiments
from tests.test_member_benefits import kettle, make_member, methods, plan  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db


def _cart_html(client, kettle, visitor_id):  # noqa: F811
    client.cookies[analytics.VISITOR_COOKIE] = visitor_id
    client.post("/cart/add/", {"offer": kettle["platform"].pk, "quantity": "2"})
    return client.get("/cart/", HTTP_USER_AGENT=FIREFOX).content.decode()


def test_the_treatment_shows_the_banner_and_the_control_the_line(client, kettle, plan):  # noqa: F811
    assert seed_experiments() == [CART_MEMBERSHIP_BANNER]
    assert seed_experiments() == []  # idempotent
    html = _cart_html(client, kettle, _banner_visitor())
    assert 'data-experiment="cart-membership-banner"' in html
    assert "Save $9.00 on this cart" in html
    assert "this order costs $9.00 less" not in html
    client.cookies.clear()
    html = _cart_html(client, kettle, _control_visitor())
    assert 'data-experiment="cart-membership-banner"' not in html
    assert "this order costs $9.00 less" in html
    assert sorted(e.properties["variation_id"] for e in exposures()) == ["banner", "control"]


def _banner_visitor() -> str:
    return _visitor("banner")


def _control_visitor() -> str:
    return _visitor("control")


def _visitor(variant: str) -> str:
    from experiments import selectors

    while True:
        visitor_id = analytics.new_visitor_id()
        if selectors.variant_for(visitor_id, CART_MEMBERSHIP_BANNER) == variant:
            return visitor_id


def test_members_see_neither_and_are_not_exposed(client, kettle, plan):  # noqa: F811
    seed_experiments()
    member = make_member(plan)
    client.force_login(member)
    client.cookies[analytics.VISITOR_COOKIE] = _banner_visitor()
    client.post("/cart/add/", {"offer": kettle["platform"].pk, "quantity": "2"})
    html = client.get("/cart/").content.decode()
    assert 'data-experiment="cart-membership-banner"' not in html
    assert exposures() == []


def test_the_cart_page_is_never_page_cached(client, kettle, plan):  # noqa: F811
    seed_experiments()
    first = _cart_html(client, kettle, _banner_visitor())
    client.cookies.clear()
    second = _cart_html(client, kettle, _control_visitor())
    assert ("Save $9.00" in first) != ("Save $9.00" in second)
