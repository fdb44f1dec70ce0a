"""Template helpers used across the shop: money, stars, query-string editing, personal parts."""

from __future__ import annotations

from decimal import Decimal

from django import template
from django.template import Context
from django.utils.formats import date_format
from django.utils.http import urlencode
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _

from core import addresses, pagecache
from core.money import Money, format_money

register = template.Library()


@register.filter(name="money")
def money(value, currency: str | None = None) -> str:
    """``{{ offer.price|money:offer.currency }}`` -> ``$12.50``. The one way money is shown."""
    if isinstance(value, Money):
        return str(value)
    if value is None or value == "":
        return ""
    return format_money(value, currency or None)


@register.filter
def days(earliest, latest) -> str:
    """``{{ earliest|days:latest }}`` -> ``Wed 2 Dec – Fri 4 Dec``, or ``Wed 2 Dec`` when both are
    the same day (a delivery window). Empty without a first day."""
    if not earliest:
        return ""
    first = date_format(earliest, "D j M")
    if not latest or latest == earliest:
        return first
    return f"{first} – {date_format(latest, 'D j M')}"


@register.filter
def address_lines(address) -> list[str]:
    """``{% for line in order.shipping_address|address_lines %}``: an address as its country writes it."""
    return addresses.address_lines(address) if address else []


@register.filter
def stars(rating) -> str:
    """A 0-5 rating as text stars, e.g. ``★★★★☆``."""
    try:
        value = Decimal(rating or 0)
    except (ArithmeticError, ValueError, TypeError):
        value = Decimal(0)
    full = int(value.to_integral_value())
    full = max(0, min(5, full))
    return "★" * full + "☆" * (5 - full)


@register.filter
def get_item(mapping, key):
    """``{{ claims|get_item:package.seller_id }}``: a dict's value for a key, or None."""
    return mapping.get(key) if hasattr(mapping, "get") else None


@register.filter
def percent_off(price, list_price) -> str:
    try:
        price, list_price = Decimal(price), Decimal(list_price)
    except (ArithmeticError, ValueError, TypeError):
        return ""
    if not list_price or price >= list_price:
        return ""
    pct = int(((list_price - price) / list_price * 100).to_integral_value())
    return _("%(pct)s%% off") % {"pct": pct}


@register.simple_tag(takes_context=True)
def query(context, **changes) -> str:
    """The current query string with some parameters replaced (None removes them)."""
    request = context["request"]
    params = request.GET.copy()
    for key, value in changes.items():
        params.pop(key, None)
        if value is not None and value != "":
            params[key] = value
    if "page" not in changes:
        params.pop("page", None)
    return "?" + urlencode(sorted(params.lists()), doseq=True) if params else "?"


@register.simple_tag(takes_context=True)
def toggle_query(context, key: str, value) -> str:
    """The current query string with ``value`` added to or removed from the list ``key``."""
    request = context["request"]
    params = request.GET.copy()
    value = str(value)
    values = params.getlist(key)
    if value in values:
        values.remove(value)
    else:
        values.append(value)
    params.setlist(key, values)
    params.pop("page", None)
    items = [(k, v) for k, vs in sorted(params.lists()) for v in vs if v != ""]
    return "?" + urlencode(items) if items else "?"


@register.simple_tag(takes_context=True)
def personal(context, template_name: str) -> str:
    """``{% personal "personal/cart_count.html" %}``: a part of the layout that differs per visitor
    (account links, cart count, messages). Rendered in place, except in a page being stored by
    :mod:`core.pagecache`, where it becomes a marker filled in for each visitor served the page."""
    request = context.get("request")
    if request is not None and pagecache.rendering_shared_page(request):
        return mark_safe(pagecache.PERSONAL_MARK % template_name)  # noqa: S308 - our own marker
    template = context.template.engine.get_template(template_name)
    # Only what the personal context holds, as on a stored page (pagecache.personal_context).
    personal_context = pagecache.personal_context(request, context.get("csrf_token", ""), known=context)
    return template.render(Context(personal_context, autoescape=context.autoescape))
