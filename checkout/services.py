"""Checkout's writes: the shopper's cart, and turning it into a paid order.

Cart: find or start the shopper's cart, add, change and remove lines, merge a guest's cart on
sign-in. Quantities and offer ids arrive as user input (form fields), so they are parsed here and
every bad value becomes an :class:`~core.exceptions.ApplicationError` with a message fit to show.

Placing an order (:func:`order_place`), atomically and idempotently, and seeing its payment through:

1. Price the cart with the pricing pipeline (:func:`checkout.pricing.cart_price`, never a
   client's figures); if the total differs from the one the shopper confirmed, stop and say so.
2. One transaction: reserve stock for every line (conditional UPDATEs, all or nothing) and
   create the order with snapshot lines under the idempotency key, scoped to its owner (the
   customer, or a guest's cart) and with a digest of what was asked for.
3. After the commit, pay (a provider is never called inside a transaction or while rows are
   locked): either authorize on the server (the test provider's card form, or a payment method a
   client app collected), or start an intent the shopper confirms in the browser with the
   provider's own element (Stripe's Payment Element; card numbers never reach us).
4. The outcome is applied in one place, :func:`order_payment_settle`, whoever learns it first
   (this request, the return page, the provider's webhook, a retry, the settle job): authorized
   -> paid (once; the cart is emptied); declined or failed -> the stock, voucher and deal units
   go back and no order is left (one function, :func:`_undo_unpaid`, for every path; the cart was
   never touched); still waiting -> nothing yet.

The same key from the same owner always finds the same order and never charges twice; with other
details it is refused (422). A key of another owner never finds it. After "provider unreachable"
the same key tries the payment again; an unpaid order is never reported as placed.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts import addresses as address_shapes
from checkout import events as checkout_events
from checkout import pricing, selectors
from checkout.models import MAX_LINE_QUANTITY, Cart, CartGiftCard, CartLine, TaxRate
from checkout.pricing import TAX_RATES_NAMESPACE
from checkout.selectors import SESSION_KEY
from core import cache as vcache
from core import events, outbox
from core.compiled_query import CompiledQuery
from core.exceptions import ApplicationError, Conflict, IdempotencyKeyReused, NotFound
from core.money import Money, format_money
from finance import selectors as finance_selectors
from fulfillment import selectors as fulfillment_selectors
from fulfillment import services as fulfillment_services
from marketplace import selectors as marketplace_selectors
from orders import selectors as orders_selectors
from orders import services as orders_services
from orders.selectors import OrderStatus, PaymentProblem
from payments import selectors as payment_selectors
from payments import services as payment_services
from payments.exceptions import InvalidGiftCard, PaymentDeclined, PaymentUnavailable
from payments.selectors import PaymentStatus
from promotions import services as promotions_services

if TYPE_CHECKING:  # type hints only: orders and payments are read through their selectors
    from orders.models import Order
    from payments.models import Payment

logger = logging.getLogger(__name__)

ADDRESS_FIELDS = ("full_name", "line1", "line2", "city", "postal_code", "region", "country", "phone")
REQUIRED_ADDRESS_FIELDS = ("full_name", "line1", "city", "postal_code", "country")


# A shopper's cart is looked up on every cart and checkout request: compiled once (core.compiled_query).
_USER_CART = CompiledQuery(lambda user_id: Cart.objects.filter(user_id=user_id).order_by("-updated_at", "-pk")[:1])
_GUEST_CART = CompiledQuery(lambda cart_id: Cart.objects.filter(pk=cart_id, user__isnull=True)[:1])
_CART_LINE_OF_OFFER = CompiledQuery(
    lambda cart_id, offer_id: CartLine.objects.filter(cart_id=cart_id, offer_id=offer_id).order_by("pk")[:1]
)


def _first(found: list):
    return found[0] if found else None


def cart_for_session(*, session, user, create: bool = False, visitor_id: str = "") -> Cart | None:
    """The shopper's open cart: a signed-in user's latest cart, else the guest cart in the session.

    Nothing is written unless ``create`` is set (carts start when something is added). Only guest
    carts are remembered in the session; a signed-in user's cart is found through the user. A new
    cart keeps ``visitor_id`` (the browser's anonymous id, for insights).
    """
    visitor_id = str(visitor_id or "")[:36]
    if getattr(user, "is_authenticated", False):
        cart = _first(_USER_CART.fetch(user_id=user.pk))
        if cart is None and create:
            cart = Cart.objects.create(user=user, visitor_id=visitor_id)
        return cart
    cart_id = session.get(SESSION_KEY)
    cart = _first(_GUEST_CART.fetch(cart_id=cart_id)) if isinstance(cart_id, int) else None
    if cart is None and create:
        cart = Cart.objects.create(visitor_id=visitor_id)
        session[SESSION_KEY] = cart.pk
    elif cart is None and SESSION_KEY in session:
        del session[SESSION_KEY]  # a stale id (the cart was deleted) is forgotten
    return cart


def _parse_quantity(value, *, allow_zero: bool) -> int:
    try:
        quantity = int(str(value).strip())
    except (TypeError, ValueError):
        message = _("Enter the quantity as a whole number from 1 to %(max)s.") % {"max": MAX_LINE_QUANTITY}
        raise ApplicationError(message, code="invalid_quantity", fields={"quantity": [message]})
    if quantity < 0 or (quantity == 0 and not allow_zero):
        message = _("The quantity must be at least 1.")
        raise ApplicationError(message, code="invalid_quantity", fields={"quantity": [message]})
    if quantity > MAX_LINE_QUANTITY:
        message = _("You can buy at most %(max)s of one item.") % {"max": MAX_LINE_QUANTITY}
        raise ApplicationError(message, code="invalid_quantity", fields={"quantity": [message]})
    return quantity


def _parse_id(value) -> int | None:
    try:
        pk = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return pk if 0 < pk < 2**63 else None


def _sellable_offer(offer_id):
    pk = _parse_id(offer_id)
    offer = None
    if pk is not None:
        offer = marketplace_selectors.sold_offer(pk=pk)
    if offer is None:
        message = _("This offer is no longer available.")
        raise ApplicationError(message, code="offer_unavailable", fields={"offer": [message]})
    return offer


def _check_stock(*, offer_id: int, wanted: int) -> None:
    """Refuse more than is available now: a :class:`Conflict` (409 in the API) naming what is left."""
    available = max(fulfillment_selectors.available_by_offer(offer_ids=[offer_id]).get(offer_id, 0), 0)
    if available <= 0:
        raise Conflict(_("Sorry, this item is out of stock."), code="out_of_stock")
    if wanted > available:
        message = ngettext("Only %(n)s left in stock.", "Only %(n)s left in stock.", available) % {"n": available}
        raise Conflict(message, code="only_n_left", fields={"quantity": [message]})


# The cart's row is locked by marking it changed: one UPDATE ... RETURNING instead of a SELECT ...
# FOR UPDATE and a save of ``updated_at`` at the end (a refused change rolls the mark back too).
_TOUCH_SQL = (
    f"UPDATE {Cart._meta.db_table} SET updated_at = %s WHERE id = %s "  # noqa: S608 - names from the model
    f"RETURNING {', '.join(f.column for f in Cart._meta.concrete_fields)}"
)


def _lock(cart: Cart) -> Cart:
    """Lock the cart row so concurrent changes to one cart run one after the other, and mark it
    changed now (the latest cart is a signed-in shopper's open one)."""
    locked = next(iter(Cart.objects.raw(_TOUCH_SQL, [timezone.now(), cart.pk])), None)
    if locked is None:
        raise NotFound(_("Your cart has expired. Please add the item again."))
    return locked


def _cart_event(cart: Cart, name: str, offer, quantity: int) -> None:
    """What a shopper did to their cart, for insights (in the caller's transaction)."""
    if quantity <= 0:
        return
    events.record(name, aggregate=checkout_events.AGGREGATE, aggregate_id=cart.pk, cart_id=cart.pk,
                  visitor_id=cart.visitor_id, user_id=cart.user_id, offer_id=offer.pk, product_id=offer.product_id,
                  sku=offer.sku, price=str(offer.price), currency=offer.currency, quantity=quantity)


def cart_add(*, cart: Cart, offer_id, quantity) -> CartLine:
    """Put ``quantity`` of an offer in the cart (added to a line already there), within stock."""
    quantity = _parse_quantity(quantity, allow_zero=False)
    offer = _sellable_offer(offer_id)
    with transaction.atomic():
        locked = _lock(cart)
        line = _first(_CART_LINE_OF_OFFER.fetch(cart_id=locked.pk, offer_id=offer.pk))
        if line is not None:
            line.cart, line.offer = locked, offer
        wanted = quantity + (line.quantity if line else 0)
        if wanted > MAX_LINE_QUANTITY:
            message = _("You can buy at most %(max)s of one item (%(n)s already in your cart).") % {
                "max": MAX_LINE_QUANTITY, "n": line.quantity
            }
            raise Conflict(message, code="too_many", fields={"quantity": [message]})
        _check_stock(offer_id=offer.pk, wanted=wanted)
        if line is None:
            line = CartLine.objects.create(cart=locked, offer=offer, quantity=quantity, price_when_added=offer.price)
        else:
            # The shopper has just seen the current price on the product page.
            line.quantity = wanted
            line.price_when_added = offer.price
            line.save(update_fields=["quantity", "price_when_added"])
        _cart_event(locked, checkout_events.CART_LINE_ADDED, offer, quantity)
    return line


def _line_of(cart: Cart, line_id) -> CartLine:
    pk = _parse_id(line_id)
    line = CartLine.objects.filter(cart=cart, pk=pk).first() if pk is not None else None
    if line is None:
        raise NotFound(_("That item is not in your cart."))
    return line


def cart_line_update(*, cart: Cart, line_id, quantity) -> CartLine | None:
    """Set a line's quantity; 0 removes the line (returns None). Raising it is checked against stock."""
    quantity = _parse_quantity(quantity, allow_zero=True)
    with transaction.atomic():
        locked = _lock(cart)
        line = _line_of(locked, line_id)
        if quantity == 0:
            _cart_event(locked, checkout_events.CART_LINE_REMOVED, line.offer, line.quantity)
            line.delete()
            return None
        if quantity > line.quantity:
            _sellable_offer(line.offer_id)
            _check_stock(offer_id=line.offer_id, wanted=quantity)
            _cart_event(locked, checkout_events.CART_LINE_ADDED, line.offer, quantity - line.quantity)
        else:
            _cart_event(locked, checkout_events.CART_LINE_REMOVED, line.offer, line.quantity - quantity)
        line.quantity = quantity
        line.save(update_fields=["quantity"])
    return line


def cart_line_remove(*, cart: Cart, line_id) -> None:
    with transaction.atomic():
        locked = _lock(cart)
        line = _line_of(locked, line_id)
        _cart_event(locked, checkout_events.CART_LINE_REMOVED, line.offer, line.quantity)
        line.delete()


# --- checkout steps (for insights) -----------------------------------------------------------

CHECKOUT_STEPS = {1: "address", 2: "delivery"}


def checkout_started(*, cart: Cart, lines: int, value: Decimal) -> None:
    """The shopper opened checkout with this cart (the checkout pages call it once per attempt)."""
    events.record(checkout_events.CHECKOUT_STARTED, aggregate=checkout_events.AGGREGATE, aggregate_id=cart.pk,
                  cart_id=cart.pk, visitor_id=cart.visitor_id, user_id=cart.user_id, lines=lines, value=str(value))


def checkout_step_completed(*, cart: Cart, step: int) -> None:
    """A checkout step was completed (1: the address, 2: the delivery choice; placing the order is
    the last step, recorded as the order itself)."""
    if step not in CHECKOUT_STEPS:
        raise ValueError(f"unknown checkout step {step}")
    events.record(checkout_events.CHECKOUT_STEP_COMPLETED, aggregate=checkout_events.AGGREGATE, aggregate_id=cart.pk,
                  cart_id=cart.pk, visitor_id=cart.visitor_id, user_id=cart.user_id, step=step,
                  step_name=CHECKOUT_STEPS[step])


# --- gift cards bought ---------------------------------------------------------------------


def cart_gift_card_add(*, cart: Cart, amount, recipient_email, recipient_name="", sender_name="", message="",
                       deliver_on=None) -> CartGiftCard:
    """Put a gift card in the cart: one card for one recipient, e-mailed on ``deliver_on`` (default
    today) once the order is paid. The details are checked as payments will issue them; a cart holds
    at most ``GIFT_CARDS_PER_CART`` cards worth ``GIFT_CARDS_MAX_PER_ORDER`` together."""
    details = payment_services.gift_card_details_clean(
        amount=amount, currency=settings.SHOP_CURRENCY, recipient_email=recipient_email,
        recipient_name=recipient_name, sender_name=sender_name, message=message, deliver_on=deliver_on)
    with transaction.atomic():
        locked = _lock(cart)
        held = list(CartGiftCard.objects.filter(cart=locked).values_list("amount", flat=True))
        if len(held) >= settings.GIFT_CARDS_PER_CART:
            error = _("A cart holds at most %(n)s gift cards; place this order first.") % {
                "n": settings.GIFT_CARDS_PER_CART}
            raise Conflict(error, code="too_many_gift_cards", fields={"amount": [error]})
        cap = settings.GIFT_CARDS_MAX_PER_ORDER
        if sum(held, Decimal(0)) + details.amount > cap:
            error = _("Gift cards in one order may be worth at most %(max)s together.") % {
                "max": format_money(cap, details.currency)}
            raise Conflict(error, code="gift_cards_too_large", fields={"amount": [error]})
        card = CartGiftCard.objects.create(
            cart=locked, amount=details.amount, currency=details.currency, recipient_email=details.recipient_email,
            recipient_name=details.recipient_name, sender_name=details.sender_name, message=details.message,
            deliver_on=details.deliver_on)
    return card


def cart_gift_card_remove(*, cart: Cart, gift_card_id) -> None:
    """Take a gift card out of the cart (404 if it is not in this cart)."""
    pk = _parse_id(gift_card_id)
    with transaction.atomic():
        locked = _lock(cart)
        deleted, _rows = CartGiftCard.objects.filter(cart=locked, pk=pk).delete() if pk is not None else (0, {})
        if not deleted:
            raise NotFound(_("That gift card is not in your cart."))


# --- sign-in ---------------------------------------------------------------------------------------


def cart_merge(*, guest_cart: Cart, user) -> list[str]:
    """Move a guest cart into ``user``'s cart and delete it; returns notices to show the shopper.

    Lines of an offer the user's cart already holds are added up, capped by the stock available
    now and by ``MAX_LINE_QUANTITY`` (a notice says so; a line is never lowered below what the
    user's cart had). Other lines move over as they are: the cart page flags their problems.
    Idempotent: a guest cart that is already merged (gone) or belongs to someone is left alone.
    """
    notices: list[str] = []
    if not Cart.objects.filter(pk=guest_cart.pk, user__isnull=True).exists():
        return notices  # merged already (or not a guest cart): nothing to do
    with transaction.atomic():
        user_cart = Cart.objects.filter(user=user).order_by("-updated_at", "-pk").first()
        if user_cart is None:
            user_cart = Cart.objects.create(user=user)
        # Both rows locked in primary-key order, so two merges (or a merge and an add) never deadlock.
        locked = {
            c.pk: c
            for c in Cart.objects.select_for_update().filter(pk__in=[guest_cart.pk, user_cart.pk]).order_by("pk")
        }
        guest = locked.get(guest_cart.pk)
        if guest is None or guest.user_id is not None or user_cart.pk not in locked:
            return notices  # merged meanwhile by a concurrent sign-in
        guest_lines = list(
            CartLine.objects.filter(cart=guest).select_related("offer__product").order_by("added_at", "pk")
        )
        if guest_lines:
            mine = {li.offer_id: li for li in CartLine.objects.filter(cart=user_cart)}
            shared = [li.offer_id for li in guest_lines if li.offer_id in mine]
            available = fulfillment_selectors.available_by_offer(offer_ids=shared) if shared else {}
            moving = []
            for line in guest_lines:
                existing = mine.get(line.offer_id)
                if existing is None:
                    moving.append(line.pk)
                    continue
                notice = _merge_line(existing, line, max(available.get(line.offer_id, 0), 0))
                if notice:
                    notices.append(notice)
            if moving:
                CartLine.objects.filter(pk__in=moving).update(cart=user_cart)
        # Gift cards move over as they are (each is its own card for its own recipient).
        CartGiftCard.objects.filter(cart=guest).update(cart=user_cart)
        guest.delete()
        user_cart.save(update_fields=["updated_at"])
    return notices


def _merge_line(existing: CartLine, extra: CartLine, available: int) -> str | None:
    wanted = existing.quantity + extra.quantity
    cap = min(available, MAX_LINE_QUANTITY)
    quantity = max(existing.quantity, min(wanted, cap))
    title = extra.offer.product.title
    if extra.added_at > existing.added_at:  # the price the shopper saw last
        existing.price_when_added = extra.price_when_added
    existing.quantity = quantity
    existing.save(update_fields=["quantity", "price_when_added"])
    if quantity == wanted:
        return None
    if cap == MAX_LINE_QUANTITY and available >= MAX_LINE_QUANTITY:
        return _("You can buy at most %(max)s of “%(title)s”, so your cart now has %(n)s.") % {
            "max": MAX_LINE_QUANTITY, "title": title, "n": quantity
        }
    return ngettext(
        "Only %(available)s of “%(title)s” is in stock, so your cart now has %(n)s.",
        "Only %(available)s of “%(title)s” are in stock, so your cart now has %(n)s.",
        available,
    ) % {"available": available, "title": title, "n": quantity}


def cart_merge_on_sign_in(*, session, user) -> list[str]:
    """Merge the guest cart remembered in ``session`` into ``user``'s cart; the session forgets it.

    Called when someone signs in (``django.contrib.auth.login`` keeps the session's data while it
    cycles the key). Safe to call twice and when there is no guest cart.
    """
    cart_id = session.pop(SESSION_KEY, None)
    if not isinstance(cart_id, int):
        return []
    guest_cart = Cart.objects.filter(pk=cart_id, user__isnull=True).first()
    if guest_cart is None:
        return []
    return cart_merge(guest_cart=guest_cart, user=user)


# --- tax rates ----------------------------------------------------------------------------

def tax_rate_save(*, rate: TaxRate) -> TaxRate:
    """Save a tax rate (validated) and drop the cached table pricing reads."""
    rate.country = (rate.country or "").upper()
    rate.full_clean()
    with transaction.atomic():
        rate.save()
        vcache.bump_now_and_on_commit(TAX_RATES_NAMESPACE)
    return rate


def tax_rates_changed() -> None:
    """Call after tax rates were deleted (admin) so pricing stops using them."""
    vcache.bump_now_and_on_commit(TAX_RATES_NAMESPACE)


# --- placing an order ---------------------------------------------------------------------------

logger = logging.getLogger(__name__)


class PriceChanged(ApplicationError):
    code = "price_changed"
    status_code = 409


def _check_shipping_choices(priced: pricing.PricedCart, choices: Mapping[str, str]) -> None:
    """Every delivery choice sent names one of the cart's packages and one of its options: pricing
    falls back to the cheapest option for a package without a usable choice, which is right for a
    package nobody chose for, but an order must never ship another way than the one asked for."""
    packages = {package.key: package for package in priced.packages}
    problems = {}
    for key, code in choices.items():
        package = packages.get(str(key))
        if package is None:
            problems[f"shipping_choices.{key}"] = [_("No package of this cart has this key.")]
        elif package.chosen is None or package.chosen.code != code:
            problems[f"shipping_choices.{key}"] = [_("Not offered for this package; choose one of: %(codes)s.") % {
                "codes": ", ".join(option.code for option in package.options) or "-"}]
    if problems:
        raise ApplicationError(_("A delivery choice is not offered for this cart: choose delivery again."),
                               code="shipping_choice", fields=problems)


def clean_address(address: Mapping | None, *, field: str) -> dict:
    """Keep the known address fields as trimmed strings; refuse a missing required one."""
    if not isinstance(address, Mapping):
        raise ApplicationError(_("Enter an address."), fields={field: [_("Enter an address.")]})
    cleaned = {name: str(address.get(name) or "").strip()[:200] for name in ADDRESS_FIELDS}
    cleaned["country"] = cleaned["country"].upper()
    missing = [name for name in REQUIRED_ADDRESS_FIELDS if not cleaned[name]]
    if missing:
        raise ApplicationError(
            _("The address is missing: %(fields)s.") % {"fields": ", ".join(missing)},
            fields={f"{field}.{name}": [_("This field is required.")] for name in missing},
        )
    if len(cleaned["country"]) != 2 or not cleaned["country"].isalpha():
        raise ApplicationError(
            _("Use a two-letter country code, e.g. US."), fields={f"{field}.country": [_("Not a country code.")]}
        )
    problems = address_shapes.address_problems(country=cleaned["country"], postal_code=cleaned["postal_code"],
                                               phone=cleaned.get("phone", ""))
    if problems:
        raise ApplicationError(" ".join(problems.values()),
                               fields={f"{field}.{name}": [problem] for name, problem in problems.items()})
    return cleaned


def _referral_fees(priced: pricing.PricedCart) -> dict[int, finance_selectors.ReferralFee]:
    """The referral fee of each line (by offer), on what the buyer pays for it before tax."""
    lines = [line for package in priced.packages for line in package.lines]
    fee_lines = [
        finance_selectors.FeeLine(
            seller_id=line.seller_id, category_id=line.classification[0] if line.classification else None,
            quantity=line.quantity, currency=priced.currency,
            amount=line.total.amount - (line.tax.amount if priced.prices_include_tax else 0),
        )
        for line in lines
    ]
    return {line.offer_id: fee for line, fee in zip(lines, finance_selectors.referral_fees(fee_lines), strict=True)}


def order_draft(*, priced: pricing.PricedCart, user, email: str, shipping_address: dict,
                billing_address: dict) -> orders_services.OrderDraft:
    """The order snapshot of a priced cart, with each line's referral fee as the rules say now."""
    fees = _referral_fees(priced)
    # A gift card whose buyer left "From" empty is from the buyer, not from the shop.
    buyer_name = ((getattr(user, "full_name", "") or "").strip()
                  or str((billing_address or {}).get("full_name") or shipping_address.get("full_name") or "").strip())
    packages = []
    for package in priced.packages:
        chosen = package.chosen
        packages.append(
            orders_services.PackageDraft(
                seller_id=package.seller_id, seller_name=package.seller_name, channel=package.channel,
                method_code=chosen.code if chosen else "", method_name=chosen.name if chosen else "",
                shipping_price=package.shipping.amount, shipping_tax=package.shipping_tax.amount,
                earliest=chosen.earliest if chosen else None, latest=chosen.latest if chosen else None,
                lines=tuple(
                    orders_services.LineDraft(
                        offer_id=line.offer_id, product_id=line.product_id, seller_id=line.seller_id,
                        seller_name=line.seller_name, product_title=line.product_title,
                        product_slug=line.product_slug, sku=line.sku, quantity=line.quantity,
                        unit_price=line.unit_price.amount, subtotal=line.subtotal.amount,
                        discount=line.discount.amount, tax_rate=line.tax_rate, tax=line.tax.amount,
                        total=line.total.amount, referral_fee_percent=fees[line.offer_id].percent,
                        referral_fee=fees[line.offer_id].amount,
                    )
                    for line in package.lines
                ),
            )
        )
    return orders_services.OrderDraft(
        user=user, email=email, currency=priced.currency, prices_include_tax=priced.prices_include_tax,
        subtotal=priced.subtotal.amount, discount=priced.discount.amount, shipping=priced.shipping.amount,
        tax=priced.tax.amount, total=priced.total.amount, shipping_address=shipping_address,
        billing_address=billing_address, packages=tuple(packages),
        discounts=tuple(
            orders_services.DiscountDraft(label=d.label, amount=d.amount.amount, code=d.code)
            for d in priced.discounts
        ),
        gift_cards=tuple(
            orders_services.GiftCardDraft(
                amount=card.amount, recipient_email=card.recipient_email, deliver_on=card.deliver_on,
                recipient_name=card.recipient_name, sender_name=card.sender_name or buyer_name[:100],
                message=card.message)
            for card in priced.gift_cards
        ),
    )


def idempotency_owner(*, user, cart: Cart | None) -> str:
    """Whose keys these are: the signed-in customer, else the guest's cart. A key sent by another
    owner never finds (or pays, or shows) this owner's order."""
    if getattr(user, "is_authenticated", False):
        return f"user:{user.pk}"
    return f"cart:{cart.pk}" if cart is not None else ""


def request_digest(**parts) -> str:
    """A digest of what an order request asked for (addresses, e-mail, choices, voucher...), to
    tell a retry of the same request from another request reusing its key."""
    canonical = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class PlacedOrder:
    order: Order
    created: bool
    # The order's payment while the customer must still act in the browser or app (enter the card
    # in the provider's element, or confirm with their bank): its client secret finishes it.
    payment: Payment | None = None

    @property
    def needs_action(self) -> bool:
        return self.payment is not None and self.payment.status == PaymentStatus.REQUIRES_ACTION

    @property
    def client_secret(self) -> str:
        return self.payment.client_secret if self.needs_action else ""


@outbox.sends_together  # the tasks it hands to workers (buy-box refresh, e-mail) go to the broker at once
def order_place(
    *, cart: Cart, user, email: str, shipping_address: Mapping, billing_address: Mapping | None = None,
    shipping_choices: Mapping[str, str] | None = None, payment_method: str = "", idempotency_key: str,
    expected_total: Decimal | None = None, voucher_code: str = "", digest: str = "", buyer: pricing.PricingInputs,
    use_store_credit: bool = False, gift_card_code: str = "", visitor_id: str = "",
) -> PlacedOrder:
    """Place the cart's order under ``idempotency_key`` and pay for it (see the module doc).

    ``payment_method``: a card number (test provider), a ``pm_...`` id or one of the buyer's saved
    cards; empty with a provider that confirms in the browser starts an intent for the page.
    ``digest`` (:func:`request_digest` of the request): the same key with another digest raises
    :class:`~core.exceptions.IdempotencyKeyReused`. ``buyer``: the shop's strategy for this buyer
    (their membership benefits price the order). ``use_store_credit``: a signed-in customer pays
    what their store credit covers from it (spent in the order's transaction, under the account's
    lock) and the card the rest; store credit covering it all needs no card. ``gift_card_code``:
    a gift card pays first, up to what it holds (then store credit, then the card); neither pays for
    an order that buys gift cards. ``visitor_id``: the browser's anonymous id, kept on the order.
    Raises ApplicationError subclasses for everything a shopper can cause: PaymentDeclined (402,
    nothing left), PaymentUnavailable (503, retry with the same key), PaymentInProgress (409),
    PriceChanged, deal sold out, out of stock (409), bad input (400).
    """
    key = (idempotency_key or "").strip()
    if not key or len(key) > 80 or not key.isprintable():
        raise ApplicationError(_("A request key of 1 to 80 printable characters is required."),
                               code="idempotency_key")
    owner = idempotency_owner(user=user, cart=cart)
    existing = orders_selectors.order_by_idempotency_key(owner=owner, key=key)
    if existing is not None:
        _same_request(existing, digest)
        return _resume(existing, payment_method=payment_method)

    try:
        validate_email(email)
    except ValidationError:
        raise ApplicationError(_("Enter a valid e-mail address."), fields={"email": [_("Not an e-mail address.")]})
    shipping = clean_address(shipping_address, field="shipping_address")
    billing = clean_address(billing_address, field="billing_address") if billing_address else shipping
    if use_store_credit and not getattr(user, "is_authenticated", False):
        raise ApplicationError(_("Sign in to pay with store credit."), fields={"use_store_credit": [_("Sign in.")]})
    if payment_method:  # somebody else's saved card is refused before any stock is held for it
        payment_services.payment_method_check_owner(payment_method=payment_method, owner=owner)
    elif use_store_credit or gift_card_code:
        pass  # they may cover it all; what they do not is refused below, before any stock is held
    elif not payment_services.provider_confirms_in_browser():  # nothing to pay with: no order either
        raise ApplicationError(_("Enter a card number."), code="payment_method_required",
                               fields={"payment_method": [_("Required.")]})

    lines, offers, gift_cards = selectors.cart_lines_with_offers(cart=cart)  # one query for all
    lines, context = selectors.cart_pricing_input(
        buyer=buyer, user=user, lines=lines, country=shipping["country"], region=shipping["region"],
        shipping_choices=shipping_choices, voucher_code=voucher_code, email=email, gift_cards=gift_cards,
    )
    priced = pricing.cart_price(lines=lines, context=context, offers=offers)
    if priced.unavailable:
        raise ApplicationError(
            _("Some items in your cart can no longer be bought; remove them to continue."), code="unavailable"
        )
    if priced.is_empty:
        twin = _placed_meanwhile(owner=owner, key=key, digest=digest, payment_method=payment_method)
        if twin is not None:  # the same request sent twice at once: the first emptied the cart
            return twin
        raise ApplicationError(_("Your cart is empty."), code="empty_cart")
    if priced.voucher_error:
        raise ApplicationError(priced.voucher_error, code="voucher", fields={"voucher_code": [priced.voucher_error]})
    _check_shipping_choices(priced, shipping_choices or {})
    if priced.gift_cards and (use_store_credit or gift_card_code):
        # Gift cards are bought with a card: turning a gift card or store credit into a new card would
        # move value out of reach of the refunds and withdrawals that rely on where it came from.
        message = _("An order with gift cards is paid by card: gift cards and store credit cannot buy gift cards.")
        raise ApplicationError(message, code="gift_cards_need_card",
                               fields={"gift_card_code" if gift_card_code else "use_store_credit": [message]})
    if expected_total is not None and Money(expected_total, priced.currency) != priced.total:
        # A lightning deal that sold out or ended since the review says so first.
        missed = promotions_services.deals_missed(offer_ids=[line.offer_id for line in priced.lines])
        raise PriceChanged(
            " ".join([*missed, _("The total changed to %(total)s since you reviewed your order. Please check it "
                                 "and confirm again.") % {"total": priced.total}]),
            fields={"expected_total": [str(priced.total.amount)]},
        )

    gift = credit = Decimal("0.00")
    if gift_card_code:
        card_balance = payment_selectors.gift_card_balance(code=gift_card_code)
        if card_balance is None:
            raise InvalidGiftCard(field="gift_card_code")
        gift = min(card_balance.balance.amount, priced.total.amount)
    if use_store_credit:
        credit = min(payment_selectors.store_credit_balance(user=user, currency=priced.currency).amount,
                     priced.total.amount - gift)
    covered = gift + credit
    if (use_store_credit or gift_card_code) and covered < priced.total.amount and not payment_method \
            and not payment_services.provider_confirms_in_browser():
        raise ApplicationError(_("Your gift card and store credit cover %(covered)s of %(total)s: enter a card for "
                                 "the rest.") % {"covered": Money(covered, priced.currency), "total": priced.total},
                               code="payment_method_required", fields={"payment_method": [_("Required.")]})
    draft = order_draft(priced=priced, user=user, email=email, shipping_address=shipping, billing_address=billing)
    draft = replace(draft, visitor_id=str(visitor_id or "")[:36])
    notes = [d.label for d in priced.discounts if d is not priced.voucher]  # automatic promotions and deals
    if priced.member_plan:
        notes.insert(0, _("%(plan)s member prices and shipping") % {"plan": priced.member_plan})
    if priced.voucher is not None:
        notes.append(_("voucher %(code)s, %(amount)s off")
                     % {"code": priced.voucher.code, "amount": priced.voucher.amount})
    if notes:
        draft = replace(draft, note="; ".join(notes)[:280])  # the history message holds 300
    try:
        with transaction.atomic():
            _hold_cart(cart=cart, owner=owner, key=key, priced=priced)
            # The buy boxes of these offers are refreshed by a worker when the order's own event
            # (orders.order_placed, EVENT_CONSUMERS) arrives: one refresh per order, not per reservation.
            # The stock ledger names the order the units are reserved for by its number, taken first.
            number = orders_services.order_number_new()
            reservations = fulfillment_services.stock_reserve(
                lines=[(line.offer_id, line.quantity) for line in priced.lines], reference=f"order:{number}",
                announce=False,
            )
            order = orders_services.order_create(
                draft=draft, idempotency_key=key, idempotency_owner=owner, request_digest=digest, number=number,
                reservations=[
                    orders_services.ReservationRecord(r.stock_item_id, r.offer_id, r.quantity) for r in reservations
                ],
            )
            if priced.voucher is not None:
                # Counted in the same transaction: a code used up meanwhile rolls the whole order back.
                promotions_services.voucher_redeem(
                    code=priced.voucher.code, order_number=order.number, user=user, email=email,
                    amount=priced.voucher.amount.amount,
                )
            deal_claims = [claim for discount in priced.discounts for claim in discount.claims]
            if deal_claims:
                # Claimed in the same transaction: a deal sold out meanwhile rolls the whole order back.
                promotions_services.deals_claim(order_number=order.number, claims=deal_claims)
            if gift > 0:  # gift cards first (the lock order: gift cards, then store credit)
                payment_services.gift_card_spend(code=gift_card_code, amount=gift, reference=f"order:{order.number}",
                                                 currency=order.currency, field="gift_card_code")
                orders_services.order_gift_cards_record(order=order, amount=gift)
            if credit > 0:
                # Spent in the same transaction, under the account's lock: two checkouts spending one
                # balance at once never overdraw it (the second is refused and keeps nothing).
                payment_services.store_credit_spend(
                    user=user, amount=credit, reference=f"order:{order.number}", currency=order.currency,
                    description=_("Order %(number)s") % {"number": order.number})
                orders_services.order_store_credit_record(order=order, amount=credit)
    except Conflict as exc:
        twin = _placed_meanwhile(owner=owner, key=key, digest=digest, payment_method=payment_method) \
            if exc.code == "cart_changed" else None
        if twin is None:
            raise
        return twin  # the same request sent twice at once: the first changed the cart (and it stands)
    except IntegrityError:
        # The same key won a race in another request: our reservation was rolled back.
        twin = _placed_meanwhile(owner=owner, key=key, digest=digest, payment_method=payment_method)
        if twin is None:  # the once-in-billions order number clash: nothing was kept
            raise Conflict(_("Your order could not be placed just now; please place it again."), code="try_again")
        return twin
    return _pay(order, payment_method=payment_method, created=True)


# A second order of the same owner under another key while the first still waits for its payment is
# refused for this long after the first was placed: a retry with a new key after a timeout, or the same
# cart placed from two tabs at once, is one purchase. (The settle job gives up unpaid orders later.)
PLACING_GUARD = timedelta(minutes=10)


def _hold_cart(*, cart: Cart, owner: str, key: str, priced) -> None:
    """In the order's transaction, before any stock is held: requests placing the same cart take turns
    (its row is locked); the cart must still hold what was priced (the first of two may have been paid
    and emptied it meanwhile); and no order of this owner placed under another key in the last minutes
    may still be waiting for its payment."""
    Cart.objects.select_for_update().filter(pk=cart.pk).values_list("pk", flat=True).first()
    held = dict(CartLine.objects.filter(cart_id=cart.pk).values_list("offer_id", "quantity"))
    priced_lines = {line.offer_id: line.quantity for line in priced.lines}
    gift_cards_gone = priced.gift_cards and CartGiftCard.objects.filter(cart_id=cart.pk).count() < len(
        priced.gift_cards)
    if any(held.get(offer) != quantity for offer, quantity in priced_lines.items()) or gift_cards_gone:
        raise Conflict(_("Your cart changed while this order was being placed (was it placed in another window?). "
                         "Check your orders and your cart, then try again."), code="cart_changed")
    waiting = orders_selectors.order_waiting_under_another_key(
        owner=owner, key=key, placed_since=timezone.now() - PLACING_GUARD)
    if waiting is not None:
        raise Conflict(_("Order %(number)s is still waiting for its payment: finish paying it, or wait a few "
                         "minutes for it to end, before ordering again (a second order would buy the same things "
                         "twice).") % {"number": waiting.number}, code="order_in_progress")


def _placed_meanwhile(*, owner: str, key: str, digest: str, payment_method: str) -> PlacedOrder | None:
    """The order a twin of this request (the same key) placed while this one was on its way, answered as
    the twin would be answered; None when there is none."""
    existing = orders_selectors.order_by_idempotency_key(owner=owner, key=key)
    if existing is None:
        return None
    _same_request(existing, digest)
    return _resume(existing, payment_method=payment_method)


def _same_request(order: Order, digest: str) -> None:
    if digest and order.request_digest and digest != order.request_digest:
        raise IdempotencyKeyReused(
            _("This request key was already used for order %(number)s with other details. Use a new key for a new "
              "order.") % {"number": order.number}
        )


def _payment_key(order: Order, *, created: bool = True) -> str:
    """The provider idempotency key of ``order``'s payment: one per order, so a request sent again after a
    decline (which left no order) is a new attempt, not the declined one's key with another order. An
    order paid before the number was part of it goes on with the key its payment has."""
    if not created:
        earlier = payment_selectors.payment_latest_for_reference(reference=order.number)
        if earlier is not None:
            return earlier.idempotency_key
    return f"order:{order.idempotency_owner}:{order.idempotency_key}:{order.number}"


def _pay(order: Order, *, payment_method: str, created: bool) -> PlacedOrder:
    """Pay for a placed order (or go on paying: an order left unpaid because the provider was
    unreachable is paid by the next request with the same key)."""
    if order.status != OrderStatus.PLACED:
        return PlacedOrder(order, created=created)
    card = orders_services.order_card_amount(order=order)
    if card <= 0:  # free, or paid in full with store credit
        return _settled(order, None, created=created)
    paid_now: list[bool] = []

    def mark_paid(_payment: Payment) -> None:  # in the transaction that records the authorization
        if orders_services.order_mark_paid(order=order):
            _empty_cart(order)
            paid_now.append(True)

    try:
        if payment_method or not payment_services.provider_confirms_in_browser():
            payment = payment_services.payment_authorize(
                amount=card, currency=order.currency, payment_method=payment_method, reference=order.number,
                idempotency_key=_payment_key(order, created=created), owner=order.idempotency_owner,
                on_paid=mark_paid,
            )
        else:
            payment = payment_services.payment_start(
                amount=card, currency=order.currency, reference=order.number,
                idempotency_key=_payment_key(order, created=created), owner=order.idempotency_owner,
            )
    except PaymentDeclined as exc:
        order_payment_settle(order=order, payment=exc.payment)
        raise
    # PaymentUnavailable, PaymentInProgress and IdempotencyKeyReused propagate: the order and its
    # stock wait for a retry with the key (or for the settle job).
    if paid_now:
        return PlacedOrder(order, created=created)
    return _settled(order, payment, created=created)


def _resume(order: Order, *, payment_method: str) -> PlacedOrder:
    """The same key again: answer with the order as it stands, finishing what is open."""
    if order.status != OrderStatus.PLACED:
        return PlacedOrder(order, created=False)
    payment = payment_selectors.payment_latest_for_reference(reference=order.number)
    if payment is None or payment.status == PaymentStatus.PENDING:
        return _pay(order, payment_method=payment_method, created=False)
    if payment.status == PaymentStatus.REQUIRES_ACTION:
        payment = payment_services.payment_sync(payment=payment)  # did the customer finish it meanwhile?
    return _settled(order, payment, created=False)


def _settled(order: Order, payment: Payment | None, *, created: bool) -> PlacedOrder:
    """Apply the payment's outcome and answer: the order (paid, or waiting for the customer with the
    payment that needs them); a decline raises, and leaves no order."""
    if order_payment_settle(order=order, payment=payment) == PAID:
        return PlacedOrder(order, created=created)  # marked paid just now: nothing to look up
    current = orders_selectors.order_get(pk=order.pk)
    failed = payment is not None and payment.status in (PaymentStatus.DECLINED, PaymentStatus.FAILED,
                                                        PaymentStatus.CANCELLED)
    if failed and (current is None or current.status == OrderStatus.PLACED):
        payment_services.raise_outcome(payment=payment)
    if current is None:
        raise Conflict(_("This order was given up meanwhile; please place it again."), code="order_gone")
    waiting = payment if payment is not None and payment.status == PaymentStatus.REQUIRES_ACTION else None
    return PlacedOrder(current, created=created, payment=waiting)


# --- applying a payment's outcome: one place, whoever learns it first ----------------------------

PAID, DISCARDED, WAITING, VOIDED, FLAGGED, NOTHING = "paid", "discarded", "waiting", "voided", "flagged", "nothing"


def order_payment_settle(*, order: Order | None, payment: Payment | None, order_number: str = "") -> str:
    """Apply what the provider said about an order's payment, exactly once, whoever asks (this
    request, the return page, a webhook, a retry, the settle job):

    * authorized or captured: a placed order becomes paid (the confirmation goes out once) and its
      lines leave the owner's cart; an order that is gone or cancelled has its money given back
      (a late authorization is voided);
    * declined, failed or cancelled: a placed order's stock, voucher and deal units go back and the
      order is removed; a paid order is flagged for staff (its money is gone);
    * still open: nothing yet.

    A free order (no payment) is simply paid. Returns what happened. Calls the provider only to
    void a late authorization, never inside a transaction.
    """
    status = payment.status if payment is not None else PaymentStatus.AUTHORIZED
    number = order.number if order is not None else order_number
    if status in (PaymentStatus.AUTHORIZED, *_CAPTURED):
        if order is None or order.status == OrderStatus.CANCELLED:
            if payment is not None:
                _give_back_late(payment, number)
            return VOIDED
        if order.status != OrderStatus.PLACED:
            return NOTHING
        with transaction.atomic():  # paid and out of the cart together
            if not orders_services.order_mark_paid(order=order):
                return NOTHING  # another caller marked it paid (or it changed) first
            _empty_cart(order)
        return PAID
    if status in (PaymentStatus.DECLINED, PaymentStatus.FAILED, PaymentStatus.CANCELLED):
        if order is None:
            return NOTHING
        if order.status == OrderStatus.PLACED:
            if payment is not None and status != PaymentStatus.CANCELLED:
                payment_services.payment_close(payment=payment)  # an intent nobody may confirm later
            return DISCARDED if _undo_unpaid(order) else NOTHING
        if order.status in (OrderStatus.PAID,) and status in (PaymentStatus.CANCELLED, PaymentStatus.FAILED):
            problem = PaymentProblem.PAYMENT_CANCELLED if status == PaymentStatus.CANCELLED \
                else PaymentProblem.PAYMENT_FAILED
            flagged = orders_services.order_payment_problem(
                order=order, problem=problem, note=_("The provider reports the payment %(status)s.")
                % {"status": PaymentStatus(status).label})
            return FLAGGED if flagged else NOTHING
        return NOTHING
    return WAITING


_CAPTURED = (PaymentStatus.CAPTURED, PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED)


def _give_back_late(payment: Payment, number: str) -> None:
    """A payment that came through for an order that is gone or cancelled: release or refund it."""
    logger.warning("payment %s for %s came through after the order was given up: giving it back", payment.pk, number)
    if payment.status == PaymentStatus.AUTHORIZED:
        payment_services.payment_cancel(payment=payment)
    elif payment.refundable_amount > 0:
        payment_services.payment_refund(payment=payment, amount=payment.refundable_amount,
                                        reason="order no longer exists", idempotency_key=f"late:{payment.pk}")


def _empty_cart(order: Order) -> None:
    """The paid lines leave the cart of the order's owner (the customer's cart, or the guest's)."""
    kind, _sep, ident = order.idempotency_owner.partition(":")
    if not ident.isdigit():
        return
    carts = Cart.objects.filter(user_id=int(ident)) if kind == "user" else Cart.objects.filter(pk=int(ident))
    CartLine.objects.filter(cart__in=carts, offer_id__in=orders_selectors.order_offer_ids(order=order)).delete()
    if order.gift_cards_total:  # the gift cards it bought: those in the cart when it was placed
        CartGiftCard.objects.filter(cart__in=carts, added_at__lte=order.placed_at).delete()


def _undo_unpaid(order: Order) -> bool:
    """Never paid: give back the stock (exactly once), the voucher use and the deal units, and
    leave no order. The cart was never touched. False if it was no longer unpaid."""
    with transaction.atomic():
        locked = orders_services.order_lock(order_id=order.pk)
        if locked is None or locked.status != OrderStatus.PLACED:
            return False
        orders_services.order_release_stock(order=locked, reference=f"unpaid:{locked.number}")
        payment_services.store_credit_release(reference=f"order:{locked.number}")  # nothing if none was spent
        payment_services.gift_card_release(reference=f"order:{locked.number}")
        promotions_services.order_benefits_release(order_number=locked.number)
        return orders_services.order_discard_unpaid(order=locked)


def order_payment_refresh(*, order: Order) -> str:
    """Ask the provider about the order's open payment and apply the answer (the return page)."""
    payment = payment_selectors.payment_latest_for_reference(reference=order.number)
    if payment is not None and payment.status in (PaymentStatus.PENDING, PaymentStatus.REQUIRES_ACTION):
        payment = payment_services.payment_sync(payment=payment)
    return order_payment_settle(order=order, payment=payment)


def order_abandon_unpaid(*, order: Order, keep_if_paid: bool = False) -> str:
    """Give up an unpaid order: whatever its payment became meanwhile is voided at the provider
    first, so nothing can take money for it later, then the order is undone. ``keep_if_paid``
    (the shopper's page reported a failure): the provider is asked first, and a payment that went
    through after all pays the order instead. Raises PaymentUnavailable when the provider cannot
    be asked (nothing changes; try again later)."""
    if order.status != OrderStatus.PLACED:
        return NOTHING
    payment = payment_selectors.payment_latest_for_reference(reference=order.number)
    if payment is not None and payment.status in (PaymentStatus.PENDING, PaymentStatus.REQUIRES_ACTION):
        payment = payment_services.payment_sync(payment=payment)
    if keep_if_paid and payment is not None and payment.status in (PaymentStatus.AUTHORIZED, *_CAPTURED):
        return order_payment_settle(order=order, payment=payment)
    if payment is not None and payment.status in (PaymentStatus.PENDING, PaymentStatus.REQUIRES_ACTION,
                                                  PaymentStatus.AUTHORIZED):
        payment = payment_services.payment_cancel(payment=payment)
    elif payment is not None and payment.status in _CAPTURED:
        _give_back_late(payment, order.number)
    if payment is not None and payment.status in (PaymentStatus.DECLINED, PaymentStatus.FAILED):
        payment_services.payment_close(payment=payment)
    return DISCARDED if _undo_unpaid(order) else NOTHING


def settle_order_payment(*, payment_id: int) -> str:
    """A payment changed at the provider (a webhook): apply it to its order, if it paid for one."""
    payment = payment_selectors.payment_get(pk=payment_id)
    if payment is None or not payment.idempotency_key.startswith("order:"):
        return NOTHING
    order = orders_selectors.order_by_number(number=payment.reference)
    return order_payment_settle(order=order, payment=payment, order_number=payment.reference)


# --- orders nobody finished ---------------------------------------------------------------------------


def settle_unpaid_orders(*, older_than: timedelta = timedelta(minutes=30), max_age: timedelta | None = None,
                         now=None, batch: int = 200) -> dict[str, int]:
    """Walk every order still unpaid after ``older_than`` (all of them, in id order, a batch at a
    time: one stuck order never hides the others). For each, ask the provider about a payment
    nobody is asking about (its lease expired), apply the answer, and give up on one still open
    after ``max_age``: its intent is cancelled at the provider (so a late confirmation cannot
    authorize it) and the order is undone. Safe to run again and again, and concurrently."""
    now = now or timezone.now()
    max_age = max_age or timedelta(minutes=int(getattr(settings, "UNPAID_ORDER_MAX_AGE_MINUTES", 60)))
    result = {PAID: 0, DISCARDED: 0, WAITING: 0, VOIDED: 0, FLAGGED: 0, NOTHING: 0, "unavailable": 0}
    cursor = 0
    while True:
        orders = list(orders_selectors.unpaid_orders(placed_before=now - older_than, after_id=cursor, limit=batch))
        if not orders:
            break
        for order in orders:
            cursor = order.pk
            try:
                result[_settle_one(order, now=now, max_age=max_age)] += 1
            except PaymentUnavailable:
                result["unavailable"] += 1
            except ApplicationError as exc:
                logger.warning("could not settle unpaid order %s: %s", order.number, exc.message)
                result[NOTHING] += 1
    return result


def _settle_one(order: Order, *, now, max_age: timedelta) -> str:
    payment = payment_selectors.payment_latest_for_reference(reference=order.number)
    if payment is not None and payment.status in (PaymentStatus.PENDING, PaymentStatus.REQUIRES_ACTION):
        if payment.locked_until is None or payment.locked_until < now:
            payment = payment_services.payment_sync(payment=payment)
        if payment.status in (PaymentStatus.PENDING, PaymentStatus.REQUIRES_ACTION) and order.placed_at < now - max_age:
            payment = payment_services.payment_cancel(payment=payment)  # may find it authorized meanwhile
    if payment is None:
        return DISCARDED if _undo_unpaid(order) else NOTHING
    return order_payment_settle(order=order, payment=payment)
