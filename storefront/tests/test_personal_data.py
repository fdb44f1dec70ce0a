"""Your data: the export holds the customer's data and nobody else's; closing an account forgets them
everywhere but in the records the law keeps, only when nothing is left open, and never by mistake."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal

import pytest
from django.core import mail
from django.test import Client
from rest_framework.test import APIClient

from accounts import services as account_services
from accounts.models import Address, User
from catalog import services as catalog_services
from insights import services as insights_services
from insights.models import Event
from membership import services as membership_services
from orders import services as orders_services
from orders.models import Order
from payments import services as payment_services
from tests.buying import ADDRESS, cart_with, place, ship
from tests.commit import committed
from tests.factories import OfferFactory, UserFactory, seller_member, shipping_method, staff_user, stock

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery"


@pytest.fixture
def kettle():
    shipping_method(channel="merchant", price="4.99", code="standard")
    offer = OfferFactory(price=Decimal("20.00"), fulfillment_channel="merchant", product__title="Blue Kettle")
    stock(offer, 20)
    return offer


def delivered_order(user, offer) -> Order:
    order = place(cart_with((offer, 1), user=user), user=user, email=user.email).order
    package = order.packages.get()
    with committed():
        ship(package)
        orders_services.package_deliver(package=package)
    return Order.objects.get(pk=order.pk)


def shopper(offer, *, name: str) -> tuple[User, Order]:
    user = UserFactory(full_name=name)
    account_services.address_create(user=user, **{**ADDRESS, "full_name": name})
    order = delivered_order(user, offer)
    catalog_services.review_create(product=offer.product, user=user, rating=4, title=f"Review {user.pk}",
                                   body="Boils fast.", verified_purchase=True)
    insights_services.events_insert([{
        "event_id": str(uuid.uuid4()), "name": "Product Viewed", "occurred_at": "2026-11-30T10:00:00+00:00",
        "visitor_id": uuid.uuid4().hex, "user_id": user.pk, "channel": "web", "device": "desktop",
        "is_bot": False, "user_agent": "", "properties": {"product_id": offer.product_id}}])
    return user, order


def test_the_export_holds_all_of_the_customers_data_and_nothing_of_anyone_elses(client, kettle):
    ann, anns_order = shopper(kettle, name="Ann Archer")
    bob, bobs_order = shopper(kettle, name="Bob Baker")
    client.force_login(ann)
    response = client.get("/account/data/export/")
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="bazaar-data-')
    assert "no-store" in response["Cache-Control"]
    data = json.loads(response.content)
    assert data["profile"]["email"] == ann.email
    assert [a["full_name"] for a in data["addresses"]] == ["Ann Archer"]
    [order] = data["orders"]
    assert order["number"] == anns_order.number
    assert order["total"] == str(anns_order.total)
    assert order["lines"][0]["product"] == "Blue Kettle"
    assert order["packages"][0]["status"] == "delivered"
    assert [r["title"] for r in data["reviews"]] == [f"Review {ann.pk}"]
    assert [e["name"] for e in data["events"]] == ["Product Viewed"]
    text = response.content.decode()
    assert bob.email not in text
    assert bobs_order.number not in text
    assert "Bob Baker" not in text
    # The API gives the same file to the same customer only.
    api = APIClient()
    assert api.get("/api/v1/account/data/").status_code in (401, 403)
    api.force_authenticate(bob)
    assert api.get("/api/v1/account/data/").json()["orders"][0]["number"] == bobs_order.number


def test_the_data_page_needs_a_signed_in_customer(client):
    assert client.get("/account/data/").status_code == 302
    assert client.get("/account/data/export/").status_code == 302
    assert client.post("/account/data/", {"password": PASSWORD, "confirm": "on"}).status_code == 302


def test_closing_forgets_the_customer_everywhere_but_in_the_orders_the_law_keeps(client, kettle):
    ann, order = shopper(kettle, name="Ann Archer")
    email = ann.email
    token = account_services.user_api_token_ensure(user=ann).key
    other = Client()
    other.force_login(ann)  # a second signed-in browser
    client.force_login(ann)
    page = client.get("/account/data/")
    assert "Close my account" in page.content.decode()
    assert "By Ann Archer" in Client().get(kettle.product.get_absolute_url()).content.decode()  # now cached
    with committed():
        response = client.post("/account/data/", {"password": PASSWORD, "confirm": "on"}, follow=True)
    assert "Your account is closed" in response.content.decode()
    ann.refresh_from_db()
    assert not ann.is_active
    assert ann.email == f"closed-{ann.pk}@closed.invalid"
    assert ann.full_name == ""
    assert not ann.has_usable_password()
    assert not Address.objects.filter(user=ann).exists()
    # Nobody is signed in as Ann any more: not this browser, not the other, not the API token.
    assert client.get("/account/").status_code == 302
    assert other.get("/account/").status_code == 302
    assert APIClient().get("/api/v1/account/", HTTP_AUTHORIZATION=f"Token {token}").status_code == 401
    assert not User.objects.filter(email__iexact=email).exists()  # no account answers to her e-mail
    # Insights no longer names her; her review reads "A customer"; her order stays, with its e-mail.
    assert not Event.objects.filter(user_id=ann.pk).exists()
    assert Event.objects.filter(name="Product Viewed", user_id__isnull=True, visitor_id="").exists()
    product_page = Client().get(kettle.product.get_absolute_url()).content.decode()
    assert "By A customer" in product_page
    assert "Ann Archer" not in product_page
    kept = Order.objects.get(pk=order.pk)
    assert (kept.email, kept.total) == (email, order.total)
    # The address is free for a new account.
    assert UserFactory(email=email).pk != ann.pk


def test_a_wrong_password_or_no_confirmation_closes_nothing(client, kettle):
    ann, _order = shopper(kettle, name="Ann Archer")
    client.force_login(ann)
    wrong = client.post("/account/data/", {"password": "not it", "confirm": "on"})
    assert wrong.status_code == 400
    assert "That password is not right." in wrong.content.decode()
    unticked = client.post("/account/data/", {"password": PASSWORD})
    assert "Tick the box to confirm." in unticked.content.decode()
    ann.refresh_from_db()
    assert ann.is_active
    assert Address.objects.filter(user=ann).exists()
    api = APIClient()
    api.force_authenticate(ann)
    refused = api.post("/api/v1/account/close/", {"password": "not it"}, format="json")
    assert (refused.status_code, refused.json()["error"]["code"]) == (400, "wrong_password")
    assert api.post("/api/v1/account/close/", {}, format="json").status_code == 400
    assert User.objects.get(pk=ann.pk).is_active


def test_an_account_with_business_still_open_is_not_closed_and_says_why(client, kettle):
    ann = UserFactory()
    on_its_way = place(cart_with((kettle, 1), user=ann), user=ann, email=ann.email).order
    payment_services.store_credit_grant(user=ann, amount=Decimal("5.00"),
                                        kind=payment_services.StoreCreditKind.REFUND, reference="goodwill:1")
    client.force_login(ann)
    page = client.get("/account/data/").content.decode()
    assert "1 order is not delivered yet" in page
    assert "You hold $5.00 of store credit" in page
    assert "Close my account" not in page
    api = APIClient()
    api.force_authenticate(ann)
    refused = api.post("/api/v1/account/close/", {"password": PASSWORD}, format="json")
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "account_in_use"
    assert "1 order is not delivered yet" in refused.json()["error"]["message"]
    # The form posted anyway (an old tab) is refused the same way.
    response = client.post("/account/data/", {"password": PASSWORD, "confirm": "on"})
    assert "not delivered yet" in response.content.decode()
    assert User.objects.get(pk=ann.pk).is_active
    assert Order.objects.get(pk=on_its_way.pk).status == Order.Status.PAID


def test_a_membership_that_renews_and_a_seller_team_block_closing(kettle):
    from storefront import personal_data

    member = UserFactory()
    with committed():
        membership_services.membership_join(user=member, plan=membership_services.plan_ensure_demo(),
                                            interval="month", payment_method="4242424242424242")
    assert any("membership renews" in r for r in personal_data.closing_blockers(user=member))
    seller_staff = seller_member(kettle.seller)
    assert any("seller's team" in r for r in personal_data.closing_blockers(user=seller_staff))
    staff = staff_user("orders.view_order")
    with pytest.raises(Exception, match="staff account"):
        personal_data.account_close(user=staff, password=PASSWORD)


def test_closing_through_the_api_ends_its_token_and_twice_is_refused(kettle):
    ann, _order = shopper(kettle, name="Ann Archer")
    token = account_services.user_api_token_ensure(user=ann).key
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    mail.outbox.clear()
    with committed():
        assert api.post("/api/v1/account/close/", {"password": PASSWORD}, format="json").status_code == 204
    assert api.post("/api/v1/account/close/", {"password": PASSWORD}, format="json").status_code == 401
    assert not User.objects.get(pk=ann.pk).is_active


def test_a_second_close_from_a_page_loaded_before_the_first_is_refused_and_records_nothing(kettle):
    from core.exceptions import ApplicationError
    from core.models import DomainEvent

    ann, _order = shopper(kettle, name="Ann Archer")
    stale = User.objects.get(pk=ann.pk)  # what a second tab's request loaded before the first closed it
    with committed():
        account_services.account_close(user=ann, password=PASSWORD)
    with pytest.raises(ApplicationError, match="closed already"):
        account_services.account_close(user=stale, password=PASSWORD)
    assert DomainEvent.objects.filter(name="accounts.account_closed").count() == 1
