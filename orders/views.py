"""Customer order pages: the list, one order, cancelling; and the same for guests, through the link in
their e-mails (see the guest section below)."""

from __future__ import annotations

import functools
import logging
import re
import uuid
from collections.abc import Callable
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from accounts.lockout import client_ip
from core import cache as vcache
from core.exceptions import ApplicationError, NotFound
from core.forms import add_service_errors
from orders import returns, selectors, services
from orders.forms import ClaimForm, GuestCancelForm, GuestLinkRequestForm, ReturnStartForm, SellerFeedbackForm

logger = logging.getLogger(__name__)


@login_required
def order_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(selectors.orders_for_user(user=request.user), 20).get_page(request.GET.get("page"))
    return render(request, "orders/order_list.html", {"page_obj": page, "orders": page.object_list})


def _detail(request: HttpRequest, order, *, guest: bool = False, cancel_form=None, status: int = 200) -> HttpResponse:
    return render(
        request,
        "orders/order_detail.html",
        {
            "order": order,
            "guest": guest,
            "cancel_form": cancel_form if cancel_form is not None else (GuestCancelForm() if guest else None),
            "can_cancel": selectors.order_can_cancel(order=order),
            "history": list(order.events.all()),
            "rated_sellers": selectors.sellers_rated(order=order),
            "claims": selectors.claims_of_order(order=order),
            "claimable": selectors.claimable_sellers(order=order),
            "timelines": selectors.package_timelines(order=order),
            "returns": list(returns.returns_of_order(order=order)),
            "returnable": returns.returnable_package_ids(order=order),
            # invoices and credit notes come from finance, above orders: the shop's strategy answers
            # (orders.selectors.OrderPageInputs)
            "documents": request.strategy.order_documents(order),
        },
        status=status,
    )


@login_required
def order_detail(request: HttpRequest, number: str) -> HttpResponse:
    order = selectors.order_for_user(user=request.user, number=number)
    if order is None:
        raise Http404(_("No such order."))
    return _detail(request, order)


def _cancel(request: HttpRequest, order) -> None:
    try:
        services.order_cancel(order=order, actor=request.user, reason=_("Cancelled by the customer"))
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Your order is cancelled. Any payment is released or refunded."))


@require_POST
@login_required
def order_cancel(request: HttpRequest, number: str) -> HttpResponse:
    order = selectors.order_for_user(user=request.user, number=number)
    if order is None:
        raise Http404(_("No such order."))
    _cancel(request, order)
    return redirect("orders:detail", number=number)


# --- guest orders (placed without an account) ----------------------------------------------
#
# /orders/guest/?t=<token>     the link in e-mails: checks the token, grants this session the
#                              order and answers 303 (it never renders a page, so the token is in
#                              no page, Referer header or error log record)
# /orders/guest/<number>/      the order, for a session holding a valid grant
# /orders/guest/<number>/cancel/   cancelling asks for the order's e-mail address again
# /orders/guest/link/<problem>/    why a link did not open the order, and what to do
# /orders/guest/resend/        a new link by e-mail, given the order number and e-mail address
#
# See selectors (guest links) for the token and the grants.

A = selectors.GuestAccess
_PROBLEM_STATUS = {A.INVALID: 404, A.NO_ACCESS: 404, A.EXPIRED: 410, A.REVOKED: 410, A.ACCOUNT: 403}
_ORDER_NUMBER = re.compile(r"^[A-Z0-9-]{1,20}$")
RESEND_PER_ADDRESS = (10, 60 * 60)  # requests of one client per hour
RESEND_PER_ORDER = (3, 60 * 60)  # e-mails about one order per hour (more are not sent)
CANCEL_EMAIL_TRIES = (10, 60 * 60)  # wrong e-mail addresses when cancelling one order per hour


def _private(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Guest pages are never stored by a browser or proxy cache (``no-store``) and never tell
    another site where the visitor came from (``same-origin``: only this shop gets the Referer).
    Not ``no-referrer`` on pages with forms: under it browsers post with ``Origin: null``, which
    CSRF protection rightly refuses. The link that carries the secret token in its URL answers
    with ``no-referrer`` (:func:`guest_order_open`)."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = view(request, *args, **kwargs)
        add_never_cache_headers(response)
        response.setdefault("Referrer-Policy", "same-origin")
        return response

    return wrapper


def _see_other(url: str) -> HttpResponseRedirect:
    response = HttpResponseRedirect(url)
    response.status_code = 303
    return response


def _problem(request: HttpRequest, access: selectors.GuestAccess, *, number: str = "") -> HttpResponse:
    context = {"problem": access.value, "link_days": settings.GUEST_LINK_MAX_AGE_DAYS}
    if access == A.ACCOUNT:
        target = reverse("orders:detail", kwargs={"number": number}) if _ORDER_NUMBER.match(number) else reverse(
            "orders:list"
        )
        context["sign_in_url"] = reverse("accounts:login") + "?" + urlencode({"next": target})
    return render(request, "orders/guest_link_problem.html", context, status=_PROBLEM_STATUS[access])


def _count(key: str, *, add: bool, window: int) -> int:
    """Attempts counted under ``key`` (after adding one when ``add``). 0 when the cache is down:
    these limits fail open, a guest is never locked out by a cache outage."""
    try:
        if add:
            cache.add(key, 0, window)
            value = cache.incr(key)
        else:
            value = cache.get(key, 0)
    except ValueError:  # the counter expired between add and incr
        return 1 if add else 0
    except Exception:  # noqa: BLE001 - any cache failure means no throttling, never an error
        logger.warning("guest link throttle: cache unavailable, not counting", exc_info=True)
        return 0
    return value if isinstance(value, int) else 0


def _throttle_key(kind: str, ident: str) -> str:
    return f"orders:guest:{kind}:{vcache.digest(ident)}"


@_private
@require_safe
def guest_order_open(request: HttpRequest) -> HttpResponse:
    """The link in a guest's e-mail. Always answers 303: to the order, or to why it did not open."""
    link = selectors.guest_link_check(token=request.GET.get("t", ""))
    if link.access == A.OK:
        services.order_guest_access_grant(session=request.session, order=link.order, issued_at=link.issued_at)
        target = reverse("orders:guest_detail", kwargs={"number": link.order.number})
    elif link.access == A.ACCOUNT:
        if request.user.is_authenticated and request.user.pk == link.order.user_id:
            target = reverse("orders:detail", kwargs={"number": link.order.number})
        else:
            target = reverse("orders:guest_problem", kwargs={"problem": A.ACCOUNT.value}) + "?" + urlencode(
                {"order": link.order.number})
    else:
        target = reverse("orders:guest_problem", kwargs={"problem": link.access.value})
    response = _see_other(target)
    response["Referrer-Policy"] = "no-referrer"  # this URL holds the token: never a Referer from it
    return response


@_private
@require_safe
def guest_link_problem(request: HttpRequest, problem: str) -> HttpResponse:
    """Why a guest link did not open an order (it reveals nothing about any order: anyone may
    open these pages with any values)."""
    try:
        access = A(problem)
    except ValueError:
        access = A.INVALID
    if access == A.OK:
        access = A.INVALID
    return _problem(request, access, number=str(request.GET.get("order", ""))[:20])


def _guest_order(request: HttpRequest, number: str) -> tuple[object | None, HttpResponse | None]:
    """The order this session may see as a guest, or the page that says why not."""
    link = selectors.order_for_guest_session(session=request.session, number=number)
    if link.access == A.OK:
        return link.order, None
    if request.user.is_authenticated and selectors.order_for_user(user=request.user, number=number) is not None:
        return None, _see_other(reverse("orders:detail", kwargs={"number": number}))
    return None, _problem(request, link.access)


@_private
@require_safe
def guest_order_detail(request: HttpRequest, number: str) -> HttpResponse:
    order, refusal = _guest_order(request, number)
    return refusal or _detail(request, order, guest=True)


@_private
@require_POST
def guest_order_cancel(request: HttpRequest, number: str) -> HttpResponse:
    """Cancelling a guest order asks for its e-mail address again: a forwarded or leaked link
    alone shows the order but cannot cancel it."""
    order, refusal = _guest_order(request, number)
    if refusal:
        return refusal
    form = GuestCancelForm(request.POST)
    tries_key = _throttle_key("cancel", order.number)
    limit, window = CANCEL_EMAIL_TRIES
    if _count(tries_key, add=False, window=window) >= limit:
        form.is_valid()
        form.add_error(None, _("Too many tries with a wrong e-mail address. Please try again in an hour."))
        return _detail(request, order, guest=True, cancel_form=form, status=429)
    if not form.is_valid():
        return _detail(request, order, guest=True, cancel_form=form, status=400)
    if not selectors.order_email_matches(order=order, email=form.cleaned_data["email"]):
        _count(tries_key, add=True, window=window)
        form.add_error("email", _("This is not the e-mail address of this order. Nothing was cancelled."))
        return _detail(request, order, guest=True, cancel_form=form, status=400)
    _cancel(request, order)
    return _see_other(reverse("orders:guest_detail", kwargs={"number": order.number}))


@_private
def guest_link_resend(request: HttpRequest) -> HttpResponse:
    """A new link by e-mail, to the order's address, when the number and address match a guest
    order. The answer is the same whatever was typed, so it tells nobody which orders exist."""
    form = GuestLinkRequestForm(request.POST if request.method == "POST" else None)
    if request.method != "POST":
        return render(request, "orders/guest_link_resend.html", {"form": form})
    limit, window = RESEND_PER_ADDRESS
    if _count(_throttle_key("resend-ip", client_ip(request) or "-"), add=True, window=window) > limit:
        form.is_valid()
        form.add_error(None, _("Too many requests from your connection. Please try again in an hour."))
        return render(request, "orders/guest_link_resend.html", {"form": form}, status=429)
    if not form.is_valid():
        return render(request, "orders/guest_link_resend.html", {"form": form}, status=400)
    number, email = form.cleaned_data["number"], form.cleaned_data["email"]
    limit, window = RESEND_PER_ORDER
    within_limit = _count(_throttle_key("resend-order", number), add=True, window=window) <= limit
    order = selectors.guest_order_for_link_request(number=number, email=email)
    if order is not None and within_limit:
        services.order_guest_link_send(order=order)
    messages.success(
        request,
        _("If %(number)s is an order placed without an account with that e-mail address, we have sent a new "
          "link to it. It can take a few minutes to arrive.") % {"number": number},
    )
    return _see_other(reverse("orders:guest_resend"))


def _after_sale(request: HttpRequest, order, seller_id: int, *, guest: bool, claim: bool) -> HttpResponse:
    """Rate the seller of a delivered package, or open a claim about a shipped one (once each):
    for the signed-in buyer or the holder of a guest order's link."""
    find = selectors.shipped_package_of if claim else selectors.delivered_package_of
    package = find(order=order, seller_id=seller_id) if order is not None else None
    if package is None:
        raise Http404(_("No such package from this seller in your order."))
    if claim:
        form = ClaimForm(request.POST or None, reasons=selectors.CLAIM_REASONS)
    else:
        form = SellerFeedbackForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            if claim:
                services.claim_open(order=order, seller_id=seller_id, user=request.user, guest_access=guest,
                                    reason=form.cleaned_data["reason"], description=form.cleaned_data["description"])
                done = _("Your claim is open: %(seller)s can answer it, then we decide and write to you.")
            else:
                services.seller_feedback_leave(order=order, seller_id=seller_id, user=request.user,
                                               guest_access=guest, rating=form.cleaned_data["rating"],
                                               comment=form.cleaned_data["comment"])
                done = _("Thank you for rating %(seller)s.")
        except ApplicationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, done % {"seller": package.seller_name})
            if guest:
                return _see_other(reverse("orders:guest_detail", kwargs={"number": order.number}))
            return redirect("orders:detail", number=order.number)
    template = "orders/claim.html" if claim else "orders/seller_feedback.html"
    return render(request, template, {"order": order, "package": package, "form": form})


@login_required
@require_http_methods(["GET", "POST"])
def seller_feedback(request: HttpRequest, number: str, seller_id: int) -> HttpResponse:
    """Rate the seller of a delivered package of your order (once)."""
    order = selectors.order_for_user(user=request.user, number=number)
    return _after_sale(request, order, seller_id, guest=False, claim=False)


@login_required
@require_http_methods(["GET", "POST"])
def claim_open(request: HttpRequest, number: str, seller_id: int) -> HttpResponse:
    """Open a claim against the seller of a shipped package of your order (once)."""
    order = selectors.order_for_user(user=request.user, number=number)
    return _after_sale(request, order, seller_id, guest=False, claim=True)


@_private
@require_http_methods(["GET", "POST"])
def guest_seller_feedback(request: HttpRequest, number: str, seller_id: int) -> HttpResponse:
    order, refusal = _guest_order(request, number)
    return refusal or _after_sale(request, order, seller_id, guest=True, claim=False)


@_private
@require_http_methods(["GET", "POST"])
def guest_claim_open(request: HttpRequest, number: str, seller_id: int) -> HttpResponse:
    order, refusal = _guest_order(request, number)
    return refusal or _after_sale(request, order, seller_id, guest=True, claim=True)


# --- returns (orders.returns): the signed-in buyer's pages, and the same through a guest link -------


def _return_url(order, name: str, *, guest: bool, **kwargs) -> str:
    return reverse(f"orders:{'guest_' if guest else ''}{name}", kwargs={"number": order.number, **kwargs})


def _return_new(request: HttpRequest, order, package_id: int, *, guest: bool) -> HttpResponse:
    """Return units of one delivered package: units per line, a reason, details, up to three photos."""
    package = selectors.delivered_package(order=order, package_id=package_id) if order is not None else None
    if package is None:
        raise Http404(_("No such delivered package in your order."))
    left = returns.returnable_units(order=order, package=package)
    lines = [(line, left.get(line.pk, 0)) for line in package.lines.all() if left.get(line.pk, 0)]
    form = ReturnStartForm(request.POST or None, lines=lines)
    if request.method == "POST" and form.is_valid():
        try:
            made = returns.return_start(
                order=order, package_id=package.pk, lines=form.units(), reason=form.cleaned_data["reason"],
                description=form.cleaned_data["description"], photos=request.FILES.getlist("photos")[:4],
                user=request.user, guest_access=guest, idempotency_key=request.POST.get("key", "")[:100])
        except ApplicationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Your return %(id)s is registered.") % {"id": made.pk})
            return _see_other(_return_url(order, "return_detail", guest=guest, pk=made.pk))
    return render(request, "orders/return_new.html", {
        "order": order, "package": package, "form": form, "nothing_left": not lines, "guest": guest,
        "key": request.POST.get("key") or uuid.uuid4().hex, "max_photos": returns.MAX_PHOTOS})


def _return_of(request: HttpRequest, order, pk: int, *, guest: bool):
    if order is None:
        raise Http404(_("No such return."))
    try:
        found = returns.return_get_for_buyer(pk=pk, user=request.user,
                                             guest_orders=[order.number] if guest else ())
    except NotFound:
        raise Http404(_("No such return.")) from None
    if found.order_id != order.pk:
        raise Http404(_("No such return."))
    return found


def _return_detail(request: HttpRequest, order, pk: int, *, guest: bool) -> HttpResponse:
    """A return's status, its label and drop-off text; the shopper may cancel it before it ships
    back, or accept the seller's partial refund."""
    found = _return_of(request, order, pk, guest=guest)
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "cancel":
                returns.return_cancel(request=found, user=request.user, guest_access=guest)
                messages.success(request, _("Your return is cancelled."))
            elif action == "accept":
                returns.return_accept_offer(request=found, user=request.user, guest_access=guest)
                messages.success(request, _("Partial refund accepted: the money is on its way."))
            else:
                raise ApplicationError(_("Choose what to do."))
        except ApplicationError as exc:
            messages.error(request, exc.message)
        return _see_other(_return_url(order, "return_detail", guest=guest, pk=found.pk))
    return render(request, "orders/return_detail.html", {
        "order": order, "ret": found, "guest": guest, "can_cancel": found.status in returns.CANCELLABLE,
        "has_label": bool(found.tracking_number)})


def _return_label(request: HttpRequest, order, pk: int, *, guest: bool) -> HttpResponse:
    """The return label's PDF, for the buyer only."""
    found = _return_of(request, order, pk, guest=guest)
    shipment = returns.return_label_shipment(request=found)
    if shipment is None or not shipment.label:
        raise Http404(_("This return has no label."))
    return FileResponse(shipment.label.open("rb"), as_attachment=True, content_type="application/pdf",
                        filename=f"return-{found.pk}-label.pdf")


@login_required
@require_http_methods(["GET", "POST"])
def return_new(request: HttpRequest, number: str, package_id: int) -> HttpResponse:
    return _return_new(request, selectors.order_for_user(user=request.user, number=number), package_id, guest=False)


@login_required
@require_http_methods(["GET", "POST"])
def return_detail(request: HttpRequest, number: str, pk: int) -> HttpResponse:
    return _return_detail(request, selectors.order_for_user(user=request.user, number=number), pk, guest=False)


@login_required
@require_safe
def return_label(request: HttpRequest, number: str, pk: int) -> HttpResponse:
    return _return_label(request, selectors.order_for_user(user=request.user, number=number), pk, guest=False)


@_private
@require_http_methods(["GET", "POST"])
def guest_return_new(request: HttpRequest, number: str, package_id: int) -> HttpResponse:
    order, refusal = _guest_order(request, number)
    return refusal or _return_new(request, order, package_id, guest=True)


@_private
@require_http_methods(["GET", "POST"])
def guest_return_detail(request: HttpRequest, number: str, pk: int) -> HttpResponse:
    order, refusal = _guest_order(request, number)
    return refusal or _return_detail(request, order, pk, guest=True)


@_private
@require_safe
def guest_return_label(request: HttpRequest, number: str, pk: int) -> HttpResponse:
    order, refusal = _guest_order(request, number)
    return refusal or _return_label(request, order, pk, guest=True)
