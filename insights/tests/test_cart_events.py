"""The cart, checkout and sign-up steps a shopper takes become Segment's "Product Added", "Product
Removed", "Checkout Started", "Checkout Step Completed" and "Signed Up": recorded by the server as
domain events in the transaction that made them (durable), tied to the browser's visitor id."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client

from checkout.models import CartLine
from core import analytics
from insights import services
from insights.models import Event
from tests.factories import OfferFactory, shipping_method, stock

pytestmark = pytest.mark.django_db

ADDRESS = {"email": "ada@example.com", "full_name": "Ada Buyer", "line1": "1 Main St", "city": "Springfield",
           "postal_code": "12345", "country": "US"}


@pytest.fixture
def kettle():
    shipping_method(channel="platform", price="0.00", code="free")
    offer = OfferFactory(price=Decimal("20.00"), product__title="Blue Kettle")
    stock(offer, 9)
    return offer


def ingest() -> list[Event]:
    services.domain_events_ingest(settle_seconds=0)
    return list(Event.objects.order_by("occurred_at", "id"))


def test_adding_changing_and_removing_lines_are_recorded_for_the_visitor(client, kettle):
    client.get("/")
    visitor = client.cookies[analytics.VISITOR_COOKIE].value
    client.post("/cart/add/", {"offer": kettle.pk, "quantity": "2"})
    line = CartLine.objects.get()
    client.post(f"/cart/lines/{line.pk}/", {"quantity": "5"})
    client.post(f"/cart/lines/{line.pk}/", {"quantity": "1"})
    client.post(f"/cart/lines/{line.pk}/", {"remove": "1"})
    recorded = [(e.name, e.properties["quantity"]) for e in ingest()]
    assert recorded == [("Product Added", 2), ("Product Added", 3), ("Product Removed", 4), ("Product Removed", 1)]
    event = Event.objects.filter(name="Product Added").first()
    assert event.visitor_id == visitor
    assert (event.properties["product_id"], event.properties["price"]) == (kettle.product_id, "20.00")


def test_checkout_is_started_once_and_each_step_recorded(client, kettle):
    client.get("/")
    client.post("/cart/add/", {"offer": kettle.pk, "quantity": "1"})
    client.get("/checkout/")
    client.get("/checkout/")  # back to the address page: not a second start
    client.post("/checkout/", ADDRESS)
    client.post("/checkout/delivery/", {})
    names = [(e.name, e.properties.get("step")) for e in ingest() if e.name != "Product Added"]
    assert names == [("Checkout Started", None), ("Checkout Step Completed", 1), ("Checkout Step Completed", 2)]
    assert Event.objects.get(name="Checkout Started").properties["value"] == "20.00"


def test_signing_up_is_recorded_with_the_visitor_it_came_from():
    browser = Client()
    browser.get("/")
    visitor = browser.cookies[analytics.VISITOR_COOKIE].value
    response = browser.post("/account/sign-up/", {"email": "new@example.com", "full_name": "New Shopper",
                                                  "password1": "correct horse battery 9", "password2":
                                                  "correct horse battery 9"})
    assert response.status_code == 302
    [event] = [e for e in ingest() if e.name == "Signed Up"]
    assert event.visitor_id == visitor
    assert event.user_id is not None


def test_nothing_is_recorded_for_a_cart_change_that_is_refused(client, kettle):
    client.post("/cart/add/", {"offer": kettle.pk, "quantity": "50"})  # more than in stock: refused
    assert not [e for e in ingest() if e.name == "Product Added"]
