"""Marketplace pages: a seller's shop front (the product page is the storefront's), and "Sell on
Bazaar": applying to sell and following the application."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from core.exceptions import ApplicationError
from core.forms import add_service_errors
from marketplace import selectors, services
from marketplace.forms import SellerApplicationForm
from marketplace.models import SellerApplication


def seller_detail(request: HttpRequest, slug: str) -> HttpResponse:
    seller = selectors.seller_list().filter(slug=slug).first()
    if seller is None:
        raise Http404(_("No such seller."))
    offers = selectors.offer_list(seller_slug=slug).select_related("product")[:48]
    return render(request, "marketplace/seller_detail.html", {"seller": seller, "offers": offers})


# --- selling on Bazaar -----------------------------------------------------------------------------


def sell(request: HttpRequest) -> HttpResponse:
    """"Sell on Bazaar": what it takes and costs, and the way in."""
    return render(request, "marketplace/sell.html", {"application": selectors.application_of(user=request.user)})


def _application_data(form: SellerApplicationForm) -> dict:
    return {**form.cleaned_data}


@login_required
@require_http_methods(["GET", "POST"])
def sell_apply(request: HttpRequest) -> HttpResponse:
    """Apply to sell (signed in: the account becomes the seller's owner when approved)."""
    current = selectors.application_of(user=request.user)
    if current is not None and current.status != SellerApplication.Status.REJECTED:
        return redirect("marketplace:application")
    form = SellerApplicationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.application_submit(applicant=request.user, data=_application_data(form))
        except ApplicationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Thank you: your application is submitted. We will write to you."))
            return redirect("marketplace:application")
    return render(request, "marketplace/sell_apply.html", {"form": form})


@login_required
@require_http_methods(["GET", "POST"])
def application(request: HttpRequest) -> HttpResponse:
    """Where the signed-in customer's application stands, its history, and the corrected form when
    staff asked for more information."""
    current = selectors.application_of(user=request.user)
    if current is None:
        return redirect("marketplace:sell")
    form = None
    if current.status == SellerApplication.Status.NEEDS_INFO:
        initial = {name: getattr(current, name) for name in services.APPLICATION_FIELDS}
        initial["categories"] = [c.pk for c in current.categories.all()]
        form = SellerApplicationForm(request.POST or None, initial=initial)
        if request.method == "POST" and form.is_valid():
            try:
                services.application_resubmit(application=current, applicant=request.user,
                                              data=_application_data(form))
            except ApplicationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(request, _("Your corrected application is submitted."))
                return redirect("marketplace:application")
    elif request.method == "POST":
        return redirect("marketplace:application")
    return render(request, "marketplace/application.html", {"application": current, "form": form})
