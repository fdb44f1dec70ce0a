"""Forms of the pages that combine several contexts."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _


class AccountCloseForm(forms.Form):
    password = forms.CharField(label=_("Your password"), strip=False,
                               widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))
    confirm = forms.BooleanField(label=_("I understand that closing my account cannot be undone"),
                                 error_messages={"required": _("Tick the box to confirm.")})
