"""Forms of the marketplace's pages: applying to sell. The checks that matter (bank details, tax
id, one open application) are the service's; the form carries its messages to the fields."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from catalog import selectors as catalog_selectors
from marketplace.models import SellerApplication


class SellerApplicationForm(forms.Form):
    legal_name = forms.CharField(label=_("Legal name of the business"), max_length=200)
    store_name = forms.CharField(label=_("Store name shoppers see"), max_length=120)
    contact_name = forms.CharField(label=_("Contact person"), max_length=150)
    email = forms.EmailField(label=_("Contact e-mail"))
    phone = forms.CharField(label=_("Phone"), max_length=30, required=False)
    country = forms.CharField(label=_("Country (two letters, e.g. US)"), max_length=2, min_length=2)
    tax_id = forms.CharField(label=_("Tax id (US: employer identification number)"), max_length=24)
    bank_account_holder = forms.CharField(label=_("Bank account holder"), max_length=150)
    bank_account = forms.CharField(label=_("Bank account: IBAN, or the account number for a US bank"), max_length=40)
    bank_routing = forms.CharField(label=_("Routing number (US banks only)"), max_length=11, required=False)
    categories = forms.TypedMultipleChoiceField(label=_("What you will sell"), coerce=int,
                                                widget=forms.CheckboxSelectMultiple)
    expected_volume = forms.ChoiceField(label=_("Expected volume"), choices=SellerApplication.Volume.choices)
    accept_terms = forms.BooleanField(label=_("I accept the seller terms: referral fees by category, payouts every "
                                              "two weeks after a reserve, and the account health targets."))

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["categories"].choices = catalog_selectors.category_choices()
