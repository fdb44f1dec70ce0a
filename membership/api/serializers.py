from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from membership import selectors
from membership.models import Subscription


class PlanOutputSerializer(serializers.Serializer):
    slug = serializers.SlugField()
    name = serializers.CharField()
    description = serializers.CharField()
    currency = serializers.CharField()
    monthly_price = serializers.DecimalField(max_digits=10, decimal_places=2)
    annual_price = serializers.DecimalField(max_digits=10, decimal_places=2)
    trial_days = serializers.IntegerField(help_text="Free days before the first charge (first membership only).")
    free_shipping = serializers.BooleanField()
    fast_shipping = serializers.BooleanField()
    member_prices = serializers.BooleanField()
    member_deals = serializers.BooleanField()


class PlanRefOutputSerializer(serializers.Serializer):
    slug = serializers.SlugField()
    name = serializers.CharField()


class ChargeOutputSerializer(serializers.Serializer):
    created_at = serializers.DateTimeField()
    period_start = serializers.DateTimeField()
    period_end = serializers.DateTimeField()
    attempt = serializers.IntegerField()
    amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    currency = serializers.CharField()
    status = serializers.ChoiceField(choices=["pending", "paid", "declined", "failed"])
    decline_message = serializers.CharField()


class NextBillingOutputSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    currency = serializers.CharField()
    is_retry = serializers.BooleanField(help_text="A declined payment tried again.")


class SubscriptionOutputSerializer(serializers.Serializer):
    plan = PlanRefOutputSerializer()
    status = serializers.ChoiceField(choices=Subscription.Status.values)
    status_label = serializers.CharField(source="get_status_display")
    interval = serializers.ChoiceField(choices=Subscription.Interval.values)
    has_benefits = serializers.BooleanField()
    current_period_start = serializers.DateTimeField()
    current_period_end = serializers.DateTimeField(help_text="Renewal date; for a cancelled membership, the end.")
    trial_end = serializers.DateTimeField(allow_null=True)
    grace_until = serializers.DateTimeField(allow_null=True, help_text="Past due: benefits stop then unless paid.")
    cancelled_at = serializers.DateTimeField(allow_null=True)
    ended_at = serializers.DateTimeField(allow_null=True)
    card = serializers.CharField(source="card_label")
    next_billing = serializers.SerializerMethodField()
    charges = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    @extend_schema_field(NextBillingOutputSerializer(allow_null=True))
    def get_next_billing(self, subscription):
        billing = selectors.next_billing(subscription)  # no query: the plan is selected with it
        return NextBillingOutputSerializer(billing).data if billing else None

    @extend_schema_field(ChargeOutputSerializer(many=True))
    def get_charges(self, subscription):
        """The latest payments, newest first (one query: a single subscription is shown)."""
        return ChargeOutputSerializer(selectors.charge_list(subscription=subscription), many=True).data


class JoinInputSerializer(serializers.Serializer):
    plan = serializers.SlugField(help_text="The plan's slug (see /membership/plans/).")
    interval = serializers.ChoiceField(choices=Subscription.Interval.values, default="month")
    payment_method = serializers.CharField(
        max_length=255, help_text="A card number for the test provider; a payment method id (pm_...) from "
                                  "Stripe's SDK, or one of your saved cards (cus_...|pm_...) for Stripe. Saved as a "
                                  "reusable token for renewals, never as a number.")
    skip_trial = serializers.BooleanField(
        default=False, help_text="Join without the free trial (the first period is charged now). One trial per "
                                 "customer and per card: a card that had one is refused with 409 trial_used.")


class CardInputSerializer(serializers.Serializer):
    payment_method = serializers.CharField(max_length=255)


class IntervalInputSerializer(serializers.Serializer):
    interval = serializers.ChoiceField(choices=Subscription.Interval.values)
