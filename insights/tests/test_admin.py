"""The event list in admin: read only for everyone, visible to staff with the view permission."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core import analytics
from insights import services
from insights.models import Event
from tests.factories import UserFactory, staff_user

pytestmark = pytest.mark.django_db

URL = "/admin/insights/event/"


@pytest.fixture
def event() -> Event:
    services.events_insert([analytics.make_record("Product Viewed", visitor_id="a" * 32, properties={"product_id": 3},
                                                  occurred_at=datetime.now(UTC))])
    return Event.objects.get()


def test_staff_with_the_view_permission_see_events_read_only(client, event):
    client.force_login(staff_user("insights.view_event"))
    listing = client.get(URL)
    assert listing.status_code == 200
    assert "Product Viewed" in listing.content.decode()
    assert client.get(URL + "?name=Product+Viewed&device__exact=other&is_bot__exact=0").status_code == 200
    detail = client.get(f"{URL}{event.pk}/change/")
    assert detail.status_code == 200
    assert 'name="_save"' not in detail.content.decode()
    assert client.get(URL + "add/").status_code == 403
    assert client.post(f"{URL}{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Event.objects.filter(pk=event.pk).exists()


def test_superusers_cannot_change_events_either(client, event):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    assert client.get(URL + "add/").status_code == 403
    assert client.post(f"{URL}{event.pk}/change/", {"name": "Forged"}).status_code == 403
    assert Event.objects.get(pk=event.pk).name == "Product Viewed"


def test_staff_without_the_permission_see_nothing(client, event):
    client.force_login(staff_user())
    assert client.get(URL).status_code == 403
