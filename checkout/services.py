"""Writes for the cart: find or start the shopper's cart, add, change and remove lines.

Quantities and offer ids arrive as user input (form fields), so they are parsed here and every
bad value becomes an :class:`~core.exceptions.ApplicationError` with a message fit to show.
"""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from checkout.models import MAX_LINE_QUANTITY, Cart, CartLine, TaxRate
from core import cache as vcache
from core.exceptions import ApplicationError, Conflict, NotFound
from fulfillment import selectors as fulfillment_selectors
from marketplace import selectors as marketplace_selectors

SESSION_KEY = "cart_id"


def cart_for_session(*, session, user, create: bool = False) -> Cart | None:
    """The shopper's open cart: a signed-in user's latest cart, else the guest cart in the session.

    Nothing is written unless ``create`` is set (carts start when something is added). Only guest
    carts are remembered in the session; a signed-in user's cart is found through the user.
    """
    if getattr(user, "is_authenticated", False):
        cart = Cart.objects.filter(user=user).order_by("-updated_at", "-pk").first()
        if cart is None and create:
            cart = Cart.objects.create(user=user)
        return cart
    cart_id = session.get(SESSION_KEY)
    cart = Cart.objects.filter(pk=cart_id, user__isnull=True).first() if isinstance(cart_id, int) else None
    if cart is None and create:
        cart = Cart.objects.create()
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
        offer = marketplace_selectors.offer_list().filter(pk=pk, product__is_active=True).first()
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


def _lock(cart: Cart) -> Cart:
    """Lock the cart row so concurrent changes to one cart run one after the other."""
    locked = Cart.objects.select_for_update().filter(pk=cart.pk).first()
    if locked is None:
        raise NotFound(_("Your cart has expired. Please add the item again."))
    return locked


def cart_add(*, cart: Cart, offer_id, quantity) -> CartLine:
    """Put ``quantity`` of an offer in the cart (added to a line already there), within stock."""
    quantity = _parse_quantity(quantity, allow_zero=False)
    offer = _sellable_offer(offer_id)
    with transaction.atomic():
        locked = _lock(cart)
        line = CartLine.objects.filter(cart=locked, offer=offer).first()
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
        locked.save(update_fields=["updated_at"])
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
            line.delete()
            locked.save(update_fields=["updated_at"])
            return None
        if quantity > line.quantity:
            _sellable_offer(line.offer_id)
            _check_stock(offer_id=line.offer_id, wanted=quantity)
        line.quantity = quantity
        line.save(update_fields=["quantity"])
        locked.save(update_fields=["updated_at"])
    return line


def cart_line_remove(*, cart: Cart, line_id) -> None:
    with transaction.atomic():
        locked = _lock(cart)
        _line_of(locked, line_id).delete()
        locked.save(update_fields=["updated_at"])


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

TAX_RATES_NAMESPACE = "tax-rates"


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
