"""Template context shared by every page."""

from django.conf import settings
from django.http import HttpRequest


def shop(request: HttpRequest) -> dict:
    context = {"SHOP_NAME": settings.SHOP_NAME, "SHOP_CURRENCY": settings.SHOP_CURRENCY}
    token = getattr(request, "page_cache_csrf_token", None)
    if token:
        # Overrides the built-in csrf processor so core.pagecache can find and replace it.
        context["csrf_token"] = token
    return context
