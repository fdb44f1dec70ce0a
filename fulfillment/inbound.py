"""Inbound shipments (writes): a seller's stock sent into a Bazaar fulfilment centre.

States: draft -> ready to ship -> shipped -> in transit -> receiving -> closed, and cancelled
(from a draft or a shipment ready to ship at any time, from shipped within ``VOID_HOURS`` of being
marked shipped). The seller's owners and managers plan, mark ready (Bazaar chooses the centre),
print box labels and mark shipped; only platform staff with ``fulfillment.receive_inbound`` mark
it in transit, receive units (into sellable stock through the stock ledger, the shipment as the
reference) and close it, recording each shortage or overage. Every change is one locked
transition on the shipment row, so two clicks at once make one change.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Count, Prefetch, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from core import idempotency
from core.exceptions import ApplicationError, Conflict, NotFound, PermissionDenied
from fulfillment import labels, selectors, services
from fulfillment.models import InboundItem, InboundShipment
from marketplace import selectors as marketplace_selectors

S = InboundShipment.Status
VOID_HOURS = 24
PLAN_PERM, RECEIVE_PERM = "fulfillment.change_inboundshipment", "fulfillment.receive_inbound"


def _check_planner(actor, seller_id: int) -> None:
    """The seller's owners and managers (their role grants the change permission there), or
    platform staff holding it; ``actor`` None is the system."""
    if actor is None:
        return
    if marketplace_selectors.seller_scope_for_user(actor) is not None:
        if seller_id not in marketplace_selectors.seller_ids_with_permission(actor, PLAN_PERM):
            raise PermissionDenied(_("Your role at this seller does not allow planning its inbound shipments."))
    elif not (actor.is_superuser or actor.has_perm(PLAN_PERM)):
        raise PermissionDenied(_("You may not change inbound shipments."))


def _check_receiver(actor) -> None:
    if actor is None:
        return
    if marketplace_selectors.seller_scope_for_user(actor) is not None or not (
            actor.is_superuser or actor.has_perm(RECEIVE_PERM)):
        raise PermissionDenied(_("Only Bazaar staff receive stock into a Bazaar fulfilment centre."),
                               code="platform_warehouse")


def _locked(shipment: InboundShipment, *allowed: str) -> InboundShipment:
    locked = InboundShipment.objects.select_for_update().get(pk=shipment.pk)
    if locked.status not in allowed:
        raise Conflict(_("This shipment is %(status)s: that cannot be done now.")
                       % {"status": locked.get_status_display().lower()}, code="inbound_state")
    return locked


def _move(locked: InboundShipment, to: str, **fields) -> InboundShipment:
    locked.status = to
    for name, value in fields.items():
        setattr(locked, name, value)
    locked.save()
    return locked


def _check_offer(seller_id: int, offer) -> None:
    if offer.seller_id != seller_id:
        raise ApplicationError(_("Only this seller's own offers can be sent."), fields={"offer": [_("Not yours.")]})
    if not offer.fulfilled_by_platform:
        raise ApplicationError(_("Only offers fulfilled by Bazaar are sent to a Bazaar centre (%(sku)s is shipped "
                                 "by you).") % {"sku": offer.sku}, fields={"offer": [_("Not fulfilled by Bazaar.")]})


def _quantity(value) -> int:
    try:
        quantity = int(value)
    except (TypeError, ValueError):
        quantity = -1
    if not 0 <= quantity <= 100_000:
        raise ApplicationError(_("Units: a whole number from 1 to 100,000 (0 removes the offer)."),
                               fields={"quantity": [_("From 1 to 100,000.")]})
    return quantity


def inbound_create(*, seller, actor, name: str, box_count: int = 1, items=()) -> InboundShipment:
    """A draft shipment plan; ``items``: ``(offer, units)`` pairs."""
    _check_planner(actor, seller.pk)
    name = (name or "").strip()[:80] or _("Shipment of %(date)s") % {"date": timezone.localdate().isoformat()}
    with transaction.atomic():
        shipment = InboundShipment.objects.create(
            seller=seller, name=name, box_count=_boxes(box_count),
            created_by=actor if getattr(actor, "pk", None) else None)
        for offer, quantity in items:
            inbound_item_set(shipment=shipment, offer=offer, quantity=quantity, actor=actor)
    return shipment


def inbound_create_once(*, seller, actor, key: str, name: str, box_count: int = 1,
                        items=()) -> tuple[InboundShipment, bool]:
    """:func:`inbound_create` under an API client's request key (unique per seller): the same key
    again finds the shipment it planned (``created`` False) instead of planning a second one, also
    when two requests with it arrive at once; the key with another plan (name, boxes, items) is
    :class:`IdempotencyKeyReused`."""
    idempotency.checked_key(key)
    _check_planner(actor, seller.pk)  # nothing is revealed about the key to whoever may not plan
    return idempotency.create_once(
        owned=InboundShipment.objects.filter(seller_id=seller.pk), key=key,
        request=idempotency.digest([str(name or "").strip(), str(box_count),
                                    sorted((offer.pk, str(units)) for offer, units in items)]),
        create=lambda: inbound_create(seller=seller, actor=actor, name=name, box_count=box_count, items=items),
        reused=lambda existing: _("This request key was already used for shipment %(code)s with other details. "
                                  "Use a new key for a new shipment.") % {"code": existing.code},
    )


def _boxes(value) -> int:
    try:
        boxes = int(value)
    except (TypeError, ValueError):
        boxes = 0
    if not 1 <= boxes <= 200:
        raise ApplicationError(_("Boxes: from 1 to 200."), fields={"box_count": [_("From 1 to 200.")]})
    return boxes


def inbound_item_set(*, shipment: InboundShipment, offer, quantity, actor) -> InboundItem | None:
    """Plan ``quantity`` units of ``offer`` (0 takes it out), while the shipment is a draft."""
    _check_planner(actor, shipment.seller_id)
    quantity = _quantity(quantity)
    _check_offer(shipment.seller_id, offer)
    with transaction.atomic():
        _locked(shipment, S.DRAFT)
        if quantity == 0:
            InboundItem.objects.filter(shipment=shipment, offer=offer).delete()
            return None
        try:
            with transaction.atomic():
                item, _created = InboundItem.objects.update_or_create(shipment=shipment, offer=offer,
                                                                      defaults={"quantity": quantity})
        except IntegrityError:  # the same offer added twice at once
            raise Conflict(_("This offer is in the shipment already."), code="inbound_offer_twice") from None
    return item


def inbound_update(*, shipment: InboundShipment, actor, name: str, box_count) -> InboundShipment:
    """Rename the plan or change its number of boxes, until it ships."""
    _check_planner(actor, shipment.seller_id)
    boxes = _boxes(box_count)
    with transaction.atomic():
        locked = _locked(shipment, S.DRAFT, S.READY)
        return _move(locked, locked.status, name=(name or locked.name).strip()[:80], box_count=boxes)


def inbound_ready(*, shipment: InboundShipment, actor) -> InboundShipment:
    """The plan is complete: Bazaar chooses the centre it goes to; its box labels can be printed."""
    _check_planner(actor, shipment.seller_id)
    with transaction.atomic():
        locked = _locked(shipment, S.DRAFT)
        if not locked.items.exists():
            raise ApplicationError(_("Add at least one offer and its units first."), code="inbound_empty")
        destination = selectors.inbound_destination(seller_id=locked.seller_id)
        if destination is None:
            raise ApplicationError(_("Bazaar has no fulfilment centre open for inbound stock right now."),
                                   code="no_centre")
        return _move(locked, S.READY, warehouse=destination, ready_at=timezone.now())


def inbound_ship(*, shipment: InboundShipment, actor, carrier: str = "", tracking_number: str = "") -> InboundShipment:
    """The seller handed the boxes to a carrier: which one and its tracking number are required
    (the centre matches arriving boxes by them, and they cannot be changed afterwards)."""
    _check_planner(actor, shipment.seller_id)
    carrier, tracking_number = (carrier or "").strip()[:60], (tracking_number or "").strip()[:60]
    with transaction.atomic():
        locked = _locked(shipment, S.READY)
        missing = {name: [_("Required to mark the shipment shipped.")]
                   for name, value in (("carrier", carrier), ("tracking_number", tracking_number)) if not value}
        if missing:
            raise ApplicationError(_("Say which carrier has the boxes and its tracking number."), fields=missing,
                                   code="inbound_tracking")
        return _move(locked, S.SHIPPED, carrier=carrier, tracking_number=tracking_number, shipped_at=timezone.now())


def inbound_void(*, shipment: InboundShipment, actor, now=None) -> InboundShipment:
    """Cancel the plan: a draft or a plan ready to ship at any time; a shipped one within
    ``VOID_HOURS`` of being marked shipped (after that, Bazaar receives what arrives)."""
    _check_planner(actor, shipment.seller_id)
    now = now or timezone.now()
    with transaction.atomic():
        locked = _locked(shipment, S.DRAFT, S.READY, S.SHIPPED)
        if locked.status == S.SHIPPED and now - locked.shipped_at > timedelta(hours=VOID_HOURS):
            raise Conflict(_("A shipment can be voided up to %(hours)s hours after it was marked shipped.")
                           % {"hours": VOID_HOURS}, code="inbound_void_too_late")
        return _move(locked, S.CANCELLED, cancelled_at=now)


def inbound_in_transit(*, shipment: InboundShipment, actor) -> InboundShipment:
    """The carrier has the boxes on their way (platform staff, or the carrier's tracking)."""
    _check_receiver(actor)
    with transaction.atomic():
        return _move(_locked(shipment, S.SHIPPED), S.IN_TRANSIT)


def inbound_receive(*, shipment: InboundShipment, counts: dict[int, int], actor) -> int:
    """Units counted at the centre, per inbound item id: each goes into sellable stock through the
    stock ledger (reference: the shipment's code). More than planned is accepted (an overage).
    Returns the units received."""
    _check_receiver(actor)
    wanted = services.counted_units(counts)
    with transaction.atomic():
        locked = _locked(shipment, S.SHIPPED, S.IN_TRANSIT, S.RECEIVING)
        total = services.stock_receive_rows(
            rows=locked.items.select_for_update().select_related("offer"), counts=wanted, warehouse=locked.warehouse,
            reference=f"inbound:{locked.code}", note=_("inbound shipment %(code)s") % {"code": locked.code},
            actor=actor)
        if total and locked.status != S.RECEIVING:
            _move(locked, S.RECEIVING, receiving_at=timezone.now())
    return total


def inbound_close(*, shipment: InboundShipment, actor) -> InboundShipment:
    """Receiving is over: each item's shortage or overage is recorded for the seller to see."""
    _check_receiver(actor)
    with transaction.atomic():
        locked = _locked(shipment, S.RECEIVING, S.IN_TRANSIT, S.SHIPPED)
        services.record_discrepancies(rows=locked.items.select_for_update())
        return _move(locked, S.CLOSED, closed_at=timezone.now())


def inbound_labels(*, shipment: InboundShipment) -> bytes:
    """The box labels (PDF) of a shipment whose centre Bazaar has chosen: ready to ship or later,
    never a draft or a cancelled one."""
    if shipment.status in (S.DRAFT, S.CANCELLED):
        raise Conflict(_("Box labels are printed once the shipment is ready to ship."), code="inbound_state")
    return labels.inbound_labels_pdf(selectors.inbound_label_data(shipment=shipment))


def inbound_void_deadline(shipment: InboundShipment) -> datetime | None:
    """Until when a shipped shipment may still be voided (None when it is not shipped)."""
    if shipment.status != S.SHIPPED or shipment.shipped_at is None:
        return None
    return shipment.shipped_at + timedelta(hours=VOID_HOURS)


# --- reads for the API (seller isolation as in admin) ---------------------------------------------

VIEW_PERM = "fulfillment.view_inboundshipment"


def inbound_for_user(*, user) -> QuerySet[InboundShipment]:
    """Shipments ``user`` may see, newest first, with their number of items and units: their
    sellers' where their role shows inbound shipments; every seller's for platform staff who may
    view or change them; none for anyone else."""
    qs = (InboundShipment.objects.select_related("seller", "warehouse")
          .annotate(item_count=Count("items"), units=Coalesce(Sum("items__quantity"), 0))
          .order_by("-created_at", "-id"))
    if not getattr(user, "is_authenticated", False):
        return qs.none()
    if marketplace_selectors.seller_scope_for_user(user) is not None:
        return qs.filter(seller_id__in=sorted(marketplace_selectors.seller_ids_with_permission(user, VIEW_PERM)))
    if user.is_superuser or user.has_perm(VIEW_PERM) or user.has_perm(PLAN_PERM):
        return qs
    return qs.none()


def inbound_get_for_user(*, user, pk: int) -> InboundShipment:
    """One shipment ``user`` may see, with its items (their offers and products); another seller's
    is "not found", like one that does not exist."""
    items = InboundItem.objects.select_related("offer", "offer__product").order_by("id")
    shipment = inbound_for_user(user=user).prefetch_related(Prefetch("items", queryset=items)).filter(pk=pk).first()
    if shipment is None:
        raise NotFound(_("No such inbound shipment among yours."))
    return shipment
