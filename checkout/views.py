"""Cart pages: show the cart, add an offer, change or remove a line. Thin: services decide.

Without JavaScript every form is a plain POST answered by a redirect (messages carry the outcome).
With htmx (``request.htmx``) the same views answer with a fragment: the cart's body, or a short
"added" note for the product page, each with the header's cart count swapped out of band.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST

from checkout import pricing, selectors, services
from checkout.flow import VOUCHER_SESSION_KEY
from core import ratelimit
from core.exceptions import ApplicationError
from promotions import services as promotions_services


@require_GET
def cart_detail(request: HttpRequest) -> HttpResponse:
    cart = services.cart_for_session(session=request.session, user=request.user)
    view = selectors.cart_view(cart=cart)
    # The header badge reads the count already computed here instead of asking again.
    return render(request, "checkout/cart.html", {"cart_item_count": view.item_count, **_priced_context(request, view)})


def _priced_context(request: HttpRequest, view: selectors.CartView) -> dict:
    """The cart at this shopper's prices: member prices, every discount with its explanation, the
    session's voucher (or why it gives none), and for a non-member what joining would save."""
    code = str(request.session.get(VOUCHER_SESSION_KEY) or "")
    lines = [pricing.LineInput(v.line.offer_id, v.quantity) for v in view.lines if v.sellable]
    if not lines:
        return {"view": view, "voucher_code": code}
    lines, context = selectors.cart_pricing_input(buyer=request.strategy, user=request.user, lines=lines,
                                                  voucher_code=code)
    offers = {v.line.offer_id: v.line.offer for v in view.lines if v.sellable}
    try:
        priced = pricing.price_cart(lines=lines, context=context, offers=offers)
    except pricing.OrderTooLarge as exc:  # shown on the cart, which then offers no checkout
        return {"view": view, "voucher_code": code, "pricing_error": exc.message}
    result = {
        "view": selectors.cart_view_priced(view=view, priced=priced), "priced": priced, "voucher_code": code,
        "voucher": priced.voucher, "voucher_error": priced.voucher_error,
        "member_savings": pricing.member_savings(lines=lines, context=context, priced=priced, offers=offers,
                                                 preview=request.strategy.preview_benefits),
    }
    if priced.discounts:
        result["discounted_subtotal"] = priced.subtotal - priced.discount
    return result


def _voucher_check_key(request: HttpRequest) -> str | None:
    """Who a code check counts for (removing the code is not a check)."""
    return None if "remove" in request.POST else ratelimit.caller_key(request)


def _voucher_limited(request: HttpRequest, verdict: ratelimit.Verdict) -> HttpResponse:
    """Too many codes tried: the cart with a message saying so (429; 200 for htmx, which swaps only
    successful answers), and the code is neither checked nor kept."""
    minutes = max(1, -(-verdict.retry_after // 60))
    error = ngettext(
        "You have tried too many voucher codes. Please wait %(n)d minute and try again.",
        "You have tried too many voucher codes. Please wait %(n)d minutes and try again.", minutes,
    ) % {"n": minutes}
    cart = services.cart_for_session(session=request.session, user=request.user)
    view = selectors.cart_view(cart=cart)
    context = {"error": error, "cart_item_count": view.item_count, **_priced_context(request, view)}
    if _is_htmx(request):
        response = render(request, "checkout/_cart_body.html", {**context, "oob": True})
    else:
        response = render(request, "checkout/cart.html", context, status=429)
    response["Retry-After"] = str(verdict.retry_after)
    return response


@require_POST
@ratelimit.rate_limited("voucher", key=_voucher_check_key, on_limited=_voucher_limited)
def cart_voucher(request: HttpRequest) -> HttpResponse:
    """Apply a voucher code to the cart (kept in the session) or remove it."""
    error = notice = None
    if "remove" in request.POST:
        request.session.pop(VOUCHER_SESSION_KEY, None)
        notice = _("Voucher code removed")
    else:
        code = promotions_services.normalize_code(request.POST.get("code"))[:64]
        if code:
            request.session[VOUCHER_SESSION_KEY] = code
        else:
            error = _("Enter a voucher code.")
    cart = services.cart_for_session(session=request.session, user=request.user)
    view = selectors.cart_view(cart=cart)
    priced = _priced_context(request, view)
    if priced.get("voucher"):
        notice = _("Voucher code applied")
    if _is_htmx(request):
        context = {"error": error, "notice": notice, "cart_item_count": view.item_count, "oob": True, **priced}
        return render(request, "checkout/_cart_body.html", context)
    if error:
        messages.error(request, error)
    elif notice:
        messages.success(request, notice)
    return redirect("checkout:cart")


def _back(request: HttpRequest) -> str:
    referer = request.META.get("HTTP_REFERER", "")
    if referer and url_has_allowed_host_and_scheme(
        referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return referer
    return reverse("checkout:cart")


def _is_htmx(request: HttpRequest) -> bool:
    return bool(getattr(request, "htmx", False))


@require_POST
def cart_add(request: HttpRequest) -> HttpResponse:
    error = None
    try:
        cart = services.cart_for_session(session=request.session, user=request.user, create=True)
        services.cart_add(cart=cart, offer_id=request.POST.get("offer"), quantity=request.POST.get("quantity", "1"))
    except ApplicationError as exc:
        error = exc.message
    if _is_htmx(request):
        # 200 even for a refusal: htmx swaps only successful answers, and the note is the answer.
        count = selectors.cart_item_count(session=request.session, user=request.user)
        return render(request, "checkout/_added.html", {"error": error, "cart_item_count": count})
    if error:
        messages.error(request, error)
        return redirect(_back(request))
    messages.success(request, _("Added to your cart"))
    return redirect("checkout:cart")


@require_POST
def cart_line(request: HttpRequest, line_id: int) -> HttpResponse:
    cart = services.cart_for_session(session=request.session, user=request.user)
    error = notice = None
    try:
        if cart is None:
            raise ApplicationError(_("Your cart is empty."))
        if "remove" in request.POST:
            services.cart_line_remove(cart=cart, line_id=line_id)
            notice = _("Removed from your cart")
        else:
            line = services.cart_line_update(cart=cart, line_id=line_id, quantity=request.POST.get("quantity"))
            notice = _("Your cart was updated") if line else _("Removed from your cart")
    except ApplicationError as exc:
        error = exc.message
    if _is_htmx(request):
        view = selectors.cart_view(cart=cart)
        error_line = line_id if error and any(v.pk == line_id for v in view.lines) else None
        context = {
            "error": error, "error_line": error_line, "notice": notice,
            "cart_item_count": view.item_count, "oob": True, **_priced_context(request, view),
        }
        return render(request, "checkout/_cart_body.html", context)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, notice)
    return redirect("checkout:cart")
