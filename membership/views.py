"""Membership pages: the plans (landing), joining, and the member's own page (cancel, resume,
card, billing). Thin: forms parse, ``membership.services`` writes, ``membership.selectors`` reads.
Every refusal of a service is shown as a message or on the form, never as an error page."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from core.exceptions import ApplicationError
from core.forms import add_service_errors
from core.pagecache import cache_page_versioned
from core.ratelimit import rate_limited
from membership import selectors, services
from membership.forms import CardForm, IntervalForm, JoinForm

S = services.S


def _date(value) -> str:
    return formats.date_format(timezone.localtime(value), "DATE_FORMAT")


def _show_test_cards() -> bool:
    return getattr(settings, "PAYMENT_PROVIDER", "test") == "test"


@cache_page_versioned(lambda request: [selectors.PLANS_NAMESPACE])
def landing(request: HttpRequest) -> HttpResponse:
    """The plans with their prices, trial and benefits (cached whole for guests)."""
    user = request.user
    return render(request, "membership/landing.html", {
        "plans": list(selectors.plan_list()),
        "subscription": selectors.live_subscription(user),
        "trial_eligible": selectors.trial_eligible(user=user),
    })


@never_cache
@login_required
@rate_limited("membership")
@sensitive_post_parameters("payment_method")
@require_http_methods(["GET", "POST"])
def join(request: HttpRequest, slug: str) -> HttpResponse:
    plan = selectors.plan_get(slug=slug)
    if plan is None:
        raise Http404(_("No such plan."))
    live = selectors.live_subscription(request.user)
    if live is not None and request.method == "GET":
        messages.info(request, services.already_member_error(live).message)
        return redirect("membership:account")
    form = JoinForm(request.POST or None, plan=plan, initial={"join_key": uuid.uuid4().hex})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            subscription = services.membership_join(
                user=request.user, plan=plan, interval=data["interval"], payment_method=data["payment_method"],
                join_key=data["join_key"],
            )
        except services.AlreadyMember as exc:
            messages.error(request, exc.message)
            return redirect("membership:account")
        except ApplicationError as exc:
            add_service_errors(form, exc)
        else:
            if subscription.status == S.TRIALING:
                messages.success(request, _("Welcome to %(plan)s! Your free trial runs until %(date)s.") % {
                    "plan": plan.name, "date": _date(subscription.trial_end)})
            else:
                messages.success(request, _("Welcome to %(plan)s! You are a member until %(date)s.") % {
                    "plan": plan.name, "date": _date(subscription.current_period_end)})
            return redirect("membership:account")
    return render(request, "membership/join.html", {
        "plan": plan, "form": form, "trial": plan.trial_days > 0 and selectors.trial_eligible(user=request.user),
        "show_test_cards": _show_test_cards(), "card_check": getattr(settings, "MEMBERSHIP_CARD_CHECK_AMOUNT", ""),
    })


@never_cache
@login_required
def account(request: HttpRequest) -> HttpResponse:
    """The member's page: status, plan, next billing, card, history; cancel, resume, card, billing."""
    subscription = selectors.subscription_latest(user=request.user)
    context = {"subscription": subscription, "plans": [], "now": timezone.now()}
    if subscription is None or subscription.status == S.EXPIRED:
        context["plans"] = list(selectors.plan_list())
    if subscription is not None:
        context.update(
            next_billing=selectors.next_billing(subscription),
            charges=selectors.charge_list(subscription=subscription),
            interval_form=IntervalForm(plan=subscription.plan, initial={"interval": subscription.interval}),
        )
    return render(request, "membership/account.html", context)


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def cancel(request: HttpRequest) -> HttpResponse:
    """GET asks for confirmation; POST cancels."""
    subscription = selectors.live_subscription(request.user)
    if request.method == "GET":
        if subscription is None:
            messages.error(request, _("You are not a member."))
            return redirect("membership:account")
        if subscription.status == S.CANCELLED:
            messages.info(request, _("Your membership is already cancelled; your benefits last until %(date)s.")
                          % {"date": _date(subscription.current_period_end)})
            return redirect("membership:account")
        return render(request, "membership/cancel.html", {"subscription": subscription})
    try:
        subscription = services.membership_cancel(user=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        if subscription.status == S.CANCELLED:
            messages.success(request, _("Your membership is cancelled. Your benefits last until %(date)s, and "
                                        "nothing more will be charged.")
                             % {"date": _date(subscription.current_period_end)})
        else:
            messages.success(request, _("Your membership has ended, and nothing more will be charged."))
    return redirect("membership:account")


@login_required
@require_POST
def resume(request: HttpRequest) -> HttpResponse:
    try:
        subscription = services.membership_resume(user=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Welcome back! Your membership renews on %(date)s.")
                         % {"date": _date(subscription.current_period_end)})
    return redirect("membership:account")


@never_cache
@login_required
@rate_limited("membership")
@sensitive_post_parameters("payment_method")
@require_http_methods(["GET", "POST"])
def card(request: HttpRequest) -> HttpResponse:
    subscription = selectors.live_subscription(request.user)
    if subscription is None:
        messages.error(request, _("You are not a member."))
        return redirect("membership:account")
    form = CardForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            subscription = services.membership_update_card(
                user=request.user, payment_method=form.cleaned_data["payment_method"])
        except ApplicationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Your card is saved for your renewals."))
            return redirect("membership:account")
    return render(request, "membership/card.html", {
        "subscription": subscription, "form": form, "show_test_cards": _show_test_cards()})


@login_required
@require_POST
def change_interval(request: HttpRequest) -> HttpResponse:
    subscription = selectors.live_subscription(request.user)
    if subscription is None:
        messages.error(request, _("You are not a member."))
        return redirect("membership:account")
    form = IntervalForm(request.POST, plan=subscription.plan)
    if not form.is_valid():
        messages.error(request, _("Choose monthly or yearly billing."))
        return redirect("membership:account")
    try:
        subscription = services.membership_change_interval(user=request.user, interval=form.cleaned_data["interval"])
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("From %(date)s you will be billed %(interval)s.") % {
            "date": _date(subscription.current_period_end),
            "interval": subscription.get_interval_display().lower()})
    return redirect("membership:account")
