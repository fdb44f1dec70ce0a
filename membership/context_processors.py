"""Template context for every page: the signed-in customer's membership (header badge)."""

from functools import cache

from django.http import HttpRequest

from membership import selectors


def membership(request: HttpRequest) -> dict:
    """``member_benefits``: the customer's benefits (None for guests and non-members), looked up
    only when a template shows them, from the per-customer cache. Guests cost nothing, so the
    cached anonymous pages never carry anyone's membership."""
    user = getattr(request, "user", None)

    @cache
    def member_benefits():
        return selectors.benefits_for(user)

    return {"member_benefits": member_benefits}
