"""The pricing pipeline: one function that prices a cart for the cart page, checkout, the order,
its e-mails and the API alike.

    1. line subtotals (member prices) -> 2. discounts (deals and promotions, then a voucher)
    -> 3. tax per line (by destination) -> 4. packages (seller x fulfilment channel) and their
    shipping -> 5. totals

Every figure is Money (Decimal, quantized to the currency's minor unit) computed on the server
from the database; the caller passes only offer ids, quantities, a destination country and the
shipping method chosen for each package. Whether shown prices include tax is a setting
(``PRICES_INCLUDE_TAX``): with it, tax is the part of each price that is tax; without it, tax is
added on top.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Protocol, runtime_checkable

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from checkout.models import TaxRate
from core import cache as vcache
from core.exceptions import ApplicationError
from core.money import AMOUNT_COLUMN_MAX, Money, allocate, format_money
from fulfillment import selectors as fulfillment_selectors
from marketplace import benefits as rules
from marketplace import selectors as marketplace_selectors
from marketplace.benefits import Benefits
from promotions import services as promotions_services

TAX_RATES_NAMESPACE = "tax-rates"  # cached tax table; bumped by checkout.services when a rate changes


class OrderTooLarge(ApplicationError):
    """The cart's figures would not fit the amount columns of an order or a payment (an offer priced
    before ``MAX_PRICE`` existed, many lines of expensive items): a 400, never a database error."""

    code = "order_too_large"


def _check_fits(amount: Money) -> None:
    if amount.amount > AMOUNT_COLUMN_MAX:
        raise OrderTooLarge(
            _("This order is too large: its total would be above %(max)s. Please lower the quantities or place "
              "several smaller orders.") % {"max": format_money(AMOUNT_COLUMN_MAX, amount.currency)},
            fields={"quantity": [_("Lower the quantities.")]},
        )


@dataclass(frozen=True)
class LineInput:
    offer_id: int
    quantity: int


@dataclass(frozen=True)
class GiftCardInput:
    """A gift card being bought (a cart's ``CartGiftCard``): priced at its amount, outside
    discounts, tax and shipping (a gift card is money in another form; what it buys is taxed)."""

    id: int
    amount: Decimal
    recipient_email: str
    recipient_name: str = ""
    sender_name: str = ""
    message: str = ""
    deliver_on: date | None = None


@dataclass(frozen=True)
class PricingContext:
    country: str = "US"
    region: str = ""
    # package key ("<seller id>:<channel>") -> chosen shipping method code
    shipping_choices: dict[str, str] = field(default_factory=dict)
    user: object | None = None
    today: date | None = None
    now: datetime | None = None  # the delivery promise's clock (default: now)
    voucher_code: str = ""
    email: str = ""  # the buyer's e-mail, for a voucher's per-customer limit (guests)
    # the buyer's membership benefits, from the shop's strategy (``PricingInputs.benefits``); a
    # preview's to show a non-member what they would save
    benefits: Benefits | None = None
    gift_cards: tuple[GiftCardInput, ...] = ()  # gift cards bought with the order


@runtime_checkable
class PricingInputs(Protocol):
    """What pricing needs to know about the buyer from outside checkout's own data (the shop's
    per-request strategy): their benefits, and what joining would give them."""

    @property
    def benefits(self) -> Benefits | None: ...

    @property
    def preview_benefits(self) -> Benefits | None: ...


@dataclass
class PricedLine:
    offer_id: int
    product_id: int
    product_title: str
    product_slug: str
    seller_id: int
    seller_name: str
    sku: str
    channel: str
    handling_days: int
    quantity: int
    unit_price: Money
    subtotal: Money
    discount: Money
    tax_rate: Decimal = Decimal(0)
    tax: Money | None = None
    total: Money | None = None  # subtotal - discount (tax included or not, as prices are shown)
    regular_unit_price: Money | None = None  # the non-member price, when a member price applies
    classification: tuple[int | None, int | None] | None = None  # the product's (category id, brand id)
    dispatch_warehouse_id: int | None = None  # where its parcel would leave from (the delivery promise)


@dataclass(frozen=True)
class ShippingOption:
    code: str
    name: str
    price: Money
    earliest: date
    latest: date
    regular_price: Money | None = None  # what it costs without membership, when membership makes it free
    members_only: bool = False


@dataclass
class Package:
    key: str
    seller_id: int
    seller_name: str
    channel: str
    lines: list[PricedLine]
    options: list[ShippingOption]
    chosen: ShippingOption | None
    shipping: Money
    shipping_tax: Money
    member_free_shipping: bool = False  # every option ships free thanks to the buyer's membership


@dataclass(frozen=True)
class Discount:
    """A discount with its explanation and its split over line indexes (parts sum to amount)."""

    code: str
    label: str
    amount: Money
    per_line: dict[int, Money]
    free_shipping_line_indexes: tuple[int, ...] = ()  # a free-shipping promotion: these lines' packages
    claims: tuple[tuple[int, int], ...] = ()  # (deal id, units): what a deal needs claimed at placement


@dataclass
class PricedCart:
    currency: str
    prices_include_tax: bool
    lines: list[PricedLine]
    packages: list[Package]
    discounts: list[Discount]
    subtotal: Money
    discount: Money
    shipping: Money
    tax: Money
    total: Money
    tax_name: str = ""
    unavailable: list[int] = field(default_factory=list)  # offer ids that can no longer be sold
    voucher: Discount | None = None  # the voucher discount applied, if a code was given and applies
    voucher_error: str = ""  # why the given voucher code does not apply
    member_plan: str = ""  # the membership plan whose benefits priced this cart ("" for none)
    gift_cards: tuple[GiftCardInput, ...] = ()  # bought with the order: in ``total``, not in ``subtotal``
    gift_cards_total: Money | None = None

    @property
    def is_empty(self) -> bool:
        return not self.lines and not self.gift_cards


def package_key(seller_id: int, channel: str) -> str:
    return f"{seller_id}:{channel}"


def _tax_rate(country: str, region: str) -> TaxRate | None:
    """The rate for the region, else the country's; the (small) table is cached until a rate is saved."""
    table = vcache.cached_in(
        TAX_RATES_NAMESPACE, "checkout:tax-rates",
        lambda: {(r.country, r.region or ""): r for r in TaxRate.objects.all()},
    )
    country = country.upper()
    return table.get((country, region or "")) or table.get((country, ""))


def _tax_part(amount: Money, rate: Decimal, *, included: bool) -> Money:
    if not rate or not amount.amount:
        return Money.zero(amount.currency)
    if included:
        return Money(amount.amount * rate / (1 + rate), amount.currency)
    return Money(amount.amount * rate, amount.currency)


def cart_price(
    *, lines: Sequence[LineInput], context: PricingContext | None = None, offers: Mapping | None = None
) -> PricedCart:
    """Price these lines for this context. A constant number of queries, whatever the size.
    ``offers`` (offer id -> Offer with seller and product) saves loading them again when the caller
    has them; only the sellable ones (active offer, seller and product) are priced.

    Raises :class:`OrderTooLarge` when a figure of the order would not fit its amount columns, so
    no caller (cart, quote, place order) ever reaches the database with one."""
    context = context or PricingContext()
    currency = settings.SHOP_CURRENCY
    included = settings.PRICES_INCLUDE_TAX
    wanted: dict[int, int] = {}
    for line in lines:
        wanted[line.offer_id] = wanted.get(line.offer_id, 0) + int(line.quantity)
    offers = _sellable_offers(wanted, offers)

    priced = _line_subtotals(wanted, offers, context.benefits, currency)  # 1.
    _check_fits(sum((line.subtotal for line in priced), Money.zero(currency)))  # before any discount works on it
    discounts, voucher, voucher_error, free_shipping = _discounts(priced, context)  # 2.
    tax_rate = _tax_rate(context.country, context.region)  # 3.
    _line_taxes(priced, tax_rate, included=included)
    packages = _packages(priced, context, tax_rate, free_shipping, currency=currency, included=included)  # 4.
    return _totals(  # 5.
        priced, packages, discounts, tax_rate, currency=currency, included=included, unavailable=[
            offer_id for offer_id in wanted if offer_id not in offers
        ], voucher=voucher, voucher_error=voucher_error, benefits=context.benefits, gift_cards=context.gift_cards,
    )


def _sellable_offers(wanted: Mapping[int, int], offers: Mapping | None) -> dict:
    """The offers of these ids that can be sold now (offer, seller and product active), loaded
    with their seller and product unless the caller has them."""
    if offers is None:
        sellable = marketplace_selectors.offer_list().filter(pk__in=list(wanted), product__is_active=True).annotate(
            dispatch_warehouse_id=fulfillment_selectors.dispatch_warehouse_of_offer())
        return {o.pk: o for o in sellable}
    return {pk: o for pk, o in offers.items() if o.is_active and o.seller.is_active and o.product.is_active}


def _line_subtotals(wanted: Mapping[int, int], offers: Mapping, benefits: Benefits | None,
                    currency: str) -> list[PricedLine]:
    """1. A line per sellable offer: its unit price from the database (the member price where the
    buyer's benefits include it) times the quantity."""
    zero = Money.zero(currency)
    priced: list[PricedLine] = []
    for offer_id, quantity in wanted.items():
        offer = offers.get(offer_id)
        if offer is None or quantity <= 0:
            continue
        regular = Money(offer.price, offer.currency)
        member_price = rules.member_price_applies(offer.member_price, benefits)
        unit = Money(offer.member_price, offer.currency) if member_price else regular
        priced.append(
            PricedLine(
                offer_id=offer.pk, product_id=offer.product_id, product_title=offer.product.title,
                product_slug=offer.product.slug, seller_id=offer.seller_id, seller_name=offer.seller.name,
                sku=offer.sku, channel=offer.fulfillment_channel, handling_days=offer.handling_days,
                quantity=quantity, unit_price=unit, subtotal=unit * quantity, discount=zero,
                regular_unit_price=regular if member_price else None,
                classification=(offer.product.category_id, offer.product.brand_id),
                dispatch_warehouse_id=getattr(offer, "dispatch_warehouse_id", None),
            )
        )
    return priced


def _discounts(priced: list[PricedLine], context: PricingContext
               ) -> tuple[list[Discount], Discount | None, str, set[int]]:
    """2. Deals and automatic promotions, then the voucher on what they left; each discount is
    split over the lines (the parts always sum to it) and added to their ``discount``. Returns the
    discounts, the voucher's (or None and why its code does not apply) and the indexes of lines
    whose packages a promotion ships free."""
    is_member = rules.member_deals(context.benefits)
    discounts: list[Discount] = []
    free_shipping: set[int] = set()
    for discount in _promotions_step(priced, is_member, context):
        for index, part in discount.per_line.items():
            line = priced[index]
            line.discount = min(line.discount + part, line.subtotal)
        discounts.append(discount)
        free_shipping.update(discount.free_shipping_line_indexes)
    voucher, voucher_error = _voucher_step(priced, is_member, context)
    if voucher is not None:
        for index, part in voucher.per_line.items():
            priced[index].discount += part
        discounts.append(voucher)
    return discounts, voucher, voucher_error, free_shipping


def _line_taxes(priced: list[PricedLine], tax_rate: TaxRate | None, *, included: bool) -> None:
    """3. Each line's total after discounts and the tax in it (or on top of it) at the destination's rate."""
    rate = tax_rate.rate if tax_rate else Decimal(0)
    for line in priced:
        line.tax_rate = rate
        line.total = line.subtotal - line.discount
        line.tax = _tax_part(line.total, rate, included=included)


def _packages(priced: list[PricedLine], context: PricingContext, tax_rate: TaxRate | None,
              free_shipping: set[int], *, currency: str, included: bool) -> list[Package]:
    """4. One package per seller and fulfilment channel, with the shipping options it can have
    (free for a member where the plan says so, members-only methods for members) and the one it
    ships with: the shopper's choice, else the cheapest (and among equally priced, the fastest)."""
    zero = Money.zero(currency)
    benefits = context.benefits
    rate = tax_rate.rate if tax_rate else Decimal(0)
    taxes_shipping = tax_rate is not None and tax_rate.applies_to_shipping
    methods = fulfillment_selectors.active_shipping_methods()
    # the clock of the promise: the context's (a test's day counts from its midnight), else now
    now = context.now or (datetime.combine(context.today, time(0), tzinfo=UTC) if context.today else timezone.now())
    cal = fulfillment_selectors.calendar() if priced else None
    packages: dict[str, Package] = {}
    free_keys = {package_key(priced[i].seller_id, priced[i].channel) for i in free_shipping}
    for line in priced:
        key = package_key(line.seller_id, line.channel)
        if key not in packages:
            packages[key] = Package(
                key=key, seller_id=line.seller_id, seller_name=line.seller_name, channel=line.channel,
                lines=[], options=[], chosen=None, shipping=zero, shipping_tax=zero,
            )
        packages[key].lines.append(line)
    for package in packages.values():
        handling = max(line.handling_days for line in package.lines)
        origin = next((line.dispatch_warehouse_id for line in package.lines if line.dispatch_warehouse_id), None)
        dispatch = fulfillment_selectors.dispatch_of(warehouse_id=origin, cal=cal)
        applicable = fulfillment_selectors.shipping_methods_for(
            seller_id=package.seller_id, channel=package.channel, methods=methods,
            members=rules.fast_shipping(benefits),
        )
        package.member_free_shipping = rules.ships_free(channel=package.channel, benefits=benefits)
        promised = {m.code: fulfillment_selectors.delivery_promise(
            now=now, dispatch=dispatch, handling_days=handling, min_days=m.min_days, max_days=m.max_days,
            carrier=m.carrier, cal=cal) for m in applicable}
        package.options = [
            ShippingOption(
                code=m.code, name=m.name,
                price=zero if package.member_free_shipping else Money(m.price, currency),
                earliest=promised[m.code].earliest,
                latest=promised[m.code].latest,
                regular_price=Money(m.price, currency) if package.member_free_shipping and m.price else None,
                members_only=m.members_only,
            )
            for m in applicable
        ]
        chosen_code = context.shipping_choices.get(package.key)
        package.chosen = next((o for o in package.options if o.code == chosen_code), None) or min(
            package.options, key=lambda o: (o.price.amount, o.latest), default=None
        )
        package.shipping = package.chosen.price if package.chosen and package.key not in free_keys else zero
        package.shipping_tax = _tax_part(package.shipping, rate, included=included) if taxes_shipping else zero
    return list(packages.values())


def _totals(priced: list[PricedLine], packages: list[Package], discounts: list[Discount],
            tax_rate: TaxRate | None, *, currency: str, included: bool, unavailable: list[int],
            voucher: Discount | None, voucher_error: str, benefits: Benefits | None,
            gift_cards: tuple[GiftCardInput, ...] = ()) -> PricedCart:
    """5. The cart's figures: sums of its lines and packages (tax added on top unless prices include
    it), plus the gift cards bought."""
    zero = Money.zero(currency)
    subtotal = sum((line.subtotal for line in priced), zero)
    discount = sum((line.discount for line in priced), zero)
    shipping = sum((p.shipping for p in packages), zero)
    tax = sum((line.tax for line in priced), zero) + sum((p.shipping_tax for p in packages), zero)
    gift_cards_total = sum((Money(card.amount, currency) for card in gift_cards), zero)
    total = subtotal - discount + shipping + (zero if included else tax) + gift_cards_total
    # the largest figure stored: every line, package and total is below it
    _check_fits(subtotal + shipping + tax + gift_cards_total)
    return PricedCart(
        currency=currency, prices_include_tax=included, lines=priced, packages=packages,
        discounts=discounts, subtotal=subtotal, discount=discount, shipping=shipping, tax=tax, total=total,
        tax_name=tax_rate.name if tax_rate else _("Tax"), unavailable=unavailable,
        voucher=voucher, voucher_error=voucher_error, member_plan=benefits.plan_name if benefits else "",
        gift_cards=tuple(gift_cards), gift_cards_total=gift_cards_total,
    )


def _promo_lines(priced: list[PricedLine]) -> list:
    return [
        promotions_services.PromoLine(product_id=line.product_id, seller_id=line.seller_id,
                                      amount=line.subtotal - line.discount, quantity=line.quantity,
                                      offer_id=line.offer_id, unit_price=line.unit_price,
                                      classification=line.classification)
        for line in priced
    ]


def _promotions_step(priced: list[PricedLine], is_member: bool, context: PricingContext) -> list[Discount]:
    """The automatic promotions, each its own explained discount, on what is left of each line."""
    if not priced:
        return []
    applied = promotions_services.discounts_for(_promo_lines(priced), user=context.user, is_member=is_member)
    return [
        Discount(code=a.code, label=a.label, amount=a.amount, per_line=dict(a.per_line),
                 free_shipping_line_indexes=a.free_shipping_line_indexes, claims=tuple(getattr(a, "claims", ())))
        for a in applied
    ]


def _voucher_step(priced: list[PricedLine], is_member: bool, context: PricingContext) -> tuple[Discount | None, str]:
    """Ask promotions for the voucher's discount on what is left of each line after the other
    discounts; a code that does not apply gives its reason instead."""
    if not promotions_services.normalize_code(context.voucher_code) or not priced:
        return None, ""
    try:
        applied = promotions_services.discounts_for(
            _promo_lines(priced), user=context.user, voucher_code=context.voucher_code, email=context.email,
            is_member=is_member, automatic=False,
        )
    except ApplicationError as exc:
        return None, exc.message
    if not applied:
        return None, ""
    first = applied[0]
    return Discount(code=first.code, label=first.label, amount=first.amount, per_line=dict(first.per_line)), ""


def split_discount(amount: Money, lines: Sequence[PricedLine], indexes: Sequence[int]) -> dict[int, Money]:
    """Split ``amount`` over the given lines in proportion to their subtotals (largest remainder),
    never more than a line's subtotal; the parts sum exactly to ``amount`` (capped at the total)."""
    weights = [lines[i].subtotal.amount for i in indexes]
    capped = min(amount.amount, sum(weights, Decimal(0)))
    parts = allocate(capped, weights, amount.currency)
    return {i: Money(p, amount.currency) for i, p in zip(indexes, parts, strict=True)}


@dataclass(frozen=True)
class MemberSavings:
    plan_name: str
    amount: Money


def member_savings(
    *, lines: Sequence[LineInput], context: PricingContext, priced: PricedCart, preview: Benefits | None,
    offers: Mapping | None = None,
) -> MemberSavings | None:
    """For a shopper who is not a member: how much less ``priced`` would cost with ``preview``,
    the featured plan's benefits (member prices, free shipping, members-only promotions). None for
    members, without a plan on sale, or with no saving."""
    if priced.member_plan or not priced.lines or preview is None:
        return None
    as_member = cart_price(lines=lines, context=replace(context, benefits=preview), offers=offers)
    saved = priced.total - as_member.total
    if not as_member.member_plan or saved.amount <= 0:
        return None
    return MemberSavings(plan_name=as_member.member_plan, amount=saved)
