"""What the layout's personal parts show (``templates/personal/``), from the composition point."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

from django.http import HttpRequest

from checkout import selectors as checkout_selectors
from core import analytics


def personal_parts(request: HttpRequest, known: Mapping[str, Any]) -> dict[str, Hashable]:
    """``settings.PERSONAL_PARTS_CONTEXT``: everything the header's account links and cart count
    show about the visitor, and nothing more (core.pagecache renders those parts once per distinct
    value of this and serves them to every visitor with the same one).

    ``signed_in``; ``member_plan``: the name of the signed-in member's plan ("" for guests and
    non-members); ``cart_item_count``: units in the open cart. A guest without a cart costs no
    query; a signed-in customer one (the count), their benefits being read for the page anyway.
    ``known``: the page's own context, whose ``cart_item_count`` (a number the view counted, or
    the lazy one of checkout.context_processors.cart) is used instead of counting again.
    """
    user = getattr(request, "user", None)
    signed_in = bool(getattr(user, "is_authenticated", False))
    strategy = getattr(request, "strategy", None)
    benefits = strategy.benefits if signed_in and strategy is not None else None
    count = known.get("cart_item_count")
    if callable(count):
        count = count()
    if not isinstance(count, int):
        session = getattr(request, "session", None)
        count = checkout_selectors.cart_item_count(session=session, user=user) if session is not None else 0
    context: dict[str, Hashable] = {"signed_in": signed_in, "cart_item_count": count,
                                    "member_plan": benefits.plan_name if benefits is not None else ""}
    # --- Insights: the consent banner (personal/consent_banner.html), only when consent is required,
    # so the parts' key is unchanged otherwise.
    if analytics.consent_required():
        context["consent_banner"] = analytics.consent_banner_pending(request)
    return context
