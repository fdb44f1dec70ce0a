"""``place_order``: turn a cart into an order, atomically and idempotently.

1. Price the cart with the pricing pipeline (never a client's figures); if the total differs
   from the one the shopper confirmed, stop and say so.
2. One transaction: reserve stock for every line (conditional UPDATEs, all or nothing) and
   create the order with snapshot lines under the idempotency key (a UNIQUE column).
3. After the commit, authorize the payment with an idempotency key derived from the same key.
   (A payment provider is never called inside a transaction or while rows are locked: STYLE.)
4. Declined: release the reservation and remove the order in one transaction, keep the cart,
   and raise the decline with the provider's message. Authorized: the order is paid and the
   cart is emptied.

The same idempotency key always returns the same order and never charges twice: a second
request finds the order (or loses the UNIQUE race, rolls back its own reservation and then
finds it), and the payment service returns the existing payment for its key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from checkout import pricing
from checkout.models import Cart, CartLine
from core.exceptions import ApplicationError, Conflict
from core.money import Money
from fulfillment import services as fulfillment_services
from orders import selectors as orders_selectors
from orders import services as orders_services
from orders.models import Order
from payments import services as payment_services
from payments.exceptions import PaymentDeclined, PaymentInProgress
from promotions import services as promotions_services

ADDRESS_FIELDS = ("full_name", "line1", "line2", "city", "postal_code", "region", "country", "phone")
REQUIRED_ADDRESS_FIELDS = ("full_name", "line1", "city", "postal_code", "country")


class PriceChanged(ApplicationError):
    code = "price_changed"
    status_code = 409


@dataclass(frozen=True)
class PlacedOrder:
    order: Order
    created: bool


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
    return cleaned


def order_draft(*, priced: pricing.PricedCart, user, email: str, shipping_address: dict,
                billing_address: dict) -> orders_services.OrderDraft:
    """The order snapshot of a priced cart."""
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
                        total=line.total.amount,
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
    )


def idempotency_owner(*, user, cart: Cart | None) -> str:
    """Whose keys these are: the signed-in customer, else the guest's cart. A key sent by another
    owner never finds (or pays, or shows) this owner's order."""
    if getattr(user, "is_authenticated", False):
        return f"user:{user.pk}"
    return f"cart:{cart.pk}" if cart is not None else ""


def place_order(
    *, cart: Cart, user, email: str, shipping_address: Mapping, billing_address: Mapping | None = None,
    shipping_choices: Mapping[str, str] | None = None, payment_method: str, idempotency_key: str,
    expected_total: Decimal | None = None, voucher_code: str = "",
) -> PlacedOrder:
    key = (idempotency_key or "").strip()
    if not key or len(key) > 80:
        raise ApplicationError(_("A request key of 1 to 80 characters is required."), code="idempotency_key")
    owner = idempotency_owner(user=user, cart=cart)
    existing = orders_selectors.order_by_idempotency_key(owner=owner, key=key)
    if existing is not None:
        return _pay(existing, cart=cart, payment_method=payment_method, key=key, created=False)

    try:
        validate_email(email)
    except ValidationError:
        raise ApplicationError(_("Enter a valid e-mail address."), fields={"email": [_("Not an e-mail address.")]})
    shipping = clean_address(shipping_address, field="shipping_address")
    billing = clean_address(billing_address, field="billing_address") if billing_address else shipping

    cart_lines = list(CartLine.objects.filter(cart=cart).values_list("offer_id", "quantity"))
    priced = pricing.price_cart(
        lines=[pricing.LineInput(offer_id, quantity) for offer_id, quantity in cart_lines],
        context=pricing.PricingContext(
            country=shipping["country"], region=shipping["region"], shipping_choices=dict(shipping_choices or {}),
            user=user, voucher_code=voucher_code or "", email=email,
        ),
    )
    if priced.unavailable:
        raise ApplicationError(
            _("Some items in your cart can no longer be bought; remove them to continue."), code="unavailable"
        )
    if priced.is_empty:
        raise ApplicationError(_("Your cart is empty."), code="empty_cart")
    if priced.voucher_error:
        raise ApplicationError(priced.voucher_error, code="voucher", fields={"voucher_code": [priced.voucher_error]})
    if expected_total is not None and Money(expected_total, priced.currency) != priced.total:
        # A lightning deal that sold out or ended since the review says so first.
        missed = promotions_services.deals_missed(offer_ids=[line.offer_id for line in priced.lines])
        raise PriceChanged(
            " ".join([*missed, _("The total changed to %(total)s since you reviewed your order. Please check it "
                                 "and confirm again.") % {"total": priced.total}]),
            fields={"expected_total": [str(priced.total.amount)]},
        )

    draft = order_draft(priced=priced, user=user, email=email, shipping_address=shipping, billing_address=billing)
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
            reservations = fulfillment_services.stock_reserve(
                lines=[(line.offer_id, line.quantity) for line in priced.lines], reference=f"order:{key}"
            )
            order = orders_services.order_create(
                draft=draft, idempotency_key=key, idempotency_owner=owner,
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
    except IntegrityError:
        # The same key won a race in another request: our reservation was rolled back.
        existing = orders_selectors.order_by_idempotency_key(owner=owner, key=key)
        if existing is None:
            raise
        return _pay(existing, cart=cart, payment_method=payment_method, key=key, created=False)
    return _pay(order, cart=cart, payment_method=payment_method, key=key, created=True)


def _pay(order: Order, *, cart: Cart, payment_method: str, key: str, created: bool) -> PlacedOrder:
    """Authorize the order's payment (or resume it: an order left unpaid because the provider
    was unreachable is paid by the next request with the same key)."""
    if order.status != Order.Status.PLACED:
        return PlacedOrder(order, created=created)
    if order.total > 0:
        try:
            payment_services.payment_authorize(
                amount=order.total, currency=order.currency, payment_method=payment_method,
                reference=order.number, idempotency_key=f"order:{order.idempotency_owner}:{key}",
            )
        except PaymentInProgress:
            return PlacedOrder(order, created=created)  # the other request with this key is paying
        except PaymentDeclined:
            _undo_unpaid(order)
            raise
        # PaymentUnavailable propagates: the order and its stock wait for a retry with the key.
    try:
        orders_services.order_mark_paid(order=order)
    except (Conflict, orders_services.IllegalTransition):
        order.refresh_from_db()  # a concurrent request with the same key got there first
    CartLine.objects.filter(cart=cart, offer_id__in=list(order.lines.values_list("offer_id", flat=True))).delete()
    return PlacedOrder(order, created=created)


def _undo_unpaid(order: Order) -> None:
    """Payment declined: give the stock back and leave no order (the cart was never touched)."""
    with transaction.atomic():
        reservations = orders_services.order_reservations(order=order)
        fulfillment_services.stock_release(
            reservations=[
                fulfillment_services.Reservation(r.stock_item_id, r.offer_id, r.quantity) for r in reservations
            ],
            reference=f"declined:{order.number}",
        )
        promotions_services.voucher_release(order_number=order.number)
        promotions_services.deals_release(order_number=order.number)
        orders_services.order_discard_unpaid(order=order)
