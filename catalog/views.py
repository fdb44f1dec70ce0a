"""Catalog pages: home, category listing with facets, search. Thin: parse, select, render."""

from __future__ import annotations

from django.conf import settings
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from catalog import cache_keys, selectors
from catalog.forms import ProductFilterForm
from core.pagecache import cache_page_versioned


def _listing_namespaces(request, *args, **kwargs):
    return [cache_keys.CATALOG, cache_keys.LISTING]


@cache_page_versioned(_listing_namespaces)
def home(request: HttpRequest) -> HttpResponse:
    tree = selectors.category_tree()
    sections = selectors.product_home_sections()
    return render(
        request,
        "catalog/home.html",
        {"top_categories": tree.children_of(None), **sections},
    )


def _listing(request: HttpRequest, *, category=None, template: str, extra: dict) -> HttpResponse:
    form = ProductFilterForm(request.GET, category_id=category.id if category else None)
    form.is_valid()
    filters = selectors.product_filter_prepare(form.to_filter())
    products = selectors.product_list(filters=filters)
    paginator = Paginator(products, settings.CATALOG_PAGE_SIZE)
    requested_page = request.GET.get("page", "")
    page = paginator.get_page(requested_page)
    page_notice = ""
    if requested_page and requested_page != str(page.number):
        page_notice = _("There is no page %(requested)s; showing page %(number)s.") % {
            "requested": requested_page[:20],
            "number": page.number,
        }
    facets = selectors.product_facets(filters=filters)
    context = {
        "form": form,
        "filters": filters,
        "page_obj": page,
        "products": page.object_list,
        "facets": facets,
        "sorts": [(k, v) for k, v in selectors.SORTS.items() if k != "relevance" or filters.query],
        "current_sort": filters.effective_sort,
        "page_notice": page_notice,
        **extra,
    }
    return render(request, template, context)


@cache_page_versioned(_listing_namespaces)
def category(request: HttpRequest, slug: str) -> HttpResponse:
    tree = selectors.category_tree()
    node = tree.get(slug)
    if node is None:
        raise Http404(_("No such category."))
    return _listing(
        request,
        category=node,
        template="catalog/category.html",
        extra={
            "category": node,
            "breadcrumbs": tree.ancestors(node.id)[:-1],
            "subcategories": tree.children_of(node.id),
        },
    )


@cache_page_versioned(_listing_namespaces)
def search(request: HttpRequest) -> HttpResponse:
    return _listing(request, template="catalog/search.html", extra={"query": request.GET.get("q", "")[:200]})
