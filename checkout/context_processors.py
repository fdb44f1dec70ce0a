"""Template context for every page: the number of items in the shopper's cart (header badge)."""

from functools import cache

from django.http import HttpRequest

from checkout import selectors


def cart(request: HttpRequest) -> dict:
    """``cart_item_count``, looked up only when a template shows it (admin pages never do).

    A guest without a cart in the session costs no query. Pages of such guests are the only
    ones :mod:`core.pagecache` stores, so a cached page never carries someone else's count.
    """
    session = getattr(request, "session", None)

    @cache
    def cart_item_count() -> int:
        if session is None:
            return 0
        return selectors.cart_item_count(session=session, user=getattr(request, "user", None))

    return {"cart_item_count": cart_item_count}
