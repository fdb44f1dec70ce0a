"""``request.strategy``: the per-request composition point (see :mod:`shop.strategy`)."""

from __future__ import annotations

from django.utils.functional import SimpleLazyObject

from shop.strategy import for_request


class StrategyMiddleware:
    """Gives every request its strategy, built on first use (after authentication, which it reads)."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        request.strategy = SimpleLazyObject(lambda: for_request(request))
        return self.get_response(request)
