"""Payments pages (thin; the work is in services and selectors): provider webhooks at
POST /payments/webhooks/<provider>/, and the customer's store credit and gift card pages."""

from __future__ import annotations

import logging

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from core import ratelimit
from core.exceptions import ApplicationError
from core.forms import add_service_errors
from core.money import format_money
from payments import selectors, services
from payments.exceptions import InvalidGiftCard
from payments.forms import GiftCardCodeForm

logger = logging.getLogger(__name__)


@csrf_exempt  # providers cannot send our CSRF token; the signature is the authentication
@require_POST
def webhook(request: HttpRequest, provider: str) -> JsonResponse:
    try:
        event = services.webhook_receive(provider=provider, body=request.body, headers=request.headers)
    except ApplicationError as exc:
        logger.warning("payments webhook refused (%s): %s", provider, exc.message)
        return JsonResponse({"error": {"code": exc.code, "message": exc.message, "fields": {}}}, status=400)
    return JsonResponse({"received": True, "event_id": event.event_id, "type": event.type})


# --- store credit and gift cards: pages in the customer's account ---------------------------


def _user_key(request: HttpRequest) -> str | None:
    user = request.user
    return f"user:{user.pk}" if user.is_authenticated else None


def _gift_card_limited(view):
    """Codes tried (POST) count against ``RATE_LIMITS["gift_card"]`` per signed-in user and per
    client address, on the same counters as the API (429 page over either)."""
    return ratelimit.rate_limited("gift_card", key=_user_key)(
        ratelimit.rate_limited("gift_card", key=ratelimit.client_key)(view))


@never_cache
@login_required
@require_safe
def store_credit(request: HttpRequest) -> HttpResponse:
    """The customer's store credit: balance and history, newest first, 20 a page."""
    page = Paginator(selectors.store_credit_entries(user=request.user), 20).get_page(request.GET.get("page"))
    return render(request, "payments/store_credit.html", {
        "balances": selectors.store_credit_balances(user=request.user), "page_obj": page, "entries": page.object_list,
    })


@never_cache
@login_required
@sensitive_post_parameters("code")
@_gift_card_limited
@require_http_methods(["GET", "POST"])
def redeem_gift_card(request: HttpRequest) -> HttpResponse:
    """Move a gift card's balance into the customer's store credit."""
    form = GiftCardCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            entry = services.gift_card_redeem(code=form.cleaned_data["code"], user=request.user)
        except ApplicationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("%(amount)s was added to your store credit.") % {
                "amount": format_money(entry.amount, entry.account.currency)})
            return redirect("credit:store_credit")
    return render(request, "payments/redeem_gift_card.html", {"form": form},
                  status=400 if form.is_bound and form.errors else 200)


@never_cache
@sensitive_post_parameters("code")
@_gift_card_limited
@require_http_methods(["GET", "POST"])
def gift_card_balance(request: HttpRequest) -> HttpResponse:
    """What a gift card still holds (anyone may ask; the answer for a code that cannot be used is
    the same whether it never existed or is used up)."""
    form = GiftCardCodeForm(request.POST or None)
    found = None
    if request.method == "POST" and form.is_valid():
        found = selectors.gift_card_balance(code=form.cleaned_data["code"])
        if found is None:
            add_service_errors(form, InvalidGiftCard())
    return render(request, "payments/gift_card_balance.html", {"form": form, "found": found},
                  status=400 if form.is_bound and form.errors else 200)
