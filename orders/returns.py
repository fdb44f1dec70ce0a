"""Returns: a shopper sends units of a delivered package back and is refunded on receipt.

Who may return what: the buyer (the signed-in owner, or whoever holds a guest order's link),
units of one delivered package, within the return window of each item's category after the
package was delivered (:class:`~orders.models.ReturnPolicy`, the nearest ancestor's policy, or the
``RETURNS_*`` settings), only returnable categories, never more units than are neither refunded
nor in another open return (decided under the order's lock, so two returns of the last unit at
once make one). The same idempotency key on the same order is the same return.

The status machine::

    requested -> approved | refused | offered (a partial refund, the shopper keeps the items)
    offered -> refunded (accepted) | cancelled
    approved -> label_issued | awaiting_drop_off (no label could be bought)
    label_issued -> in_transit -> delivered_back (the carrier's tracking, reference "return:<id>")
    label_issued | awaiting_drop_off | in_transit | delivered_back -> received -> refunded
    requested | offered | approved | label_issued | awaiting_drop_off -> cancelled (by the shopper)

Platform-fulfilled packages come back to the platform warehouse they left from and their returns
are approved at once; a seller's own packages come back to the seller, who approves, refuses (the
shopper may then open a claim) or offers a partial refund within ``RETURNS_SELLER_ANSWER_BUSINESS_DAYS``
business days (weekends skipped, public holidays not), after which the return is approved
automatically. On receipt each line is inspected: sellable units go back to stock through the
stock ledger (reference "return:<id>"), unsellable ones are recorded only; then the units are
refunded through :func:`orders.refunds.order_refund_partial` with their share of discounts and
tax, the package's shipping when the reason is the shop's fault, less the return label when the
shopper pays it, every amount explained on the refund. With ``RETURNS_REFUND_AT_DROP_OFF``, a
trusted shopper (:func:`shopper_trusted`) is refunded when the carrier first scans the return's
label (drop-off); it is still inspected and restocked on receipt.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from catalog import selectors as catalog_selectors
from core import outbox
from core.exceptions import ApplicationError, IdempotencyKeyReused, NotFound, PermissionDenied
from fulfillment import selectors as fulfillment_selectors
from fulfillment import services as fulfillment_services
from marketplace import selectors as marketplace_selectors
from orders import refunds
from orders.models import (
    Order,
    OrderLine,
    Package,
    ReturnEvent,
    ReturnLine,
    ReturnPhoto,
    ReturnPolicy,
    ReturnReason,
    ReturnRequest,
)
from orders.services import IllegalTransition, check_buyer, order_lock, order_note

R = ReturnRequest.Status
REFERENCE = "return:"
# The shop's fault: the shopper pays no return shipping and gets the package's shipping back.
SHOP_FAULT = frozenset({ReturnReason.DEFECTIVE, ReturnReason.DAMAGED, ReturnReason.WRONG_ITEM,
                        ReturnReason.NOT_AS_DESCRIBED, ReturnReason.ARRIVED_LATE})
OPEN = (R.REQUESTED, R.OFFERED, R.APPROVED, R.LABEL_ISSUED, R.AWAITING_DROP_OFF, R.IN_TRANSIT, R.DELIVERED_BACK,
        R.RECEIVED)
CANCELLABLE = (R.REQUESTED, R.OFFERED, R.APPROVED, R.LABEL_ISSUED, R.AWAITING_DROP_OFF)
RECEIVABLE = (R.LABEL_ISSUED, R.AWAITING_DROP_OFF, R.IN_TRANSIT, R.DELIVERED_BACK)
MAX_PHOTOS = 3
MAX_PHOTO_BYTES = 8 * 1024 * 1024


def business_days_after(start: datetime, days: int) -> datetime:
    """``start`` moved ``days`` business days on (Monday to Friday; weekends only are skipped, not
    public holidays), at the same time of day. A start on a weekend counts from the next Monday."""
    moment = start
    while moment.weekday() >= 5:
        moment += timedelta(days=1)
    left = days
    while left > 0:
        moment += timedelta(days=1)
        if moment.weekday() < 5:
            left -= 1
    return moment


# --- policies -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Policy:
    returnable: bool
    window_days: int
    buyer_pays_reasons: frozenset[str]


def default_policy() -> Policy:
    return Policy(True, settings.RETURNS_WINDOW_DAYS, frozenset(settings.RETURNS_BUYER_PAYS_REASONS))


def policies_for(*, category_ids) -> dict[int | None, Policy]:
    """category id -> the policy that applies to it: its own or its nearest ancestor's, else the
    settings' default (also for None, a product without a category)."""
    rows = {row.category_id: Policy(row.returnable, row.window_days, frozenset(row.buyer_pays_reasons or ()))
            for row in ReturnPolicy.objects.all()}
    tree = catalog_selectors.category_tree()
    found: dict[int | None, Policy] = {}
    for category_id in set(category_ids):
        found[category_id] = default_policy()
        if category_id is None:
            continue
        for node in reversed(tree.ancestors(category_id)):  # nearest first
            if node.id in rows:
                found[category_id] = rows[node.id]
                break
    return found


def return_policy_save(*, policy: ReturnPolicy) -> ReturnPolicy:
    """Save a category's return policy (admin), its reasons checked."""
    reasons = list(policy.buyer_pays_reasons or [])
    if set(reasons) - set(ReturnReason.values):
        raise ApplicationError(_("Unknown return reasons."), fields={"buyer_pays_reasons": [_("Unknown reason.")]})
    if not 1 <= int(policy.window_days or 0) <= 365:
        raise ApplicationError(_("From 1 to 365 days."), fields={"window_days": [_("From 1 to 365 days.")]})
    policy.buyer_pays_reasons = sorted(set(reasons))
    policy.save()
    return policy


# --- reads ----------------------------------------------------------------------------------------


def units_in_open_returns(*, order: Order) -> dict[int, int]:
    """order line id -> units in returns not closed yet (not refused, cancelled or refunded)."""
    rows = (ReturnLine.objects.filter(request__order=order, request__status__in=OPEN).values("line_id")
            .annotate(units=Sum("quantity")))
    return {row["line_id"]: row["units"] for row in rows}


def returnable_units(*, order: Order, package: Package, now=None) -> dict[int, int]:
    """order line id -> units of ``package`` that can be returned now (0 for lines not returnable
    or out of their window)."""
    lines = list(OrderLine.objects.filter(order=order, package=package))
    return _units_left(order, {package.pk: package}, lines, now or timezone.now())


def returnable_package_ids(*, order: Order, now=None) -> set[int]:
    """The order's packages with a unit that can be returned now (where the order page offers
    "Return items"); reads the packages and lines the order page prefetched."""
    packages = {p.pk: p for p in order.packages.all()}
    lines = [line for package in packages.values() for line in package.lines.all()]
    units = _units_left(order, packages, lines, now or timezone.now())
    return {line.package_id for line in lines if units[line.pk] > 0}


def _units_left(order: Order, packages: dict, lines: list, now) -> dict[int, int]:
    """order line id -> its units that can be returned now: delivered, in its category's window,
    neither refunded nor in an open return."""
    delivered = {pk for pk, p in packages.items() if p.status == Package.Status.DELIVERED and p.delivered_at}
    if not delivered:
        return {line.pk: 0 for line in lines}
    categories = catalog_selectors.product_category_ids(product_ids={li.product_id for li in lines if li.product_id})
    policies = policies_for(category_ids={categories.get(li.product_id) for li in lines})
    busy = units_in_open_returns(order=order)
    units = {}
    for line in lines:
        package, policy = packages[line.package_id], policies[categories.get(line.product_id)]
        open_window = (line.package_id in delivered
                       and now <= package.delivered_at + timedelta(days=policy.window_days))
        left = line.quantity - line.refunded_quantity - busy.get(line.pk, 0)
        units[line.pk] = max(left, 0) if policy.returnable and open_window else 0
    return units


def return_get_for_buyer(*, pk: int, user, guest_orders=()) -> ReturnRequest:
    """The return ``pk`` of the buyer: an order of ``user``, or a guest order whose link this
    session holds (``guest_orders``: their numbers). Anyone else's: not found."""
    query = ReturnRequest.objects.select_related("order", "package", "refund").prefetch_related(
        "lines__line", "photos", "events")
    found = query.filter(pk=pk).first()
    if found is None:
        raise NotFound(_("No such return."))
    if found.order.user_id is None and found.order.number in set(guest_orders):
        return found
    if found.order.user_id is None or found.order.user_id != getattr(user, "pk", None):
        raise NotFound(_("No such return."))
    return found


def returns_of_order(*, order: Order):
    return (ReturnRequest.objects.filter(order=order).select_related("package", "refund")
            .prefetch_related("lines__line").order_by("-created_at", "-id"))


def return_label_shipment(*, request: ReturnRequest):
    """The carrier shipment (with its label PDF) of ``request``, or None."""
    return fulfillment_selectors.carrier_shipments(references=[f"{REFERENCE}{request.pk}"]).get(
        f"{REFERENCE}{request.pk}")


# --- the shopper ----------------------------------------------------------------------------------


def _record(request: ReturnRequest, to: str, message: str = "", actor=None) -> None:
    ReturnEvent.objects.create(request=request, from_status=request.status, to_status=to, message=message[:300],
                               actor=actor if getattr(actor, "pk", None) else None)
    request.status = to


def returns_close_refunded(*, order_id: int, keep: int | None = None, actor=None) -> int:
    """Cancel the order's open returns, not yet on their way back, that ask back units refunded
    meanwhile (a full refund, a granted claim, staff refunding those units): nothing is left to
    send back for them, and a return approved later would buy a label for refunded items, then
    never be received. ``keep``: the return being refunded itself. Call inside the refund's
    transaction (the order locked). Returns how many were cancelled."""
    left = {pk: quantity - refunded for pk, quantity, refunded in
            OrderLine.objects.filter(order_id=order_id).values_list("pk", "quantity", "refunded_quantity")}
    cancelled = 0
    for request in (ReturnRequest.objects.select_for_update().filter(order_id=order_id, status__in=CANCELLABLE)
                    .exclude(pk=keep).prefetch_related("lines").order_by("pk")):
        if all(left.get(line.line_id, 0) >= line.quantity for line in request.lines.all()):
            continue
        _record(request, R.CANCELLED, _("Cancelled: its items were refunded meanwhile, so nothing is left to "
                                        "send back"), actor)
        request.save(update_fields=["status"])
        cancelled += 1
    return cancelled


def _units(value, title: str) -> int:
    try:
        number = int(str(value).strip() or "0")
    except (TypeError, ValueError):
        number = -1
    if not 0 <= number <= 1_000_000:
        raise ApplicationError(_("%(title)s: a whole number of units, 0 or more.") % {"title": title},
                               fields={"lines": [_("Not a number of units.")]})
    return number


def _check_photo(photo) -> None:
    from PIL import Image, UnidentifiedImageError
    from PIL.Image import DecompressionBombError

    if getattr(photo, "size", 0) > MAX_PHOTO_BYTES:
        raise ApplicationError(_("A photo is at most 8 MB."), fields={"photos": [_("Too large.")]})
    try:
        photo.seek(0)
        Image.open(photo).verify()
    except (UnidentifiedImageError, DecompressionBombError, OSError, SyntaxError, ValueError):
        raise ApplicationError(_("Photos must be images (JPEG, PNG, WebP...)."),
                               fields={"photos": [_("Not an image.")]}) from None
    photo.seek(0)


def _destination(package: Package):
    if package.shipped_from_id:
        return package.shipped_from
    if package.fulfillment_channel == "merchant":
        return fulfillment_selectors.seller_first_location(seller_id=package.seller_id)
    return next(iter(fulfillment_selectors.platform_warehouses()), None)


def _same_return(existing: ReturnRequest, *, package_id, lines: dict, reason: str, description: str
                 ) -> ReturnRequest:
    """``existing`` (the return under the key sent again) if this is the same request; refused when the
    key comes back asking for another package, other units, another reason or with other words."""
    try:
        asked = {_units(k, ""): _units(v, "") for k, v in (lines or {}).items()}
        same = (existing.package_id == _units(package_id, "") and existing.reason == reason
                and existing.description == (description or "").strip()
                and {k: v for k, v in asked.items() if v} == dict(existing.lines.values_list("line_id", "quantity")))
    except ApplicationError:
        same = False
    if not same:
        raise IdempotencyKeyReused(_("This key was already used for return %(id)s with other details. Use a new key "
                                     "for another return.") % {"id": existing.pk})
    return existing


def return_start(*, order: Order, package_id, lines: dict, reason: str, user, idempotency_key: str,
                 description: str = "", photos=(), guest_access: bool = False, now=None) -> ReturnRequest:
    """The buyer returns ``lines`` (order line id -> units) of a delivered package of ``order`` for
    ``reason`` (see the module's rules). A platform-fulfilled package's return is approved at once
    and its label bought (after the commit: never inside a transaction); a seller's is for the
    seller to answer. Idempotent per order and ``idempotency_key``."""
    check_buyer(order, user, guest_access)
    key = (idempotency_key or "").strip()
    if not key or len(key) > 100:
        raise ApplicationError(_("A return needs an idempotency key (at most 100 characters)."))
    existing = ReturnRequest.objects.filter(order=order, idempotency_key=key).first()
    if existing is not None:
        return _same_return(existing, package_id=package_id, lines=lines, reason=reason, description=description)
    if reason not in ReturnReason.values:
        raise ApplicationError(_("Choose why you return the items."), fields={"reason": [_("Choose a reason.")]})
    description = (description or "").strip()
    if len(description) > 2000:
        raise ApplicationError(_("At most 2,000 characters."), fields={"description": [_("Too long.")]})
    photos = [photo for photo in photos or () if photo]
    if len(photos) > MAX_PHOTOS:
        raise ApplicationError(_("At most %(n)s photos.") % {"n": MAX_PHOTOS}, fields={"photos": [_("Too many.")]})
    for photo in photos:
        _check_photo(photo)
    now = now or timezone.now()
    saved: list = []  # photo files written: removed again if the return rolls back
    try:
        with transaction.atomic():
            locked = order_lock(order_id=order.pk)
            existing = ReturnRequest.objects.filter(order=order, idempotency_key=key).first()
            if existing is not None:  # the same request, sent twice at once
                return _same_return(existing, package_id=package_id, lines=lines, reason=reason,
                                    description=description)
            package = Package.objects.filter(order=locked, pk=_units(package_id, _("Package"))).first()
            if package is None:
                raise NotFound(_("No such package."))
            if package.status != Package.Status.DELIVERED:
                raise ApplicationError(_("Items are returned once their package has been delivered."),
                                       code="not_delivered")
            left = returnable_units(order=locked, package=package, now=now)
            titles = dict(OrderLine.objects.filter(package=package).values_list("pk", "product_title"))
            chosen = {}
            for line_id, value in (lines or {}).items():
                line_id = _units(line_id, _("Line"))
                if line_id not in left:
                    raise ApplicationError(_("That item is not in this package."), fields={"lines": [_("Unknown.")]})
                units = _units(value, titles[line_id])
                if not units:
                    continue
                if units > left[line_id]:
                    raise ApplicationError(
                        _("%(title)s: at most %(left)s unit(s) can be returned (not returnable, past its return "
                          "window, refunded or in another return).") % {"title": titles[line_id],
                                                                          "left": left[line_id]},
                        fields={"lines": [_("Too many units.")]}, code="not_returnable")
                chosen[line_id] = units
            if not chosen:
                raise ApplicationError(_("Choose the units you return."), fields={"lines": [_("Nothing chosen.")]})
            product_ids = dict(OrderLine.objects.filter(pk__in=chosen).values_list("pk", "product_id"))
            categories = catalog_selectors.product_category_ids(product_ids={p for p in product_ids.values() if p})
            policies = policies_for(category_ids={categories.get(p) for p in product_ids.values()})
            buyer_pays = any(reason in policies[categories.get(p)].buyer_pays_reasons for p in product_ids.values())
            merchant = package.fulfillment_channel == "merchant"
            request = ReturnRequest.objects.create(
                order=locked, package=package, seller_id=package.seller_id,
                fulfillment_channel=package.fulfillment_channel, destination=_destination(package),
                reason=reason, description=description, buyer_pays_shipping=buyer_pays, idempotency_key=key,
                created_at=now, answer_by=business_days_after(
                    now, settings.RETURNS_SELLER_ANSWER_BUSINESS_DAYS) if merchant else None)
            ReturnLine.objects.bulk_create([ReturnLine(request=request, line_id=line_id, quantity=units)
                                            for line_id, units in sorted(chosen.items())])
            for photo in photos:
                saved.append(ReturnPhoto.objects.create(request=request, image=photo).image)
            ReturnEvent.objects.create(request=request, to_status=R.REQUESTED,
                                       actor=user if getattr(user, "pk", None) else None,
                                       message=ReturnReason(reason).label)
            if not merchant:  # Bazaar's own warehouses take returns within the policy
                _record(request, R.APPROVED, _("Approved: returns to Bazaar's warehouse"))
                request.decided_at = now
                request.save(update_fields=["status", "decided_at"])
            order_note(locked, _("Return %(id)s requested: %(reason)s") % {
                "id": request.pk, "reason": ReturnReason(reason).label})
            if merchant:  # the seller answers; a platform return's e-mail is its approval
                _email_on_commit(request, "requested")
    except IntegrityError:  # the same key at the same time: the first one stands
        _forget(saved)
        existing = ReturnRequest.objects.filter(order=order, idempotency_key=key).first()
        if existing is None:
            raise
        return _same_return(existing, package_id=package_id, lines=lines, reason=reason, description=description)
    except BaseException:
        _forget(saved)
        raise
    if request.status == R.APPROVED:
        return return_issue_label(request=request)
    return request


def _forget(files) -> None:
    """Delete the files of photos whose rows were rolled back."""
    for file in files:
        try:
            file.storage.delete(file.name)
        except OSError:  # gone already: nothing to forget
            continue


def return_cancel(*, request: ReturnRequest, user, guest_access: bool = False) -> ReturnRequest:
    """The shopper cancels the return before it ships back."""
    check_buyer(request.order, user, guest_access)
    with transaction.atomic():
        locked = _locked(request)
        if locked.status not in CANCELLABLE:
            raise IllegalTransition(_("This return can no longer be cancelled: it is %(status)s.")
                                    % {"status": locked.get_status_display().lower()})
        _record(locked, R.CANCELLED, _("Cancelled by the shopper"), user)
        locked.save(update_fields=["status"])
    return locked


def return_accept_offer(*, request: ReturnRequest, user, guest_access: bool = False) -> ReturnRequest:
    """The shopper accepts the seller's partial refund: they keep the items and the units are
    refunded less what the offer leaves out (explained on the refund)."""
    check_buyer(request.order, user, guest_access)
    with transaction.atomic():
        locked = _locked(request)
        if locked.status != R.OFFERED:
            raise IllegalTransition(_("There is no partial refund to accept on this return."))
        quote = _quote(locked, shipping=False)
        deduction = quote.amount - locked.offered_amount
        refund = refunds.order_refund_partial(
            order=locked.order, lines=_lines(locked), reason=_("Return %(id)s: partial refund accepted")
            % {"id": locked.pk}, idempotency_key=f"return:{locked.pk}", actor=user if getattr(user, "pk", None)
            else None, deduction=deduction if deduction > 0 else None, for_return=locked.pk,
            deduction_label=_("Partial refund offered by the seller: you keep the items"))
        locked.refund = refund
        _record(locked, R.REFUNDED, _("Partial refund accepted: %(amount)s") % {"amount": refund.amount}, user)
        locked.save(update_fields=["status", "refund"])
    return locked


# --- the seller or platform staff ------------------------------------------------------------------


def return_refusal(*, request: ReturnRequest, actor) -> str | None:
    """Why ``actor`` may not act on ``request`` (approve, refuse, offer, receive), or None. A seller's
    owners and managers act on their own packages' returns; platform staff with the permission on
    every return; view-only staff on none."""
    scope = marketplace_selectors.seller_scope_for_user(actor)
    if scope is not None:
        if request.fulfillment_channel != "merchant":
            return _("Bazaar handles the returns of packages it fulfilled.")
        if request.seller_id not in marketplace_selectors.seller_ids_with_permission(
                actor, "orders.change_returnrequest"):
            return _("Only the seller's owners and managers act on its returns.")
        return None
    if getattr(actor, "is_superuser", False) or (getattr(actor, "is_staff", False)
                                                 and actor.has_perm("orders.decide_return")):
        return None
    return _("Only the seller or platform staff act on returns.")


def _check_actor(request: ReturnRequest, actor) -> None:
    if refusal := return_refusal(request=request, actor=actor):
        raise PermissionDenied(refusal)


def _locked(request: ReturnRequest) -> ReturnRequest:
    """The order locked first, then the return (the order's lock serialises everything on it)."""
    order_lock(order_id=request.order_id)
    return ReturnRequest.objects.select_for_update().select_related("order", "package").get(pk=request.pk)


def _lines(request: ReturnRequest) -> dict[int, int]:
    return {line.line_id: line.quantity for line in request.lines.all()}


def _quote(request: ReturnRequest, *, shipping: bool) -> refunds.RefundQuote:
    return refunds.refund_quote(order=request.order, lines=_lines(request), shipping=_shipping(request)
                                if shipping else ())


def _shipping(request: ReturnRequest) -> list[int]:
    """The package's shipping is given back when the return is the shop's fault (and some is left)."""
    package = Package.objects.get(pk=request.package_id)
    left = package.shipping_price + package.shipping_tax - package.shipping_refunded
    return [package.pk] if request.reason in SHOP_FAULT and left > 0 else []


def return_approve(*, request: ReturnRequest, actor=None, automatic: bool = False) -> ReturnRequest:
    """The seller (or staff; or the clock, ``automatic``) approves a requested return; its label is
    then bought (after the commit)."""
    if not automatic:
        _check_actor(request, actor)
    with transaction.atomic():
        locked = _locked(request)
        if locked.status != R.REQUESTED:
            raise IllegalTransition(_("Only a requested return is approved; this one is %(status)s.")
                                    % {"status": locked.get_status_display().lower()})
        _record(locked, R.APPROVED, _("Approved automatically: the seller did not answer in time") if automatic
                else _("Approved"), actor)
        locked.decided_by = actor if getattr(actor, "pk", None) else None
        locked.decided_at = timezone.now()
        locked.save(update_fields=["status", "decided_by", "decided_at"])
    return return_issue_label(request=locked)


def return_refuse(*, request: ReturnRequest, actor, reason: str) -> ReturnRequest:
    """The seller refuses a requested return, with the reason the shopper is told (who may then
    open a claim about the order)."""
    _check_actor(request, actor)
    reason = (reason or "").strip()
    if len(reason) < 5 or len(reason) > 2000:
        raise ApplicationError(_("Tell the shopper why, in 5 to 2,000 characters."),
                               fields={"refusal_reason": [_("5 to 2,000 characters.")]})
    with transaction.atomic():
        locked = _locked(request)
        if locked.status != R.REQUESTED:
            raise IllegalTransition(_("Only a requested return is refused; this one is %(status)s.")
                                    % {"status": locked.get_status_display().lower()})
        _record(locked, R.REFUSED, reason, actor)
        locked.refusal_reason, locked.decided_by, locked.decided_at = reason, actor, timezone.now()
        locked.save(update_fields=["status", "refusal_reason", "decided_by", "decided_at"])
        _email_on_commit(locked, "refused")
    return locked


def return_offer_partial(*, request: ReturnRequest, actor, amount) -> ReturnRequest:
    """The seller offers a partial refund instead: the shopper keeps the items (if they accept)."""
    _check_actor(request, actor)
    try:
        amount = Decimal(str(amount).strip())
    except ArithmeticError:
        amount = Decimal("-1")
    with transaction.atomic():
        locked = _locked(request)
        if locked.status != R.REQUESTED:
            raise IllegalTransition(_("Only a requested return gets an offer; this one is %(status)s.")
                                    % {"status": locked.get_status_display().lower()})
        full = _quote(locked, shipping=False).amount
        if not amount.is_finite() or amount <= 0 or amount >= full or amount != amount.quantize(Decimal("0.01")):
            raise ApplicationError(_("Offer an amount above 0 and below what the items would refund (%(full)s).")
                                   % {"full": full}, fields={"offered_amount": [_("Out of range.")]})
        _record(locked, R.OFFERED, _("Partial refund of %(amount)s offered") % {"amount": amount}, actor)
        locked.offered_amount, locked.decided_by, locked.decided_at = amount, actor, timezone.now()
        locked.save(update_fields=["status", "offered_amount", "decided_by", "decided_at"])
        _email_on_commit(locked, "offered")
    return locked


def _address_text(warehouse) -> str:
    if warehouse is None:
        return ""
    parts = [warehouse.name, warehouse.street, " ".join(p for p in (warehouse.postal_code, warehouse.city) if p),
             warehouse.region, warehouse.country]
    return "\n".join(part for part in parts if part)


def _parcel(request: ReturnRequest) -> fulfillment_services.Parcel:
    """The return's parcel: from the shopper's address back to the warehouse (see orders.services._parcel)."""
    units = {line.line_id: line.quantity for line in request.lines.all()}
    lines = list(OrderLine.objects.filter(pk__in=units))
    sizes = catalog_selectors.product_sizes(product_ids={line.product_id for line in lines if line.product_id})
    weight = sum(((sizes[line.product_id][3] if line.product_id in sizes else Decimal("1")) * units[line.pk]
                  for line in lines), Decimal("0")) or Decimal("1")
    address = {key: str(value) for key, value in (request.order.shipping_address or {}).items()}
    home = request.destination
    return fulfillment_services.Parcel(
        weight_lb=Decimal(weight), from_city=address.get("city", ""), from_country=address.get("country", ""),
        to_city=home.city, to_postcode=home.postal_code, to_country=home.country,
        from_name=address.get("full_name", ""), from_street=address.get("line1", ""),
        from_state=address.get("region", ""), from_postcode=address.get("postal_code", ""),
        from_phone=address.get("phone", ""), to_name=home.name, to_street=home.street, to_state=home.region,
        to_phone=home.phone)


def return_issue_label(*, request: ReturnRequest) -> ReturnRequest:
    """An approved return gets its carrier label (once: reference "return:<id>"), or, when none can
    be bought, drop-off instructions. The shopper is e-mailed either. Calls the carrier: never
    inside a transaction."""
    request = ReturnRequest.objects.select_related("order", "destination").get(pk=request.pk)
    if request.status != R.APPROVED:
        return request
    shipment, problem = None, ""
    if request.destination is not None:
        try:
            shipment = fulfillment_services.parcel_label_buy(reference=f"{REFERENCE}{request.pk}",
                                                             parcel=_parcel(request))
        except fulfillment_services.CarrierError as exc:
            problem = str(exc)
    with transaction.atomic():
        locked = _locked(request)
        if locked.status != R.APPROVED:
            return locked
        if shipment is not None:
            locked.carrier, locked.tracking_number, locked.label_cost = (
                shipment.carrier, shipment.tracking_number, shipment.cost)
            _record(locked, R.LABEL_ISSUED, _("Return label: %(number)s") % {"number": shipment.tracking_number})
        else:
            locked.drop_off_instructions = "\n".join(
                part for part in (settings.RETURNS_DROP_OFF_INSTRUCTIONS, _address_text(request.destination))
                if part)
            _record(locked, R.AWAITING_DROP_OFF, problem or _("No label: drop-off instructions sent"))
        locked.save(update_fields=["status", "carrier", "tracking_number", "label_cost", "drop_off_instructions"])
        _email_on_commit(locked, "approved")
    return locked


def return_tracking_update(*, reference: str, status: str) -> str:
    """The carrier's news about a return parcel: moving marks it in transit, delivered marks it
    delivered back (awaiting inspection). Returns what was done."""
    pk = reference[len(REFERENCE):]
    if not reference.startswith(REFERENCE) or not pk.isdigit():
        return "ignored"
    request = ReturnRequest.objects.filter(pk=int(pk)).first()
    if request is None:
        return "ignored"
    moving = status in ("in_transit", "out_for_delivery", "failed_attempt", "available_for_pickup", "exception")
    with transaction.atomic():
        locked = _locked(request)
        if status == "delivered" and locked.status in (R.LABEL_ISSUED, R.IN_TRANSIT):
            _record(locked, R.DELIVERED_BACK, _("The carrier delivered it back"))
            locked.save(update_fields=["status"])
            return "delivered_back"
        if moving and locked.status == R.LABEL_ISSUED:
            _record(locked, R.IN_TRANSIT, _("The carrier has it"))
            locked.save(update_fields=["status"])
            if locked.refund_id is None and shopper_trusted(order=locked.order):
                _refund(locked, None, early=True)
                return "in_transit_refunded"
            return "in_transit"
    return "noted"


def return_receive(*, request: ReturnRequest, actor, conditions: dict) -> ReturnRequest:
    """The return arrived and each line is inspected (``conditions``: return line id -> "sellable"
    or "unsellable"): sellable units go back to stock in the warehouse they left from through the
    stock ledger (reference "return:<id>"), unsellable ones are recorded only. Then the units are
    refunded (see the module's rules), all in one transaction; the money leaves after the commit."""
    _check_actor(request, actor)
    with transaction.atomic():
        locked = _locked(request)
        if locked.status not in RECEIVABLE:
            raise IllegalTransition(_("Only a return on its way back is received; this one is %(status)s.")
                                    % {"status": locked.get_status_display().lower()})
        rows = list(locked.lines.select_related("line").order_by("pk"))
        wanted = {int(k): str(v) for k, v in (conditions or {}).items() if str(k).isdigit()}
        allowed = {ReturnLine.Condition.SELLABLE, ReturnLine.Condition.UNSELLABLE}
        if set(wanted) != {row.pk for row in rows} or set(wanted.values()) - allowed:
            raise ApplicationError(_("Say for every returned line whether it is sellable or not."),
                                   fields={"conditions": [_("Every line: sellable or unsellable.")]})
        for row in rows:
            row.condition = wanted[row.pk]
            row.save(update_fields=["condition"])
            if row.condition != ReturnLine.Condition.SELLABLE:
                continue
            if locked.destination is None or row.line.offer is None:
                raise ApplicationError(_("%(title)s cannot be restocked: no warehouse or offer to restock it in; "
                                         "record it as unsellable.") % {"title": row.line.product_title},
                                       code="no_restock")
            item = fulfillment_services.stock_item_ensure(offer=row.line.offer, warehouse=locked.destination)
            fulfillment_services.stock_receive(
                stock_item=item, quantity=row.quantity, reference=f"{REFERENCE}{locked.pk}",
                note=_("Returned by the shopper of order %(number)s") % {"number": locked.order.number})
        locked.received_at = timezone.now()
        _record(locked, R.RECEIVED, _("Received: %(sellable)s sellable, %(unsellable)s unsellable unit(s)") % {
            "sellable": sum(r.quantity for r in rows if r.condition == ReturnLine.Condition.SELLABLE),
            "unsellable": sum(r.quantity for r in rows if r.condition == ReturnLine.Condition.UNSELLABLE)}, actor)
        locked.save(update_fields=["status", "received_at"])
        _email_on_commit(locked, "received")
        _refund(locked, actor)
    return locked


def return_deduction(request: ReturnRequest) -> Decimal:
    """What the shopper pays for the way back: the label's cost when the reason is theirs."""
    if not request.buyer_pays_shipping or not request.label_cost:
        return Decimal("0.00")
    return request.label_cost


def _refund(locked: ReturnRequest, actor, *, early: bool = False) -> None:
    """Refund the return's units (see the module's rules). ``early``: at drop-off, for a trusted
    shopper; the return stays on its way back and is inspected (and restocked) on receipt."""
    if locked.refund_id is not None:  # refunded at drop-off already
        _record(locked, R.REFUNDED, _("Refunded at drop-off already"), actor)
        locked.save(update_fields=["status"])
        return
    # Units refunded meanwhile by other means (the whole order refunded, a claim granted while the
    # parcel was on its way back) are not refunded twice.
    asked = _lines(locked)
    left = {pk: quantity - refunded for pk, quantity, refunded in
            OrderLine.objects.filter(pk__in=asked).values_list("pk", "quantity", "refunded_quantity")}
    lines = {pk: min(units, max(left.get(pk, 0), 0)) for pk, units in asked.items()}
    lines = {pk: units for pk, units in lines.items() if units}
    if not lines:
        _record(locked, R.REFUNDED, _("Nothing left to refund: these items were refunded earlier"), actor)
        locked.save(update_fields=["status"])
        return
    quote = refunds.refund_quote(order=locked.order, lines=lines, shipping=_shipping(locked))
    deduction = min(return_deduction(locked), quote.amount - Decimal("0.01"))
    refund = refunds.order_refund_partial(
        order=locked.order, lines=lines, shipping=_shipping(locked),
        reason=_("Return %(id)s: %(reason)s") % {"id": locked.pk, "reason": ReturnReason(locked.reason).label},
        idempotency_key=f"return:{locked.pk}", actor=actor, deduction=deduction if deduction > 0 else None,
        for_return=locked.pk,
        deduction_label=_("Return shipping label (%(reason)s)") % {"reason": ReturnReason(locked.reason).label})
    locked.refund = refund
    if early:
        ReturnEvent.objects.create(request=locked, from_status=locked.status, to_status=locked.status,
                                   message=_("Refunded %(amount)s at drop-off (a trusted shopper)")
                                   % {"amount": refund.amount})
        locked.save(update_fields=["refund"])
        return
    _record(locked, R.REFUNDED, _("Refunded %(amount)s") % {"amount": refund.amount}, actor)
    locked.save(update_fields=["status", "refund"])


def shopper_trusted(*, order: Order) -> bool:
    """Whether the shopper of ``order`` is refunded at drop-off (``RETURNS_REFUND_AT_DROP_OFF``): an
    account with at least ``RETURNS_TRUSTED_MIN_ORDERS`` delivered or completed orders and none of
    their returns refused."""
    if not settings.RETURNS_REFUND_AT_DROP_OFF or order.user_id is None:
        return False
    done = Order.objects.filter(user_id=order.user_id, status__in=(Order.Status.DELIVERED,
                                                                    Order.Status.COMPLETED)).count()
    refused = ReturnRequest.objects.filter(order__user_id=order.user_id, status=R.REFUSED).exists()
    return done >= settings.RETURNS_TRUSTED_MIN_ORDERS and not refused


def returns_approve_unanswered(*, now=None) -> int:
    """Beat: a seller's returns still requested past their answer time are approved. Returns how many."""
    now = now or timezone.now()
    done = 0
    for request in ReturnRequest.objects.filter(status=R.REQUESTED, answer_by__lte=now).order_by("pk")[:500]:
        try:
            return_approve(request=request, automatic=True)
        except IllegalTransition:  # answered meanwhile
            continue
        done += 1
    return done


def _email_on_commit(request: ReturnRequest, kind: str) -> None:
    from orders.tasks import send_return_email  # tasks import services

    outbox.enqueue(send_return_email, request.pk, kind)
