"""The deals page: lightning deals running now (with their countdown and share claimed) and the
ones starting soon. Cached whole for every visitor like the catalog pages; the cache is
bumped when units are claimed or released, a deal is saved, and a deal starts or ends."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from catalog import cache_keys
from core.pagecache import cache_page_versioned
from promotions import deals, selectors


def _namespaces(request: HttpRequest):
    return [cache_keys.CATALOG, cache_keys.LISTING, deals.NAMESPACE]


@cache_page_versioned(_namespaces, params=("page",), shared=True)
def deal_list(request: HttpRequest) -> HttpResponse:
    page = selectors.deals_page(page_number=request.GET.get("page") or 1)
    return render(request, "promotions/deals.html", {
        "cards": page.cards, "page_obj": page.page, "upcoming": page.upcoming,
    })
