"""Customer order pages: the list, one order (also by a guest's signed link), cancelling."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from core.exceptions import ApplicationError
from orders import selectors, services


@login_required
def order_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(selectors.orders_for_user(user=request.user), 20).get_page(request.GET.get("page"))
    return render(request, "orders/order_list.html", {"page_obj": page, "orders": page.object_list})


def _detail(request: HttpRequest, order, *, token: str = "") -> HttpResponse:
    return render(
        request,
        "orders/order_detail.html",
        {
            "order": order,
            "token": token,
            "can_cancel": selectors.order_can_cancel(order=order),
            "history": list(order.events.all()),
        },
    )


@login_required
def order_detail(request: HttpRequest, number: str) -> HttpResponse:
    order = selectors.order_for_user(user=request.user, number=number)
    if order is None:
        raise Http404(_("No such order."))
    return _detail(request, order)


def guest_order_detail(request: HttpRequest, token: str) -> HttpResponse:
    order = selectors.order_by_guest_token(token=token)
    if order is None:
        raise Http404(_("This link is not valid."))
    return _detail(request, order, token=token)


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


@require_POST
def guest_order_cancel(request: HttpRequest, token: str) -> HttpResponse:
    order = selectors.order_by_guest_token(token=token)
    if order is None:
        raise Http404(_("This link is not valid."))
    _cancel(request, order)
    return redirect("orders:guest_detail", token=token)
