"""``{% membership_summary user %}``: the account page's "Membership" card.

The account page belongs to accounts, a lower layer that cannot import membership; its template
asks for this tag instead, so the dependency stays at the presentation edge.
"""

from django import template

from membership import selectors

register = template.Library()


@register.inclusion_tag("membership/_summary.html")
def membership_summary(user) -> dict:
    subscription = selectors.live_subscription(user)
    return {
        "subscription": subscription,
        "next_billing": selectors.next_billing(subscription) if subscription else None,
        "trial_eligible": subscription is None and selectors.trial_eligible(user=user),
    }
