"""Reads for the marketplace: sellers, offers with their stock facts, product pages."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol, runtime_checkable

from django.db.models import Exists, F, OuterRef, QuerySet, Subquery
from django.utils.translation import gettext as _

from catalog import selectors as catalog_selectors
from catalog.models import Product
from core.compiled_query import CompiledQuery
from marketplace import buy_box, roles
from marketplace.benefits import Benefits
from marketplace.buy_box import BuyBoxInputs, OfferFacts
from marketplace.models import (
    HOUSE_SELLER_SLUG,
    BuyBox,
    Offer,
    ProductProposal,
    Seller,
    SellerApplication,
    SellerMember,
)


def house_seller() -> Seller:
    return Seller.objects.get(is_house=True)


def seller_get(*, pk: int) -> Seller | None:
    return Seller.objects.filter(pk=pk).first()


def sellers_by_ids(*, ids) -> list[Seller]:
    return list(Seller.objects.filter(pk__in=list(ids)).order_by("name"))


def seller_ids() -> list[int]:
    """Every seller's id (active or suspended)."""
    return list(Seller.objects.order_by("pk").values_list("pk", flat=True))


def seller_stripe_accounts(*, seller_ids: list[int]) -> dict[int, str]:
    """Each seller's Stripe connected account ("" when none is set)."""
    return dict(Seller.objects.filter(pk__in=seller_ids).values_list("pk", "stripe_account"))


def house_seller_id() -> int | None:
    """The house seller's id (None before the data migration that creates it has run)."""
    return Seller.objects.filter(is_house=True).values_list("pk", flat=True).first()


def seller_list() -> QuerySet[Seller]:
    return Seller.objects.filter(is_active=True).order_by("-is_house", "name")


def seller_ids_for_user(user) -> list[int]:
    """Sellers ``user`` belongs to, whatever their role (empty for non-members)."""
    if not getattr(user, "is_authenticated", False):
        return []
    return list(SellerMember.objects.filter(user=user).values_list("seller_id", flat=True))


def seller_roles_for_user(user) -> dict[int, str]:
    """``{seller id: role}`` for every seller ``user`` belongs to (empty for non-members)."""
    if not getattr(user, "is_authenticated", False):
        return {}
    return dict(SellerMember.objects.filter(user=user).values_list("seller_id", "role"))


def seller_scope_for_user(user) -> frozenset[int] | None:
    """Ids of the sellers ``user`` is limited to, or None when not limited (invariant 7 in docs/architecture.md).

    Superusers and platform staff (who belong to no seller) are not limited. A member of a seller
    is limited to their sellers; a former member still in a seller group, to nothing.
    """
    if not getattr(user, "is_authenticated", False) or user.is_superuser:
        return None
    ids = seller_ids_for_user(user)
    if ids or user.groups.filter(name__in=roles.SELLER_GROUPS).exists():
        return frozenset(ids)
    return None


def seller_ids_with_permission(user, perm: str) -> frozenset[int]:
    """Sellers where ``user``'s role grants ``perm`` ("app_label.codename"); see ``marketplace.roles``."""
    return frozenset(
        seller_id for seller_id, role in seller_roles_for_user(user).items() if roles.role_allows(role, perm)
    )


@runtime_checkable
class ProductPageInputs(BuyBoxInputs, Protocol):
    """What a product page needs from outside marketplace (the shop's per-request strategy)."""

    @property
    def preview_benefits(self) -> Benefits | None:
        """For a guest or non-member: what joining the featured plan would give (None for members)."""
        ...


@dataclass(frozen=True)
class OfferView:
    """An offer as one viewer sees it: with stock and shipping facts, and the viewer's benefits
    (``benefits``: a member's own) or what joining would change (``preview``: for everyone else)."""

    offer: Offer
    facts: OfferFacts | None
    benefits: Benefits | None = None
    preview: Benefits | None = None

    @property
    def available(self) -> int:
        return self.facts.available if self.facts else 0

    @property
    def in_stock(self) -> bool:
        return buy_box.is_eligible(self.offer, self.facts)

    @property
    def price(self) -> Decimal:
        """What this viewer pays per unit."""
        return buy_box.effective_price(self.offer, self.benefits)

    @property
    def member_price_applies(self) -> bool:
        return self.price != self.offer.price

    @property
    def shipping(self):
        return buy_box.effective_shipping(self.offer, self.facts, self.benefits) if self.facts else None

    @property
    def member_free_shipping(self) -> bool:
        """Ships free because of the viewer's membership (it would cost otherwise)."""
        return bool(self.facts and self.facts.shipping and self.shipping == 0)

    @property
    def member_delivery(self) -> OfferFacts | None:
        """Delivery estimate with the viewer's (or a joiner's) faster members-only shipping, when faster."""
        benefits = self.benefits or self.preview
        facts = self.facts
        if not (benefits and benefits.fast_shipping and facts and facts.member_delivery_max_days):
            return None
        if facts.member_delivery_max_days >= facts.delivery_max_days:
            return None
        return OfferFacts(available=facts.available, shipping=Decimal(0),
                          delivery_min_days=facts.member_delivery_min_days,
                          delivery_max_days=facts.member_delivery_max_days,
                          arrives_from=facts.member_arrives_from, arrives_by=facts.member_arrives_by,
                          order_by=facts.order_by)

    @property
    def preview_price(self) -> Decimal | None:
        """For a non-member: the member price they would pay by joining (None if no difference)."""
        if self.benefits is not None or self.preview is None:
            return None
        price = buy_box.effective_price(self.offer, self.preview)
        return price if price != self.offer.price else None

    @property
    def preview_free_shipping(self) -> bool:
        """For a non-member: this offer would ship free by joining."""
        if self.benefits is not None or self.preview is None or not self.facts or not self.facts.shipping:
            return False
        return buy_box.effective_shipping(self.offer, self.facts, self.preview) == 0

    @property
    def landed_price(self):
        return self.price + self.shipping if self.facts else self.price


def product_offers(*, product: Product, inputs: ProductPageInputs) -> list[OfferView]:
    """Every active offer of ``product``, in buy-box order for this viewer, with stock and shipping facts."""
    offers = Offer.objects.filter(product=product, is_active=True, seller__is_active=True).select_related("seller")
    ranked, facts = buy_box.rank_for(offers, inputs)
    return [OfferView(o, facts.get(o.pk), inputs.benefits, inputs.preview_benefits) for o in ranked]


@dataclass(frozen=True)
class ProductPage:
    product: Product
    breadcrumbs: list
    winner: OfferView | None
    others: list[OfferView]
    other_min_price: object
    reviews: list
    benefits: Benefits | None = None  # the viewer's own (a member)
    preview: Benefits | None = None  # what joining would give (everyone else)


def product_page(*, slug: str, inputs: ProductPageInputs) -> ProductPage | None:
    """Everything the product page shows, in a constant number of queries. A member's buy box is
    ranked with their benefits; everyone else sees the stored one."""
    product = catalog_selectors.product_detail(slug=slug)
    if product is None:
        return None
    offers = product_offers(product=product, inputs=inputs)
    winner = None
    if inputs.benefits is None:
        stored = BuyBox.objects.filter(product=product).values_list("offer_id", flat=True).first()
        # The stored buy box decides; if it is stale (winner gone), the best sellable offer shows.
        winner = next((v for v in offers if v.offer.pk == stored and v.in_stock), None)
    if winner is None:
        winner = next((v for v in offers if v.in_stock), None)
    others = [v for v in offers if v is not winner]
    sellable_others = [v.price for v in others if v.in_stock]
    tree = catalog_selectors.category_tree()
    return ProductPage(
        product=product,
        breadcrumbs=tree.ancestors(product.category_id),
        winner=winner,
        others=others,
        other_min_price=min(sellable_others) if sellable_others else None,
        reviews=catalog_selectors.product_reviews(product_id=product.pk, limit=5),
        benefits=inputs.benefits, preview=inputs.preview_benefits,
    )


def offers_with_buy_box_flag(queryset: QuerySet[Offer]) -> QuerySet[Offer]:
    """``queryset`` with ``is_buy_box_winner`` on each offer (one subquery, no per-row query)."""
    winning = BuyBox.objects.filter(product_id=OuterRef("product_id"), offer_id=OuterRef("pk"))
    return queryset.annotate(is_buy_box_winner=Exists(winning))


def buy_box_sellers(*, product_ids) -> dict[int, int]:
    """Product id -> the seller of the offer its page features (products without a winner left out)."""
    return dict(BuyBox.objects.filter(product_id__in=list(product_ids), offer__isnull=False)
                .values_list("product_id", "offer__seller_id"))


def product_ids_with_offers(*, channel: str, seller_id: int | None = None) -> list[int]:
    """Products with an active offer of this fulfilment channel (of one seller, if given)."""
    qs = Offer.objects.filter(fulfillment_channel=channel, is_active=True)
    if seller_id is not None:
        qs = qs.filter(seller_id=seller_id)
    return list(qs.values_list("product_id", flat=True).distinct())


def offer_product_ids(*, offer_ids) -> list[int]:
    return list(Offer.objects.filter(pk__in=list(offer_ids)).values_list("product_id", flat=True).distinct())


def offer_list(*, seller_slug: str = "", product_slug: str = "") -> QuerySet[Offer]:
    qs = Offer.objects.filter(is_active=True, seller__is_active=True, product__is_active=True).select_related(
        "seller", "product")
    if seller_slug:
        qs = qs.filter(seller__slug=seller_slug)
    if product_slug:
        qs = qs.filter(product__slug=product_slug)
    return qs.order_by("pk")


# The offer a shopper adds to a cart, read on every add: compiled once (core.compiled_query).
_SOLD_OFFER = CompiledQuery(lambda pk: offer_list().filter(pk=pk)[:1])


def sold_offer(*, pk: int) -> Offer | None:
    """The offer if it is sold now (it, its seller and its product active), with seller and product."""
    found = _SOLD_OFFER.fetch(pk=pk)
    return found[0] if found else None


def offer_views(*, offers, inputs: BuyBoxInputs) -> list[OfferView]:
    """These offers with their stock and shipping facts, fetched in one batch."""
    offers = list(offers)
    facts = inputs.offer_facts(offers) if offers else {}
    return [OfferView(o, facts.get(o.pk)) for o in offers]


def offer_get_for_user(*, user, pk: int) -> Offer | None:
    """An offer of ``user``'s sellers, active or not (any offer for superusers); whether their role
    lets them change it is for the caller to ask (``seller_ids_with_permission``)."""
    if not getattr(user, "is_authenticated", False):
        return None
    qs = Offer.objects.select_related("seller", "product")
    if not user.is_superuser:
        qs = qs.filter(seller_id__in=seller_ids_for_user(user))
    return qs.filter(pk=pk).first()


__all__ = ["HOUSE_SELLER_SLUG", "OfferView", "ProductPage", "ProductPageInputs", "house_seller", "offer_list",
           "offers_with_buy_box_flag", "sold_offer",
           "product_offers", "offer_get_for_user", "offer_views", "product_page", "seller_ids_for_user",
           "seller_ids_with_permission", "seller_list", "seller_roles_for_user",
           "seller_scope_for_user"]


# --- seller applications ------------------------------------------------------------------------


def application_get(*, pk: int) -> SellerApplication | None:
    return SellerApplication.objects.select_related("applicant", "seller").filter(pk=pk).first()


def application_of(*, user) -> SellerApplication | None:
    """The user's latest application (open or decided), or None."""
    if not getattr(user, "is_authenticated", False):
        return None
    return (SellerApplication.objects.filter(applicant=user).prefetch_related("categories", "events")
            .order_by("-created_at", "-id").first())


@dataclass(frozen=True)
class SellerIdentity:
    """Who a seller is in law, as far as Bazaar knows: the merchant of record on its invoices."""

    seller_id: int
    name: str  # the store name shoppers see
    legal_name: str  # from the approved application; the store name for sellers without one
    tax_id: str
    country: str
    email: str
    is_house: bool = False  # the platform itself (first-party retail)


def seller_identity(*, seller_id: int) -> SellerIdentity | None:
    """The seller's legal name and tax id from its approved application (its latest), with its
    country and contact e-mail; None for an unknown seller. Sellers keep no postal address. One
    query: the application's fields come with the seller's row."""
    found = _SELLER_IDENTITY.fetch(seller_id=seller_id)
    if not found:
        return None
    row = found[0]
    return SellerIdentity(seller_id=row.pk, name=row.name, legal_name=row.app_legal_name or row.name,
                          tax_id=row.app_tax_id or "", country=row.country or row.app_country or "",
                          email=row.email, is_house=row.is_house)


def _seller_with_application(seller_id: int) -> QuerySet[Seller]:
    latest = (SellerApplication.objects.filter(seller_id=OuterRef("pk"), status=SellerApplication.Status.APPROVED)
              .order_by(F("reviewed_at").desc(nulls_last=True), "-id"))
    return (Seller.objects.filter(pk=seller_id).only("pk", "name", "country", "email", "is_house")
            .annotate(app_legal_name=Subquery(latest.values("legal_name")[:1]),
                      app_tax_id=Subquery(latest.values("tax_id")[:1]),
                      app_country=Subquery(latest.values("country")[:1])).order_by()[:1])


# Read for every invoice and credit note (core.compiled_query: compiled once per process).
_SELLER_IDENTITY = CompiledQuery(_seller_with_application)


@dataclass(frozen=True)
class LostBuyBox:
    """One of a seller's offers whose product's buy box another seller's offer holds."""

    offer: Offer
    box: BuyBox  # the product's buy box (its product, its currency)
    winner_landed: Decimal | None  # what one unit of the winning offer costs delivered; None: it no longer sells
    landed_price: Decimal | None  # the offer's own, reckoned alike; None: it cannot sell now
    why: str  # what stands between the offer and the buy box, in a few words


def _losing(seller_id: int) -> QuerySet[Offer]:
    """The seller's active offers whose product's buy box another seller's offer holds."""
    return (Offer.objects.filter(seller_id=seller_id, is_active=True, product__buy_box__offer__isnull=False)
            .exclude(product__buy_box__offer__seller_id=seller_id))


def offers_losing_buy_box_count(*, seller_id: int) -> int:
    return _losing(seller_id).count()


def offers_losing_buy_box(*, seller_id: int, inputs: BuyBoxInputs, limit: int = 20) -> list[LostBuyBox]:
    """The seller's active offers whose product's buy box another seller's offer holds (each of
    them, two on one product included; the first ``limit`` by product), each beside the winner's
    landed price and its own, both reckoned the way the buy box reckons them (price, a live deal's
    when lower, and shipping), so the seller compares like with like."""
    mine = list(_losing(seller_id).select_related("seller", "product__buy_box__offer__seller")
                .order_by("product_id", "pk")[:limit])
    boxes = {offer.product_id: offer.product.buy_box for offer in mine}
    priced = [*mine, *{box.offer_id: box.offer for box in boxes.values()}.values()]
    facts = inputs.offer_facts(priced) if priced else {}
    deals = inputs.deal_prices(priced) if priced else {}

    def landed(offer: Offer) -> Decimal | None:
        fact = facts.get(offer.pk)
        return buy_box.landed_price(offer, fact, None, deals) if buy_box.is_eligible(offer, fact) else None

    rows = []
    for offer in mine:
        box = boxes[offer.product_id]
        own, winner = landed(offer), landed(box.offer)
        if own is None:
            why = _("out of stock")
        elif not getattr(offer.seller, "buy_box_eligible", True):
            why = _("account health")
        elif winner is None or own < winner:
            why = _("yours is lower now: the buy box follows within moments")
        elif own > winner:
            why = _("higher landed price")
        else:
            why = _("same landed price: the tie goes to Bazaar's fulfilment, then to the seller rating")
        rows.append(LostBuyBox(offer, box, winner, own, why))
    return rows


def proposals_for_user(*, user) -> QuerySet[ProductProposal]:
    """The product proposals of ``user``'s sellers (every proposal for platform staff who may
    review them; none for anyone else), newest first."""
    qs = ProductProposal.objects.select_related("product", "product__category", "seller", "offer")
    if not getattr(user, "is_authenticated", False):
        return qs.none()
    scope = seller_scope_for_user(user)
    if scope is not None:
        return qs.filter(seller_id__in=sorted(scope))
    if user.is_superuser or user.has_perm("marketplace.view_productproposal"):
        return qs
    return qs.none()


def proposal_get(*, pk: int) -> ProductProposal | None:
    return ProductProposal.objects.select_related("product", "seller", "proposed_by").filter(pk=pk).first()


OFFER_CONDITIONS: list[tuple[str, str]] = list(Offer.Condition.choices)


def offer_of_seller(*, seller_id: int, sku: str) -> Offer | None:
    """The seller's offer with this SKU (active or not), with its product."""
    return Offer.objects.select_related("product").filter(seller_id=seller_id, sku=sku).first()


def seller_offers(*, seller_id: int) -> QuerySet[Offer]:
    """Every offer of the seller, active or not, with its product."""
    return Offer.objects.filter(seller_id=seller_id).select_related("product")


def offers_by_ids(*, ids) -> QuerySet[Offer]:
    return Offer.objects.filter(pk__in=list(ids)).select_related("product", "seller")


def personal_data(*, user_id: int) -> dict:
    """The sellers ``user_id`` is a member of, for their data export."""
    return {"seller_memberships": list(SellerMember.objects.filter(user_id=user_id).order_by("id").values(
        "seller__name", "role", "created_at"))}
