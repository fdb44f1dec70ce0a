"""Template helpers for shopper pages: the category navigation and listing query strings."""

from __future__ import annotations

from django import template

from catalog import selectors
from catalog.forms import ATTRIBUTE_PREFIX

register = template.Library()


@register.inclusion_tag("partials/category_nav.html", takes_context=True)
def category_nav(context, limit: int = 8) -> dict:
    """The top-level categories for the header (from the cached category tree)."""
    current = context.get("category")
    current_root = None
    tree = selectors.category_tree()
    if current is not None and getattr(current, "id", None) in tree.nodes:
        current_root = tree.ancestors(current.id)[0].id
    return {"categories": tree.children_of(None)[:limit], "current_root": current_root}


@register.simple_tag(takes_context=True)
def hidden_params(context, *exclude: str) -> list[tuple[str, str]]:
    """The current query parameters except ``exclude`` (and ``page``), for hidden form inputs."""
    request = context["request"]
    skip = {*exclude, "page"}
    return [(key, value) for key, values in sorted(request.GET.lists()) if key not in skip for value in values if value]


@register.filter
def attr_param(code: str) -> str:
    """The query parameter name of an attribute filter: ``colour`` -> ``a_colour``."""
    return f"{ATTRIBUTE_PREFIX}{code}"


@register.simple_tag
def page_numbers(page_obj) -> list:
    """Page numbers around the current page, with ``Paginator.ELLIPSIS`` for the gaps."""
    return list(page_obj.paginator.get_elided_page_range(page_obj.number, on_each_side=2, on_ends=1))
