"""Payments forms: gift card codes (redeem, balance check) for customers; issuing and voiding gift
cards and adjusting store credit for staff. They parse; the services validate and write."""

from __future__ import annotations

import uuid

from django import forms
from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _

from core.money import default_currency, format_money
from payments import gift_cards


class GiftCardCodeInput(forms.TextInput):
    """A code is never written back into a page (a mistyped one is typed again)."""

    def format_value(self, value):
        return None


class GiftCardCodeForm(forms.Form):
    code = forms.CharField(
        label=_("Gift card code"), max_length=64,
        help_text=_("The code from your gift card e-mail, e.g. 7KQ2-MXW4-…; dashes and spaces do not matter."),
        widget=GiftCardCodeInput(attrs={"autocomplete": "off", "spellcheck": "false", "autocapitalize": "characters"}),
    )


# --- admin ---------------------------------------------------------------------------------


class GiftCardIssueForm(forms.Form):
    amount = forms.DecimalField(label=_("Amount"), max_digits=12, decimal_places=2, min_value=0)
    recipient_name = forms.CharField(label=_("Recipient's name"), max_length=100, required=False)
    recipient_email = forms.EmailField(
        label=_("Recipient's e-mail"), required=False,
        help_text=_("The card is e-mailed there on the delivery date. Empty: nobody is e-mailed; the code shown "
                    "next is the only copy."))
    sender_name = forms.CharField(label=_("From"), max_length=100, required=False)
    message = forms.CharField(label=_("Message"), max_length=500, required=False,
                              widget=forms.Textarea(attrs={"rows": 3}))
    deliver_on = forms.DateField(label=_("Deliver on"), required=False, help_text=_("YYYY-MM-DD; empty: today."),
                                 widget=forms.DateInput(attrs={"type": "date"}))
    issue_key = forms.CharField(widget=forms.HiddenInput, max_length=40)

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("initial", {}).setdefault("issue_key", uuid.uuid4().hex)
        super().__init__(*args, **kwargs)
        currency = default_currency()
        low, high = gift_cards.amount_limits()
        fixed = ", ".join(format_money(v, currency) for v in gift_cards.amount_choices())
        self.fields["amount"].help_text = _("%(fixed)s, or from %(low)s to %(high)s (%(currency)s).") % {
            "fixed": fixed, "low": format_money(low, currency), "high": format_money(high, currency),
            "currency": currency}


class StoreCreditAdjustForm(forms.Form):
    email = forms.EmailField(label=_("Customer's e-mail"))
    currency = forms.CharField(label=_("Currency"), max_length=3, min_length=3)
    amount = forms.DecimalField(label=_("Amount"), max_digits=12, decimal_places=2,
                                help_text=_("Positive adds credit; negative takes it (at most the balance)."))
    reason = forms.CharField(label=_("Reason"), max_length=500, widget=forms.Textarea(attrs={"rows": 2}),
                             help_text=_("Kept for staff; the customer sees \"Adjustment\"."))
    adjust_key = forms.CharField(widget=forms.HiddenInput, max_length=40)

    def __init__(self, *args, **kwargs) -> None:
        initial = kwargs.setdefault("initial", {})
        initial.setdefault("adjust_key", uuid.uuid4().hex)
        initial.setdefault("currency", default_currency())
        super().__init__(*args, **kwargs)

    def clean_email(self):
        email = self.cleaned_data["email"]
        user = get_user_model().objects.filter(email__iexact=email).first()
        if user is None:
            raise forms.ValidationError(_("No customer has this e-mail address."))
        self.user = user
        return email


class GiftCardVoidForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=500, required=False)
