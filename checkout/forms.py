"""Checkout's forms: a gift card to buy, the delivery address and the payment step."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy

from accounts import addresses as address_shapes
from accounts import selectors as account_selectors


class AddressForm(forms.Form):
    email = forms.EmailField(label=gettext_lazy("E-mail for your receipt"))
    full_name = forms.CharField(label=gettext_lazy("Full name"), max_length=120)
    line1 = forms.CharField(label=gettext_lazy("Address line 1"), max_length=200)
    line2 = forms.CharField(label=gettext_lazy("Address line 2"), max_length=200, required=False)
    city = forms.CharField(label=gettext_lazy("City"), max_length=100)
    postal_code = forms.CharField(label=gettext_lazy("Postal code"), max_length=20)
    region = forms.CharField(label=gettext_lazy("State or region"), max_length=40, required=False)
    country = forms.ChoiceField(label=gettext_lazy("Country"), choices=account_selectors.country_choices, initial="US")
    phone = forms.CharField(label=gettext_lazy("Phone"), max_length=30, required=False)

    def clean(self):
        cleaned = super().clean()
        for name, problem in address_shapes.address_problems(
                country=cleaned.get("country", ""), postal_code=cleaned.get("postal_code", ""),
                phone=cleaned.get("phone", "")).items():
            self.add_error(name, problem)
        return cleaned


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


class GiftCardForm(forms.Form):
    """A gift card to put in the cart. The rules (amounts, dates, lengths) are payments'; this form
    only shapes the input, and the service's error is shown on the field it names."""

    amount = forms.ChoiceField(label=gettext_lazy("Amount"), widget=forms.RadioSelect, required=False)
    custom_amount = forms.DecimalField(label=gettext_lazy("Or another amount"), required=False, max_digits=12,
                                       decimal_places=2)  # its range is payments' rule (the service says it)
    recipient_email = forms.EmailField(label=gettext_lazy("Recipient's e-mail"), max_length=254,
                                       help_text=gettext_lazy("The card's code is e-mailed there. It can be yours."))
    recipient_name = forms.CharField(label=gettext_lazy("Recipient's name"), max_length=100, required=False)
    sender_name = forms.CharField(label=gettext_lazy("From"), max_length=100, required=False)
    message = forms.CharField(label=gettext_lazy("Message"), max_length=500, required=False,
                              widget=forms.Textarea(attrs={"rows": 3}))
    deliver_on = forms.DateField(label=gettext_lazy("Send it on"), required=False,
                                 widget=forms.DateInput(attrs={"type": "date"}),
                                 help_text=gettext_lazy("Empty: as soon as the order is paid."))

    def __init__(self, *args, choices=(), currency: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["amount"].choices = [(str(v), f"{v:,.2f} {currency}".strip()) for v in choices]

    def clean_recipient_name(self):
        return " ".join(self.cleaned_data["recipient_name"].split())  # one line: it heads the e-mail

    def clean_sender_name(self):
        return " ".join(self.cleaned_data["sender_name"].split())

    def chosen_amount(self):
        """The custom amount when given, else the chosen one (a radio button cannot be unchosen:
        typing an amount after choosing one is changing one's mind); None when neither is."""
        data = self.cleaned_data
        if data.get("custom_amount") is not None:
            return data["custom_amount"]
        return data.get("amount") or None
