"""The first slice of the cart: services, the cart page, the header badge and the product page's form."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from checkout import selectors, services
from checkout.models import Cart, CartLine
from core.exceptions import ApplicationError
from fulfillment import services as fulfillment_services
from marketplace import services as marketplace_services
from tests.factories import OfferFactory, ProductFactory, UserFactory, shipping_method, stock

pytestmark = pytest.mark.django_db


def plain(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


@pytest.fixture(autouse=True)
def _shipping():
    shipping_method(channel="platform", price="0.00", code="free-platform", min_days=1, max_days=2)


@pytest.fixture
def offer():
    o = OfferFactory(price=Decimal("12.50"), product=ProductFactory(title="Blue Teapot"))
    stock(o, 3)
    return o


@pytest.fixture
def cart():
    return Cart.objects.create()


def line_of(cart, offer) -> CartLine:
    return CartLine.objects.get(cart=cart, offer=offer)


# --- services --------------------------------------------------------------------------------------


def test_add_update_remove(cart, offer):
    line = services.cart_add(cart=cart, offer_id=str(offer.pk), quantity="2")
    assert (line.quantity, line.price_when_added) == (2, Decimal("12.50"))
    line = services.cart_line_update(cart=cart, line_id=line.pk, quantity="1")
    assert line_of(cart, offer).quantity == 1
    assert services.cart_line_update(cart=cart, line_id=line.pk, quantity="0") is None
    assert not CartLine.objects.filter(cart=cart).exists()
    line = services.cart_add(cart=cart, offer_id=offer.pk, quantity=1)
    services.cart_line_remove(cart=cart, line_id=line.pk)
    assert not CartLine.objects.filter(cart=cart).exists()


def test_adding_again_increases_the_line_under_the_stock_cap(cart, offer):
    services.cart_add(cart=cart, offer_id=offer.pk, quantity=2)
    services.cart_add(cart=cart, offer_id=offer.pk, quantity=1)
    assert CartLine.objects.filter(cart=cart).count() == 1
    assert line_of(cart, offer).quantity == 3
    with pytest.raises(ApplicationError, match="Only 3 left"):
        services.cart_add(cart=cart, offer_id=offer.pk, quantity=1)
    assert line_of(cart, offer).quantity == 3


def test_more_than_available_is_refused_and_changes_nothing(cart, offer):
    with pytest.raises(ApplicationError, match="Only 3 left"):
        services.cart_add(cart=cart, offer_id=offer.pk, quantity=4)
    assert not CartLine.objects.exists()
    line = services.cart_add(cart=cart, offer_id=offer.pk, quantity=1)
    with pytest.raises(ApplicationError, match="Only 3 left"):
        services.cart_line_update(cart=cart, line_id=line.pk, quantity=5)
    assert line_of(cart, offer).quantity == 1


def test_out_of_stock_offer_cannot_be_added(cart):
    empty = OfferFactory()
    with pytest.raises(ApplicationError, match="out of stock"):
        services.cart_add(cart=cart, offer_id=empty.pk, quantity=1)
    assert not CartLine.objects.exists()


@pytest.mark.parametrize("quantity", [0, -1, "abc", "", None, "1.5", 10**9, str(10**30)])
def test_bad_quantities_are_refused(cart, offer, quantity):
    with pytest.raises(ApplicationError) as exc:
        services.cart_add(cart=cart, offer_id=offer.pk, quantity=quantity)
    assert exc.value.message
    assert not CartLine.objects.exists()


@pytest.mark.parametrize("quantity", [-1, "abc", "", 100])
def test_bad_quantities_on_update_change_nothing(cart, offer, quantity):
    line = services.cart_add(cart=cart, offer_id=offer.pk, quantity=2)
    with pytest.raises(ApplicationError):
        services.cart_line_update(cart=cart, line_id=line.pk, quantity=quantity)
    assert line_of(cart, offer).quantity == 2


@pytest.mark.parametrize("offer_id", ["abc", "", None, "999999999", "-3", str(10**30)])
def test_unknown_offers_are_refused(cart, offer_id):
    with pytest.raises(ApplicationError, match="This offer is no longer available"):
        services.cart_add(cart=cart, offer_id=offer_id, quantity=1)


def test_inactive_offer_is_refused(cart, offer):
    marketplace_services.offer_update(offer=offer, is_active=False)
    with pytest.raises(ApplicationError, match="This offer is no longer available"):
        services.cart_add(cart=cart, offer_id=offer.pk, quantity=1)


def test_a_line_of_another_cart_is_refused_and_left_alone(cart, offer):
    other = Cart.objects.create()
    theirs = services.cart_add(cart=other, offer_id=offer.pk, quantity=2)
    with pytest.raises(ApplicationError) as exc:
        services.cart_line_update(cart=cart, line_id=theirs.pk, quantity=1)
    assert exc.value.status_code == 404
    with pytest.raises(ApplicationError):
        services.cart_line_remove(cart=cart, line_id=theirs.pk)
    assert line_of(other, offer).quantity == 2


def test_cart_for_session_is_lazy_and_per_visitor(offer):
    session: dict = {}
    assert services.cart_for_session(session=session, user=None) is None
    assert not Cart.objects.exists()
    assert session == {}
    cart = services.cart_for_session(session=session, user=None, create=True)
    assert session == {"cart_id": cart.pk}
    assert services.cart_for_session(session=session, user=None) == cart
    user = UserFactory()
    assert services.cart_for_session(session={}, user=user) is None
    users = services.cart_for_session(session={}, user=user, create=True)
    assert users.user == user
    assert services.cart_for_session(session={}, user=user) == users
    # A guest's session never opens a user's cart.
    assert services.cart_for_session(session={"cart_id": users.pk}, user=None) is None


# --- selectors -------------------------------------------------------------------------------------


def test_cart_view_flags_price_changes_and_problems_without_dropping_lines(cart, offer):
    gone = OfferFactory(price=Decimal("5.00"))
    stock(gone, 2)
    sold_out = OfferFactory(price=Decimal("7.00"))
    sold_out_item = stock(sold_out, 2)
    services.cart_add(cart=cart, offer_id=offer.pk, quantity=2)
    services.cart_add(cart=cart, offer_id=gone.pk, quantity=1)
    services.cart_add(cart=cart, offer_id=sold_out.pk, quantity=1)
    marketplace_services.offer_update(offer=offer, price=Decimal("14.00"))
    marketplace_services.offer_update(offer=gone, is_active=False)
    fulfillment_services.stock_adjust(stock_item=sold_out_item, delta=-2, reference="test")

    view = selectors.cart_view(cart=cart)
    by_offer = {v.offer.pk: v for v in view.lines}
    assert len(view.lines) == 3
    teapot = by_offer[offer.pk]
    assert (teapot.unit_price, teapot.price_when_added, teapot.price_changed) == (
        Decimal("14.00"), Decimal("12.50"), True
    )
    assert teapot.line_total == Decimal("28.00")
    assert teapot.problem is None
    assert teapot.product_title == "Blue Teapot"
    assert teapot.seller_name == offer.seller.name
    assert by_offer[gone.pk].problem == selectors.INACTIVE
    assert by_offer[sold_out.pk].problem == selectors.OUT_OF_STOCK
    assert view.subtotal == Decimal("28.00")
    assert view.item_count == 4


def test_cart_view_reads_pictures_and_stock_in_the_same_query(cart, offer):
    """One query for the lines, whatever their number: each line's picture is its product's first
    image's thumbnail (the image itself without one, none without images), its stock counts active
    warehouses only, as the stock check does."""
    from catalog.models import ProductImage
    from fulfillment import selectors as fulfillment_selectors
    from tests.factories import WarehouseFactory

    plain_picture, no_picture = OfferFactory(price=Decimal("5.00")), OfferFactory(price=Decimal("6.00"))
    stock(plain_picture, 2)
    stock(no_picture, 1)
    closed = WarehouseFactory()
    stock(no_picture, 7, warehouse=closed)
    closed.__class__.objects.filter(pk=closed.pk).update(is_active=False)  # its units count no more
    second = ProductImage.objects.create(product=offer.product, image="products/b.jpg", thumbnail="thumbnails/b.jpg",
                                         position=2)
    first = ProductImage.objects.create(product=offer.product, image="products/a.jpg", thumbnail="thumbnails/a.jpg",
                                        position=1)
    only = ProductImage.objects.create(product=plain_picture.product, image="products/c.jpg")
    for o in (offer, plain_picture, no_picture):
        services.cart_add(cart=cart, offer_id=o.pk, quantity=1)

    with CaptureQueriesContext(connection) as captured:
        lines = {line.offer.pk: line for line in selectors.cart_view(cart=cart).lines}
    assert len(captured.captured_queries) == 1
    assert lines[offer.pk].thumbnail_url == first.thumbnail_url != second.thumbnail_url
    assert lines[plain_picture.pk].thumbnail_url == only.thumbnail_url == only.image.url
    assert lines[no_picture.pk].thumbnail_url is None
    counted = fulfillment_selectors.available_by_offer(offer_ids=list(lines))
    assert {pk: line.available for pk, line in lines.items()} == counted == {offer.pk: 3, plain_picture.pk: 2,
                                                                              no_picture.pk: 1}


def test_only_n_left_is_flagged(cart, offer):
    services.cart_add(cart=cart, offer_id=offer.pk, quantity=3)
    item = stock(offer, 0)  # the offer's existing stock row
    fulfillment_services.stock_adjust(stock_item=item, delta=-2, reference="test")
    line = selectors.cart_view(cart=cart).lines[0]
    assert (line.problem, line.available) == (selectors.ONLY_N_LEFT, 1)
    assert selectors.cart_view(cart=cart).subtotal == Decimal("0.00")


# --- pages -----------------------------------------------------------------------------------------


def test_add_through_the_page_and_see_the_cart(client, offer):
    response = client.post("/cart/add/", {"offer": offer.pk, "quantity": "2"}, follow=True)
    assert response.redirect_chain[-1][0] == "/cart/"
    assert "Added to your cart" in messages_of(response)
    text = plain(response)
    assert "Your cart" in text
    assert "Blue Teapot" in text
    assert offer.seller.name in text
    assert "$25.00" in text


def test_empty_cart_page(client):
    response = client.get("/cart/")
    assert response.status_code == 200
    text = plain(response)
    assert "Your cart is empty." in text
    assert 'href="/"' in response.content.decode()
    assert "checkout" not in text.lower()
    assert not Cart.objects.exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"quantity": "0"}, "at least 1"),
        ({"quantity": "-1"}, "at least 1"),
        ({"quantity": "abc"}, "whole number"),
        ({"quantity": ""}, "whole number"),
        ({"quantity": str(10**9)}, "at most 99"),
        ({"quantity": "4"}, "Only 3 left"),
        ({"offer": "abc"}, "This offer is no longer available"),
        ({"offer": ""}, "This offer is no longer available"),
        ({"offer": "99999999"}, "This offer is no longer available"),
        ({"offer": None}, "This offer is no longer available"),
    ],
)
def test_bad_add_input_gives_a_message_not_a_500(client, offer, data, message):
    form = {"offer": offer.pk, "quantity": "1", **data}
    form = {k: v for k, v in form.items() if v is not None}
    page = offer.product.get_absolute_url()
    response = client.post("/cart/add/", form, HTTP_REFERER=f"http://testserver{page}")
    assert response.status_code == 302
    assert response["Location"] == f"http://testserver{page}"
    response = client.get(page)
    assert any(message in m for m in messages_of(response)), messages_of(response)
    assert not CartLine.objects.exists()


def test_foreign_referer_is_not_followed(client, offer):
    response = client.post("/cart/add/", {"offer": "abc"}, HTTP_REFERER="https://evil.example/x")
    assert response["Location"] == "/cart/"


def test_add_needs_post_and_csrf(offer):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    assert strict.get("/cart/add/").status_code == 405
    assert strict.post("/cart/add/", {"offer": offer.pk, "quantity": "1"}).status_code == 403
    assert not CartLine.objects.exists()


def test_update_and_remove_through_the_page(client, offer):
    client.post("/cart/add/", {"offer": offer.pk, "quantity": "1"})
    line = CartLine.objects.get()
    response = client.post(f"/cart/lines/{line.pk}/", {"quantity": "3"}, follow=True)
    assert CartLine.objects.get().quantity == 3
    assert "Your cart was updated" in messages_of(response)
    for bad in ("abc", "-2", "", "4"):
        response = client.post(f"/cart/lines/{line.pk}/", {"quantity": bad}, follow=True)
        assert response.status_code == 200
        assert messages_of(response)
    assert CartLine.objects.get().quantity == 3
    client.post(f"/cart/lines/{line.pk}/", {"remove": "1"})
    assert not CartLine.objects.exists()


def test_another_visitors_line_is_refused_through_the_page(client, offer):
    other = Cart.objects.create()
    theirs = services.cart_add(cart=other, offer_id=offer.pk, quantity=2)
    for data in ({"quantity": "1"}, {"remove": "1"}):
        response = client.post(f"/cart/lines/{theirs.pk}/", data, follow=True)
        assert response.status_code == 200
        assert messages_of(response)
    client.post("/cart/add/", {"offer": offer.pk, "quantity": "1"})  # now this visitor has a cart too
    response = client.post(f"/cart/lines/{theirs.pk}/", {"remove": "1"}, follow=True)
    assert "That item is not in your cart." in messages_of(response)
    assert line_of(other, offer).quantity == 2


def test_cart_page_shows_problems_and_price_change(client, offer):
    client.post("/cart/add/", {"offer": offer.pk, "quantity": "1"})
    gone = OfferFactory(product=ProductFactory(title="Old Kettle"))
    stock(gone, 1)
    client.post("/cart/add/", {"offer": gone.pk, "quantity": "1"})
    marketplace_services.offer_update(offer=offer, price=Decimal("15.00"))
    marketplace_services.offer_update(offer=gone, is_active=False)
    text = plain(client.get("/cart/"))
    assert "Price changed from $12.50 to $15.00 since you added it." in text
    assert "Old Kettle" in text
    assert "no longer available" in text
    assert "Subtotal (1 item): $15.00" in text


def test_cart_page_query_count_is_constant(client, django_assert_max_num_queries):
    def fill(n):
        for _ in range(n):
            o = OfferFactory()
            stock(o, 5)
            client.post("/cart/add/", {"offer": o.pk, "quantity": "1"})

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/cart/").status_code == 200
        return len(ctx.captured_queries)

    fill(1)
    client.get("/cart/")  # warm the category menu cache and the session cache
    small = count()
    fill(6)
    client.get("/cart/")  # new products bumped the catalog cache version: warm it again
    with django_assert_max_num_queries(small):
        client.get("/cart/")
    # cart, lines, images, stock; pricing reads cached shipping methods and tax rates, and the
    # featured membership plan for "members would save" (see membership.selectors)
    assert count() == small <= 5


def test_header_badge_shows_the_count(client, offer):
    assert 'data-cart-count aria-hidden="true">0<' in client.get("/").content.decode()
    client.post("/cart/add/", {"offer": offer.pk, "quantity": "2"})
    html = client.get("/cart/").content.decode()
    assert 'data-cart-count aria-hidden="true">2<' in html
    assert "2 items in your cart" in html


def test_badge_for_a_guest_without_a_cart_costs_no_query(rf):
    from django.contrib.auth.models import AnonymousUser
    from django.contrib.sessions.backends.cache import SessionStore

    from checkout.context_processors import cart

    request = rf.get("/")
    request.session = SessionStore()
    request.user = AnonymousUser()
    with CaptureQueriesContext(connection) as ctx:
        assert cart(request)["cart_item_count"]() == 0
    assert ctx.captured_queries == []


def test_signed_in_user_cart_and_badge(client, offer):
    user = UserFactory()
    client.force_login(user)
    client.post("/cart/add/", {"offer": offer.pk, "quantity": "1"})
    cart = Cart.objects.get()
    assert cart.user == user
    assert 'data-cart-count aria-hidden="true">1<' in client.get("/cart/").content.decode()


def test_product_page_add_form_end_to_end(client, offer):
    page = client.get(offer.product.get_absolute_url())
    html = page.content.decode()
    form = re.search(r'<form class="add-to-cart" method="post" action="([^"]+)"[^>]*>(.*?)</form>', html, re.S)
    assert form, "the product page shows an add-to-cart form"
    action, body = form.groups()
    fields = dict(re.findall(r'<input[^>]*?name="([^"]+)"[^>]*?value="([^"]*)"', body))
    assert action == "/cart/add/"
    assert fields["offer"] == str(offer.pk)
    assert fields["csrfmiddlewaretoken"]
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.cookies = client.cookies
    response = browser.post(action, fields, HTTP_REFERER=f"http://testserver{offer.product.get_absolute_url()}",
                            follow=True)
    assert response.redirect_chain[-1][0] == "/cart/"
    text = plain(response)
    assert "Added to your cart" in text
    assert "Blue Teapot" in text
    assert "$12.50" in text
    assert CartLine.objects.get().quantity == 1


def test_admin_shows_carts_read_only(client, cart, offer):
    services.cart_add(cart=cart, offer_id=offer.pk, quantity=2)
    admin_user = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(admin_user)
    assert client.get("/admin/checkout/cart/").status_code == 200
    response = client.get(f"/admin/checkout/cart/{cart.pk}/change/")
    assert response.status_code == 200
    assert offer.sku in response.content.decode()
    assert client.get("/admin/checkout/cart/add/").status_code == 403


def test_a_change_makes_the_cart_the_latest_and_a_refused_one_leaves_it(offer):
    """Locking a cart marks it changed: a signed-in shopper's open cart is their latest one. A
    refused change (more than the stock) rolls the mark back with everything else."""
    user = UserFactory()
    older = Cart.objects.create(user=user)
    newer = Cart.objects.create(user=user)
    assert services.cart_for_session(session={}, user=user) == newer
    services.cart_add(cart=older, offer_id=offer.pk, quantity=1)
    assert services.cart_for_session(session={}, user=user) == older
    services.cart_add(cart=newer, offer_id=offer.pk, quantity=1)
    assert services.cart_for_session(session={}, user=user) == newer
    before = Cart.objects.get(pk=older.pk).updated_at
    with pytest.raises(ApplicationError):
        services.cart_add(cart=older, offer_id=offer.pk, quantity=3)  # 1 in the cart + 3 > 3 in stock
    assert Cart.objects.get(pk=older.pk).updated_at == before
    assert services.cart_for_session(session={}, user=user) == newer
    Cart.objects.filter(pk=older.pk).delete()
    with pytest.raises(ApplicationError, match="expired"):
        services.cart_add(cart=older, offer_id=offer.pk, quantity=1)


@pytest.mark.django_db(transaction=True)
def test_adds_to_one_cart_at_once_never_pass_the_stock(offer):
    """Four adds of 1 unit at once to one cart with 3 in stock: the cart's lock makes them take
    turns, so exactly three pass and the line holds 3."""
    from tests.concurrency import race

    cart = Cart.objects.create()
    results = race(lambda: services.cart_add(cart=cart, offer_id=offer.pk, quantity=1), [()] * 4)
    assert sum(isinstance(r, CartLine) for r in results) == 3
    assert [type(r).__name__ for r in results if not isinstance(r, CartLine)] == ["Conflict"]
    assert CartLine.objects.get(cart=cart).quantity == 3
