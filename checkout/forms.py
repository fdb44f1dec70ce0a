"""Checkout's forms: the delivery address and the payment step."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy

COUNTRIES = [
    ("US", gettext_lazy("United States")), ("CA", gettext_lazy("Canada")), ("GB", gettext_lazy("United Kingdom")),
    ("DE", gettext_lazy("Germany")), ("FR", gettext_lazy("France")), ("ES", gettext_lazy("Spain")),
    ("IT", gettext_lazy("Italy")), ("NL", gettext_lazy("Netherlands")), ("AU", gettext_lazy("Australia")),
]


class AddressForm(forms.Form):
    email = forms.EmailField(label=gettext_lazy("E-mail for your receipt"))
    full_name = forms.CharField(label=gettext_lazy("Full name"), max_length=120)
    line1 = forms.CharField(label=gettext_lazy("Address line 1"), max_length=200)
    line2 = forms.CharField(label=gettext_lazy("Address line 2"), max_length=200, required=False)
    city = forms.CharField(label=gettext_lazy("City"), max_length=100)
    postal_code = forms.CharField(label=gettext_lazy("Postal code"), max_length=20)
    region = forms.CharField(label=gettext_lazy("State or region"), max_length=40, required=False)
    country = forms.ChoiceField(label=gettext_lazy("Country"), choices=COUNTRIES)
    phone = forms.CharField(label=gettext_lazy("Phone"), max_length=30, required=False)


class CardNumberInput(forms.TextInput):
    """A card number is never written back into a page (after an error the shopper types it again)."""

    def format_value(self, value):
        return None


class PaymentForm(forms.Form):
    card_number = forms.CharField(
        label=gettext_lazy("Card number"), max_length=23, required=False,
        widget=CardNumberInput(attrs={"autocomplete": "cc-number", "inputmode": "numeric"}),
    )
    expected_total = forms.DecimalField(widget=forms.HiddenInput, max_digits=12, decimal_places=2)
    order_key = forms.CharField(widget=forms.HiddenInput, max_length=80, required=False)
    use_store_credit = forms.BooleanField(label=gettext_lazy("Pay with my store credit first"), required=False)
    gift_card_code = forms.CharField(label=gettext_lazy("Gift card code"), required=False, max_length=40,
                                     widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}))
