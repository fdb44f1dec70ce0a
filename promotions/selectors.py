"""Reads for promotions: the lightning deals shown on the deals page, the product page and the API,
and the sample cart of a promotion's admin preview."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from django.core.paginator import Page, Paginator
from django.db.models import BooleanField, ExpressionWrapper, F, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from catalog import selectors as catalog_selectors
from core.exceptions import ApplicationError
from core.money import Money
from fulfillment import selectors as fulfillment_selectors
from marketplace import selectors as marketplace_selectors
from promotions import deals, engine
from promotions.models import Deal, Promotion
from promotions.services import PromoLine

DEALS_PER_PAGE = 24
UPCOMING_SHOWN = 6


def deal_list(*, upcoming: bool = False, now: datetime | None = None) -> QuerySet[Deal]:
    """Live deals (active, started, not ended; sold-out ones last, then ending soonest first), or
    with ``upcoming`` the ones still to start, soonest first. Offers and products must be on sale."""
    now = now or timezone.now()
    qs = Deal.objects.filter(
        active=True, offer__is_active=True, offer__seller__is_active=True, offer__product__is_active=True,
    ).select_related("offer__product", "offer__seller")
    if upcoming:
        return qs.filter(starts_at__gt=now).order_by("starts_at", "id")
    sold_out = ExpressionWrapper(Q(claimed__gte=F("quantity_cap")), output_field=BooleanField())
    return qs.filter(starts_at__lte=now, ends_at__gt=now).annotate(sold_out=sold_out).order_by(
        "sold_out", "ends_at", "id"
    )


@dataclass(frozen=True)
class DealCard:
    deal: Deal
    available: int  # units of the offer in stock now

    @property
    def image(self):
        images = self.deal.offer.product.images.all()  # prefetched
        return images[0] if images else None


@dataclass(frozen=True)
class DealsPage:
    page: Page
    cards: list[DealCard]
    upcoming: list[Deal]


def deals_page(*, page_number: object = 1, now: datetime | None = None) -> DealsPage:
    """The deals page: a page of live deals with their images and stock, and the next ones to
    start. A constant number of queries (count, page, images, stock, upcoming)."""
    now = now or timezone.now()
    live = deal_list(now=now).prefetch_related("offer__product__images")  # images in their own order
    page = Paginator(live, DEALS_PER_PAGE).get_page(page_number)
    items = list(page.object_list)
    stock = fulfillment_selectors.available_by_offer(offer_ids=[d.offer_id for d in items]) if items else {}
    return DealsPage(
        page=page,
        cards=[DealCard(deal=d, available=stock.get(d.offer_id, 0)) for d in items],
        upcoming=list(deal_list(upcoming=True, now=now)[:UPCOMING_SHOWN]),
    )


def deal_for_offer(*, offer_id: int | None, now: datetime | None = None) -> deals.DealRule | None:
    """The deal running on this offer now (sold out or not), from the cached deals: no query warm."""
    return deals.live_for_offer(offer_id, now=now)


def percent_off(price: Decimal, deal_price: Decimal) -> int:
    if not price or deal_price >= price:
        return 0
    return int(((price - deal_price) / price * 100).to_integral_value())


# --- promotion preview (admin) -------------------------------------------------------------

MAX_PREVIEW_LINES = 20
MAX_PREVIEW_QUANTITY = 999
_LINE = re.compile(r"^(?P<ref>#?[^\s×*]+)(?:\s*[x×*]\s*(?P<qty>\d+))?$", re.IGNORECASE)


class PreviewInputError(ApplicationError):
    code = "preview_input"


@dataclass(frozen=True)
class PreviewLine:
    offer: object  # marketplace Offer (seller and product loaded)
    quantity: int
    subtotal: Money
    discount: Money

    @property
    def total(self) -> Money:
        return self.subtotal - self.discount


@dataclass(frozen=True)
class PromotionPreview:
    lines: list[PreviewLine]
    discounts: list[engine.AppliedPromotion]
    subtotal: Money
    saved: Money
    free_shipping: bool
    sample: bool  # True: the sample cart was chosen for the admin
    as_member: bool

    @property
    def total(self) -> Money:
        return self.subtotal - self.saved


def _parse_lines(text: str) -> list[tuple[str, int]]:
    wanted: list[tuple[str, int]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        match = _LINE.match(line.replace(" X ", " x "))
        if not match:
            raise PreviewInputError(
                _("Line %(n)d (“%(line)s”) is not “SKU x quantity” or “#offer id x quantity”.")
                % {"n": number, "line": line[:60]}
            )
        quantity = int(match["qty"] or 1)
        if not 1 <= quantity <= MAX_PREVIEW_QUANTITY:
            raise PreviewInputError(
                _("Line %(n)d: the quantity must be between 1 and %(max)d.") % {"n": number,
                                                                                "max": MAX_PREVIEW_QUANTITY}
            )
        wanted.append((match["ref"], quantity))
    if len(wanted) > MAX_PREVIEW_LINES:
        raise PreviewInputError(_("At most %(max)d lines, please.") % {"max": MAX_PREVIEW_LINES})
    return wanted


def _offers_for(wanted: list[tuple[str, int]]) -> list[tuple[object, int]]:
    ids = {int(ref[1:]) for ref, _q in wanted if ref.startswith("#") and ref[1:].isdigit()}
    skus = {ref for ref, _q in wanted if not ref.startswith("#")}
    ids |= {int(ref) for ref in skus if ref.isdigit()}
    offers = list(
        marketplace_selectors.offer_list().filter(Q(pk__in=ids) | Q(sku__in=skus))
    )  # active offers of active sellers only: what a shopper could put in a cart
    by_id = {o.pk: o for o in offers}
    by_sku: dict[str, list] = {}
    for offer in offers:
        by_sku.setdefault(offer.sku, []).append(offer)
    found = []
    for ref, quantity in wanted:
        if ref.startswith("#"):
            offer = by_id.get(int(ref[1:])) if ref[1:].isdigit() else None
        else:
            matches = by_sku.get(ref, [])
            if len(matches) > 1:
                raise PreviewInputError(
                    _("The SKU %(sku)s is used by several sellers: write the offer id instead (%(ids)s).")
                    % {"sku": ref, "ids": ", ".join(f"#{o.pk}" for o in matches)}
                )
            offer = matches[0] if matches else (by_id.get(int(ref)) if ref.isdigit() else None)
        if offer is None:
            raise PreviewInputError(
                _("No active offer has the SKU or id “%(ref)s”.") % {"ref": ref.lstrip("#")}
            )
        found.append((offer, quantity))
    return found


def _sample_offers(promotion: Promotion, rule: engine.Rule, *, size: int = 3) -> list[tuple[object, int]]:
    """Up to ``size`` of the cheapest active offers in the promotion's product set, one per
    product; enough units to meet its minimum quantity and minimum spend when it has them."""
    qs = marketplace_selectors.offer_list()
    if not rule.everything:
        categories: set[int] = set()
        if rule.categories:
            tree = catalog_selectors.category_tree()
            categories = {d for pk in rule.categories if pk in tree.nodes for d in tree.descendant_ids(pk)}
        qs = qs.filter(
            Q(product_id__in=rule.products) | Q(seller_id__in=rule.sellers) | Q(product__brand_id__in=rule.brands)
            | Q(product__category_id__in=categories)
        )
    offers, products = [], set()
    for offer in qs.order_by("price", "pk")[: size * 10]:
        if offer.product_id not in products:
            products.add(offer.product_id)
            offers.append(offer)
        if len(offers) == size:
            break
    if not offers:
        return []
    quantities = [1] * len(offers)
    needed = max(rule.min_quantity, rule.x + rule.y if rule.benefit == Promotion.Benefit.BUY_X_GET_Y else 0)
    quantities[0] += max(needed - len(offers), 0)
    # the most expensive of them, enough units to reach the minimum spend (at most a cart line's 99)
    spent = sum((o.price * q for o, q in zip(offers, quantities, strict=True)), Decimal(0))
    if rule.min_spend and spent < rule.min_spend:
        top = max(range(len(offers)), key=lambda i: offers[i].price)
        quantities[top] = min(quantities[top] + math.ceil((rule.min_spend - spent) / offers[top].price), 99)
    return list(zip(offers, quantities, strict=True))


def promotion_preview(*, promotion: Promotion, lines_text: str = "") -> PromotionPreview:
    """What ``promotion`` alone would take off a cart, whatever its dates and active flag (and as a
    member when it is for members): the cart typed by the admin (``SKU x qty`` or ``#offer id x
    qty`` per line), else a sample cart of cheapest offers it applies to. PreviewInputError says
    what is wrong with the typed lines."""
    rule = replace(engine.rule_for(promotion), starts_at=None, ends_at=None)
    wanted = _parse_lines(lines_text or "")
    sample = not wanted
    chosen = _sample_offers(promotion, rule) if sample else _offers_for(wanted)
    merged: dict[int, tuple[object, int]] = {}
    for offer, quantity in chosen:
        merged[offer.pk] = (offer, merged[offer.pk][1] + quantity if offer.pk in merged else quantity)
    promo_lines, offers = [], []
    for offer, quantity in merged.values():
        unit = Money(offer.price, offer.currency)
        promo_lines.append(PromoLine(product_id=offer.product_id, seller_id=offer.seller_id, amount=unit * quantity,
                                     quantity=quantity, offer_id=offer.pk, unit_price=unit))
        offers.append(offer)
    currency = promo_lines[0].amount.currency if promo_lines else Money.zero().currency
    applied = engine.apply_rules([rule], promo_lines) if promo_lines else []
    discount = {i: Money.zero(currency) for i in range(len(promo_lines))}
    for result in applied:
        for index, part in result.per_line.items():
            discount[index] = discount[index] + part
    lines = [
        PreviewLine(offer=offer, quantity=line.quantity, subtotal=line.amount, discount=discount[i])
        for i, (offer, line) in enumerate(zip(offers, promo_lines, strict=True))
    ]
    return PromotionPreview(
        lines=lines, discounts=applied,
        subtotal=sum((line.subtotal for line in lines), Money.zero(currency)),
        saved=sum((a.amount for a in applied), Money.zero(currency)),
        free_shipping=any(a.free_shipping_line_indexes for a in applied),
        sample=sample, as_member=promotion.members_only,
    )


def deal_offer_ids(*, now: datetime | None = None) -> set[int]:
    """Offers with an active deal that has not ended (running or upcoming)."""
    now = now or timezone.now()
    return set(Deal.objects.filter(active=True, ends_at__gt=now).values_list("offer_id", flat=True))
