"""The visitor id: a first-party cookie set once; with consent required, none and nothing tracked
until the visitor accepts the banner; a "no" is kept. Pages served from the page cache still get
it, and the banner is a personal part of cached pages."""

from __future__ import annotations

import pytest
from django.test import Client

from core import analytics
from insights import services
from insights.models import Event
from insights.tests.conftest import FIREFOX, SAME_ORIGIN
from tests.factories import CategoryFactory, ProductFactory, UserFactory

pytestmark = pytest.mark.django_db

VIEW = b'{"events": [{"name": "Products Searched", "properties": {"query": "kettle", "results": 3}}]}'


@pytest.fixture
def product():
    return ProductFactory(title="Visited Kettle", category=CategoryFactory(name="Kettles"))


def beacon(client: Client):
    return client.post("/insights/e/", VIEW, content_type="text/plain", **SAME_ORIGIN)


def test_the_visitor_cookie_is_set_once_and_kept(browser, product):
    first = browser.get(product.get_absolute_url())
    cookie = first.cookies[analytics.VISITOR_COOKIE]
    assert analytics.VISITOR_ID_RE.match(cookie.value)
    assert cookie["max-age"] == analytics.VISITOR_COOKIE_MAX_AGE
    assert cookie["samesite"] == "Lax"
    assert cookie["httponly"]
    second = browser.get(product.get_absolute_url())
    assert analytics.VISITOR_COOKIE not in second.cookies  # not set again
    assert second.wsgi_request.visitor_id == cookie.value


def test_a_forged_visitor_cookie_is_replaced(browser, product):
    browser.cookies[analytics.VISITOR_COOKIE] = "<script>"
    response = browser.get(product.get_absolute_url())
    assert analytics.VISITOR_ID_RE.match(response.cookies[analytics.VISITOR_COOKIE].value)


def test_health_checks_get_no_cookie(browser):
    assert analytics.VISITOR_COOKIE not in browser.get("/healthz").cookies


def test_page_cache_hits_are_still_served_and_give_the_cookie(product):
    first = Client(HTTP_USER_AGENT=FIREFOX).get(product.get_absolute_url())
    assert first["X-Page-Cache"] == "miss"
    visitor = Client(HTTP_USER_AGENT=FIREFOX)
    hit = visitor.get(product.get_absolute_url())
    assert hit["X-Page-Cache"] == "hit"
    assert analytics.VISITOR_ID_RE.match(hit.cookies[analytics.VISITOR_COOKIE].value)
    assert "consent-banner" not in hit.content.decode()  # consent not required: no banner


def test_with_consent_required_nothing_is_set_or_tracked_until_accepted(settings, browser, product, buffer):
    settings.INSIGHTS_CONSENT_REQUIRED = True
    page = browser.get(product.get_absolute_url())
    assert analytics.VISITOR_COOKIE not in page.cookies
    html = page.content.decode()
    assert 'class="consent-banner' in html
    assert 'action="/insights/consent/"' in html
    assert beacon(browser).status_code == 204
    assert len(buffer) == 0  # accepted, not recorded

    answer = browser.post("/insights/consent/", {"consent": "yes"}, HTTP_REFERER=product.get_absolute_url())
    assert answer.status_code == 302
    assert answer["Location"] == product.get_absolute_url()
    assert answer.cookies[analytics.CONSENT_COOKIE].value == "yes"
    visitor_id = answer.cookies[analytics.VISITOR_COOKIE].value
    assert analytics.VISITOR_ID_RE.match(visitor_id)

    again = browser.get(product.get_absolute_url())
    assert "consent-banner" not in again.content.decode()
    assert beacon(browser).status_code == 204
    services.events_flush()
    assert list(Event.objects.values_list("visitor_id", flat=True)) == [visitor_id]


def test_a_declined_visitor_has_no_cookie_and_is_not_tracked(settings, browser, product, buffer):
    settings.INSIGHTS_CONSENT_REQUIRED = True
    answer = browser.post("/insights/consent/", {"consent": "no"})
    assert answer.cookies[analytics.CONSENT_COOKIE].value == "no"
    assert answer.cookies[analytics.VISITOR_COOKIE].value == ""  # deleted, none given
    page = browser.get(product.get_absolute_url())
    assert analytics.VISITOR_COOKIE not in page.cookies
    assert "consent-banner" not in page.content.decode()
    beacon(browser)
    assert len(buffer) == 0
    settings.INSIGHTS_CONSENT_REQUIRED = False  # a "no" holds without the banner too
    assert analytics.VISITOR_COOKIE not in browser.get(product.get_absolute_url()).cookies
    beacon(browser)
    assert len(buffer) == 0


def test_declining_later_removes_the_cookie(browser, product):
    browser.get(product.get_absolute_url())
    assert browser.cookies[analytics.VISITOR_COOKIE].value
    browser.post("/insights/consent/", {"consent": "no"})
    assert browser.cookies[analytics.VISITOR_COOKIE].value == ""


def test_the_consent_form_is_csrf_checked_and_answers_yes_or_no():
    client = Client(enforce_csrf_checks=True)
    assert client.post("/insights/consent/", {"consent": "yes"}).status_code == 403
    assert Client().post("/insights/consent/", {"consent": "maybe"}).status_code == 400
    assert Client().get("/insights/consent/").status_code == 405


def test_the_consent_banner_is_a_personal_part_of_cached_pages(settings, product):
    settings.INSIGHTS_CONSENT_REQUIRED = True
    url = product.get_absolute_url()
    accepted = Client(HTTP_USER_AGENT=FIREFOX)
    accepted.cookies[analytics.CONSENT_COOKIE] = "yes"
    assert accepted.get(url)["X-Page-Cache"] == "miss"
    newcomer = Client(HTTP_USER_AGENT=FIREFOX)
    hit = newcomer.get(url)
    assert hit["X-Page-Cache"] == "hit"
    assert 'class="consent-banner' in hit.content.decode()  # the page stored for a "yes" shows it to a newcomer
    assert "csrfmiddlewaretoken" in hit.content.decode()


def test_signing_in_links_the_visitor_to_the_user(browser, buffer):
    user = UserFactory(email="ann@example.com")
    user.set_password("a-long-Passw0rd!")
    user.save()
    browser.get("/")
    visitor_id = browser.cookies[analytics.VISITOR_COOKIE].value
    response = browser.post("/account/sign-in/", {"username": "ann@example.com", "password": "a-long-Passw0rd!"})
    assert response.status_code == 302
    [record] = [r for r in buffer.records() if r["name"] == "Signed In"]
    assert (record["visitor_id"], record["user_id"]) == (visitor_id, user.pk)


def test_a_new_visitor_id_says_when_it_was_first_seen():
    from datetime import UTC, datetime

    from core import analytics

    moment = datetime(2026, 11, 30, 12, 0, 0, 123000, tzinfo=UTC)
    visitor = analytics.new_visitor_id(moment)
    assert analytics.VISITOR_ID_RE.match(visitor)
    assert analytics.visitor_first_seen(visitor) == moment
    assert analytics.new_visitor_id(moment) != visitor  # random beyond the time
    assert analytics.visitor_first_seen("0" * 32) is None  # an id of another format: unknown
    assert analytics.visitor_first_seen("junk") is None
