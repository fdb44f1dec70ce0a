"""Forms for accounts: admin user forms and the shopper's sign-up, sign-in, profile and addresses.

They parse and check input only; the views hand the cleaned data to ``accounts.services``.
"""

from __future__ import annotations

from django import forms
from django.contrib.auth import forms as auth_forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AdminUserCreationForm, AuthenticationForm, UserChangeForm
from django.utils.translation import gettext_lazy as _

from accounts import selectors, services
from accounts.models import Address, User


class UserCreateAdminForm(AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("email",)


class UserChangeAdminForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


class _SavesPasswordThroughService:
    """Django's set-password forms, saving through :func:`accounts.services.user_password_save`,
    which also revokes the user's API tokens (old tokens stop working with the old password)."""

    def set_password_and_save(self, user, *args, commit=True, **kwargs):
        user = super().set_password_and_save(user, *args, commit=False, **kwargs)
        return services.user_password_save(user=user) if commit else user


class PasswordChangeForm(_SavesPasswordThroughService, auth_forms.PasswordChangeForm):
    """The signed-in user's password change (old password, new one twice)."""


class SetPasswordForm(_SavesPasswordThroughService, auth_forms.SetPasswordForm):
    """The new password of a password reset."""


class AdminPasswordChangeForm(_SavesPasswordThroughService, auth_forms.AdminPasswordChangeForm):
    """Admin's "set password" page (also for making a password unusable)."""


EMAIL_ATTRS = {"autocomplete": "email", "autocapitalize": "none", "spellcheck": "false"}


def _email_field() -> forms.EmailField:
    return forms.EmailField(label=_("E-mail address"), max_length=254, widget=forms.EmailInput(attrs=EMAIL_ATTRS))


class SignUpForm(forms.Form):
    email = _email_field()
    full_name = forms.CharField(
        label=_("Full name"), max_length=150, widget=forms.TextInput(attrs={"autocomplete": "name"})
    )
    password1 = forms.CharField(
        label=_("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_("At least 8 characters; not a common password and not only numbers."),
    )
    password2 = forms.CharField(
        label=_("Password again"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError(_("An account with this e-mail address already exists."), code="email_taken")
        return email

    def clean(self):
        cleaned = super().clean()
        one, two = cleaned.get("password1"), cleaned.get("password2")
        if one and two and one != two:
            self.add_error("password2", _("The two passwords do not match."))
        elif one:
            probe = User(email=cleaned.get("email") or "", full_name=cleaned.get("full_name") or "")
            try:
                password_validation.validate_password(one, user=probe)
            except forms.ValidationError as exc:
                self.add_error("password1", exc)
        return cleaned


class SignInForm(AuthenticationForm):
    """E-mail and password. ``authenticate()`` runs through django-axes, which counts failures."""

    username = forms.CharField(
        label=_("E-mail address"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autocapitalize": "none", "autofocus": True}),
    )
    password = forms.CharField(
        label=_("Password"), strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )
    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": _("That e-mail address and password do not match an account. Check them and try again."),
    }

    def clean_username(self) -> str:
        return self.cleaned_data["username"].strip()


class ProfileForm(forms.Form):
    full_name = forms.CharField(
        label=_("Full name"), max_length=150, required=False, widget=forms.TextInput(attrs={"autocomplete": "name"})
    )
    email = _email_field()
    current_password = forms.CharField(
        label=_("Current password"),
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        help_text=_("Needed only when you change your e-mail address."),
    )

    def __init__(self, *args, user: User, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    @property
    def email_changed(self) -> bool:
        return self.cleaned_data.get("email", "").strip().lower() != self.user.email.lower()

    def clean(self):
        cleaned = super().clean()
        if "email" in cleaned and self.email_changed and not cleaned.get("current_password"):
            self.add_error("current_password", _("Enter your current password to change your e-mail address."))
        return cleaned


class PasswordResetRequestForm(forms.Form):
    email = _email_field()


class AddressForm(forms.ModelForm):
    class Meta:
        model = Address
        fields = ("full_name", "line1", "line2", "city", "postal_code", "region", "country", "phone", "is_default")
        labels = {"is_default": _("Use as my default address")}
        widgets = {
            "full_name": forms.TextInput(attrs={"autocomplete": "name"}),
            "line1": forms.TextInput(attrs={"autocomplete": "address-line1"}),
            "line2": forms.TextInput(attrs={"autocomplete": "address-line2"}),
            "city": forms.TextInput(attrs={"autocomplete": "address-level2"}),
            "postal_code": forms.TextInput(attrs={"autocomplete": "postal-code"}),
            "region": forms.TextInput(attrs={"autocomplete": "address-level1"}),
            "country": forms.Select(attrs={"autocomplete": "country"}),
            "phone": forms.TextInput(attrs={"autocomplete": "tel", "type": "tel"}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["country"].choices = [("", _("Choose a country")), *selectors.country_choices()]
        # A parcel needs it, and checkout asks for it: an address saved without one would stop
        # every checkout that starts from it.
        self.fields["postal_code"].required = True

    def _post_clean(self):
        # The instance is saved by accounts.services; skip ModelForm's model validation, which
        # would check the one-default constraint before the service moves the default.
        pass
