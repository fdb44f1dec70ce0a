"""Marketplace's domain events (recorded durably with ``core.events.record``): names and payloads.
Who consumes them is declared at the composition point (``EVENT_CONSUMERS`` in settings)."""

SELLER_CREATED = "marketplace.seller_created"  # aggregate seller: seller_id
# An application to sell was approved and made this seller (aggregate seller: seller_id, application_id).
SELLER_APPROVED = "marketplace.seller_approved"
SELLER_MEMBER_REMOVED = "marketplace.seller_member_removed"  # seller: member_id, seller_id, user_id, role,
#   staff_revoked, actor_id
SELLER_MEMBER_ROLE_CHANGED = "marketplace.seller_member_role_changed"  # seller: member_id, seller_id, user_id,
#   old_role, role, actor_id
# A seller proposed a product (hidden until staff approve it): proposal_id, product_id, seller_id.
PRODUCT_PROPOSED = "marketplace.product_proposed"
OFFER_CREATED = "marketplace.offer_created"  # aggregate offer: offer_id, product_id, seller_id
OFFER_CHANGED = "marketplace.offer_changed"  # offer: offer_id, product_id
# These products' buy boxes may have changed (an offer, its stock, a seller, a shipping method or a
# deal changed). Aggregate buy_box (no id). Payload: ``product_ids`` or ``offer_ids`` (at most
# REFRESH_BATCH; offers stand for their products).
BUY_BOX_STALE = "marketplace.buy_box_stale"
