"""Start-up checks of the composition point: a missing piece stops ``manage.py check`` (and every
server and worker start), never a request."""

from __future__ import annotations

from django.conf import settings
from django.core import checks

MIDDLEWARE = "shop.middleware.StrategyMiddleware"
AUTHENTICATION = "django.contrib.auth.middleware.AuthenticationMiddleware"


def protocols() -> list[type]:
    """Every protocol a lower context asks the strategy to satisfy."""
    from catalog.services import PurchaseFacts
    from checkout.pricing import PricingInputs
    from marketplace.buy_box import BuyBoxInputs
    from marketplace.selectors import ProductPageInputs
    from orders.selectors import OrderPageInputs

    return [BuyBoxInputs, ProductPageInputs, PurchaseFacts, PricingInputs, OrderPageInputs]


def _members(protocol: type) -> set[str]:
    names = set()
    for klass in protocol.__mro__:
        if klass is object or klass.__name__ in ("Protocol", "Generic"):
            continue
        names.update(n for n in vars(klass) if not n.startswith("_"))
        names.update(getattr(klass, "__annotations__", {}))
    return names


def missing_members(strategy: type) -> list[str]:
    """``protocol.member`` names the strategy class does not provide."""
    return sorted(
        f"{protocol.__name__}.{name}"
        for protocol in protocols()
        for name in _members(protocol)
        if not hasattr(strategy, name)
    )


def check_strategy(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    from shop.strategy import Strategy

    errors = [
        checks.Error(f"shop.strategy.Strategy does not provide {name}, which a lower context needs.",
                     id="shop.E001")
        for name in missing_members(Strategy)
    ]
    middleware = list(settings.MIDDLEWARE)
    if MIDDLEWARE not in middleware:
        errors.append(checks.Error(f"{MIDDLEWARE} is not in MIDDLEWARE: pages would have no strategy.",
                                   id="shop.E002"))
    elif AUTHENTICATION in middleware and middleware.index(MIDDLEWARE) < middleware.index(AUTHENTICATION):
        errors.append(checks.Error(f"{MIDDLEWARE} must come after {AUTHENTICATION} (the strategy is the user's).",
                                   id="shop.E003"))
    return errors
