"""First-party purchasing (writes): the house seller's purchase orders, and reorder suggestions.

A purchase order is drafted (by hand, or from reorder suggestions: one draft per supplier),
ordered (its expected day is the supplier's lead time away), received unit by unit into the
Bazaar centre like an inbound shipment (stock ledger reference: the order's code), and closed with
each line's shortage or overage recorded; or cancelled before anything arrived. Platform staff
only: a seller's members never see or touch purchase orders. Every change is one locked
transition on the order row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Prefetch, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from core import idempotency
from core.exceptions import ApplicationError, Conflict, NotFound, PermissionDenied
from core.money import validate_price
from fulfillment import selectors, services
from fulfillment.models import PurchaseOrder, PurchaseOrderLine, Supplier, SupplierOffer, Warehouse
from marketplace import selectors as marketplace_selectors

P = PurchaseOrder.Status
BUY_PERM, RECEIVE_PERM = "fulfillment.change_purchaseorder", "fulfillment.receive_purchaseorder"


def _check(actor, perm: str) -> None:
    if actor is None:
        return
    if marketplace_selectors.seller_scope_for_user(actor) is not None or not (
            actor.is_superuser or actor.has_perm(perm)):
        raise PermissionDenied(_("Only Bazaar's buyers handle purchase orders."))


def _locked(order: PurchaseOrder, *allowed: str) -> PurchaseOrder:
    locked = PurchaseOrder.objects.select_for_update().get(pk=order.pk)
    if locked.status not in allowed:
        raise Conflict(_("This purchase order is %(status)s: that cannot be done now.")
                       % {"status": locked.get_status_display().lower()}, code="po_state")
    return locked


def supplier_ensure(*, name: str, lead_time_days: int = 7, email: str = "") -> Supplier:
    """The supplier of this name (made when missing)."""
    supplier, _created = Supplier.objects.get_or_create(name=name, defaults={
        "lead_time_days": lead_time_days, "email": email})
    return supplier


def supplier_offer_set(*, supplier: Supplier, offer, unit_cost, primary: bool = True) -> SupplierOffer:
    """``supplier`` supplies a house offer at ``unit_cost`` (its primary supplier unless ``primary`` is False)."""
    if offer.seller_id != marketplace_selectors.house_seller().pk:
        raise ApplicationError(_("Suppliers supply Bazaar's own offers only."), fields={"offer": [_("Not Bazaar's.")]})
    cost = validate_price(unit_cost, field="unit_cost", currency=settings.SHOP_CURRENCY)
    with transaction.atomic():
        if primary:
            others = SupplierOffer.objects.filter(offer=offer, is_primary=True).exclude(supplier=supplier)
            others.update(is_primary=False)
        link, _created = SupplierOffer.objects.update_or_create(
            supplier=supplier, offer=offer, defaults={"unit_cost": cost, "is_primary": primary})
    return link


def po_create(*, supplier: Supplier, warehouse: Warehouse, actor, lines=()) -> PurchaseOrder:
    """A draft order; ``lines``: ``(offer, units, unit cost)``."""
    _check(actor, BUY_PERM)
    if warehouse.kind != Warehouse.Kind.PLATFORM or not warehouse.is_active:
        raise ApplicationError(_("Purchase orders are delivered to an active Bazaar centre."),
                               fields={"warehouse": [_("Choose a Bazaar centre.")]})
    if not supplier.is_active:
        raise ApplicationError(_("This supplier is not active."), fields={"supplier": [_("Inactive.")]})
    with transaction.atomic():
        order = PurchaseOrder.objects.create(supplier=supplier, warehouse=warehouse,
                                             created_by=actor if getattr(actor, "pk", None) else None)
        for offer, quantity, unit_cost in lines:
            po_line_set(order=order, offer=offer, quantity=quantity, unit_cost=unit_cost, actor=actor)
    return order


def po_create_once(*, supplier: Supplier, warehouse: Warehouse, actor, key: str,
                   lines=()) -> tuple[PurchaseOrder, bool]:
    """:func:`po_create` under an API client's request key (unique per user who drafts): the same key
    again finds the draft it made (``created`` False), also when two requests with it arrive at once,
    so a retry never buys twice; the key with another supplier, centre or lines is
    :class:`~core.exceptions.IdempotencyKeyReused`."""
    idempotency.checked_key(key)
    _check(actor, BUY_PERM)  # nothing is revealed about the key to whoever may not buy
    return idempotency.create_once(
        owned=PurchaseOrder.objects.filter(created_by=actor), key=key,
        request=idempotency.digest([supplier.pk, warehouse.pk, sorted(
            (offer.pk, str(units), str(Decimal(str(cost)).normalize())) for offer, units, cost in lines)]),
        create=lambda: po_create(supplier=supplier, warehouse=warehouse, actor=actor, lines=lines),
        reused=lambda existing: _("This request key was already used for purchase order %(code)s with other "
                                  "details. Use a new key for a new purchase order.") % {"code": existing.code},
    )


def po_line_set(*, order: PurchaseOrder, offer, quantity, unit_cost, actor) -> PurchaseOrderLine | None:
    """Order ``quantity`` units of a house offer at ``unit_cost`` (0 units takes the line out), while a draft."""
    _check(actor, BUY_PERM)
    if offer.seller_id != marketplace_selectors.house_seller().pk:
        raise ApplicationError(_("Purchase orders buy Bazaar's own offers only."),
                               fields={"offer": [_("Not Bazaar's.")]})
    try:
        quantity = int(quantity)
    except (TypeError, ValueError):
        quantity = -1
    if not 0 <= quantity <= 1_000_000:
        raise ApplicationError(_("Units: a whole number from 1 to 1,000,000 (0 removes the line)."),
                               fields={"quantity": [_("From 1 to 1,000,000.")]})
    with transaction.atomic():
        _locked(order, P.DRAFT)
        if quantity == 0:
            PurchaseOrderLine.objects.filter(purchase_order=order, offer=offer).delete()
            return None
        cost = validate_price(unit_cost, field="unit_cost", currency=settings.SHOP_CURRENCY)
        try:
            with transaction.atomic():
                line, _created = PurchaseOrderLine.objects.update_or_create(
                    purchase_order=order, offer=offer, defaults={"quantity": quantity, "unit_cost": cost})
        except IntegrityError:
            raise Conflict(_("This offer is on the order already."), code="po_offer_twice") from None
    return line


def po_order(*, order: PurchaseOrder, actor, now=None) -> PurchaseOrder:
    """Send the order to the supplier: it is expected after the supplier's lead time."""
    _check(actor, BUY_PERM)
    now = now or timezone.now()
    with transaction.atomic():
        locked = _locked(order, P.DRAFT)
        if not locked.lines.exists():
            raise ApplicationError(_("Add at least one line first."), code="po_empty")
        locked.status, locked.ordered_at = P.ORDERED, now
        locked.expected_on = timezone.localdate(now) + timedelta(days=locked.supplier.lead_time_days)
        locked.save()
        return locked


def po_cancel(*, order: PurchaseOrder, actor) -> PurchaseOrder:
    _check(actor, BUY_PERM)
    with transaction.atomic():
        locked = _locked(order, P.DRAFT, P.ORDERED)
        locked.status, locked.closed_at = P.CANCELLED, timezone.now()
        locked.save()
        return locked


def po_receive(*, order: PurchaseOrder, counts: dict, actor) -> int:
    """Units counted at the centre, per line id, into sellable stock (more than ordered is an overage)."""
    _check(actor, RECEIVE_PERM)
    wanted = services.counted_units(counts)
    with transaction.atomic():
        locked = _locked(order, P.ORDERED, P.RECEIVING)
        total = services.stock_receive_rows(
            rows=locked.lines.select_for_update().select_related("offer"), counts=wanted, warehouse=locked.warehouse,
            reference=f"po:{locked.code}", note=_("purchase order %(code)s") % {"code": locked.code}, actor=actor)
        if total and locked.status == P.ORDERED:
            locked.status = P.RECEIVING
            locked.save(update_fields=["status"])
    return total


def po_close(*, order: PurchaseOrder, actor) -> PurchaseOrder:
    _check(actor, RECEIVE_PERM)
    with transaction.atomic():
        locked = _locked(order, P.ORDERED, P.RECEIVING)
        services.record_discrepancies(rows=locked.lines.select_for_update())
        locked.status, locked.closed_at = P.CLOSED, timezone.now()
        locked.save()
        return locked


# --- reorder suggestions -------------------------------------------------------------------------


@dataclass(frozen=True)
class Suggestion:
    offer_id: int
    sku: str
    title: str
    supplier_id: int
    supplier: str
    unit_cost: Decimal
    daily_sales: Decimal  # over the last ``PURCHASING_VELOCITY_DAYS`` days
    available: int
    on_order: int
    reorder_point: int
    quantity: int  # what to order now


def reorder_suggestions(*, now=None) -> list[Suggestion]:
    """House offers with a primary supplier whose available plus on-order units fall to the reorder
    point: sales per day over ``PURCHASING_VELOCITY_DAYS`` times (lead time + ``PURCHASING_SAFETY_DAYS``).
    The suggestion brings them up to that point plus ``PURCHASING_COVER_DAYS`` of sales."""
    days = settings.PURCHASING_VELOCITY_DAYS
    since = (now or timezone.now()) - timedelta(days=days)
    house = marketplace_selectors.house_seller().pk
    suggestions = []
    for row in selectors.supplied_house_offers(house_seller_id=house, since=since):
        velocity = Decimal(row["shipped"]) / days
        if velocity <= 0:
            continue
        point = math.ceil(velocity * (row["lead_time_days"] + settings.PURCHASING_SAFETY_DAYS))
        have = row["available"] + row["on_order"]
        if have > point:
            continue
        quantity = math.ceil(point + velocity * settings.PURCHASING_COVER_DAYS - have)
        suggestions.append(Suggestion(
            offer_id=row["offer_id"], sku=row["sku"], title=row["title"], supplier_id=row["supplier_id"],
            supplier=row["supplier_name"], unit_cost=row["unit_cost"], daily_sales=velocity.quantize(Decimal("0.01")),
            available=row["available"], on_order=row["on_order"], reorder_point=point, quantity=max(quantity, 1)))
    return sorted(suggestions, key=lambda s: (s.supplier, s.sku))


def po_from_suggestions(*, offer_ids, warehouse: Warehouse, actor) -> list[PurchaseOrder]:
    """Draft purchase orders for the chosen suggestions, one per supplier."""
    chosen = [s for s in reorder_suggestions() if s.offer_id in set(offer_ids)]
    by_supplier: dict[int, list[Suggestion]] = {}
    for suggestion in chosen:
        by_supplier.setdefault(suggestion.supplier_id, []).append(suggestion)
    offers = {o.pk: o for o in marketplace_selectors.offers_by_ids(ids=[s.offer_id for s in chosen])}
    made = []
    with transaction.atomic():
        for supplier_id, items in sorted(by_supplier.items()):
            supplier = Supplier.objects.get(pk=supplier_id)
            made.append(po_create(supplier=supplier, warehouse=warehouse, actor=actor,
                                  lines=[(offers[s.offer_id], s.quantity, s.unit_cost) for s in items]))
    return made


# --- reads for the API (platform staff only) ------------------------------------------------------

VIEW_PERM = "fulfillment.view_purchaseorder"


def may_see_purchase_orders(user) -> bool:
    """Platform staff (in no seller) who may view or change purchase orders; never a seller's member."""
    return (getattr(user, "is_authenticated", False) and marketplace_selectors.seller_scope_for_user(user) is None
            and (user.is_superuser or user.has_perm(VIEW_PERM) or user.has_perm(BUY_PERM)))


def purchase_orders_for_user(*, user) -> QuerySet[PurchaseOrder]:
    """Purchase orders, newest first, with their number of lines and units (none for anyone who may not see them)."""
    qs = (PurchaseOrder.objects.select_related("supplier", "warehouse")
          .annotate(line_count=Count("lines"), units=Coalesce(Sum("lines__quantity"), 0))
          .order_by("-created_at", "-id"))
    return qs if may_see_purchase_orders(user) else qs.none()


def po_get_for_user(*, user, pk: int) -> PurchaseOrder:
    """One purchase order with its lines (their offers and products)."""
    lines = PurchaseOrderLine.objects.select_related("offer", "offer__product").order_by("id")
    order = purchase_orders_for_user(user=user).prefetch_related(Prefetch("lines", queryset=lines)).filter(
        pk=pk).first()
    if order is None:
        raise NotFound(_("No such purchase order."))
    return order


def supplier_get(*, pk: int) -> Supplier | None:
    return Supplier.objects.filter(pk=pk).first()
