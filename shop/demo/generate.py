"""Deterministic generation of one demo product (and its offers, stock and reviews) by index.

Product ``i`` of seed ``s`` is always the same, whatever the number of products asked for, so a
larger run only adds the products a smaller one did not make.
"""

from __future__ import annotations

import bisect
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.utils.text import slugify

from shop.demo.data import BOOK_WORDS, FAMILIES, LEAVES, REVIEW_BODIES, REVIEW_TITLES, SELLERS, Leaf

DEFAULT_SEED = 42
CONDITIONS_USED = ("refurbished", "used_like_new", "used_good", "used_acceptable")
USED_FACTORS = {"refurbished": 0.8, "used_like_new": 0.75, "used_good": 0.65, "used_acceptable": 0.55}
_CUMULATIVE_WEIGHTS = []
_total = 0.0
for _leaf in LEAVES:
    _total += _leaf.weight
    _CUMULATIVE_WEIGHTS.append(_total)


@dataclass
class OfferPlan:
    seller_slug: str  # "" for the house seller
    condition: str
    channel: str
    price: Decimal
    list_price: Decimal | None
    handling_days: int
    stock: list[tuple[int, int]] = field(default_factory=list)  # (warehouse slot, units); slot -1: seller's own
    member_price: Decimal | None = None


@dataclass
class ReviewPlan:
    customer: int  # index into the demo customers
    rating: int
    title: str
    body: str
    verified: bool
    helpful: int
    days_ago: int


@dataclass
class ProductPlan:
    index: int
    title: str
    slug: str
    description: str
    leaf: Leaf
    brand: str
    attributes: dict[str, str]
    days_old: int
    image_choices: list[int]  # which of the leaf's pool images, in order
    offers: list[OfferPlan]
    reviews: list[ReviewPlan]


def _price(value: float) -> Decimal:
    """A shop-like price: 23.99, 149.00, 7.49."""
    value = max(value, 2.0)
    whole = int(value)
    cents = "99" if whole < 100 else ("00" if whole % 10 == 0 else "99")
    if whole < 20 and value - whole < 0.5:
        cents = "49"
    return Decimal(f"{whole}.{cents}")


def _book_title(rng: random.Random, leaf: Leaf) -> tuple[str, str]:
    w = BOOK_WORDS
    author = rng.choice(w["authors"])
    if leaf.slug == "fiction":
        title = f"The {rng.choice(w['adjectives'])} {rng.choice(w['nouns'])}"
        if rng.random() < 0.4:
            title += ": A Novel"
    elif leaf.slug == "non-fiction":
        title = f"{rng.choice(w['topics'])}: {rng.choice(w['subtitles'])}"
    else:
        title = f"{rng.choice(w['names'])} and the {rng.choice(w['adjectives'])} {rng.choice(w['animals'])}"
    return title, author


@dataclass
class _Head:
    """What names a product: drawn first, so its slug is known without drawing the rest."""

    leaf: Leaf
    brand: str
    attributes: dict[str, str]
    noun: str
    display: str
    opener: str
    slug: str


def _head(rng: random.Random, index: int, seed: int) -> _Head:
    leaf = LEAVES[bisect.bisect_right(_CUMULATIVE_WEIGHTS, rng.random() * _total)]
    family = FAMILIES[leaf.family]
    brand = rng.choice(family.brands)
    choices = {**family.attributes, **leaf.attributes}
    attributes = {code: rng.choice(values) for code, values in choices.items()}
    noun = rng.choice(leaf.nouns)
    feature = rng.choice(leaf.features)

    if leaf.family == "books":
        title, author = _book_title(rng, leaf)
        display = f"{title} ({attributes['format']})"
        opener = f"{title} by {author}, published by {brand}."
        noun = "book"
    else:
        extras = [v for code, v in attributes.items() if code in ("capacity", "size", "screen-size", "weight")]
        display = f"{brand} {feature} {noun}"
        if extras:
            display += f" {extras[0]}"
        if "material" in attributes and rng.random() < 0.5:
            display += f", {attributes['material']}"
        if "colour" in attributes:
            display += f", {attributes['colour']}"
        opener = f"The {brand} {noun.lower()} is a {feature.lower()} choice for everyday use."
    suffix = f"{index + 1}" if seed == DEFAULT_SEED else f"s{seed}-{index + 1}"
    slug = f"{slugify(display)[:150].strip('-')}-{suffix}"
    return _Head(leaf=leaf, brand=brand, attributes=attributes, noun=noun, display=display, opener=opener, slug=slug)


def _rng(index: int, seed: int) -> random.Random:
    return random.Random(seed * 1_000_003 + index)


def product_slug(index: int, seed: int = DEFAULT_SEED) -> str:
    """The slug of product ``index`` (a fraction of the cost of its whole plan)."""
    return _head(_rng(index, seed), index, seed).slug


def product_plan(index: int, seed: int = DEFAULT_SEED, *, customers: int = 200) -> ProductPlan:
    rng = _rng(index, seed)
    head = _head(rng, index, seed)
    leaf, attributes = head.leaf, head.attributes
    family = FAMILIES[leaf.family]
    phrases = rng.sample(family.phrases, k=min(3, len(family.phrases)))
    details = ", ".join(f"{code.replace('-', ' ')}: {value}" for code, value in attributes.items())
    description = " ".join([head.opener, *phrases, f"Details: {details}."])

    base = rng.uniform(*leaf.price) if rng.random() < 0.5 else rng.uniform(leaf.price[0], sum(leaf.price) / 2)
    offers = _offer_plans(rng, base)
    reviews = _review_plans(rng, head.noun.lower(), customers)
    return ProductPlan(
        index=index, title=head.display, slug=head.slug, description=description, leaf=leaf, brand=head.brand,
        attributes=attributes, days_old=rng.randint(0, 900), image_choices=rng.sample(range(8), k=rng.choice((1, 2))),
        offers=offers, reviews=reviews,
    )


_SELLER_SLUGS = [s.slug for s in SELLERS]
_SELLERS_BY_SLUG = {s.slug: s for s in SELLERS}


def _offer_plans(rng: random.Random, base: float) -> list[OfferPlan]:
    count = rng.choices((1, 2, 3, 4, 5), weights=(35, 25, 20, 12, 8))[0]
    sellers = [""] if rng.random() < 0.55 else []
    sellers += rng.sample(_SELLER_SLUGS, k=count - len(sellers)) if count > len(sellers) else []
    sold_out = rng.random() < 0.08  # no offer of this product has stock: "currently unavailable"
    plans = []
    for slug in sellers[:count]:
        data = _SELLERS_BY_SLUG.get(slug)
        if data is None:  # the house seller: new items, always in Bazaar's warehouses
            condition, channel, handling = "new", "platform", rng.choice((0, 1))
        else:
            condition = rng.choice(CONDITIONS_USED) if rng.random() < data.used_share else "new"
            channel = "merchant" if rng.random() < data.merchant_share else "platform"
            handling = rng.choice((0, 1)) if channel == "platform" else rng.choice((1, 1, 2, 3))
        price = base * rng.uniform(0.9, 1.12) * USED_FACTORS.get(condition, 1.0)
        list_price = _price(price * rng.uniform(1.1, 1.45)) if condition == "new" and rng.random() < 0.35 else None
        offer = OfferPlan(slug, condition, channel, _price(price), list_price, handling)
        member_price = _price(float(offer.price) * 0.9)
        if data is None and int(offer.price) % 3 == 0 and member_price < offer.price:
            offer.member_price = member_price  # about a third of Bazaar's own offers have a member price
        empty = sold_out or rng.random() < 0.12
        if channel == "platform":
            slots = rng.sample(range(3), k=rng.choice((2, 3)))
            offer.stock = [(slot, 0 if empty else rng.randint(0, 60)) for slot in slots]
            if not empty and all(units == 0 for _slot, units in offer.stock):
                offer.stock[0] = (offer.stock[0][0], rng.randint(1, 20))
        else:
            offer.stock = [(-1, 0 if empty else rng.randint(1, 40))]
        plans.append(offer)
    return plans


def _review_plans(rng: random.Random, noun: str, customers: int) -> list[ReviewPlan]:
    count = rng.choices((0, 1, 2, 3, 5, 8), weights=(30, 20, 15, 15, 12, 8))[0]
    quality = rng.uniform(2.6, 4.9)
    plans = []
    for customer in rng.sample(range(customers), k=min(count, customers)):
        rating = min(5, max(1, round(rng.gauss(quality, 0.9))))
        plans.append(ReviewPlan(
            customer=customer, rating=rating, title=rng.choice(REVIEW_TITLES[rating]),
            body=rng.choice(REVIEW_BODIES[rating]).format(noun=noun), verified=rng.random() < 0.7,
            helpful=rng.choice((0, 0, 0, 1, 2, 3, 5, 8, 13, 21)), days_ago=rng.randint(0, 700),
        ))
    return plans


def when(now: datetime, days_ago: int) -> datetime:
    return now - timedelta(days=days_ago, minutes=days_ago * 7 % 1440)
