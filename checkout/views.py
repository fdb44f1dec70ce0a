"""Cart pages: show the cart, add an offer, change or remove a line. Thin: services decide."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from checkout import selectors, services
from core.exceptions import ApplicationError


@require_GET
def cart_detail(request: HttpRequest) -> HttpResponse:
    cart = services.cart_for_session(session=request.session, user=request.user)
    view = selectors.cart_view(cart=cart)
    # The header badge reads the count already computed here instead of asking again.
    return render(request, "checkout/cart.html", {"view": view, "cart_item_count": view.item_count})


def _back(request: HttpRequest) -> str:
    referer = request.META.get("HTTP_REFERER", "")
    if referer and url_has_allowed_host_and_scheme(
        referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return referer
    return reverse("checkout:cart")


@require_POST
def cart_add(request: HttpRequest) -> HttpResponse:
    try:
        cart = services.cart_for_session(session=request.session, user=request.user, create=True)
        services.cart_add(cart=cart, offer_id=request.POST.get("offer"), quantity=request.POST.get("quantity", "1"))
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect(_back(request))
    messages.success(request, _("Added to your cart"))
    return redirect("checkout:cart")


@require_POST
def cart_line(request: HttpRequest, line_id: int) -> HttpResponse:
    cart = services.cart_for_session(session=request.session, user=request.user)
    try:
        if cart is None:
            raise ApplicationError(_("Your cart is empty."))
        if "remove" in request.POST:
            services.cart_line_remove(cart=cart, line_id=line_id)
            messages.success(request, _("Removed from your cart"))
        else:
            line = services.cart_line_update(cart=cart, line_id=line_id, quantity=request.POST.get("quantity"))
            messages.success(request, _("Your cart was updated") if line else _("Removed from your cart"))
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("checkout:cart")
