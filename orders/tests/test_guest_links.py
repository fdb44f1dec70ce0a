"""Guest order links: they expire, can be revoked, never open an account's order, ask for the
order's e-mail address again before cancelling, and keep their token out of URLs, pages and logs;
a guest can ask for a new link without learning which orders exist."""

import logging
import re
import runpy
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest
import time_machine
from django.conf import settings
from django.contrib.auth.models import Permission
from django.core import mail, signing
from django.db.models import Sum
from django.test import Client, override_settings

from checkout import services as checkout_services
from checkout.api.serializers import PlacedOrderOutputSerializer
from checkout.models import Cart, CartLine
from core.tests.test_cache import DOWN_REDIS
from fulfillment.models import StockItem
from orders import selectors, services
from orders.models import Order, OrderEvent
from payments.models import Payment, PaymentStatus
from shop.strategy import Strategy
from tests.commit import committed
from tests.factories import OfferFactory, UserFactory, shipping_method, stock

pytestmark = pytest.mark.django_db

ADDRESS = {"full_name": "Ada Buyer", "line1": "1 Main St", "city": "Springfield", "postal_code": "12345",
           "country": "US"}
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def kettle():
    shipping_method(channel="platform", price="0.00", code="free")
    offer = OfferFactory(price=Decimal("20.00"), product__title="Blue Kettle")
    stock(offer, 5)
    return offer


def buy(offer, *, user=None, email="ada@example.com") -> Order:
    cart = Cart.objects.create(user=user)
    CartLine.objects.create(cart=cart, offer=offer, quantity=1, price_when_added=offer.price)
    with committed():  # a checkout request: its after-commit work has run when it returns
        return checkout_services.order_place(
            cart=cart, user=user, email=email, shipping_address=ADDRESS, payment_method="4242424242424242",
            idempotency_key=uuid.uuid4().hex, buyer=Strategy(user=user),
        ).order


def link_of(order) -> str:
    """A guest link as e-mails and the API give it (the path, the token in the query string)."""
    path = selectors.guest_link_path(order=order)
    assert path.startswith("/orders/guest/?t=")
    return path


def any_link(order) -> str:
    """A link signed the way guest links are, even for an order that belongs to an account."""
    return "/orders/guest/?" + f"t={selectors.guest_token(order=order)}"


def reserved(offer) -> int:
    return StockItem.objects.filter(offer=offer).aggregate(n=Sum("reserved"))["n"]


def shows_order(response, order) -> bool:
    html = response.content.decode()
    return any(part in html for part in ("Blue Kettle", "1 Main St", "$20.00", order.email))


def assert_private(response) -> None:
    """Never stored by a cache; no Referer to another site (the link holding the token: no Referer
    at all). Not ``no-referrer`` on the pages with forms: browsers would post them with
    ``Origin: null`` and CSRF protection would refuse them (the browser journey cancels one)."""
    assert "no-store" in response["Cache-Control"]
    link = "?t=" in response.wsgi_request.get_full_path()
    assert response["Referrer-Policy"] == ("no-referrer" if link else "same-origin")
    assert "X-Page-Cache" not in response


# --- expiry -------------------------------------------------------------------------------


def test_a_link_opens_the_order_for_89_days_and_not_after_91(kettle):
    with time_machine.travel(START, tick=False):
        order = buy(kettle)
        link = link_of(order)
    with time_machine.travel(START + timedelta(days=89), tick=False):
        opened = Client().get(link)
        assert opened.status_code == 303
        assert opened["Location"] == f"/orders/guest/{order.number}/"
    with time_machine.travel(START + timedelta(days=91), tick=False):
        refused = Client().get(link, follow=True)
        assert refused.redirect_chain == [("/orders/guest/link/expired/", 303)]
        assert refused.status_code == 410
        assert "This order link has expired" in refused.content.decode()
        assert "/orders/guest/resend/" in refused.content.decode()
        assert not shows_order(refused, order)


def test_the_max_age_is_a_setting(kettle, settings):
    settings.GUEST_LINK_MAX_AGE_DAYS = 7
    with time_machine.travel(START, tick=False):
        order = buy(kettle)
        link = link_of(order)
    with time_machine.travel(START + timedelta(days=8), tick=False):
        assert Client().get(link)["Location"] == "/orders/guest/link/expired/"


def test_a_browser_that_opened_a_link_loses_the_order_when_the_link_expires(kettle, settings):
    settings.SESSION_COOKIE_AGE = 365 * 24 * 60 * 60  # the session outlives the link
    client = Client()
    with time_machine.travel(START, tick=False):
        order = buy(kettle)
        link = link_of(order)
    with time_machine.travel(START + timedelta(days=1), tick=False):
        assert client.get(link).status_code == 303
    with time_machine.travel(START + timedelta(days=89), tick=False):
        assert shows_order(client.get(f"/orders/guest/{order.number}/"), order)
    with time_machine.travel(START + timedelta(days=91), tick=False):
        page = client.get(f"/orders/guest/{order.number}/")
        assert page.status_code == 410
        assert not shows_order(page, order)
        assert client.post(f"/orders/guest/{order.number}/cancel/", {"email": order.email}).status_code == 410
    assert Order.objects.get(pk=order.pk).status == Order.Status.PAID


# --- revocation ---------------------------------------------------------------------------


def test_revoking_refuses_old_links_and_grants_and_a_new_link_works(kettle):
    order = buy(kettle)
    old_link = link_of(order)
    browser = Client()
    assert browser.get(old_link).status_code == 303
    assert shows_order(browser.get(f"/orders/guest/{order.number}/"), order)

    services.order_guest_links_revoke(order=order)

    page = browser.get(f"/orders/guest/{order.number}/")
    assert page.status_code == 410
    assert "This order link no longer works" in page.content.decode()
    assert not shows_order(page, order)
    refused = Client().get(old_link, follow=True)
    assert refused.redirect_chain == [("/orders/guest/link/revoked/", 303)]
    assert refused.status_code == 410
    assert not shows_order(refused, order)

    new_link = link_of(Order.objects.get(pk=order.pk))
    assert shows_order(Client().get(new_link, follow=True), order)
    assert OrderEvent.objects.filter(order=order, message="Guest order links revoked").count() == 1


def test_staff_with_the_change_permission_revoke_links_in_admin_and_view_only_staff_cannot(client, kettle):
    order = buy(kettle)
    nonce = order.guest_nonce
    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_order"))
    client.force_login(viewer)
    client.post("/admin/orders/order/", {"action": "revoke_guest_links", "_selected_action": [order.pk]})
    assert Order.objects.get(pk=order.pk).guest_nonce == nonce

    editor = UserFactory(is_staff=True)
    editor.user_permissions.add(*Permission.objects.filter(codename__in=["view_order", "change_order"]))
    client.force_login(editor)
    response = client.post(
        "/admin/orders/order/", {"action": "revoke_guest_links", "_selected_action": [order.pk]}, follow=True
    )
    assert "Guest links revoked for 1 order(s)." in response.content.decode()
    order.refresh_from_db()
    assert order.guest_nonce != nonce
    assert order.status == Order.Status.PAID  # no money moved
    assert Payment.objects.get(reference=order.number).status == PaymentStatus.AUTHORIZED
    assert OrderEvent.objects.get(order=order, message="Guest order links revoked").actor == editor


# --- orders of an account -----------------------------------------------------------------


def test_a_guest_link_never_opens_an_order_that_belongs_to_an_account(client, kettle):
    owner = UserFactory(email="owner@example.com")
    order = buy(kettle, user=owner, email=owner.email)
    assert selectors.guest_link_path(order=order) == ""  # no producer makes one
    link = any_link(order)  # ...and one made anyway opens nothing

    response = client.get(link, follow=True)
    assert response.redirect_chain == [(f"/orders/guest/link/account/?order={order.number}", 303)]
    assert response.status_code == 403
    html = response.content.decode()
    assert "Sign in to see this order" in html
    assert f'href="/account/sign-in/?next=%2Forders%2F{order.number}%2F"' in html
    assert not shows_order(response, order)
    assert selectors.GUEST_GRANTS_SESSION_KEY not in client.session
    assert not shows_order(client.get(f"/orders/guest/{order.number}/"), order)

    client.force_login(UserFactory())  # someone else, signed in
    other = client.get(link, follow=True)
    assert other.status_code == 403
    assert not shows_order(other, order)
    assert client.get(f"/orders/{order.number}/").status_code == 404

    client.force_login(owner)  # the owner goes to the order page of their account
    assert client.get(link)["Location"] == f"/orders/{order.number}/"


def test_an_account_order_e_mail_sends_the_owner_to_sign_in_not_a_guest_link(kettle):
    owner = UserFactory()
    order = buy(kettle, user=owner, email=owner.email)
    body = mail.outbox[-1].body
    assert f"http://127.0.0.1:8000/orders/{order.number}/" in body
    assert "?t=" not in body
    assert PlacedOrderOutputSerializer(order).data["guest_url"] == ""


# --- cancelling asks for the e-mail address -----------------------------------------------


def test_cancelling_with_a_wrong_or_missing_e_mail_changes_nothing_and_the_right_one_cancels(client, kettle):
    order = buy(kettle)
    client.get(link_of(order))
    events = OrderEvent.objects.filter(order=order).count()
    sent = len(mail.outbox)
    for data in ({"email": "eve@example.com"}, {}, {"email": "not an address"}, {"email": "ada@example.co"}):
        with committed():
            response = client.post(f"/orders/guest/{order.number}/cancel/", data)
        assert response.status_code == 400, data
        assert "There is a problem" in response.content.decode()
        assert_private(response)
    assert "This is not the e-mail address of this order. Nothing was cancelled." in client.post(
        f"/orders/guest/{order.number}/cancel/", {"email": "eve@example.com"}
    ).content.decode()
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert reserved(kettle) == 1
    assert Payment.objects.get(reference=order.number).status == PaymentStatus.AUTHORIZED
    assert OrderEvent.objects.filter(order=order).count() == events
    assert len(mail.outbox) == sent

    with committed():
        response = client.post(f"/orders/guest/{order.number}/cancel/", {"email": "  Ada@Example.COM "},
                               follow=True)
    assert response.redirect_chain == [(f"/orders/guest/{order.number}/", 303)]
    assert "Your order is cancelled" in response.content.decode()
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED
    assert reserved(kettle) == 0
    assert Payment.objects.get(reference=order.number).status == PaymentStatus.CANCELLED


def test_guessing_the_e_mail_address_is_limited(client, kettle):
    order = buy(kettle)
    client.get(link_of(order))
    for _attempt in range(10):
        assert client.post(f"/orders/guest/{order.number}/cancel/", {"email": "x@example.com"}).status_code == 400
    stopped = client.post(f"/orders/guest/{order.number}/cancel/", {"email": order.email})
    assert stopped.status_code == 429
    assert Order.objects.get(pk=order.pk).status == Order.Status.PAID


def test_the_guest_order_page_asks_for_the_e_mail_before_cancelling(client, kettle):
    order = buy(kettle)
    page = client.get(link_of(order), follow=True)
    html = page.content.decode()
    assert f'action="/orders/guest/{order.number}/cancel/"' in html
    assert 'name="email"' in html
    assert order.email not in html  # the page does not give the answer away


# --- tokens stay out of URLs, pages and logs ----------------------------------------------


def test_a_token_is_never_in_a_redirect_a_page_or_a_log_record(client, kettle, caplog):
    caplog.set_level(logging.DEBUG)
    order = buy(kettle)
    link = re.search(r"http://127\.0\.0\.1:8000(/orders/guest/\?t=\S+)", mail.outbox[-1].body).group(1)
    token = link.split("?t=", 1)[1]
    seen = []

    opened = client.get(link)
    assert opened.status_code == 303
    assert_private(opened)
    seen.append(opened["Location"])
    page = client.get(opened["Location"])
    assert page.status_code == 200
    assert_private(page)
    seen.append(page.content.decode())
    wrong = client.post(f"/orders/guest/{order.number}/cancel/", {"email": "eve@example.com"})
    seen.append(wrong.content.decode())
    for bad in (token[:-4] + "AAAA", token[:20], f"{token}x"):  # tampered, cut short, trailing junk
        refused = client.get(f"/orders/guest/?t={bad}", follow=True)
        assert refused.status_code == 404
        assert_private(refused)
        seen += [url for url, _status in refused.redirect_chain] + [refused.content.decode()]
    with time_machine.travel(datetime.now(tz=UTC) + timedelta(days=91), tick=False):
        expired = Client().get(link, follow=True)
        assert expired.status_code == 410
        seen += [url for url, _status in expired.redirect_chain] + [expired.content.decode()]

    assert all(token not in text and token[:40] not in text for text in seen)
    assert caplog.records, "the flow logs something (the 4xx pages), so the check below means something"
    for record in caplog.records:
        assert token[:40] not in record.getMessage()
        assert token[:40] not in repr(vars(record))


def test_the_gunicorn_access_log_leaves_query_strings_and_referers_out(tmp_path):
    from gunicorn.config import Config

    conf = runpy.run_path(str(Path(settings.BASE_DIR) / "gunicorn.conf.py"))
    assert "%(r)s" not in conf["access_log_format"]
    assert "%(q)s" not in conf["access_log_format"]
    logfile = tmp_path / "access.log"
    environ = {
        "REQUEST_METHOD": "GET", "RAW_URI": "/orders/guest/?t=SECRET-TOKEN", "PATH_INFO": "/orders/guest/",
        "QUERY_STRING": "t=SECRET-TOKEN", "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "203.0.113.9",
        "HTTP_REFERER": "https://mail.example/read?t=SECRET-TOKEN", "HTTP_USER_AGENT": "Mail/1.0",
    }
    request = SimpleNamespace(headers=[("REFERER", environ["HTTP_REFERER"])])
    response = SimpleNamespace(status="303 See Other", headers=[("X-Request-ID", "rid-1")], sent=0)
    formats = [conf["access_log_format"], '"%(r)s" %(q)s %(f)s %({referer}i)s %({query_string}e)s']
    for fmt in formats:
        cfg = Config()
        cfg.set("accesslog", str(logfile))
        cfg.set("access_log_format", fmt)
        cfg.set("logger_class", conf["logger_class"])
        cfg.logger_class(cfg).access(response, request, environ, timedelta(milliseconds=12))
    lines = logfile.read_text().splitlines()
    assert len(lines) == 2
    assert '"GET /orders/guest/ HTTP/1.1" 303' in lines[0]
    assert "rid-1" in lines[0]
    assert "/orders/guest/" in lines[1]
    assert "SECRET-TOKEN" not in logfile.read_text()


def test_guest_pages_are_private_and_never_in_the_page_cache(client, kettle):
    order = buy(kettle)
    assert_private(client.get(link_of(order)))
    assert_private(client.get(f"/orders/guest/{order.number}/"))
    assert_private(client.get("/orders/guest/link/expired/"))
    assert_private(client.get("/orders/guest/resend/"))
    # the shopper who holds the grant browses on: the shared pages they are served, and store,
    # carry nothing of theirs but the personal parts filled in for them
    home = client.get("/")
    assert order.number not in home.content.decode()
    anonymous = Client().get("/")
    assert anonymous["X-Page-Cache"] == "hit"
    assert order.number not in anonymous.content.decode()
    # and the order's URL alone shows nothing to anyone else
    assert not shows_order(Client().get(f"/orders/guest/{order.number}/"), order)


# --- forged links, and one order's grant never opens another ----------------------------


def test_a_grant_for_one_order_does_not_open_another(client, kettle):
    a = buy(kettle, email="ann@example.com")
    b = buy(kettle, email="bob@example.com")
    client.get(link_of(a))
    assert client.get(f"/orders/guest/{a.number}/").status_code == 200
    page = client.get(f"/orders/guest/{b.number}/")
    assert page.status_code == 404
    assert b.number not in page.content.decode()
    assert client.post(f"/orders/guest/{b.number}/cancel/", {"email": "bob@example.com"}).status_code == 404
    assert Order.objects.get(pk=b.pk).status == Order.Status.PAID


@pytest.mark.parametrize(
    "query",
    ["", "t=", "t=garbage", "t=%00%FF", "t=" + "a" * 5000, "t=%C3%A9t%C3%A9:x:y", "t=a&t=b"],
)
def test_malformed_links_get_the_same_friendly_404(client, query):
    response = client.get(f"/orders/guest/?{query}", follow=True)
    assert response.redirect_chain == [("/orders/guest/link/invalid/", 303)]
    assert response.status_code == 404
    assert "This order link does not work" in response.content.decode()


def test_links_signed_otherwise_or_for_a_missing_order_are_invalid(kettle):
    order = buy(kettle)
    payload = {"n": order.number, "k": order.guest_nonce, "t": 2_000_000_000}
    old_style = signing.dumps({"n": order.number}, salt="orders.guest-link")  # links sent before
    other_salt = signing.dumps(payload, salt="accounts.something-else")
    missing = signing.dumps({**payload, "n": "BZ-000000-NOPE22"}, salt="orders.guest-link.v2")
    for token in (old_style, other_salt, missing):
        assert selectors.guest_link_check(token=token).access == selectors.GuestAccess.INVALID
        assert Client().get("/orders/guest/?" + f"t={token}")["Location"] == "/orders/guest/link/invalid/"
    # an old-style link in its former place (the token in the path) opens nothing either
    assert Client().get(f"/orders/guest/{old_style}/").status_code == 404


def test_the_problem_pages_reveal_nothing_about_orders(client, kettle):
    order = buy(kettle)
    for url in (
        "/orders/guest/link/account/?order=BZ-000000-NOPE22", f"/orders/guest/link/account/?order={order.number}",
        "/orders/guest/link/account/?order=../../x", "/orders/guest/link/whatever/", "/orders/guest/link/ok/",
    ):
        response = client.get(url)
        assert response.status_code in (403, 404), url
        assert not shows_order(response, order)


# --- a new link by e-mail -----------------------------------------------------------------


def _answer(client, number, email):
    with committed():
        response = client.post("/orders/guest/resend/", {"number": number, "email": email})
    page = client.get(response["Location"])
    text = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", page.content.decode()).replace(number.upper(), "N")
    return response.status_code, response["Location"], text


def test_asking_for_a_new_link_answers_the_same_and_mails_only_a_match(client, kettle):
    order = buy(kettle)
    account_order = buy(kettle, user=UserFactory(email="owner@example.com"), email="owner@example.com")
    before = len(mail.outbox)
    answers = {
        _answer(client, "BZ-000000-NOPE22", "ada@example.com"),  # no such order
        _answer(client, order.number, "eve@example.com"),  # wrong address
        _answer(client, account_order.number, "owner@example.com"),  # an account's order: sign in instead
    }
    assert len(mail.outbox) == before
    answers.add(_answer(Client(), order.number.lower(), " ADA@example.com"))  # the match
    assert len(answers) == 1
    status, location, text = answers.pop()
    assert (status, location) == (303, "/orders/guest/resend/")
    assert "we have sent a new link" in text

    assert len(mail.outbox) == before + 1
    message = mail.outbox[-1]
    assert message.to == ["ada@example.com"]
    assert order.number in message.subject
    link = re.search(r"http://127\.0\.0\.1:8000(/orders/guest/\?t=\S+)", message.body).group(1)
    assert shows_order(Client().get(link, follow=True), order)


def test_new_links_for_one_order_are_limited_and_the_answer_does_not_change(client, kettle):
    order = buy(kettle)
    before = len(mail.outbox)
    answers = {_answer(client, order.number, order.email) for _ in range(5)}
    assert len(answers) == 1
    assert len(mail.outbox) == before + 3


def test_one_client_asking_too_often_is_slowed_down(client, kettle):
    for _ in range(10):
        client.post("/orders/guest/resend/", {"number": "BZ-000000-NOPE22", "email": "x@example.com"})
    response = client.post("/orders/guest/resend/", {"number": "BZ-000000-NOPE22", "email": "x@example.com"})
    assert response.status_code == 429
    assert "Too many requests" in response.content.decode()


@override_settings(CACHES=DOWN_REDIS)
def test_a_new_link_is_still_sent_when_the_cache_is_down(client, kettle):
    order = buy(kettle)
    before = len(mail.outbox)
    for _ in range(12):  # no limit applies: the limits fail open
        with committed():
            response = client.post("/orders/guest/resend/", {"number": order.number, "email": order.email})
        assert response.status_code == 303
    assert len(mail.outbox) == before + 12
    client.get(link_of(order))
    assert client.post(f"/orders/guest/{order.number}/cancel/", {"email": "x@example.com"}).status_code == 400


def test_the_resend_form_explains_its_mistakes(client):
    with committed():
        response = client.post("/orders/guest/resend/", {"number": "", "email": "nope"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "There is a problem" in html
    assert len(mail.outbox) == 0


# --- every producer of guest links --------------------------------------------------------


def test_order_e_mails_and_the_api_give_token_in_query_links_that_open_the_order(kettle):
    order = buy(kettle)
    body = mail.outbox[-1].body
    assert re.search(r"http://127\.0\.0\.1:8000/orders/guest/\?t=\S+", body)
    assert "This link works for 90 days" in body
    assert "http://127.0.0.1:8000/orders/guest/resend/" in body
    assert 'href="http://127.0.0.1:8000/orders/guest/?t=' in mail.outbox[-1].alternatives[0][0]
    api_link = PlacedOrderOutputSerializer(order).data["guest_url"]
    assert shows_order(Client().get(api_link, follow=True), order)


def test_the_checkout_lands_a_guest_on_the_token_free_order_page(client, kettle):
    assert client.post("/cart/add/", {"offer": kettle.pk, "quantity": 1}).status_code == 302
    client.post("/checkout/", {**ADDRESS, "email": "ada@example.com"})
    delivery = client.get("/checkout/delivery/").content.decode()
    key = re.search(r'name="(ship_[^"]+)" value="free"', delivery).group(1)
    client.post("/checkout/delivery/", {key: "free"})
    review = client.get("/checkout/review/").content.decode()
    form = dict(re.findall(r'name="(expected_total|order_key)" value="([^"]*)"', review))
    placed = client.post("/checkout/place/", {**form, "card_number": "4242 4242 4242 4242"})
    order = Order.objects.get()
    assert placed["Location"] == f"/orders/guest/{order.number}/"
    assert shows_order(client.get(placed["Location"]), order)
    assert not shows_order(Client().get(placed["Location"]), order)  # another browser
