"""Lightning deals in templates: ``{% deal_box offer %}`` for the product page's buy box and the
countdown text the deals page shows (``static/js/deals.js`` keeps it ticking)."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils import timezone

from promotions import selectors

register = template.Library()


@register.filter
def deal_countdown(moment: datetime | None) -> str:
    """Time left until ``moment`` as ``H:MM:SS`` (hours keep counting past a day), ``0:00:00``
    once it has passed. deals.js writes the same format every second."""
    if not isinstance(moment, datetime):
        return ""
    seconds = max(int((moment - timezone.now()).total_seconds()), 0)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


@register.filter
def deal_percent_off(deal_price, price) -> int:
    """``{{ deal.deal_price|deal_percent_off:offer.price }}`` -> 25 (whole percent)."""
    try:
        return selectors.percent_off(price, deal_price)
    except (TypeError, ArithmeticError):
        return 0


@register.inclusion_tag("promotions/_deal_box.html")
def deal_box(offer) -> dict:
    """The lightning deal running on ``offer`` now, if any: deal price, countdown, share claimed.
    Reads the cached deals (no query when warm), so the product page keeps its query count; the
    page's cache is bumped when units are claimed and when the deal starts or ends."""
    deal = selectors.deal_for_offer(offer_id=getattr(offer, "pk", None))
    if deal is None or offer.price <= deal.deal_price:
        return {"deal": None}
    return {"deal": deal, "offer": offer, "percent_off": selectors.percent_off(offer.price, deal.deal_price)}


@register.inclusion_tag("promotions/_deal_badge.html")
def deal_badge(offer) -> dict:
    """A short "Lightning deal $X" note for an offer listed beside the buy box (same cached deals
    as :func:`deal_box`, so a table of offers costs no query per row)."""
    deal = selectors.deal_for_offer(offer_id=getattr(offer, "pk", None))
    if deal is None or offer.price <= deal.deal_price or deal.sold_out:
        return {"deal": None}
    return {"deal": deal, "offer": offer}
