"""Experiments test helpers: experiments made and started through the services, requests as the
middleware leaves them (a visitor id, a user, the shop's strategy), and the exposures tracked
(drained from the Redis buffer into the event table, as the beat flush does)."""

from __future__ import annotations

from datetime import datetime

import pytest
from django.contrib.auth.models import AnonymousUser
from django.test import RequestFactory

from core import analytics
from experiments import selectors, services
from insights import services as insights_services
from insights.models import Event
from shop.strategy import Strategy

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


def make(key: str = "banner-test", *, weights=(1, 1), audience: str = "everyone", start: bool = True,
         now: datetime | None = None, **fields):
    variants = [("control", "Control", weights[0])] + [
        (f"t{i}", f"Treatment {i}", weight) for i, weight in enumerate(weights[1:], start=1)]
    experiment = services.experiment_create(key=key, name=key.replace("-", " ").title(), variants=variants,
                                            audience=audience, **fields)
    if start:
        experiment = services.experiment_start(experiment=experiment, now=now)
    return experiment


def request_for(*, visitor_id: str = "", user=None, path: str = "/cart/"):
    request = RequestFactory(HTTP_USER_AGENT=FIREFOX).get(path)
    request.user = user or AnonymousUser()
    request.visitor_id = visitor_id
    request.strategy = Strategy(user=request.user)
    return request


def exposures() -> list[Event]:
    """The "Experiment Viewed" events tracked so far (the buffer drained into the table first)."""
    insights_services.events_flush()
    return list(Event.objects.filter(name=selectors.EXPOSURE_EVENT).order_by("occurred_at", "id"))


@pytest.fixture(autouse=True)
def _buffer_breaker_closed():
    analytics._breaker.open_until = 0.0
    yield
    analytics._breaker.open_until = 0.0
