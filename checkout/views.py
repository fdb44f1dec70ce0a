"""Cart and checkout pages. Thin: services decide, selectors read, the pricing pipeline prices.

Cart pages: show the cart, add an offer, change or remove a line. Without JavaScript every form
is a plain POST answered by a redirect (messages carry the outcome). With htmx
(``request.htmx``) the same views answer with a fragment: the cart's body, or a short "added"
note for the product page, each with the header's cart count swapped out of band.

Checkout pages for guests and members: address -> delivery -> payment and review -> place.

What the shopper chose is kept in the session under ``checkout``; every page prices the cart
again from the database, so editing the cart mid-checkout re-prices everything, and the review
page's total travels with the form so a change since then is shown before anything is charged.

The order key lives in the session too, and stays the same until an attempt has ended (paid, or
declined): a double click, a second tab, or a retry after "provider unreachable" all find the same
order, never a second one. How the card is taken depends on the provider:

* Stripe (``confirms_in_browser``): the review page mounts Stripe's Payment Element; its script
  asks :func:`checkout_pay` for the order's intent, confirms it with Stripe.js (3-D Secure
  included) and comes back to :func:`checkout_payment_return`; the provider's webhook settles the
  same order too, whichever is first. A failure in the browser ends the attempt through
  :func:`checkout_payment_failed`. Card numbers never touch our server.
* the built-in test provider: a plain card form posts to :func:`checkout_place` (test cards only;
  production refuses this provider).
"""

from __future__ import annotations

import uuid
from decimal import Decimal, InvalidOperation

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST

from accounts import selectors as account_selectors
from checkout import forms, pricing, selectors, services
from checkout.selectors import VOUCHER_SESSION_KEY
from core import ratelimit
from core.exceptions import ApplicationError, IdempotencyKeyReused
from core.money import Money, default_currency
from core.ratelimit import rate_limited, too_many_requests_json
from orders import selectors as orders_selectors
from orders import services as orders_services
from orders.selectors import OrderStatus
from payments import selectors as payment_selectors
from payments import services as payment_services
from payments.exceptions import PaymentDeclined, PaymentUnavailable
from promotions import services as promotions_services

CHECKOUT_SESSION_KEY = "checkout"  # what the shopper chose in checkout (address, e-mail, shipping, order key)


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
    if not lines and not view.gift_cards:
        return {"view": view, "voucher_code": code}
    lines, context = selectors.cart_pricing_input(buyer=request.strategy, user=request.user, lines=lines,
                                                  voucher_code=code, gift_cards=view.gift_cards)
    offers = {v.line.offer_id: v.line.offer for v in view.lines if v.sellable}
    try:
        priced = pricing.cart_price(lines=lines, context=context, offers=offers)
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
    back = str(request.POST.get("next", ""))
    if back in {reverse(f"checkout_flow:{step}") for step in ("address", "delivery", "review")}:
        return redirect(back)  # removed on a checkout step (where the code was found not to apply): back to it
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
        cart = services.cart_for_session(session=request.session, user=request.user, create=True,
                                         visitor_id=getattr(request, "visitor_id", ""))
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


def gift_card_buy(request: HttpRequest) -> HttpResponse:
    """The gift card "product page": choose an amount (or type one), who gets it, when and with what
    message; adding it puts one card in the cart."""
    low, high = payment_services.gift_card_amount_limits()
    form_kwargs = {"choices": payment_services.gift_card_amount_choices(), "currency": default_currency()}
    if request.method == "POST":
        form = forms.GiftCardForm(request.POST, **form_kwargs)
        if form.is_valid():
            data = form.cleaned_data
            try:
                cart = services.cart_for_session(session=request.session, user=request.user, create=True,
                                                 visitor_id=getattr(request, "visitor_id", ""))
                services.cart_gift_card_add(
                    cart=cart, amount=form.chosen_amount(), recipient_email=data["recipient_email"],
                    recipient_name=data["recipient_name"], sender_name=data["sender_name"],
                    message=data["message"], deliver_on=data["deliver_on"])
            except ApplicationError as exc:
                for field, errors in (exc.fields or {"__all__": [exc.message]}).items():
                    for error in errors:
                        form.add_error(field if field in form.fields and field != "amount" else None, error)
            else:
                messages.success(request, _("The gift card is in your cart"))
                return redirect("checkout:cart")
        status = 400
    else:
        form = forms.GiftCardForm(**form_kwargs)
        status = 200
    return render(request, "checkout/gift_cards.html", {"form": form, "low": low, "high": high,
                                                        "currency": default_currency()}, status=status)


@require_POST
def gift_card_remove(request: HttpRequest, card_id: int) -> HttpResponse:
    cart = services.cart_for_session(session=request.session, user=request.user)
    error = notice = None
    try:
        if cart is None:
            raise ApplicationError(_("Your cart is empty."))
        services.cart_gift_card_remove(cart=cart, gift_card_id=card_id)
        notice = _("Removed from your cart")
    except ApplicationError as exc:
        error = exc.message
    if _is_htmx(request):
        view = selectors.cart_view(cart=cart)
        context = {"error": error, "notice": notice, "cart_item_count": view.item_count, "oob": True,
                   **_priced_context(request, view)}
        return render(request, "checkout/_cart_body.html", context)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, notice)
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


# --- checkout ------------------------------------------------------------------------------------


def _state(request: HttpRequest) -> dict:
    state = request.session.get(CHECKOUT_SESSION_KEY)
    return state if isinstance(state, dict) else {}


def _save_state(request: HttpRequest, **changes) -> None:
    request.session[CHECKOUT_SESSION_KEY] = {**_state(request), **changes}


def _cart(request: HttpRequest):
    return services.cart_for_session(session=request.session, user=request.user)


def _pricing_input(request: HttpRequest, cart) -> tuple[list[pricing.LineInput], pricing.PricingContext]:
    state = _state(request)
    address = state.get("address") or {}
    return selectors.cart_pricing_input(
        buyer=request.strategy, user=request.user, cart=cart, country=address.get("country") or "US",
        region=address.get("region") or "", shipping_choices=state.get("shipping") or {},
        voucher_code=_voucher_code(request), email=state.get("email") or "",
    )


def _price(request: HttpRequest, cart) -> pricing.PricedCart:
    lines, context = _pricing_input(request, cart)
    return pricing.cart_price(lines=lines, context=context)


def _voucher_code(request: HttpRequest) -> str:
    return str(request.session.get(VOUCHER_SESSION_KEY) or "")


def _order_key(request: HttpRequest) -> str:
    """This checkout's order key: made once, kept until the attempt ends (see the module doc)."""
    key = _state(request).get("order_key")
    if not isinstance(key, str) or not key:
        key = uuid.uuid4().hex
        _save_state(request, order_key=key)
    return key


def _end_attempt(request: HttpRequest) -> None:
    """The attempt ended without an order (declined, or given up): the next one gets a new key."""
    _save_state(request, order_key=uuid.uuid4().hex)


def _open_order(request: HttpRequest, cart):
    """The order this checkout's key placed, if any."""
    owner = services.idempotency_owner(user=request.user, cart=cart)
    return orders_selectors.order_by_idempotency_key(owner=owner, key=_order_key(request))


def _digest(request: HttpRequest) -> str:
    """What this checkout asks for: the same key with other details is another order."""
    state = _state(request)
    return services.request_digest(email=state.get("email") or "", address=state.get("address") or {},
                                   shipping=state.get("shipping") or {}, voucher=_voucher_code(request).upper())


def _expected(form_value) -> Decimal | None:
    try:
        return Decimal(str(form_value)) if form_value not in (None, "") else None
    except (InvalidOperation, TypeError, ValueError):
        return None


def _place(request: HttpRequest, cart, *, payment_method: str, expected: Decimal | None,
           use_store_credit: bool = False, gift_card_code: str = "") -> services.PlacedOrder:
    """Place (or go on with) this checkout's order. A request sent again with other details while
    an unpaid order waits under the key gives that order up first (its payment voided, its stock
    released) and places the new one under a new key."""
    state = _state(request)

    def attempt():
        return services.order_place(
            cart=cart, user=request.user, email=state.get("email", ""), shipping_address=state.get("address"),
            shipping_choices=state.get("shipping") or {}, payment_method=payment_method,
            idempotency_key=_order_key(request), expected_total=expected, voucher_code=_voucher_code(request),
            digest=_digest(request), buyer=request.strategy, use_store_credit=use_store_credit,
            gift_card_code=gift_card_code, visitor_id=getattr(request, "visitor_id", ""),
        )

    try:
        return attempt()
    except IdempotencyKeyReused:
        stale = _open_order(request, cart)
        if stale is not None:
            services.order_abandon_unpaid(order=stale)
        _end_attempt(request)
        return attempt()


def _guard(request: HttpRequest, *, need_address: bool = True, placed_by_key: str = ""):
    """The cart and its prices, or a redirect when checkout cannot go on (with a message).
    ``placed_by_key``: an empty cart whose order under this key has been placed meanwhile (the
    first of a double click emptied it) leads to that order instead."""
    cart = _cart(request)
    view = selectors.cart_view(cart=cart)
    if cart is None or view.is_empty:
        if placed_by_key:
            owner = services.idempotency_owner(user=request.user, cart=cart)
            finished = orders_selectors.order_by_idempotency_key(owner=owner, key=placed_by_key)
            if finished is not None and finished.status != OrderStatus.PLACED:
                return None, None, None, _after_placing(request, finished)
        messages.info(request, _("Your cart is empty."))
        return None, None, None, redirect("checkout:cart")
    if any(line.problem for line in view.lines):
        messages.error(request, _("Some items in your cart need your attention before you check out."))
        return None, None, None, redirect("checkout:cart")
    if need_address and not _state(request).get("address"):
        messages.info(request, _("Please enter your delivery address."))
        return None, None, None, redirect("checkout_flow:address")
    try:
        priced = _price(request, cart)
    except pricing.OrderTooLarge as exc:  # the cart page says so too, and offers no checkout
        messages.error(request, exc.message)
        return None, None, None, redirect("checkout:cart")
    return cart, view, priced, None


def checkout_address(request: HttpRequest) -> HttpResponse:
    cart, view, priced, stop = _guard(request, need_address=False)
    if stop:
        return stop
    state = _state(request)
    if state.get("started_cart") != cart.pk:  # once per cart and attempt, for insights
        services.checkout_started(cart=cart, lines=view.sellable_count, value=priced.total.amount)
        _save_state(request, started_cart=cart.pk)
    saved = state.get("address")
    book = list(account_selectors.address_list(user=request.user)) if request.user.is_authenticated else []
    # A signed-in shopper starts from the address they picked from their book (?address=<id>, only
    # their own), else from what they entered before, else from their default address.
    picked = next((a for a in book if str(a.pk) == request.GET.get("address", "")), None)
    if picked is None and not saved:
        picked = next((a for a in book if a.is_default), None)
    if picked is not None:
        saved = {name: getattr(picked, name, "") for name in forms.AddressForm.base_fields if name != "email"}
    initial = {**(saved or {}), "email": state.get("email") or getattr(request.user, "email", "")}
    form = forms.AddressForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        _save_state(request, email=data.pop("email"), address=data)
        services.checkout_step_completed(cart=cart, step=1)
        # Nothing to ship (only gift cards, e-mailed): no delivery to choose.
        return redirect("checkout_flow:delivery" if priced.packages else "checkout_flow:review")
    return render(request, "checkout/flow_address.html", {"form": form, "priced": priced, "step": 1,
                                                          "book": book, "picked": picked})


def checkout_delivery(request: HttpRequest) -> HttpResponse:
    cart, view, priced, stop = _guard(request)
    if stop:
        return stop
    if not priced.packages:  # only gift cards: nothing is delivered by a carrier
        return redirect("checkout_flow:review")
    if request.method == "POST":
        choices = {}
        for package in priced.packages:
            code = request.POST.get(f"ship_{package.key}", "")
            if any(option.code == code for option in package.options):
                choices[package.key] = code
        _save_state(request, shipping=choices)
        services.checkout_step_completed(cart=cart, step=2)
        return redirect("checkout_flow:review")
    return render(request, "checkout/flow_delivery.html", {"priced": priced, "step": 2})


def checkout_review(request: HttpRequest) -> HttpResponse:
    cart, view, priced, stop = _guard(request)
    if stop:
        return stop
    form = forms.PaymentForm(initial={"expected_total": priced.total.amount, "order_key": _order_key(request)})
    return _render_review(request, cart, view, priced, form)


def _render_review(request: HttpRequest, cart, view, priced, form, *, status: int = 200) -> HttpResponse:
    state = _state(request)
    lines, context = _pricing_input(request, cart)
    savings = pricing.member_savings(lines=lines, context=context, priced=priced,
                                     preview=request.strategy.preview_benefits)
    pending = _open_order(request, cart)
    pending = pending if pending is not None and pending.status == OrderStatus.PLACED else None
    browser = payment_services.provider_confirms_in_browser()
    credit = (payment_selectors.store_credit_balance(user=request.user, currency=priced.currency)
              if request.user.is_authenticated and not browser else None)
    return render(
        request, "checkout/flow_review.html",
        {"priced": priced, "view": view, "form": form, "state": state, "step": 3, "member_savings": savings,
         "pending": pending, "browser_payment": browser, "store_credit": credit,
         # What the card pays when the store credit pays first (the pay button says it when ticked).
         "card_after_credit": Money(max(priced.total.amount - credit.amount, Decimal("0.00")), priced.currency)
         if credit and credit.amount else None,
         "element": payment_selectors.element_options(amount=priced.total.amount, currency=priced.currency)
         if browser else None},
        status=status,
    )


@rate_limited("place_order")
def checkout_place(request: HttpRequest) -> HttpResponse:
    """The card form's POST (the test provider; also Stripe's saved-card-less fallback never posts
    here: its page confirms in the browser through :func:`checkout_pay`)."""
    if request.method != "POST":
        return redirect("checkout_flow:review")
    cart = _cart(request)
    owner = services.idempotency_owner(user=request.user, cart=cart)
    clicked = str(request.POST.get("order_key", ""))[:80]  # the key this form was rendered with
    finished = orders_selectors.order_by_idempotency_key(owner=owner, key=clicked) if clicked else None
    if finished is not None and finished.status != OrderStatus.PLACED:  # a double click, or a reload after placing
        return _after_placing(request, finished)
    done = _open_order(request, cart)
    if done is not None and done.status != OrderStatus.PLACED:
        return _after_placing(request, done)
    # A double click: the first request may have placed the order (and emptied the cart) since
    # this one looked: its order then, not "your cart is empty".
    cart, view, priced, stop = _guard(request, placed_by_key=clicked)
    if stop:
        return stop
    form = forms.PaymentForm(request.POST)
    card = ""
    use_credit = False
    if form.is_valid():
        card = form.cleaned_data["card_number"].strip()
        use_credit = form.cleaned_data["use_store_credit"] and request.user.is_authenticated
        gift_code = form.cleaned_data["gift_card_code"].strip()
        if gift_code and not all(ratelimit.hit("gift_card", key).allowed
                                 for key in {ratelimit.caller_key(request), ratelimit.client_key(request)}):
            form.add_error("gift_card_code", _("Too many gift card codes tried; please wait a while."))
        gift = payment_selectors.gift_card_balance(code=gift_code) if gift_code else None
        covered_amount = (gift.balance.amount if gift else Decimal(0)) + (payment_selectors.store_credit_balance(
            user=request.user, currency=priced.currency).amount if use_credit else Decimal(0))
        covered = covered_amount >= priced.total.amount
        if not card and not covered and (done is None or payment_services.provider_confirms_in_browser()):
            form.add_error("card_number", _("Enter a card number."))
    if not form.is_valid():
        messages.error(request, _("Please check the payment details."))
        return _render_review(request, cart, view, priced, form, status=400)
    try:
        placed = _place(request, cart, payment_method=card, expected=_expected(form.cleaned_data["expected_total"]),
                        use_store_credit=use_credit, gift_card_code=gift_code)
    except PaymentDeclined as exc:
        _end_attempt(request)
        messages.error(request, exc.message)
        return redirect("checkout_flow:review")
    except PaymentUnavailable:
        waiting = _open_order(request, cart)
        messages.error(request, _("We could not reach the payment provider, so nothing was charged yet. Your order "
                                  "%(number)s is kept for you: press “Place order” again in a moment (the card "
                                  "field may stay empty).") % {"number": waiting.number} if waiting else
                       _("We could not reach the payment provider. Please try again in a moment."))
        return redirect("checkout_flow:review")
    except ApplicationError as exc:
        messages.error(request, exc.message)
        if exc.code == "shipping_choice":  # the cart changed since delivery was chosen: choose again
            _save_state(request, shipping={})
            return redirect("checkout_flow:delivery")
        return redirect("checkout_flow:review")
    if placed.needs_action:
        messages.info(request, _("Your bank asks you to confirm this payment."))
        return redirect("checkout_flow:review")
    return _after_placing(request, placed.order)


def _json_error(exc: ApplicationError) -> JsonResponse:
    return JsonResponse({"error": {"code": exc.code, "message": exc.message, "fields": exc.fields}},
                        status=exc.status_code)


@rate_limited("place_order", on_limited=too_many_requests_json)
@require_POST
def checkout_pay(request: HttpRequest) -> JsonResponse:
    """For the Payment Element's script: place the order (or find it: same key) and hand back its
    intent's client secret for Stripe.js to confirm, and where to come back to afterwards."""
    cart, view, priced, stop = _guard(request)
    if stop:
        return JsonResponse({"redirect": stop.url}, status=409)
    try:
        placed = _place(request, cart, payment_method="", expected=_expected(request.POST.get("expected_total")))
    except PaymentDeclined as exc:
        _end_attempt(request)
        return _json_error(exc)
    except ApplicationError as exc:
        return _json_error(exc)
    if placed.needs_action:
        return JsonResponse({"order": placed.order.number, "client_secret": placed.client_secret,
                             "return_url": request.build_absolute_uri(reverse("checkout_flow:payment_return"))})
    return JsonResponse({"order": placed.order.number, "redirect": _after_placing(request, placed.order).url})


@require_POST
def checkout_payment_failed(request: HttpRequest) -> JsonResponse:
    """Stripe.js could not confirm the payment (declined, authentication failed, closed): this
    attempt is over. The order is given up (its intent cancelled, stock released) and the next try
    gets a new key."""
    cart = _cart(request)
    order = _open_order(request, cart)
    message = str(request.POST.get("message") or "")[:300] or _("Your payment did not go through.")
    if order is not None and order.status == OrderStatus.PLACED:
        try:
            outcome = services.order_abandon_unpaid(order=order, keep_if_paid=True)
        except ApplicationError as exc:
            return _json_error(exc)
        if outcome == services.PAID:  # it went through after all: the provider says so, not the page
            return JsonResponse({"redirect": _after_placing(request, order).url})
    elif order is not None:
        return JsonResponse({"redirect": _after_placing(request, order).url})
    _end_attempt(request)
    return JsonResponse({"message": message})


def checkout_payment_return(request: HttpRequest) -> HttpResponse:
    """Where Stripe.js sends the shopper after confirming (``?payment_intent=...``). The order of
    this checkout is settled from the provider's answer; the webhook may have done it already."""
    cart = _cart(request)
    order = _open_order(request, cart)
    if order is None:  # a reload or Back after the attempt ended: the intent names the order, if it is ours
        owner = services.idempotency_owner(user=request.user, cart=cart)
        payment = payment_selectors.payment_for_owner(
            provider_reference=str(request.GET.get("payment_intent") or "")[:255], owner=owner)
        order = orders_selectors.order_by_number(number=payment.reference) if payment is not None else None
        if order is None or order.idempotency_owner != owner:
            messages.error(request, _("We could not find that payment. If you were charged, you will receive an "
                                      "e-mail with your order."))
            return redirect("checkout:cart")
    if order.status == OrderStatus.PLACED:
        try:
            outcome = services.order_payment_refresh(order=order)
        except PaymentUnavailable:
            outcome = services.WAITING
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return redirect("checkout_flow:review")
        if outcome == services.DISCARDED:
            _end_attempt(request)
            messages.error(request, _("Your payment did not go through, so nothing was charged. Please try again or "
                                      "use another card."))
            return redirect("checkout_flow:review")
        if outcome == services.WAITING:
            return render(request, "checkout/flow_processing.html", {"order": order}, status=202)
        order = orders_selectors.order_get(pk=order.pk) or order
    return _after_placing(request, order)


def _after_placing(request: HttpRequest, order) -> HttpResponse:
    request.session.pop(CHECKOUT_SESSION_KEY, None)
    request.session.pop(VOUCHER_SESSION_KEY, None)
    messages.success(request, _("Thank you! Your order %(number)s is placed.") % {"number": order.number})
    if request.user.is_authenticated and order.user_id == request.user.pk:
        return redirect("orders:detail", number=order.number)
    # A guest: this session may see the order (as if it had opened the e-mail's link just now);
    # the page's URL has no token.
    orders_services.order_guest_access_grant(session=request.session, order=order)
    return redirect(reverse("orders:guest_detail", kwargs={"number": order.number}))
