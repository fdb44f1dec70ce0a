"""Membership pages: the plans (landing), joining, and the member's own page (cancel, resume,
card, billing). Thin: forms parse, ``membership.services`` writes, ``membership.selectors`` reads.
Every refusal of a service is shown as a message or on the form, never as an error page."""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from core.exceptions import ApplicationError
from core.forms import add_service_errors
from core.pagecache import cache_page_versioned
from core.ratelimit import rate_limited, too_many_requests_json
from membership import selectors, services
from membership.forms import CardForm, IntervalForm, JoinForm
from payments import selectors as payment_selectors
from payments import services as payment_services
from payments.exceptions import PaymentActionRequired

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


def _welcome(request: HttpRequest, plan, subscription) -> HttpResponse:
    if subscription.status == S.TRIALING:
        messages.success(request, _("Welcome to %(plan)s! Your free trial runs until %(date)s.") % {
            "plan": plan.name, "date": _date(subscription.trial_end)})
    else:
        messages.success(request, _("Welcome to %(plan)s! You are a member until %(date)s.") % {
            "plan": plan.name, "date": _date(subscription.current_period_end)})
    return redirect("membership:account")


def _join_page(request: HttpRequest, plan, form, *, status: int = 200, offer_skip: bool = False) -> HttpResponse:
    in_browser = payment_services.provider_confirms_in_browser()
    return render(request, "membership/join.html", {
        "plan": plan, "form": form, "trial": plan.trial_days > 0 and selectors.trial_eligible(user=request.user),
        "offer_skip_trial": offer_skip or bool(form["skip_trial"].value()),
        "show_test_cards": _show_test_cards(), "card_check": getattr(settings, "MEMBERSHIP_CARD_CHECK_AMOUNT", ""),
        "card_in_browser": in_browser,
        "element": payment_selectors.element_options(amount=plan.monthly_price, currency=plan.currency)
        if in_browser else None,
    }, status=status)


def _confirm_with_bank(request: HttpRequest, exc: PaymentActionRequired, *, plan, params: dict,
                       card: dict) -> HttpResponse:
    """The bank wants the customer to confirm a charge: a page whose script does it with Stripe.js,
    then sends the same request again (same keys) to finish it."""
    return render(request, "membership/confirm_payment.html", {
        "plan": plan, "client_secret": exc.payment.client_secret, "params": params, "card": card,
        "element": payment_selectors.element_options(amount=exc.payment.amount, currency=exc.payment.currency),
        "continue_url": request.path}, status=402)


def _show_refusal(request: HttpRequest, form, exc: ApplicationError) -> None:
    """On the form's fields when it was posted; as a message when the card came back from the
    browser (an unbound form takes no errors) or the form has no card field."""
    if form.is_bound:
        add_service_errors(form, exc)
    if not form.is_bound or "payment_method" not in form.fields:
        messages.error(request, exc.message)


def _join_params(data) -> dict:
    return {"interval": str(data.get("interval") or ""), "join_key": str(data.get("join_key") or "")[:80],
            "skip_trial": str(data.get("skip_trial") or "") in ("on", "true", "1", "True")}


def _join_outcome(request: HttpRequest, plan, *, params: dict, form=None, **card) -> HttpResponse:
    """Join with the card given (a number on our form, or a card the shopper saved in the browser)
    and answer with the right page for every outcome."""
    # Shown again after a refusal, the page starts a new attempt: a new key, so the browser gets a
    # new SetupIntent (the one just used has succeeded and cannot be confirmed again).
    form = form or JoinForm(initial={**params, "join_key": uuid.uuid4().hex}, plan=plan, card_in_browser=True)
    try:
        subscription = services.membership_join(
            user=request.user, plan=plan, interval=params["interval"], join_key=params["join_key"],
            skip_trial=params["skip_trial"], **card)
    except services.AlreadyMember as exc:
        messages.error(request, exc.message)
        return redirect("membership:account")
    except services.TrialUsed as exc:
        messages.error(request, exc.message)
        return _join_page(request, plan, form, status=409, offer_skip=True)
    except PaymentActionRequired as exc:
        return _confirm_with_bank(request, exc, plan=plan, params=params, card=card)
    except ApplicationError as exc:
        _show_refusal(request, form, exc)
        return _join_page(request, plan, form, status=exc.status_code)
    return _welcome(request, plan, subscription)


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
    in_browser = payment_services.provider_confirms_in_browser()
    form = JoinForm(request.POST or None, plan=plan, initial={"join_key": uuid.uuid4().hex},
                    card_in_browser=in_browser)
    if request.method == "POST" and not in_browser and form.is_valid():
        return _join_outcome(request, plan, params=_join_params(form.cleaned_data), form=form,
                             payment_method=form.cleaned_data["payment_method"])
    return _join_page(request, plan, form, status=400 if request.method == "POST" else 200)


@login_required
@rate_limited("membership", on_limited=too_many_requests_json)
@require_POST
def join_setup(request: HttpRequest, slug: str) -> JsonResponse:
    """For the Payment Element's script: a card-saving intent (Stripe SetupIntent) for this join,
    and where Stripe.js sends the shopper once the card is saved (3-D Secure included)."""
    plan = selectors.plan_get(slug=slug)
    form = JoinForm(request.POST, plan=plan, card_in_browser=True) if plan else None
    if form is None or not form.is_valid():
        return JsonResponse({"error": {"code": "invalid", "message": _("Choose monthly or yearly billing."),
                                       "fields": {}}}, status=400)
    params = _join_params(form.cleaned_data)
    try:
        setup = payment_services.payment_setup_start(
            owner=services.owner_of(request.user),
            idempotency_key=f"membership-join:{request.user.pk}:{params['join_key']}")
    except ApplicationError as exc:
        return JsonResponse({"error": {"code": exc.code, "message": exc.message, "fields": exc.fields}},
                            status=exc.status_code)
    query = urlencode({**params, "skip_trial": "1" if params["skip_trial"] else ""})
    return JsonResponse({"client_secret": setup.client_secret, "return_url": request.build_absolute_uri(
        reverse("membership:join_complete", kwargs={"slug": plan.slug}) + "?" + query)})


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def join_complete(request: HttpRequest, slug: str) -> HttpResponse:
    """Where Stripe.js returns after saving the card (``?setup_intent=seti_...``); also where the
    page that confirmed a first charge with the bank sends the same join again (POST)."""
    plan = selectors.plan_get(slug=slug)
    if plan is None:
        raise Http404(_("No such plan."))
    data = request.POST if request.method == "POST" else request.GET
    reference = str(data.get("setup_intent") or "")[:255]
    if not reference:
        messages.error(request, _("Your card was not saved. Please try again."))
        return redirect("membership:join", slug=plan.slug)
    return _join_outcome(request, plan, params=_join_params(data), setup_reference=reference)


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
        if subscription.status == selectors.S.TRIALING:
            messages.success(request, _("Welcome back! Your free trial goes on; the first charge is on %(date)s.")
                             % {"date": _date(subscription.current_period_end)})
        else:
            messages.success(request, _("Welcome back! Your membership renews on %(date)s.")
                             % {"date": _date(subscription.current_period_end)})
    return redirect("membership:account")


def _card_outcome(request: HttpRequest, subscription, form, **card) -> HttpResponse:
    try:
        services.membership_update_card(user=request.user, **card)
    except PaymentActionRequired as exc:
        return _confirm_with_bank(request, exc, plan=subscription.plan, card=card,
                                  params={"card_key": card.get("card_key", "")})
    except ApplicationError as exc:
        _show_refusal(request, form, exc)
        return _card_page(request, subscription, form, status=exc.status_code)
    messages.success(request, _("Your card is saved for your renewals."))
    return redirect("membership:account")


def _card_page(request: HttpRequest, subscription, form, *, status: int = 200) -> HttpResponse:
    in_browser = payment_services.provider_confirms_in_browser()
    return render(request, "membership/card.html", {
        "subscription": subscription, "form": form, "show_test_cards": _show_test_cards(),
        "card_in_browser": in_browser,
        "element": payment_selectors.element_options(amount=subscription.plan.monthly_price,
                                                     currency=subscription.plan.currency) if in_browser else None,
    }, status=status)


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
    in_browser = payment_services.provider_confirms_in_browser()
    form = CardForm(request.POST or None, initial={"card_key": uuid.uuid4().hex}, card_in_browser=in_browser)
    if request.method == "POST" and not in_browser and form.is_valid():
        return _card_outcome(request, subscription, form, payment_method=form.cleaned_data["payment_method"],
                             card_key=form.cleaned_data["card_key"] or None)
    return _card_page(request, subscription, form, status=400 if request.method == "POST" else 200)


@login_required
@rate_limited("membership", on_limited=too_many_requests_json)
@require_POST
def card_setup(request: HttpRequest) -> JsonResponse:
    """For the Payment Element's script: a card-saving intent for the member's new card."""
    if selectors.live_subscription(request.user) is None:
        return JsonResponse({"error": {"code": "not_a_member", "message": _("You are not a member."), "fields": {}}},
                            status=404)
    key = str(request.POST.get("card_key") or uuid.uuid4().hex)[:80]
    try:
        setup = payment_services.payment_setup_start(owner=services.owner_of(request.user),
                                                     idempotency_key=f"membership-card:{request.user.pk}:{key}")
    except ApplicationError as exc:
        return JsonResponse({"error": {"code": exc.code, "message": exc.message, "fields": exc.fields}},
                            status=exc.status_code)
    return JsonResponse({"client_secret": setup.client_secret,
                         "return_url": request.build_absolute_uri(reverse("membership:card_complete"))})


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def card_complete(request: HttpRequest) -> HttpResponse:
    """Where Stripe.js returns after saving the new card (``?setup_intent=seti_...``)."""
    subscription = selectors.live_subscription(request.user)
    if subscription is None:
        messages.error(request, _("You are not a member."))
        return redirect("membership:account")
    data = request.POST if request.method == "POST" else request.GET
    reference = str(data.get("setup_intent") or "")[:255]
    if not reference:
        messages.error(request, _("Your card was not saved. Please try again."))
        return redirect("membership:card")
    form = CardForm(card_in_browser=True)
    return _card_outcome(request, subscription, form, setup_reference=reference)


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
