"""The product page: a catalog product with its offers and the buy box."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from catalog import cache_keys
from core.pagecache import cache_page_versioned
from marketplace import selectors


def _product_namespaces(request, slug: str):
    return [cache_keys.CATALOG, cache_keys.product(slug), *request.strategy.cache_namespaces]


@cache_page_versioned(_product_namespaces)
def product_detail(request: HttpRequest, slug: str) -> HttpResponse:
    page = selectors.product_page(slug=slug, inputs=request.strategy)
    if page is None:
        raise Http404(_("No such product."))
    return render(request, "marketplace/product_detail.html", {"page": page, "product": page.product})


def seller_detail(request: HttpRequest, slug: str) -> HttpResponse:
    seller = selectors.seller_list().filter(slug=slug).first()
    if seller is None:
        raise Http404(_("No such seller."))
    offers = selectors.offer_list(seller_slug=slug).select_related("product")[:48]
    return render(request, "marketplace/seller_detail.html", {"seller": seller, "offers": offers})
