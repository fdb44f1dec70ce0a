"""The seller centre: a seller's home in the admin site (sales, orders to ship, account health,
money and buy boxes lost), for the seller's members and for platform staff; and the shopper's
downloads of their invoices and credit notes."""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.views import redirect_to_login
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

from core.exceptions import NotFound
from finance import invoices, selectors, services
from marketplace import selectors as marketplace_selectors
from marketplace.admin_scoping import seller_scope


@staff_member_required
def seller_centre(request: HttpRequest) -> HttpResponse:
    """A seller's members see their seller (``?seller=`` picks one when they belong to several);
    platform staff who may read ledgers see any seller they name."""
    scope = seller_scope(request)
    requested = request.GET.get("seller", "")
    if scope is None:
        if not request.user.has_perm("finance.view_ledgerentry"):
            raise Http404(_("No seller to show."))
        allowed = None
    else:
        allowed = sorted(scope)
    seller_id = int(requested) if requested.isdigit() else (allowed[0] if allowed else None)
    if seller_id is None and allowed is None:  # platform staff: choose a seller first
        return render(request, "finance/seller_centre.html", {
            **admin.site.each_context(request), "title": _("Seller centre"), "centre": None,
            "sellers": marketplace_selectors.sellers_by_ids(ids=marketplace_selectors.seller_ids()),
        })
    if seller_id is None or (allowed is not None and seller_id not in allowed):
        raise Http404(_("No seller to show."))
    seller = marketplace_selectors.seller_get(pk=seller_id)
    if seller is None:
        raise Http404(_("No seller to show."))
    centre = selectors.seller_centre(seller=seller, today=timezone.localdate(), now=timezone.now(),
                                     inputs=request.strategy)
    sellers = marketplace_selectors.sellers_by_ids(ids=allowed) if allowed and len(allowed) > 1 else []
    return render(request, "finance/seller_centre.html", {
        **admin.site.each_context(request), "title": _("Seller centre: %(seller)s") % {"seller": seller.name},
        "centre": centre, "sellers": sellers, "health_rows": _health_rows(centre),
        "min_orders": settings.FINANCE_HEALTH_MIN_ORDERS,
    })


def _health_rows(centre) -> list[dict]:
    names = {"order_defect_rate": _("Order defect rate (60 days)"),
             "cancel_rate": _("Pre-fulfilment cancel rate (7 days)"),
             "late_shipment_rate": _("Late shipment rate (30 days)"),
             "valid_tracking_rate": _("Valid tracking rate (30 days)"),
             "on_time_delivery_rate": _("On-time delivery rate (30 days)")}
    rows = []
    counted = str(centre.health.problems if centre.health else "")  # what the buy box judged outside
    for name, (target, _days) in centre.targets.items():
        value = getattr(centre.health, name) if centre.health else None
        at_least = name in services.AT_LEAST
        within = value is None or (value >= target if at_least else value < target)
        # A rate outside its target counts only over enough orders (FINANCE_HEALTH_MIN_ORDERS):
        # below that it is shown as not judged yet, as the buy box treats it.
        outside = str(services.HEALTH_LABELS[name]) in counted
        rows.append({"label": names[name], "value": value, "target": target, "at_least": at_least,
                     "ok": within and not outside, "outside": outside, "early": not within and not outside})
    return rows


# --- the shopper's invoices and credit notes ------------------------------------------------------------


def _private(response: HttpResponse) -> HttpResponse:
    """Documents carry addresses: never stored by a browser or proxy cache, never a Referer."""
    add_never_cache_headers(response)
    response["Referrer-Policy"] = "no-referrer"
    return response


def _download(request: HttpRequest, document) -> HttpResponse:
    """The document's PDF for the shopper who may see its order (its signed-in owner, or a session
    that opened the order's guest link); anyone else: sign in, or "not found" (nothing revealed)."""
    if document is None:
        if not request.user.is_authenticated:
            return _private(redirect_to_login(request.get_full_path()))
        raise Http404(_("No such document."))
    try:
        pdf = invoices.document_file(document)
    except invoices.DocumentNotReady as exc:
        response = render(request, "finance/document_pending.html", {"message": exc.message}, status=409)
        response["Retry-After"] = "60"
        return _private(response)
    except NotFound as exc:
        raise Http404(exc.message)
    return _private(FileResponse(pdf, content_type="application/pdf", as_attachment=True,
                                 filename=f"{document.number}.pdf"))


@require_safe
def invoice_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    return _download(request, invoices.invoice_for_shopper(user=request.user, session=request.session, pk=pk))


@require_safe
def credit_note_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    return _download(request, invoices.credit_note_for_shopper(user=request.user, session=request.session, pk=pk))
