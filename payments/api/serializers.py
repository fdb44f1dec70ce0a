"""Store credit and gift card API shapes: input and output separate, amounts as decimal strings."""

from __future__ import annotations

from rest_framework import serializers

from core.api import StrictInputSerializer
from payments.models import StoreCreditEntry


class GiftCardCodeInputSerializer(StrictInputSerializer):
    code = serializers.CharField(
        max_length=64, help_text="The gift card's code, e.g. `7KQ2-MXW4-…` (case, dashes and spaces do not matter).")


class BalanceOutputSerializer(serializers.Serializer):
    currency = serializers.CharField()
    balance = serializers.DecimalField(max_digits=12, decimal_places=2, source="amount")


class StoreCreditEntryOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    kind = serializers.ChoiceField(choices=StoreCreditEntry.Kind.choices)
    kind_label = serializers.CharField(source="get_kind_display")
    amount = serializers.DecimalField(max_digits=12, decimal_places=2,
                                      help_text="Positive: credit added; negative: credit spent or taken.")
    balance_after = serializers.DecimalField(max_digits=12, decimal_places=2)
    currency = serializers.CharField(source="account.currency")
    reference = serializers.CharField(
        help_text="What it was for: `order:<number>`, `refund:<id>`, `gift_card:<id>:<n>`…")
    description = serializers.CharField()


class StoreCreditOutputSerializer(serializers.Serializer):
    currency = serializers.CharField(help_text="The shop's currency.")
    balance = serializers.DecimalField(max_digits=12, decimal_places=2, help_text="Spendable now, in `currency`.")
    balances = BalanceOutputSerializer(many=True, help_text="Every currency you hold credit in (the shop's first).")
    count = serializers.IntegerField(help_text="Entries in the history.")
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = StoreCreditEntryOutputSerializer(many=True, help_text="The history, newest first.")


class GiftCardRedeemOutputSerializer(serializers.Serializer):
    amount = serializers.DecimalField(max_digits=12, decimal_places=2, help_text="What the card added.")
    currency = serializers.CharField()
    store_credit_balance = serializers.DecimalField(max_digits=12, decimal_places=2,
                                                    help_text="Your store credit in `currency` afterwards.")


class GiftCardBalanceOutputSerializer(serializers.Serializer):
    balance = serializers.DecimalField(max_digits=12, decimal_places=2, source="balance.amount")
    currency = serializers.CharField(source="balance.currency")
    last4 = serializers.CharField(help_text="The code's last four characters.")
