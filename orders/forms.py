"""Forms of the guest order pages: the e-mail check before cancelling, and asking for a new link."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from orders.models import ReturnPolicy, ReturnReason


class GuestCancelForm(forms.Form):
    email = forms.EmailField(
        label=_("E-mail address used for this order"), max_length=254,
        help_text=_("To cancel, confirm the e-mail address the order confirmation was sent to."),
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )


class GuestLinkRequestForm(forms.Form):
    number = forms.CharField(
        label=_("Order number"), max_length=20, help_text=_("For example BZ-261123-7K3F9Q."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "characters"}),
    )
    email = forms.EmailField(
        label=_("E-mail address used for the order"), max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )

    def clean_number(self) -> str:
        return self.cleaned_data["number"].strip().upper()


class SellerFeedbackForm(forms.Form):
    rating = forms.TypedChoiceField(label=_("Your rating of the seller"), coerce=int,
                                    choices=[(n, f"{n} / 5") for n in range(5, 0, -1)], widget=forms.RadioSelect)
    comment = forms.CharField(label=_("Comment"), required=False, max_length=2000,
                              widget=forms.Textarea(attrs={"rows": 4}))


class ClaimForm(forms.Form):
    reason = forms.ChoiceField(label=_("What went wrong?"), widget=forms.RadioSelect, choices=[])
    description = forms.CharField(label=_("Tell us what happened"), min_length=10, max_length=2000,
                                  widget=forms.Textarea(attrs={"rows": 5}),
                                  help_text=_("What you expected, what you received, and what you tried with the "
                                              "seller."))

    def __init__(self, *args, reasons=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["reason"].choices = list(reasons)


class ReturnPolicyForm(forms.ModelForm):
    """A category's return policy in admin: the reasons the shopper pays return shipping for, as boxes."""

    buyer_pays_reasons = forms.MultipleChoiceField(
        label=_("The shopper pays return shipping for"), required=False, widget=forms.CheckboxSelectMultiple,
        choices=ReturnReason.choices,
        help_text=_("For these reasons the return label's cost is deducted from the refund."))

    class Meta:
        model = ReturnPolicy
        fields = ("category", "returnable", "window_days", "buyer_pays_reasons")


class ReturnStartForm(forms.Form):
    """A return of units of one package: units per line (fields "units-<line id>"), a reason,
    details and up to three photos."""

    reason = forms.ChoiceField(label=_("Why do you return them?"), choices=ReturnReason.choices)
    description = forms.CharField(label=_("Details"), required=False, max_length=2000,
                                  widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args, lines=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.lines = list(lines)
        for line, left in self.lines:
            field = forms.IntegerField(
                label=line.product_title, min_value=0, max_value=left, initial=0, required=False,
                help_text=ngettext("Up to %(n)s unit.", "Up to %(n)s units.", left) % {"n": left})
            field.hide_optional = True  # a number of units (0 by default), not an optional detail
            self.fields[f"units-{line.pk}"] = field

    def units(self) -> dict[int, int]:
        return {line.pk: self.cleaned_data.get(f"units-{line.pk}") or 0 for line, _left in self.lines}
