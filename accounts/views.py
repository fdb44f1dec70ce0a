"""Account pages: sign up, sign in and out, password change and reset, profile, address book.

Thin: forms parse input, ``accounts.services`` writes, ``accounts.selectors`` reads. Every page
here is per user, so none goes through the anonymous page cache.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from accounts import selectors, services
from accounts.forms import (
    AddressForm,
    PasswordChangeForm,
    PasswordResetRequestForm,
    ProfileForm,
    SetPasswordForm,
    SignInForm,
    SignUpForm,
)
from core import ratelimit
from core.exceptions import ApplicationError
from core.forms import add_service_errors

MODEL_BACKEND = "accounts.backends.EmailBackend"  # what a password sign-in records


def _safe_next(request: HttpRequest) -> str:
    """The ``next`` URL when it points at this site, else ``""`` (no open redirects)."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return ""


class SignInView(auth_views.LoginView):
    """E-mail + password; ``next`` is followed only when it is on this site (LoginView checks)."""

    form_class = SignInForm
    template_name = "accounts/sign_in.html"
    redirect_authenticated_user = True


@never_cache
@sensitive_post_parameters("password1", "password2")
@require_http_methods(["GET", "POST"])
def sign_up(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect(settings.LOGIN_REDIRECT_URL)
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user = services.user_sign_up(email=data["email"], full_name=data["full_name"], password=data["password1"],
                                         visitor_id=getattr(request, "visitor_id", ""))
        except ApplicationError as exc:
            add_service_errors(form, exc)
        else:
            login(request, user, backend=MODEL_BACKEND)
            messages.success(request, _("Welcome to %(shop)s! Your account is ready.") % {"shop": settings.SHOP_NAME})
            return redirect(_safe_next(request) or settings.LOGIN_REDIRECT_URL)
    return render(request, "accounts/sign_up.html", {"form": form, "next": _safe_next(request)})


class SignOutView(auth_views.LogoutView):
    """Signing out is a POST (a link or an image elsewhere cannot sign anyone out); the address
    opened in a browser asks with a button instead of answering 405."""

    http_method_names = ["get", "post", "options"]
    template_name = "accounts/signed_out.html"

    def get(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect("storefront:home")
        return render(request, "accounts/sign_out.html")


class PasswordChangeView(auth_views.PasswordChangeView):
    form_class = PasswordChangeForm
    template_name = "accounts/password_change.html"
    success_url = reverse_lazy("storefront:account")

    def form_valid(self, form):
        response = super().form_valid(form)  # keeps the session signed in (update_session_auth_hash)
        messages.success(self.request, _("Your password has been changed."))
        return response


def _reset_email_key(request: HttpRequest) -> str | None:
    email = str(request.POST.get("email") or "").strip().lower()
    return f"email:{email}" if email else None


def _reset_refused_quietly(request: HttpRequest, verdict: ratelimit.Verdict) -> HttpResponse:
    """Over a reset limit (too many for this address, or from this client): the same answer as
    when the link is sent, so nobody learns whether the account exists, but no e-mail goes out."""
    form = PasswordResetRequestForm(request.POST)
    if form.is_valid():
        return redirect("accounts:password_reset_done")
    return render(request, "accounts/password_reset.html", {"form": form})


@never_cache
@ratelimit.rate_limited("password_reset_client", key=ratelimit.client_key, on_limited=_reset_refused_quietly)
@ratelimit.rate_limited("password_reset_email", key=_reset_email_key, on_limited=_reset_refused_quietly)
@require_http_methods(["GET", "POST"])
def password_reset(request: HttpRequest) -> HttpResponse:
    """Ask for a reset link. The answer is the same whether or not the e-mail has an account."""
    form = PasswordResetRequestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        services.password_reset_request(email=form.cleaned_data["email"])
        return redirect("accounts:password_reset_done")
    return render(request, "accounts/password_reset.html", {"form": form})


def password_reset_done(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/password_reset_done.html")


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    form_class = SetPasswordForm
    template_name = "accounts/password_reset_confirm.html"
    success_url = reverse_lazy("accounts:password_reset_complete")
    post_reset_login = False


def password_reset_complete(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/password_reset_complete.html")


@login_required
@sensitive_post_parameters("current_password")
@require_http_methods(["GET", "POST"])
def profile(request: HttpRequest) -> HttpResponse:
    user = request.user
    form = ProfileForm(request.POST or None, user=user, initial={"full_name": user.full_name, "email": user.email})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            if form.email_changed:
                services.user_change_email(user=user, new_email=data["email"], password=data["current_password"])
            services.user_update_profile(user=user, full_name=data["full_name"])
        except ApplicationError as exc:
            user.refresh_from_db(fields=["email", "full_name"])
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Your profile has been saved."))
            return redirect("storefront:account")
    return render(request, "accounts/profile.html", {"form": form})


@login_required
def address_list(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/address_list.html", {"addresses": selectors.address_list(user=request.user)})


def _own_address(request: HttpRequest, address_id: int):
    address = selectors.address_get(user=request.user, address_id=address_id)
    if address is None:
        raise Http404(_("No such address."))
    return address


@login_required
@require_http_methods(["GET", "POST"])
def address_create(request: HttpRequest) -> HttpResponse:
    form = AddressForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.address_create(user=request.user, **form.cleaned_data)
        except ApplicationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("The address has been added."))
            return redirect(_safe_next(request) or "accounts:addresses")
    return render(
        request,
        "accounts/address_form.html",
        {"form": form, "title": gettext_lazy("Add an address"), "next": _safe_next(request)},
    )


@login_required
@require_http_methods(["GET", "POST"])
def address_edit(request: HttpRequest, address_id: int) -> HttpResponse:
    address = _own_address(request, address_id)
    form = AddressForm(request.POST or None, instance=address)
    if request.method == "POST" and form.is_valid():
        try:
            services.address_update(address=address, **form.cleaned_data)
        except ApplicationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("The address has been saved."))
            return redirect("accounts:addresses")
    return render(
        request,
        "accounts/address_form.html",
        {"form": form, "address": address, "title": gettext_lazy("Edit address")},
    )


@login_required
@require_POST
def address_delete(request: HttpRequest, address_id: int) -> HttpResponse:
    address = selectors.address_get(user=request.user, address_id=address_id)
    if address is None:  # removed already (a double click), or never in this shopper's book
        messages.info(request, _("That address is not in your address book."))
    else:
        services.address_delete(address=address)
        messages.success(request, _("The address has been removed."))
    return redirect("accounts:addresses")


@login_required
@require_POST
def address_set_default(request: HttpRequest, address_id: int) -> HttpResponse:
    services.address_set_default(address=_own_address(request, address_id))
    messages.success(request, _("Your default address has been changed."))
    return redirect("accounts:addresses")
