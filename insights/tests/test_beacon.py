"""POST /insights/e/: browser events, whitelisted and validated, for the visitor of the cookie only;
same-origin, size-capped, rate-limited; 204, or a 4xx with a clear JSON message, never a 500."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from core import analytics
from insights import services
from insights.models import Event
from insights.tests.conftest import FIREFOX, SAME_ORIGIN

pytestmark = pytest.mark.django_db

URL = "/insights/e/"


def post(client: Client, body, **headers):
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    return client.post(URL, data, content_type="text/plain;charset=UTF-8", **{**SAME_ORIGIN, **headers})


def events(*items) -> dict:
    return {"events": list(items)}


@pytest.fixture
def visitor(browser) -> Client:
    browser.get("/healthz")  # no cookie from a health check...
    browser.get("/insights/consent/")  # ...a 405 page gives one
    assert analytics.VISITOR_COOKIE in browser.cookies
    return browser


def error_code(response) -> str:
    return response.json()["error"]["code"]


def test_a_batch_is_recorded_for_the_visitor_of_the_cookie_never_the_body(visitor, buffer):
    own = visitor.cookies[analytics.VISITOR_COOKIE].value
    response = post(visitor, events(
        {"name": "Product Viewed", "visitor_id": "f" * 32, "user_id": 1,
         "properties": {"product_id": 12, "visitor_id": "f" * 32, "price": "0.01", "sku": "KET-1", "seller_id": 3}},
        {"name": "Product Clicked", "properties": {"product_id": 12, "list": "recommendations", "position": 2}},
        {"name": "Product List Viewed", "properties": {"list_id": "category", "category": "Kettles",
                                                       "products": [{"product_id": 12, "position": 1}]}},
        {"name": "Products Searched", "properties": {"query": "kettle", "results": 14}},
    ))
    assert response.status_code == 204
    report = services.events_flush()
    assert report.accepted == 4
    stored = {e.name: e for e in Event.objects.all()}
    assert {e.visitor_id for e in stored.values()} == {own}
    assert {e.user_id for e in stored.values()} == {None}
    assert stored["Product Viewed"].properties == {"product_id": 12, "sku": "KET-1", "seller_id": 3}  # unknown dropped
    assert stored["Product Clicked"].properties == {"product_id": 12, "list": "recommendations", "position": 2}
    assert stored["Product List Viewed"].properties["products"] == [{"product_id": 12, "position": 1}]
    assert stored["Product Viewed"].device == "desktop"


def test_only_whitelisted_event_names_are_accepted(visitor, buffer):
    response = post(visitor, events({"name": "Order Completed", "properties": {"revenue": "1000000"}}))
    assert response.status_code == 400
    assert error_code(response) == "unknown_event"
    assert "events[0].name" in response.json()["error"]["message"]
    assert len(buffer) == 0


@pytest.mark.parametrize(("body", "code"), [
    (b"{not json", "invalid_json"),
    (b"\xff\xfe", "invalid_json"),
    (b"", "invalid_json"),
    ([], "invalid"),
    ({"events": []}, "invalid"),
    ({"events": "Product Viewed"}, "invalid"),
    ({"events": [3]}, "invalid"),
    (events({"name": "Product Viewed", "properties": {}}), "invalid"),  # product_id required
    (events({"name": "Product Viewed", "properties": {"product_id": "12"}}), "invalid"),
    (events({"name": "Product Viewed", "properties": {"product_id": -1}}), "invalid"),
    (events({"name": "Product Viewed", "properties": {"product_id": True}}), "invalid"),
    (events({"name": "Product Viewed", "properties": {"product_id": 2**40}}), "invalid"),
    (events({"name": "Product Viewed", "properties": ["product_id"]}), "invalid"),
    (events({"name": "Products Searched", "properties": {"query": 5}}), "invalid"),
    (events({"name": "Product List Viewed", "properties": {"products": [1]}}), "invalid"),
    (events({"name": "Product List Viewed", "properties": {"products": {"a": 1}}}), "invalid"),
])
def test_bad_input_is_a_400_with_a_clear_message(visitor, buffer, body, code):
    response = post(visitor, body)
    assert response.status_code == 400
    assert error_code(response) == code
    assert response.json()["error"]["message"]
    assert len(buffer) == 0


def test_strings_are_cut_and_lists_capped(visitor, buffer):
    products = [{"product_id": n, "position": n} for n in range(80)]
    assert post(visitor, events(
        {"name": "Products Searched", "properties": {"query": "k" * 500, "results": 1}},
        {"name": "Product List Viewed", "properties": {"list_id": "search", "products": products}},
    )).status_code == 204
    searched, listed = buffer.records()
    assert len(searched["properties"]["query"]) == 200
    assert len(listed["properties"]["products"]) == 50


def test_size_limits(visitor, buffer):
    one = {"name": "Product Viewed", "properties": {"product_id": 1}}
    response = post(visitor, events(*[one] * 21))
    assert (response.status_code, error_code(response)) == (400, "too_many_events")
    big = events({"name": "Products Searched", "properties": {"query": "x" * 17_000, "results": 1}})
    response = post(visitor, big)
    assert (response.status_code, error_code(response)) == (413, "too_large")
    assert post(visitor, events(*[one] * 20)).status_code == 204
    assert len(buffer) == 20


def test_only_same_origin_requests_are_accepted(visitor, buffer):
    body = json.dumps(events({"name": "Product Viewed", "properties": {"product_id": 1}}))
    cross = visitor.post(URL, body, content_type="text/plain", HTTP_SEC_FETCH_SITE="cross-site")
    assert (cross.status_code, error_code(cross)) == (403, "cross_origin")
    other = visitor.post(URL, body, content_type="text/plain", HTTP_ORIGIN="https://evil.example")
    assert other.status_code == 403
    none = visitor.post(URL, body, content_type="text/plain")
    assert none.status_code == 403
    own = visitor.post(URL, body, content_type="text/plain", HTTP_ORIGIN="http://testserver")
    assert own.status_code == 204
    assert len(buffer) == 1


def test_only_post(visitor):
    assert visitor.get(URL).status_code == 405


def test_the_beacon_is_rate_limited_per_client(settings, visitor, buffer):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "insights_beacon": "3/min"}
    body = events({"name": "Product Viewed", "properties": {"product_id": 1}})
    assert [post(visitor, body).status_code for _ in range(3)] == [204, 204, 204]
    limited = post(Client(HTTP_USER_AGENT=FIREFOX), body)  # another browser from the same address
    assert limited.status_code == 429
    assert error_code(limited) == "throttled"
    assert limited["Retry-After"]
    assert len(buffer) == 3


def test_crawlers_are_answered_but_not_recorded(buffer):
    crawler = Client(HTTP_USER_AGENT="Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)")
    assert post(crawler, events({"name": "Product Viewed", "properties": {"product_id": 1}})).status_code == 204
    assert len(buffer) == 0


def test_without_consent_the_batch_is_accepted_and_nothing_recorded(settings, visitor, buffer):
    settings.INSIGHTS_CONSENT_REQUIRED = True
    assert post(visitor, events({"name": "Product Viewed", "properties": {"product_id": 1}})).status_code == 204
    assert len(buffer) == 0


def test_the_pages_carry_the_attributes_the_script_reads(visitor):
    from tests.factories import CategoryFactory, OfferFactory, ProductFactory, stock

    product = ProductFactory(title='Quote "Kettle"', category=CategoryFactory(name='Kettles & "Pots"'))
    offer = OfferFactory(product=product)
    stock(offer, 3)
    html = visitor.get(product.get_absolute_url()).content.decode()
    # seller_id: the featured offer's seller (sellers' buy-box share, insights.rollups)
    assert (f'data-insights-view=\'{{"name": "Product Viewed", "product_id": {product.pk}, '
            f'"seller_id": {offer.seller_id}}}\'') in html
    assert 'src="/static/js/insights.js" data-endpoint="/insights/e/" defer' in html
    listing = visitor.get(f"/c/{product.category.slug}/").content.decode()
    assert "data-insights-list='" in listing
    assert f'data-insights-item=\'{{"product_id": {product.pk}}}\'' in listing
    search = visitor.get("/search/?q=kettle").content.decode()
    assert 'data-insights-view=\'{"name": "Products Searched", "query": "kettle", "results": ' in search
    import html as html_module
    import re

    [raw] = re.findall(r"data-insights-list='([^']*)'", listing)
    assert json.loads(html_module.unescape(raw))["category"] == 'Kettles & "Pots"'
