"""Membership forms: join (billing + card), update the card, change the billing interval."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from core.money import format_money
from membership.models import Plan, Subscription

I = Subscription.Interval  # noqa: E741


def interval_choices(plan: Plan) -> list[tuple[str, str]]:
    monthly = _("Monthly: %(price)s a month") % {"price": format_money(plan.monthly_price, plan.currency)}
    yearly = _("Yearly: %(price)s a year") % {"price": format_money(plan.annual_price, plan.currency)}
    if plan.annual_saving > 0:
        yearly = _("%(choice)s (save %(saving)s)") % {
            "choice": yearly, "saving": format_money(plan.annual_saving, plan.currency)}
    return [(I.MONTH, monthly), (I.YEAR, yearly)]


class CardNumberInput(forms.TextInput):
    """A card number is never written back into a page (after an error the shopper types it again)."""

    def format_value(self, value):
        return None


def _card_field(label) -> forms.CharField:
    return forms.CharField(
        label=label, max_length=255,
        help_text=_("Saved for your renewals; we keep only a reference from the payment provider, never the number."),
        widget=CardNumberInput(attrs={"autocomplete": "cc-number", "inputmode": "numeric", "spellcheck": "false"}),
    )


class JoinForm(forms.Form):
    """Billing and card. With a provider that takes the card in its own element in the browser
    (Stripe), the card field is left out: the page saves the card with Stripe.js first."""

    interval = forms.ChoiceField(label=_("Billing"), choices=I.choices, initial=I.MONTH, widget=forms.RadioSelect)
    payment_method = _card_field(_("Card number"))
    skip_trial = forms.BooleanField(
        label=_("Join without the free trial: charge the first period now"), required=False,
        help_text=_("One free trial per customer and per card."),
    )
    join_key = forms.CharField(widget=forms.HiddenInput, max_length=80)

    def __init__(self, *args, plan: Plan, card_in_browser: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["interval"].choices = interval_choices(plan)
        if card_in_browser:
            del self.fields["payment_method"]


class CardForm(forms.Form):
    payment_method = _card_field(_("New card number"))
    card_key = forms.CharField(widget=forms.HiddenInput, max_length=80, required=False)

    def __init__(self, *args, card_in_browser: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if card_in_browser:
            del self.fields["payment_method"]


class IntervalForm(forms.Form):
    interval = forms.ChoiceField(label=_("Billing"), choices=I.choices, widget=forms.RadioSelect)

    def __init__(self, *args, plan: Plan, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["interval"].choices = interval_choices(plan)
