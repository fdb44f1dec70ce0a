"""Checkout pages for guests and members: address -> delivery -> payment and review -> place.

What the shopper chose is kept in the session under ``checkout``; every page prices the cart
again from the database, so editing the cart mid-checkout re-prices everything, and the review
page's total travels with the form so a change since then is shown before anything is charged.
The place-order form carries a one-time key: a double click returns the same order.
"""

from __future__ import annotations

import uuid
from decimal import Decimal, InvalidOperation

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts import selectors as account_selectors
from checkout import ordering, pricing, selectors, services
from core.exceptions import ApplicationError
from core.ratelimit import rate_limited
from orders import selectors as orders_selectors

SESSION_KEY = "checkout"
VOUCHER_SESSION_KEY = "voucher_code"  # set by the cart page's voucher form (checkout.views)
COUNTRIES = [
    ("US", gettext_lazy("United States")), ("CA", gettext_lazy("Canada")), ("GB", gettext_lazy("United Kingdom")),
    ("DE", gettext_lazy("Germany")), ("FR", gettext_lazy("France")), ("ES", gettext_lazy("Spain")),
    ("IT", gettext_lazy("Italy")), ("NL", gettext_lazy("Netherlands")), ("AU", gettext_lazy("Australia")),
]


class AddressForm(forms.Form):
    email = forms.EmailField(label=gettext_lazy("E-mail for your receipt"))
    full_name = forms.CharField(label=gettext_lazy("Full name"), max_length=120)
    line1 = forms.CharField(label=gettext_lazy("Address line 1"), max_length=200)
    line2 = forms.CharField(label=gettext_lazy("Address line 2"), max_length=200, required=False)
    city = forms.CharField(label=gettext_lazy("City"), max_length=100)
    postal_code = forms.CharField(label=gettext_lazy("Postal code"), max_length=20)
    region = forms.CharField(label=gettext_lazy("State or region"), max_length=40, required=False)
    country = forms.ChoiceField(label=gettext_lazy("Country"), choices=COUNTRIES)
    phone = forms.CharField(label=gettext_lazy("Phone"), max_length=30, required=False)


class PaymentForm(forms.Form):
    card_number = forms.CharField(
        label=gettext_lazy("Card number"), max_length=23,
        widget=forms.TextInput(attrs={"autocomplete": "cc-number", "inputmode": "numeric"}),
    )
    expected_total = forms.DecimalField(widget=forms.HiddenInput, max_digits=12, decimal_places=2)
    order_key = forms.CharField(widget=forms.HiddenInput, max_length=80)


def _state(request: HttpRequest) -> dict:
    state = request.session.get(SESSION_KEY)
    return state if isinstance(state, dict) else {}


def _save_state(request: HttpRequest, **changes) -> None:
    request.session[SESSION_KEY] = {**_state(request), **changes}


def _cart(request: HttpRequest):
    return services.cart_for_session(session=request.session, user=request.user)


def _pricing_input(request: HttpRequest, cart) -> tuple[list[pricing.LineInput], pricing.PricingContext]:
    state = _state(request)
    address = state.get("address") or {}
    lines = [pricing.LineInput(line.offer_id, line.quantity) for line in cart.lines.all()]
    context = pricing.PricingContext(
        country=address.get("country") or "US", region=address.get("region") or "",
        shipping_choices=state.get("shipping") or {}, user=request.user,
        voucher_code=_voucher_code(request), email=state.get("email") or "",
    )
    return lines, context


def _price(request: HttpRequest, cart) -> pricing.PricedCart:
    lines, context = _pricing_input(request, cart)
    return pricing.price_cart(lines=lines, context=context)


def _voucher_code(request: HttpRequest) -> str:
    return str(request.session.get(VOUCHER_SESSION_KEY) or "")


def _guard(request: HttpRequest, *, need_address: bool = True):
    """The cart and its prices, or a redirect when checkout cannot go on (with a message)."""
    cart = _cart(request)
    view = selectors.cart_view(cart=cart)
    if cart is None or view.is_empty:
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


def address(request: HttpRequest) -> HttpResponse:
    cart, view, priced, stop = _guard(request, need_address=False)
    if stop:
        return stop
    state = _state(request)
    saved = state.get("address")
    if not saved and request.user.is_authenticated:
        # A member starts from their default address (the address book is in accounts).
        default = account_selectors.address_default(user=request.user)
        if default is not None:
            saved = {name: getattr(default, name, "") for name in AddressForm.base_fields if name != "email"}
    initial = {**(saved or {}), "email": state.get("email") or getattr(request.user, "email", "")}
    form = AddressForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        _save_state(request, email=data.pop("email"), address=data)
        return redirect("checkout_flow:delivery")
    return render(request, "checkout/flow_address.html", {"form": form, "priced": priced, "step": 1})


def delivery(request: HttpRequest) -> HttpResponse:
    cart, view, priced, stop = _guard(request)
    if stop:
        return stop
    if request.method == "POST":
        choices = {}
        for package in priced.packages:
            code = request.POST.get(f"ship_{package.key}", "")
            if any(option.code == code for option in package.options):
                choices[package.key] = code
        _save_state(request, shipping=choices)
        return redirect("checkout_flow:review")
    return render(request, "checkout/flow_delivery.html", {"priced": priced, "step": 2})


def review(request: HttpRequest) -> HttpResponse:
    cart, view, priced, stop = _guard(request)
    if stop:
        return stop
    state = _state(request)
    form = PaymentForm(initial={"expected_total": priced.total.amount, "order_key": uuid.uuid4().hex})
    lines, context = _pricing_input(request, cart)
    savings = pricing.member_savings(lines=lines, context=context, priced=priced)
    return render(
        request, "checkout/flow_review.html",
        {"priced": priced, "view": view, "form": form, "state": state, "step": 3, "member_savings": savings},
    )


@rate_limited("place_order")
def place(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return redirect("checkout_flow:review")
    key = str(request.POST.get("order_key", ""))[:80]
    owner = ordering.idempotency_owner(user=request.user, cart=_cart(request))
    done = orders_selectors.order_by_idempotency_key(owner=owner, key=key)
    if done is not None:  # a double click, or a reload after placing
        return _after_placing(request, done)
    cart, view, priced, stop = _guard(request)
    if stop:
        return stop
    form = PaymentForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Please check the payment details."))
        return render(
            request, "checkout/flow_review.html",
            {"priced": priced, "view": view, "form": form, "state": _state(request), "step": 3}, status=400,
        )
    state = _state(request)
    try:
        expected = Decimal(form.cleaned_data["expected_total"])
    except (InvalidOperation, TypeError):
        expected = None
    try:
        placed = ordering.place_order(
            cart=cart, user=request.user, email=state.get("email", ""), shipping_address=state.get("address"),
            shipping_choices=state.get("shipping") or {}, payment_method=form.cleaned_data["card_number"],
            idempotency_key=form.cleaned_data["order_key"], expected_total=expected,
            voucher_code=_voucher_code(request),
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("checkout_flow:review")
    return _after_placing(request, placed.order)


def _after_placing(request: HttpRequest, order) -> HttpResponse:
    request.session.pop(SESSION_KEY, None)
    request.session.pop(VOUCHER_SESSION_KEY, None)
    messages.success(request, _("Thank you! Your order %(number)s is placed.") % {"number": order.number})
    if request.user.is_authenticated and order.user_id == request.user.pk:
        return redirect("orders:detail", number=order.number)
    return redirect(reverse("orders:guest_detail", kwargs={"token": orders_selectors.guest_token(order=order)}))
