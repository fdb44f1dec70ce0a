"""Marketplace pages: a seller's shop front (the product page is the storefront's)."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from marketplace import selectors


def seller_detail(request: HttpRequest, slug: str) -> HttpResponse:
    seller = selectors.seller_list().filter(slug=slug).first()
    if seller is None:
        raise Http404(_("No such seller."))
    offers = selectors.offer_list(seller_slug=slug).select_related("product")[:48]
    return render(request, "marketplace/seller_detail.html", {"seller": seller, "offers": offers})
