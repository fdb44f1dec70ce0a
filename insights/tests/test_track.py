"""core.analytics.track: one RPUSH to the Redis buffer, never an exception, never a lost event
where it promises one (Redis down: written straight to the event table), crawlers and health
checks left out."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import pytest
from django.test import RequestFactory, override_settings

from core import analytics
from core.tests.test_cache import DOWN_REDIS
from insights import services
from insights.models import Event
from insights.tests.conftest import FIREFOX

pytestmark = pytest.mark.django_db

LOCMEM = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "insights-tests"}}
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
HEADLESS = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.6778.33 "
            "Safari/537.36")
IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/17.5 Mobile/15E148 Safari/604.1")
IPAD = "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5"
ANDROID_TABLET = "Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari"


def test_track_buffers_one_record_in_redis_and_the_flush_stores_it(buffer):
    occurred = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
    assert analytics.track("Product Viewed", visitor_id="a" * 32, user_id=7, properties={"product_id": 12},
                           occurred_at=occurred, user_agent=FIREFOX)
    assert Event.objects.count() == 0  # nothing in the database until the flush
    [record] = buffer.records()
    assert record["name"] == "Product Viewed"
    assert record["visitor_id"] == "a" * 32
    assert record["device"] == "desktop"
    assert record["is_bot"] is False
    report = services.events_flush()
    assert (report.read, report.accepted, report.skipped) == (1, 1, 0)
    event = Event.objects.get()
    assert (event.name, event.visitor_id, event.user_id, event.properties) == ("Product Viewed", "a" * 32, 7,
                                                                               {"product_id": 12})
    assert event.occurred_at == occurred
    assert str(event.event_id) == record["event_id"]
    assert len(buffer) == 0


def test_with_redis_down_track_never_raises_and_writes_the_event_directly():
    with override_settings(CACHES=DOWN_REDIS):
        started = time.monotonic()
        assert analytics.track("Product Viewed", visitor_id="b" * 32, properties={"product_id": 1}) is True
        # the buffer is now bypassed for a few seconds: no second connection timeout
        assert analytics.track("Product Viewed", visitor_id="b" * 32, properties={"product_id": 2}) is True
        assert time.monotonic() - started < 1
    assert sorted(e.properties["product_id"] for e in Event.objects.filter(visitor_id="b" * 32)) == [1, 2]


def test_in_the_embedded_mode_without_redis_events_are_written_directly():
    with override_settings(CACHES=LOCMEM):
        assert analytics.redis_client() is None
        assert analytics.track("Products Searched", visitor_id="c" * 32, properties={"query": "kettle"})
        assert services.events_flush().read == 0  # nothing to drain
    assert Event.objects.get().properties == {"query": "kettle"}


def test_nothing_escapes_track_even_when_nothing_can_take_the_event(settings):
    settings.ANALYTICS_DIRECT_SINK = "insights.no_such_module.insert"
    with override_settings(CACHES=DOWN_REDIS):
        assert analytics.track("Product Viewed", visitor_id="d" * 32) is False
    assert analytics.track("Product Viewed", visitor_id="d" * 32, properties={"not json": object()}) is False


def test_a_failed_direct_write_leaves_the_callers_transaction_usable(settings, django_user_model):
    settings.ANALYTICS_DIRECT_SINK = "insights.tests.test_track.refusing_sink"
    with override_settings(CACHES=LOCMEM):
        assert analytics.track("Product Viewed", visitor_id="e" * 32) is False
    assert django_user_model.objects.count() >= 0  # the transaction still answers


def refusing_sink(records):
    Event.objects.bulk_create([Event(name="x" * 200, occurred_at=datetime.now(UTC), visitor_id="e")])


def test_crawlers_are_dropped_but_headless_chrome_is_counted(buffer, settings):
    assert analytics.track("Product Viewed", visitor_id="f" * 32, user_agent=GOOGLEBOT) is False
    assert analytics.track("Product Viewed", visitor_id="f" * 32, user_agent="curl/8.5.0") is False
    assert analytics.track("Product Viewed", visitor_id="f" * 32, user_agent=HEADLESS) is True
    assert [r["is_bot"] for r in buffer.records()] == [False]
    settings.INSIGHTS_KEEP_BOT_EVENTS = True
    assert analytics.track("Product Viewed", visitor_id="f" * 32, user_agent=GOOGLEBOT) is True
    services.events_flush()
    assert sorted(Event.objects.values_list("is_bot", flat=True)) == [False, True]


def test_an_event_needs_a_visitor_or_a_user(buffer):
    assert analytics.track("Product Viewed", visitor_id="") is False
    assert analytics.track("Signed In", visitor_id="", user_id=3) is True
    assert len(buffer) == 1


@pytest.mark.parametrize(("user_agent", "device"), [
    (FIREFOX, "desktop"), (IPHONE, "mobile"), (IPAD, "tablet"), (ANDROID_TABLET, "tablet"), (HEADLESS, "desktop"),
    ("", "other"), ("SomethingElse/1.0", "other"),
])
def test_the_device_comes_from_the_user_agent(user_agent, device):
    assert analytics.device_of(user_agent) == device


def test_health_checks_and_crawler_requests_are_not_tracked(buffer):
    factory = RequestFactory()
    for path, user_agent in (("/healthz", FIREFOX), ("/readyz", FIREFOX), ("/", GOOGLEBOT)):
        request = factory.get(path, HTTP_USER_AGENT=user_agent)
        request.visitor_id = "1" * 32
        assert analytics.track_request(request, "Product Viewed") is False
    request = factory.get("/api/v1/products/", HTTP_USER_AGENT=IPHONE)
    request.visitor_id = "1" * 32
    assert analytics.track_request(request, "Product Viewed", {"product_id": 5}) is True
    [record] = buffer.records()
    assert (record["channel"], record["device"], record["visitor_id"]) == ("api", "mobile", "1" * 32)


def test_the_event_id_given_is_kept(buffer):
    event_id = uuid.uuid4()
    analytics.track("Signed In", visitor_id="2" * 32, event_id=event_id)
    assert buffer.records()[0]["event_id"] == str(event_id)
