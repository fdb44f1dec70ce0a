"""The delivery promise: the warehouse's cutoff in its own time zone (daylight saving included),
handling and transit working days, weekends and holidays of the warehouse and of the carrier; shown
on the product page with the time left to order, kept in checkout and stored on the package, and
never stale in a cached page when the cutoff passes or a holiday is added."""

from datetime import UTC, date, datetime, time
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse

from fulfillment import promise
from fulfillment import services as fulfillment_services
from fulfillment.models import Holiday, Warehouse
from orders.models import Package
from tests.buying import cart_with, place
from tests.commit import committed
from tests.factories import OfferFactory, ProductFactory, WarehouseFactory, shipping_method, staff_user, stock

NY = promise.Dispatch("America/New_York", time(14, 0))


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(("now", "earliest", "latest", "order_by"), [
    # Tuesday 1 December 2026, 13:00 in New York (18:00 UTC): before the cutoff, counts from today
    ("2026-12-01T18:00", date(2026, 12, 3), date(2026, 12, 4), at("2026-12-01T19:00")),
    # 15:00 in New York: after the cutoff, counts from Wednesday
    ("2026-12-01T20:00", date(2026, 12, 4), date(2026, 12, 7), None),
    # Friday after the cutoff: leaves Monday (the weekend is skipped), arrives Tuesday to Wednesday
    ("2026-12-04T20:00", date(2026, 12, 8), date(2026, 12, 9), None),
    # Saturday: no cutoff on a day nobody works; counts as the weekend
    ("2026-12-05T15:00", date(2026, 12, 8), date(2026, 12, 9), None),
    # daylight saving: Friday 30 Oct (EDT, UTC-4) 18:30 UTC is 14:30, past the cutoff: leaves Monday...
    ("2026-10-30T18:30", date(2026, 11, 3), date(2026, 11, 4), None),
    # ... and 2 Nov (EST, UTC-5) 18:30 UTC is 13:30, before it: the cutoff is 19:00 UTC now
    ("2026-11-02T18:30", date(2026, 11, 4), date(2026, 11, 5), at("2026-11-02T19:00")),
])
def test_cutoff_time_zone_weekends_and_daylight_saving(now, earliest, latest, order_by):
    promised = promise.promise(now=at(now), dispatch=NY, handling_days=1, min_days=1, max_days=2)
    assert (promised.earliest, promised.latest, promised.order_by) == (earliest, latest, order_by)


def test_warehouse_and_carrier_holidays_are_skipped_and_no_cutoff_is_plain_counting():
    closed = promise.Dispatch("America/New_York", time(14, 0), frozenset({date(2026, 12, 2)}))
    promised = promise.promise(now=at("2026-12-01T18:00"), dispatch=closed, handling_days=1, min_days=1,
                               max_days=2, transit_closed=frozenset({date(2026, 12, 4)}))
    assert (promised.earliest, promised.latest) == (date(2026, 12, 7), date(2026, 12, 8))  # leaves Thu, Fri off
    plain = promise.promise(now=at("2026-12-05T23:00"), dispatch=promise.Dispatch(), handling_days=0,
                            min_days=1, max_days=1)
    assert plain.earliest == date(2026, 12, 7)  # Saturday + 1 working day, as the shop always counted
    assert promise.zone("Not/AZone").key == "UTC"


def test_the_epoch_changes_at_the_cutoff_and_at_midnight():
    before = promise.epoch(now=at("2026-12-01T18:59"), dispatches=[NY])
    after = promise.epoch(now=at("2026-12-01T19:00"), dispatches=[NY])
    next_day = promise.epoch(now=at("2026-12-02T05:00"), dispatches=[NY])
    assert len({before, after, next_day}) == 3


def test_the_next_change_of_the_epoch_is_the_first_cutoff_or_midnight_ahead():
    chicago = promise.Dispatch("America/Chicago", time(13, 0))
    # 10:00 in New York, 09:00 in Chicago: New York's 14:00 cutoff (19:00 UTC) comes first
    assert promise.next_epoch(now=at("2026-12-01T15:00"), dispatches=[NY, chicago]) == at("2026-12-01T19:00")
    # past both cutoffs: New York's midnight (05:00 UTC) comes before Chicago's (06:00 UTC)
    assert promise.next_epoch(now=at("2026-12-01T20:00"), dispatches=[NY, chicago]) == at("2026-12-02T05:00")
    # 1 November 2026 in New York lasts 25 hours (the clocks go back): it starts at 04:00 UTC (EDT)
    # and the next one at 05:00 UTC (EST)
    assert promise.next_epoch(now=at("2026-10-31T20:00"), dispatches=[NY]) == at("2026-11-01T04:00")
    assert promise.next_epoch(now=at("2026-11-01T20:00"), dispatches=[NY]) == at("2026-11-02T05:00")


def test_the_remembered_epoch_changes_exactly_at_the_cutoff(shop):
    from fulfillment import selectors as fulfillment_selectors

    fulfillment_selectors.clocks_forget()
    morning = fulfillment_selectors.promise_epoch(now=at("2026-12-01T15:00"))
    assert fulfillment_selectors._CLOCKS["epoch"][1:] == (at("2026-12-01T19:00"), morning)  # kept until the cutoff
    assert fulfillment_selectors.promise_epoch(now=at("2026-12-01T18:59:59")) == morning  # remembered
    at_cutoff = fulfillment_selectors.promise_epoch(now=at("2026-12-01T19:00"))
    assert at_cutoff != morning
    assert fulfillment_selectors.promise_epoch(now=at("2026-12-01T16:00")) == morning  # an earlier clock: asked again
    assert fulfillment_selectors.promise_epoch(now=at("2026-12-02T05:00")) not in (morning, at_cutoff)


@pytest.fixture
def shop(db):
    centre = WarehouseFactory(code="fc-ny", name="New York centre")
    centre.time_zone, centre.cutoff = "America/New_York", time(14, 0)
    with committed():
        fulfillment_services.warehouse_save(warehouse=centre)
    shipping_method(channel="platform", price="0.00", code="free", min_days=1, max_days=2)
    kettle = ProductFactory(title="Electric Kettle")
    offer = OfferFactory(product=kettle, price=Decimal("24.00"), handling_days=1)
    stock(offer, 5, centre)
    return {"centre": Warehouse.objects.get(pk=centre.pk), "kettle": kettle, "offer": offer}


def page_text(client, product) -> str:
    return client.get(product.get_absolute_url()).content.decode()


@pytest.mark.django_db
def test_the_product_page_promises_a_day_and_rolls_over_at_the_cutoff(client, shop):
    with time_machine.travel(at("2026-12-01T18:00"), tick=False):
        page = page_text(client, shop["kettle"])
        assert "Arrives Thu 3 Dec – Fri 4 Dec" in page
        assert 'data-order-by="2026-12-01T14:00:00-05:00"' in page
        assert "if you order by 14:00 EST" in page
    with time_machine.travel(at("2026-12-01T19:00"), tick=False):  # the cached page is not served now
        page = page_text(client, shop["kettle"])
        assert "Arrives Fri 4 Dec – Mon 7 Dec" in page
        assert "data-order-by" not in page


@pytest.mark.django_db
def test_a_holiday_added_in_admin_moves_the_promise_at_once(client, shop):
    with time_machine.travel(at("2026-12-01T18:00"), tick=False):
        assert "Arrives Thu 3 Dec – Fri 4 Dec" in page_text(client, shop["kettle"])
        admin = client.__class__()
        admin.force_login(staff_user("fulfillment.add_holiday", "fulfillment.view_holiday"))
        with committed():
            response = admin.post(reverse("admin:fulfillment_holiday_add"), {
                "day": "2026-12-02", "name": "Inventory count", "warehouse": shop["centre"].pk, "carrier": ""})
        assert response.status_code == 302, response.content.decode()[:2000]
        assert "Arrives Fri 4 Dec – Mon 7 Dec" in page_text(client, shop["kettle"])
        assert Holiday.objects.count() == 1


@pytest.mark.django_db
def test_checkout_keeps_the_promise_and_the_package_stores_it(shop):
    with time_machine.travel(at("2026-12-01T18:00"), tick=False):
        order = place(cart_with((shop["offer"], 1))).order
    package = Package.objects.get(order=order)
    assert (package.estimated_earliest, package.estimated_latest) == (date(2026, 12, 3), date(2026, 12, 4))


@pytest.mark.django_db
def test_a_warehouse_needs_a_real_time_zone(shop):
    centre = shop["centre"]
    centre.time_zone = "Mars/Olympus_Mons"
    with pytest.raises(Exception, match="Unknown time zone"):
        fulfillment_services.warehouse_save(warehouse=centre)
