"""Signing in merges the browser's guest cart into the member's cart (issue "Buying", item 2)."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.test import RequestFactory

from checkout import services
from checkout.models import MAX_LINE_QUANTITY, Cart, CartLine
from fulfillment import services as fulfillment_services
from tests.factories import OfferFactory, ProductFactory, UserFactory, stock

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def guest_adds(client, offer, quantity) -> None:
    response = client.post("/cart/add/", {"offer": offer.pk, "quantity": str(quantity)})
    assert response.status_code == 302


def quantities(cart) -> dict[int, int]:
    return dict(CartLine.objects.filter(cart=cart).values_list("offer_id", "quantity"))


@pytest.fixture
def teapot():
    o = OfferFactory(price=Decimal("12.50"), product=ProductFactory(title="Blue Teapot"))
    stock(o, 5)
    return o


@pytest.fixture
def kettle():
    o = OfferFactory(price=Decimal("30.00"), product=ProductFactory(title="Steel Kettle"))
    stock(o, 10)
    return o


@pytest.fixture
def member(teapot):
    user = UserFactory()
    cart = Cart.objects.create(user=user)
    services.cart_add(cart=cart, offer_id=teapot.pk, quantity=2)
    return user


def sign_in(client, user) -> None:
    """``client.login``: authenticate with the password, then ``django.contrib.auth.login``. django-axes
    watches every ``authenticate()`` and wants the request, which ``client.login`` passes on."""
    assert client.login(request=RequestFactory().post("/"), email=user.email, password=PASSWORD)


def test_sign_in_moves_lines_and_sums_the_same_offer(client, member, teapot, kettle):
    guest_adds(client, teapot, 1)
    guest_adds(client, kettle, 3)
    guest_cart = Cart.objects.get(user__isnull=True)
    assert client.session["cart_id"] == guest_cart.pk

    sign_in(client, member)

    cart = Cart.objects.get(user=member)
    assert quantities(cart) == {teapot.pk: 3, kettle.pk: 3}
    assert not Cart.objects.filter(pk=guest_cart.pk).exists()
    assert Cart.objects.count() == 1
    assert "cart_id" not in client.session
    assert 'data-cart-count aria-hidden="true">6<' in client.get("/cart/").content.decode()


def test_sums_are_capped_by_stock(client, member, teapot):
    guest_adds(client, teapot, 4)  # the member's cart has 2; 5 in stock

    sign_in(client, member)

    assert quantities(Cart.objects.get(user=member)) == {teapot.pk: 5}


def test_capped_sums_come_with_a_notice(member, teapot, kettle):
    guest = Cart.objects.create()
    services.cart_add(cart=guest, offer_id=teapot.pk, quantity=5)
    services.cart_add(cart=guest, offer_id=kettle.pk, quantity=1)
    notices = services.cart_merge(guest_cart=guest, user=member)
    assert notices == ["Only 5 of “Blue Teapot” are in stock, so your cart now has 5."]
    assert quantities(Cart.objects.get(user=member)) == {teapot.pk: 5, kettle.pk: 1}


def test_a_line_already_over_the_stock_is_not_lowered(member, teapot, kettle):
    guest = Cart.objects.create()
    services.cart_add(cart=guest, offer_id=teapot.pk, quantity=1)
    # 1 left now: the member's 2 already exceed it (the cart page flags that); the merge keeps 2.
    fulfillment_services.stock_adjust(stock_item=stock(teapot, 0), delta=-4, reference="test")
    notices = services.cart_merge(guest_cart=guest, user=member)
    assert quantities(Cart.objects.get(user=member)) == {teapot.pk: 2}
    assert notices == ["Only 1 of “Blue Teapot” is in stock, so your cart now has 2."]


def test_sums_are_capped_by_the_line_maximum_with_a_notice(client, teapot):
    stock(teapot, 500)
    user = UserFactory()
    services.cart_add(cart=Cart.objects.create(user=user), offer_id=teapot.pk, quantity=60)
    guest_adds(client, teapot, 50)

    sign_in(client, user)

    assert quantities(Cart.objects.get(user=user)) == {teapot.pk: MAX_LINE_QUANTITY}


def test_the_line_maximum_cap_comes_with_its_notice(teapot):
    stock(teapot, 500)
    user = UserFactory()
    services.cart_add(cart=Cart.objects.create(user=user), offer_id=teapot.pk, quantity=60)
    guest = Cart.objects.create()
    services.cart_add(cart=guest, offer_id=teapot.pk, quantity=50)
    assert services.cart_merge(guest_cart=guest, user=user) == [
        f"You can buy at most {MAX_LINE_QUANTITY} of “Blue Teapot”, so your cart now has {MAX_LINE_QUANTITY}."
    ]


def test_a_member_without_a_cart_gets_the_guest_lines(client, kettle):
    user = UserFactory()
    guest_adds(client, kettle, 2)
    sign_in(client, user)
    assert quantities(Cart.objects.get(user=user)) == {kettle.pk: 2}
    assert Cart.objects.count() == 1


def test_merge_is_idempotent(member, teapot, kettle):
    guest = Cart.objects.create()
    services.cart_add(cart=guest, offer_id=teapot.pk, quantity=1)
    services.cart_add(cart=guest, offer_id=kettle.pk, quantity=1)
    assert services.cart_merge(guest_cart=guest, user=member) == []
    assert services.cart_merge(guest_cart=guest, user=member) == []  # again: nothing more happens
    session = {"cart_id": guest.pk}
    assert services.cart_merge_on_sign_in(session=session, user=member) == []
    assert session == {}
    assert quantities(Cart.objects.get(user=member)) == {teapot.pk: 3, kettle.pk: 1}


def test_signing_in_twice_merges_once(client, member, teapot):
    guest_adds(client, teapot, 1)
    sign_in(client, member)
    sign_in(client, member)
    assert quantities(Cart.objects.get(user=member)) == {teapot.pk: 3}


def test_another_members_cart_is_never_merged(member, teapot):
    other = UserFactory()
    theirs = Cart.objects.create(user=other)
    services.cart_add(cart=theirs, offer_id=teapot.pk, quantity=1)
    assert services.cart_merge(guest_cart=theirs, user=member) == []
    assert services.cart_merge_on_sign_in(session={"cart_id": theirs.pk}, user=member) == []
    assert quantities(theirs) == {teapot.pk: 1}
    assert quantities(Cart.objects.get(user=member)) == {teapot.pk: 2}


def test_sign_in_without_a_guest_cart_changes_nothing(client, member, teapot):
    sign_in(client, member)
    assert Cart.objects.count() == 1
    assert quantities(Cart.objects.get(user=member)) == {teapot.pk: 2}


def test_sign_in_through_a_login_page_shows_the_notice(client, teapot):
    """The admin's sign-in page is a real login view (any sign-in page goes through ``login()``)."""
    staff = UserFactory(is_staff=True, is_superuser=True)
    services.cart_add(cart=Cart.objects.create(user=staff), offer_id=teapot.pk, quantity=3)
    guest_adds(client, teapot, 3)
    response = client.post("/admin/login/?next=/cart/", {"username": staff.email, "password": PASSWORD},
                           follow=True)
    assert response.redirect_chain[-1][0] == "/cart/"
    assert "Only 5 of “Blue Teapot” are in stock, so your cart now has 5." in messages_of(response)
    html = re.sub(r"\s+", " ", response.content.decode())
    assert 'data-cart-count aria-hidden="true">5<' in html
