"""The composition point: one strategy answers what lower contexts need; nothing is registered at
start-up, and a missing piece stops the start, never a request."""

from __future__ import annotations

import importlib
import inspect
from decimal import Decimal

import pytest
from django.conf import settings
from django.test import RequestFactory

from shop import checks
from shop.middleware import StrategyMiddleware
from shop.strategy import Strategy, for_job
from tests.factories import OfferFactory, UserFactory, shipping_method, stock

APPS = ["core", "accounts", "catalog", "marketplace", "payments", "fulfillment", "orders", "promotions",
        "membership", "checkout"]


@pytest.mark.django_db
def test_the_strategy_satisfies_every_protocol_a_lower_context_asks_for():
    for protocol in checks.protocols():
        assert isinstance(Strategy(), protocol), protocol.__name__
    assert checks.missing_members(Strategy) == []
    assert checks.check_strategy() == []


def test_a_strategy_missing_a_piece_fails_the_system_check():
    class Incomplete:
        benefits = None
        preview_benefits = None
        cache_namespaces = ()

        def offer_facts(self, offers):
            return {}

    missing = checks.missing_members(Incomplete)
    assert "BuyBoxInputs.deal_prices" in missing
    assert "PurchaseFacts.has_bought" in missing


def test_pages_without_the_middleware_do_not_start(settings):
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if m != checks.MIDDLEWARE]
    assert [e.id for e in checks.check_strategy()] == ["shop.E002"]
    settings.MIDDLEWARE = [checks.MIDDLEWARE, *settings.MIDDLEWARE]
    assert [e.id for e in checks.check_strategy()] == ["shop.E003"]


def test_no_context_keeps_a_module_global_registry_or_wires_itself_at_start_up():
    """The five old mechanisms are gone: registries filled in AppConfig.ready(), a discount-step
    registry, and the in-process wiring module of membership."""
    for app in APPS:
        config = importlib.import_module(f"{app}.apps")
        for _name, klass in inspect.getmembers(config, inspect.isclass):
            ready = klass.__dict__.get("ready")
            if ready is not None:
                source = inspect.getsource(ready)
                assert "register_" not in source or "checks.register" in source, f"{app}.apps wires itself"
    for module in ("marketplace.buy_box", "catalog.services", "checkout.pricing"):
        names = [n for n in dir(importlib.import_module(module)) if n.startswith("register_")]
        assert names == [], f"{module} has {names}"
    with pytest.raises(ImportError):
        importlib.import_module("membership.wiring")


@pytest.mark.django_db
def test_each_request_gets_its_own_strategy_for_its_user():
    user = UserFactory()
    request = RequestFactory().get("/")
    request.user = user
    seen = []
    StrategyMiddleware(lambda r: seen.append(r.strategy.user) or "response")(request)
    assert seen == [user]
    assert for_job().user is None


@pytest.mark.django_db
def test_the_strategy_answers_from_the_contexts_that_own_the_facts():
    shipping_method(channel="platform", price="4.00", code="std")
    offer = OfferFactory(price=Decimal("10.00"))
    stock(offer, 3)
    strategy = Strategy()
    facts = strategy.offer_facts([offer])[offer.pk]
    assert (facts.available, facts.shipping) == (3, Decimal("4.00"))
    assert strategy.deal_prices([offer]) == {}
    assert strategy.benefits is None
    assert strategy.has_bought(offer.product_id) is False


def test_the_middleware_comes_after_authentication():
    middleware = list(settings.MIDDLEWARE)
    assert middleware.index(checks.MIDDLEWARE) > middleware.index(checks.AUTHENTICATION)
