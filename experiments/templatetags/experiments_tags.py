"""``{% load experiments_tags %}{% variant "cart-membership-banner" as v %}``: the variant this
visitor sees (``None``: the default experience), the exposure logged when the tag is rendered.

Put the tag where the variant is shown (inside the ``{% if %}`` that decides whether the
experiment's part of the page appears at all), so that only visitors who saw it are counted. A
page that depends on a variant must not be stored whole for everyone (core.pagecache): use it on
pages that are never page-cached (the cart), or make the variant part of the page's cache key.
"""

from __future__ import annotations

from django import template

from experiments import selectors

register = template.Library()


@register.simple_tag(takes_context=True)
def variant(context, key: str, expose: bool = True) -> str | None:
    request = context.get("request")
    if request is None:
        return None
    return selectors.variant(request, key, expose=expose)
