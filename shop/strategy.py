"""The composition point: what a buyer can buy, at what price and when it arrives, answered in one place.

Lower contexts never look upward and hold no registries: each one that needs something owned by a
higher context says what it needs as a small protocol next to its own code, and takes it as a
parameter:

* ``marketplace.buy_box.BuyBoxInputs``: stock and shipping facts (fulfillment), live deal prices
  (promotions) and the buyer's membership benefits (membership), to rank offers;
* ``marketplace.selectors.ProductPageInputs``: the same plus what joining would give (a guest's
  "members pay" lines);
* ``catalog.services.PurchaseFacts``: whether this shopper bought a product (orders), for
  "verified purchase" on reviews;
* ``checkout.pricing``: the buyer's benefits (member prices, free and faster shipping);
* ``orders.selectors.OrderPageInputs``: the invoices and credit notes of an order (finance), for
  the order page.

:class:`Strategy` answers all of them, for one buyer. One is built per request by
:class:`shop.middleware.StrategyMiddleware` (``request.strategy``, lazily) and one per background
job (:func:`for_job`: no buyer, the stored buy box for everyone). A system check
(``shop.checks``) refuses to start when the strategy no longer satisfies a protocol or the
middleware is missing, so nothing falls back silently at request time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from decimal import Decimal
from functools import cached_property

from finance import invoices
from fulfillment import selectors as fulfillment_selectors
from marketplace.benefits import Benefits
from marketplace.buy_box import OfferFacts
from membership import selectors as membership_selectors
from orders import selectors as orders_selectors
from promotions import deals as promotions_deals


class Strategy:
    """Everything that decides price, availability and delivery for one buyer (or for everyone,
    ``user=None``). Cheap to make; each answer is computed at most once."""

    def __init__(self, *, user=None) -> None:
        self.user = user if getattr(user, "is_authenticated", False) else None

    # --- who is buying -------------------------------------------------------------------------

    @cached_property
    def benefits(self) -> Benefits | None:
        """The buyer's own membership benefits (None: guest, non-member, or everyone)."""
        return membership_selectors.benefits_for(self.user) if self.user is not None else None

    @cached_property
    def preview_benefits(self) -> Benefits | None:
        """What joining the featured plan would give this buyer (None for members)."""
        return None if self.benefits is not None else membership_selectors.benefits_preview()

    # Cached pages that show benefits depend on these cache namespaces (a plan edited).
    # what pages showing prices and delivery also depend on: the plans, and the delivery calendar
    cache_namespaces: tuple[str, ...] = (membership_selectors.PLANS_NAMESPACE, fulfillment_selectors.CALENDAR)

    @cached_property
    def page_variant(self) -> str:
        """Which version of a page that shows prices and delivery this buyer sees: the same for
        every guest and non-member (``""``, with the featured plan's "members pay" lines), one per
        set of member benefits. Part of the key of such pages in the page cache (core.pagecache),
        so members of the same plan share their pages. It includes the delivery promise's epoch (each
        warehouse's local day and side of its cutoff), so promised days roll over on time."""
        epoch = fulfillment_selectors.promise_epoch()  # a cached page never shows yesterday's promise
        if self.benefits is None:
            return epoch
        return epoch + "member:" + hashlib.blake2b(repr(self.benefits).encode(), digest_size=8).hexdigest()

    # --- what can be sold, at what price, and when it arrives ---------------------------------

    def offer_facts(self, offers: Sequence) -> dict[int, OfferFacts]:
        """Stock and shipping facts per offer (fulfillment; two queries per batch)."""
        return fulfillment_selectors.offer_facts(offers)

    def deal_prices(self, offers: Sequence) -> Mapping[int, Decimal]:
        """Live lightning-deal prices (promotions' cached index); members-only deals for members."""
        members = self.benefits is not None and self.benefits.member_deals
        return promotions_deals.deal_prices(offers, members) if offers else {}

    # --- what the buyer did ---------------------------------------------------------------------

    def has_bought(self, product_id: int) -> bool:
        """Whether this shopper has a paid (or later) order with this product (orders)."""
        return self.user is not None and orders_selectors.user_bought_product(self.user.pk, product_id)

    # --- after the sale ---------------------------------------------------------------------------

    def order_documents(self, order) -> Sequence[invoices.DocumentView]:
        """The order's invoices and credit notes (finance), for the order page; the page has checked
        that this shopper may see the order."""
        return invoices.order_documents(order_id=order.pk)


def for_request(request) -> Strategy:
    return Strategy(user=getattr(request, "user", None))


def for_job() -> Strategy:
    """The strategy of a background job: no buyer (the stored buy box, prices for everyone)."""
    return Strategy()
