"""Reads for the cart: the cart page (current prices, stock problems flagged) and the header count."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import Decimal

from django.db import connection
from django.db.models import Exists, OuterRef

from catalog import selectors as catalog_selectors
from checkout.models import Cart, CartGiftCard, CartLine
from core.compiled_query import CompiledQuery
from core.money import default_currency
from fulfillment import selectors as fulfillment_selectors

SESSION_KEY = "cart_id"  # the guest cart's id in the session
VOUCHER_SESSION_KEY = "voucher_code"  # the voucher code the shopper applied (cart page or API)

INACTIVE = "inactive"
OUT_OF_STOCK = "out_of_stock"
ONLY_N_LEFT = "only_n_left"


@dataclass(frozen=True)
class CartLineView:
    line: CartLine
    quantity: int
    unit_price: Decimal
    price_when_added: Decimal
    currency: str
    available: int
    problem: str | None
    thumbnail_url: str | None
    regular_unit_price: Decimal | None = None  # the non-member price, when a member price applies

    @property
    def pk(self) -> int:
        return self.line.pk

    @property
    def offer(self):
        return self.line.offer

    @property
    def product_title(self) -> str:
        return self.line.offer.product.title

    @property
    def product_slug(self) -> str:
        return self.line.offer.product.slug

    @property
    def seller_name(self) -> str:
        return self.line.offer.seller.name

    @property
    def price_changed(self) -> bool:
        return (self.regular_unit_price or self.unit_price) != self.price_when_added

    @property
    def line_total(self) -> Decimal:
        return self.unit_price * self.quantity

    @property
    def sellable(self) -> bool:
        return self.problem is None


@dataclass(frozen=True)
class CartView:
    cart: Cart | None
    lines: list[CartLineView] = field(default_factory=list)
    subtotal: Decimal = Decimal("0.00")
    currency: str = ""
    item_count: int = 0
    gift_cards: tuple = ()  # pricing.GiftCardInput: the gift cards being bought

    @property
    def is_empty(self) -> bool:
        return not self.lines and not self.gift_cards

    @property
    def sellable_count(self) -> int:
        return sum(v.quantity for v in self.lines if v.sellable)

    @property
    def has_problems(self) -> bool:
        return any(v.problem for v in self.lines)


def _problem(line: CartLine, available: int) -> str | None:
    offer = line.offer
    if not (offer.is_active and offer.seller.is_active and offer.product.is_active):
        return INACTIVE
    if available <= 0:
        return OUT_OF_STOCK
    if line.quantity > available:
        return ONLY_N_LEFT
    return None


# The cart's lines with everything a cart shows (offer, seller, product, stock, thumbnail) or prices
# (where each parcel would leave from), read on every cart change and at checkout: compiled once.
_CART_LINES_TO_SHOW = CompiledQuery(
    lambda cart_id: CartLine.objects.filter(cart_id=cart_id)
    .select_related("offer__seller", "offer__product")
    .annotate(cart_has_gift_cards=Exists(CartGiftCard.objects.filter(cart_id=OuterRef("cart_id"))),
              available=fulfillment_selectors.available_of_offer("offer_id"),
              thumbnail=catalog_selectors.thumbnail_of_product("offer__product_id"))
    .order_by("added_at", "pk")
)
_CART_LINES_TO_PRICE = CompiledQuery(
    lambda cart_id: CartLine.objects.filter(cart_id=cart_id)
    .select_related("offer__seller", "offer__product")
    .annotate(dispatch_warehouse_id=fulfillment_selectors.dispatch_warehouse_of_offer("offer_id"),
              cart_has_gift_cards=Exists(CartGiftCard.objects.filter(cart_id=OuterRef("cart_id"))))
)


def cart_view(*, cart: Cart | None) -> CartView:
    """Every line of ``cart`` at today's price with its stock, problems flagged (never dropped).

    One query whatever the size (lines with offer, seller, product, its thumbnail and the offer's
    stock); a second for its gift cards, only when it holds some.
    """
    currency = default_currency()
    if cart is None:
        return CartView(cart=None, currency=currency)
    lines = _CART_LINES_TO_SHOW.fetch(cart_id=cart.pk)
    views = []
    for line in lines:
        line.cart = cart
        stock = max(line.available, 0)
        views.append(
            CartLineView(
                line=line,
                quantity=line.quantity,
                unit_price=line.offer.price,
                price_when_added=line.price_when_added,
                currency=line.offer.currency,
                available=stock,
                problem=_problem(line, stock),
                thumbnail_url=catalog_selectors.thumbnail_url(line.thumbnail),
            )
        )
    subtotal = sum((v.line_total for v in views if v.sellable), Decimal("0.00"))
    gift_cards = cart_gift_cards(cart=cart) if not lines or lines[0].cart_has_gift_cards else ()
    return CartView(
        cart=cart, lines=views, subtotal=subtotal, currency=currency,
        item_count=sum(v.quantity for v in views) + len(gift_cards), gift_cards=gift_cards,
    )


def cart_view_priced(*, view: CartView, priced) -> CartView:
    """``view`` at the prices the pricing pipeline gave this shopper (member prices included)."""
    by_offer = {line.offer_id: line for line in priced.lines}
    lines = []
    for line in view.lines:
        p = by_offer.get(line.line.offer_id) if line.sellable else None
        if p is not None and p.regular_unit_price is not None:
            line = replace(line, unit_price=p.unit_price.amount, regular_unit_price=p.regular_unit_price.amount)
        lines.append(line)
    subtotal = sum((v.line_total for v in lines if v.sellable), Decimal("0.00"))
    return replace(view, lines=lines, subtotal=subtotal)


# The header count is read on every page a shopper with a cart sees, cached pages included, so it
# is one prepared statement rather than a queryset built each time (building that cost more than
# the rest of serving a cached page). Same cart as cart_for_session: the user's latest, or the
# guest's from the session.
_LINES, _CARTS = CartLine._meta.db_table, Cart._meta.db_table  # table names from the models, values are parameters
_GIFTS = CartGiftCard._meta.db_table
# Units of the cart's lines plus its gift cards, for one cart id.
_COUNT_OF_CART = (
    f"(SELECT COALESCE(SUM(l.quantity), 0) FROM {_LINES} l WHERE l.cart_id = c.id) + "  # noqa: S608
    f"(SELECT COUNT(*) FROM {_GIFTS} g WHERE g.cart_id = c.id)"
)
_USER_COUNT_SQL = (
    f"SELECT COALESCE((SELECT {_COUNT_OF_CART} FROM {_CARTS} c WHERE c.user_id = %s "  # noqa: S608
    "ORDER BY c.updated_at DESC, c.id DESC LIMIT 1), 0)"
)
_GUEST_COUNT_SQL = (
    f"SELECT COALESCE((SELECT {_COUNT_OF_CART} FROM {_CARTS} c WHERE c.id = %s AND c.user_id IS NULL), 0)"  # noqa: S608
)


def cart_item_count(*, session, user) -> int:
    """Units in the shopper's open cart, for the header badge.

    A guest without a cart id in the session costs no query; otherwise one.
    """
    if getattr(user, "is_authenticated", False):
        sql, param = _USER_COUNT_SQL, user.pk
    else:
        param = session.get(SESSION_KEY)
        if not isinstance(param, int):
            return 0
        sql = _GUEST_COUNT_SQL
    with connection.cursor() as cursor:
        cursor.execute(sql, [param])
        return int(cursor.fetchone()[0])


def cart_lines_with_offers(*, cart: Cart | None) -> tuple[list, dict, tuple]:
    """The cart's lines as pricing input, their offers (with seller and product) for
    ``pricing.cart_price(offers=...)``, and its gift cards: one query for all three, a second only
    when the cart holds gift cards."""
    from checkout import pricing

    if cart is None:
        return [], {}, ()
    rows = _CART_LINES_TO_PRICE.fetch(cart_id=cart.pk)
    for row in rows:  # where each parcel would leave from: the delivery promise's warehouse
        row.cart = cart
        row.offer.dispatch_warehouse_id = row.dispatch_warehouse_id
    gift_cards = cart_gift_cards(cart=cart) if not rows or rows[0].cart_has_gift_cards else ()
    return [pricing.LineInput(r.offer_id, r.quantity) for r in rows], {r.offer_id: r.offer for r in rows}, gift_cards


def cart_product_ids(*, cart: Cart | None) -> list[int]:
    """The products in ``cart`` (one query; none without a cart)."""
    if cart is None:
        return []
    return list(CartLine.objects.filter(cart=cart).values_list("offer__product_id", flat=True).distinct())


def cart_gift_cards(*, cart: Cart | None) -> tuple:
    """The gift cards in ``cart`` as pricing input (one query; none without a cart)."""
    from checkout import pricing

    if cart is None or cart.pk is None:
        return ()
    return tuple(
        pricing.GiftCardInput(id=c.pk, amount=c.amount, recipient_email=c.recipient_email,
                              recipient_name=c.recipient_name, sender_name=c.sender_name, message=c.message,
                              deliver_on=c.deliver_on)
        for c in CartGiftCard.objects.filter(cart=cart).order_by("added_at", "pk")
    )


def cart_pricing_input(
    *, buyer, user, cart: Cart | None = None, lines: list | None = None, voucher_code: str = "",
    country: str = "US", region: str = "", shipping_choices: dict | None = None, email: str = "",
    gift_cards: tuple | None = None,
):
    """The one way to turn a cart into what ``pricing.cart_price`` takes: its lines (or ``lines``
    already chosen, e.g. the sellable ones) and the pricing context for this buyer (``buyer``: the
    shop's strategy, ``pricing.PricingInputs``; ``user`` for per-customer voucher limits)."""
    from checkout import pricing  # pricing reads checkout's models and services; selectors stay light

    if lines is None:
        lines = [pricing.LineInput(line.offer_id, line.quantity) for line in cart.lines.all()] if cart else []
    context = pricing.PricingContext(
        country=(country or "US").upper(), region=region or "", shipping_choices=dict(shipping_choices or {}),
        user=user, voucher_code=voucher_code or "", email=email or "", benefits=buyer.benefits,
        gift_cards=cart_gift_cards(cart=cart) if gift_cards is None else tuple(gift_cards),
    )
    return lines, context
