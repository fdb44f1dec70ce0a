"""Reads of membership: who is a member and what their plan gives them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Q, QuerySet
from django.utils import timezone

from core import cache as vcache
from marketplace.benefits import Benefits
from membership.models import Plan, Subscription, SubscriptionCharge, SubscriptionEvent

S = Subscription.Status

# Cache namespaces, bumped on commit by the services: one per customer (any change to their
# subscription) and one for every plan (a plan's benefits were edited).
PLANS_NAMESPACE = "membership:plans"
BENEFITS_TIMEOUT = 60 * 60


def user_namespace(user_id: int) -> str:
    return f"membership:user:{user_id}"


def benefits_of(plan: Plan) -> Benefits:
    """What a plan gives, as pricing, the buy box and pages read it (one value: marketplace's)."""
    return Benefits(plan_name=plan.name, free_shipping=plan.free_shipping, fast_shipping=plan.fast_shipping,
                    member_prices=plan.member_prices, member_deals=plan.member_deals)


def live_subscription(user) -> Subscription | None:
    """The customer's subscription that is not over yet (at most one), with its plan."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return (Subscription.objects.select_related("plan")
            .filter(user=user).exclude(status=Subscription.Status.EXPIRED).first())


def benefits_for(user) -> Benefits | None:
    """The benefits this user has now; None for guests and non-members.

    At most one query, and none on a cache hit: the benefits are cached per customer together
    with the instant they stop (the end of a cancelled period, of the grace period...), which is
    checked on every call, so a lapsed member loses them at that instant even if no worker has
    expired the subscription yet. Any change made by the services bumps the customer's namespace.
    """
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    key = f"membership:benefits:{user.pk}"
    # read on every request of a signed-in customer: kept in the process too (core.cache's local
    # layer: no Redis round trip while its subscription to bumps is alive; any change bumps)
    entry, seen = vcache.get_checked(key, [user_namespace(user.pk), PLANS_NAMESPACE], local=True)
    if entry is None:
        subscription = live_subscription(user)
        until = subscription.benefits_until if subscription else None
        entry = (benefits_of(subscription.plan), until) if until else (None, None)
        vcache.set_checked(key, entry, seen, BENEFITS_TIMEOUT, local=True)
    benefits, until = entry
    return benefits if benefits is not None and timezone.now() < until else None


def featured_plan() -> Plan | None:
    """The plan offered to non-members (the cheapest on sale)."""
    return Plan.objects.filter(is_active=True).order_by("monthly_price", "id").first()


def benefits_preview() -> Benefits | None:
    """What a guest or non-member would get by joining the featured plan (read on every cart and
    product page: cached until a plan is saved; False stands for "no plan" in the cache)."""

    def load():
        plan = featured_plan()
        return benefits_of(plan) if plan else False

    return vcache.cached_in(PLANS_NAMESPACE, "membership:benefits-preview", load) or None


# --- pages, API, admin, tasks --------------------------------------------------------------


def plan_list() -> QuerySet[Plan]:
    """Plans on sale, cheapest first."""
    return Plan.objects.filter(is_active=True).order_by("monthly_price", "id")


def plan_get(*, slug: str) -> Plan | None:
    return Plan.objects.filter(is_active=True, slug=slug).first()


def subscription_latest(*, user) -> Subscription | None:
    """The live subscription, else the one that ended last (to show "expired"); None if never joined."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return Subscription.objects.select_related("plan").filter(user=user).order_by("-created_at", "-id").first()


def trial_eligible(*, user) -> bool:
    """A free trial is for a first membership only."""
    if user is None or not getattr(user, "is_authenticated", False):
        return True
    return not Subscription.objects.filter(user=user).exists()


def card_had_trial(*, fingerprint: str) -> bool:
    """Whether a membership with a free trial was ever paid with this card (one trial per card)."""
    return bool(fingerprint) and Subscription.objects.filter(card_fingerprint=fingerprint,
                                                             trial_end__isnull=False).exists()


def charge_list(*, subscription: Subscription, limit: int = 24) -> list[SubscriptionCharge]:
    return list(SubscriptionCharge.objects.filter(subscription=subscription)
                .order_by("-created_at", "-id")[:limit])


def event_list(*, subscription: Subscription, limit: int = 50) -> list[SubscriptionEvent]:
    return list(SubscriptionEvent.objects.filter(subscription=subscription).order_by("-created_at", "-id")[:limit])


@dataclass(frozen=True)
class NextBilling:
    at: datetime
    amount: Decimal
    currency: str
    is_retry: bool  # a declined payment tried again


def next_billing(subscription: Subscription) -> NextBilling | None:
    """When the card is charged next and how much (None when nothing more will be charged)."""
    amount = subscription.plan.price_for(subscription.interval)
    currency = subscription.plan.currency
    if subscription.status in (S.TRIALING, S.ACTIVE):
        return NextBilling(subscription.current_period_end, amount, currency, False)
    if subscription.status == S.PAST_DUE and subscription.next_attempt_at:
        return NextBilling(subscription.next_attempt_at, amount, currency, True)
    return None


def due_filter(now: datetime) -> Q:
    """Subscriptions the renewal task has something to do for at ``now``."""
    return (
        Q(status__in=[S.TRIALING, S.ACTIVE, S.CANCELLED], current_period_end__lte=now)
        | Q(status=S.PAST_DUE, next_attempt_at__lte=now)
        | Q(status=S.PAST_DUE, grace_until__lte=now)
    )


def subscription_due_ids(*, now: datetime, after_id: int = 0, limit: int = 500) -> list[int]:
    """A batch of due subscription ids above ``after_id`` (keyset pagination, id order)."""
    return list(Subscription.objects.filter(due_filter(now), pk__gt=after_id)
                .order_by("pk").values_list("pk", flat=True)[:limit])


def personal_data(*, user_id: int) -> dict:
    """``user_id``'s memberships and what each charged, for their data export."""
    return {
        "memberships": list(Subscription.objects.filter(user_id=user_id).order_by("id").values(
            "plan__name", "interval", "status", "current_period_start", "current_period_end", "trial_end",
            "card_label", "cancelled_at", "ended_at", "created_at")),
        "membership_charges": list(SubscriptionCharge.objects.filter(subscription__user_id=user_id).order_by("id")
                                   .values("period_start", "period_end", "amount", "currency", "status")),
    }


def renews(user) -> bool:
    """Whether ``user`` has a membership that will charge again (trial, active or overdue)."""
    return Subscription.objects.filter(user=user, status__in=(
        Subscription.Status.TRIALING, Subscription.Status.ACTIVE, Subscription.Status.PAST_DUE)).exists()
