"""How membership plugs its benefits into lower layers that cannot import it (the buy box and
product pages of marketplace): a provider registered at start-up."""

from __future__ import annotations

from marketplace.buy_box import BuyerBenefits, ViewerBenefits, register_viewer_benefits_provider
from membership import selectors
from membership.selectors import MemberBenefits


def buyer_benefits(benefits: MemberBenefits | None) -> BuyerBenefits | None:
    if benefits is None:
        return None
    return BuyerBenefits(label=benefits.plan_name, member_prices=benefits.member_prices,
                         free_platform_shipping=benefits.free_shipping, fast_shipping=benefits.fast_shipping,
                         member_deals=benefits.member_deals)


def viewer_benefits(user) -> ViewerBenefits:
    """A member's own benefits; for everyone else, what the featured plan would give."""
    own = selectors.benefits_for(user)
    if own is not None:
        return ViewerBenefits(active=buyer_benefits(own))
    return ViewerBenefits(preview=buyer_benefits(selectors.benefits_preview()))


def register() -> None:
    register_viewer_benefits_provider(viewer_benefits, namespaces=[selectors.PLANS_NAMESPACE])
