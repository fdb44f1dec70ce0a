"""Removal orders (writes): a seller asks units of an offer fulfilled by Bazaar back.

The seller's owners and managers request (Bazaar picks the centre holding the most available
units) and may cancel while it is requested; platform staff with ``complete_removalorder`` send
the units (they leave stock through the ledger, reference the removal order) and the tier's
removal fee per unit is posted to the seller's ledger through ``fulfillment.removal_completed``.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from core import events, idempotency
from core.exceptions import ApplicationError, Conflict, NotFound, PermissionDenied
from fulfillment import events as fulfillment_events
from fulfillment import selectors, services
from fulfillment.models import RemovalOrder, StockItem
from marketplace import selectors as marketplace_selectors

R = RemovalOrder.Status
REQUEST_PERM, COMPLETE_PERM = "fulfillment.add_removalorder", "fulfillment.complete_removalorder"


def _check_seller_side(actor, seller_id: int) -> None:
    if actor is None:
        return
    if marketplace_selectors.seller_scope_for_user(actor) is not None:
        if seller_id not in marketplace_selectors.seller_ids_with_permission(actor, REQUEST_PERM):
            raise PermissionDenied(_("Your role at this seller does not allow asking stock back."))
    elif not (actor.is_superuser or actor.has_perm(REQUEST_PERM)):
        raise PermissionDenied(_("You may not make removal orders."))


def removal_request(*, offer, quantity, actor) -> RemovalOrder:
    """Ask ``quantity`` units of one of the seller's offers fulfilled by Bazaar back."""
    _check_seller_side(actor, offer.seller_id)
    if not offer.fulfilled_by_platform:
        raise ApplicationError(_("Only stock Bazaar holds can be asked back."), fields={"offer": [_("Not at Bazaar.")]})
    try:
        quantity = int(quantity)
    except (TypeError, ValueError):
        quantity = 0
    if not 1 <= quantity <= 100_000:
        raise ApplicationError(_("Units: a whole number from 1 to 100,000."), fields={"quantity": [_("1 to 100,000.")]})
    source = selectors.removal_source(offer_id=offer.pk, quantity=quantity)
    if source is None:
        raise ApplicationError(_("No Bazaar centre holds that many available units of this offer."),
                               fields={"quantity": [_("More than available.")]}, code="removal_too_many")
    return RemovalOrder.objects.create(seller_id=offer.seller_id, offer=offer, warehouse=source, quantity=quantity,
                                       requested_by=actor if getattr(actor, "pk", None) else None)


def removal_request_once(*, offer, quantity, actor, key: str) -> tuple[RemovalOrder, bool]:
    """:func:`removal_request` under an API client's request key (unique per seller): the same key
    again finds the removal order it made (``created`` False), also when two requests with it arrive
    at once, so a retry never asks the units back twice; the key with another offer or quantity is
    :class:`~core.exceptions.IdempotencyKeyReused`."""
    idempotency.checked_key(key)
    _check_seller_side(actor, offer.seller_id)  # nothing is revealed about the key to whoever may not ask
    return idempotency.create_once(
        owned=RemovalOrder.objects.filter(seller_id=offer.seller_id), key=key,
        request=idempotency.digest([offer.pk, str(quantity)]),
        create=lambda: removal_request(offer=offer, quantity=quantity, actor=actor),
        reused=lambda existing: _("This request key was already used for removal order %(code)s with other "
                                  "details. Use a new key for a new removal order.") % {"code": existing},
    )


def _locked(removal: RemovalOrder) -> RemovalOrder:
    locked = RemovalOrder.objects.select_for_update().get(pk=removal.pk)
    if locked.status != R.REQUESTED:
        raise Conflict(_("This removal order is %(status)s already.") % {"status": locked.get_status_display().lower()},
                       code="removal_state")
    return locked


def removal_cancel(*, removal: RemovalOrder, actor) -> RemovalOrder:
    _check_seller_side(actor, removal.seller_id)
    with transaction.atomic():
        locked = _locked(removal)
        locked.status = R.CANCELLED
        locked.save(update_fields=["status"])
        return locked


def removal_complete(*, removal: RemovalOrder, actor) -> RemovalOrder:
    """Bazaar sends the units back: they leave stock (never below what orders hold) and the fee is posted."""
    if actor is not None and (marketplace_selectors.seller_scope_for_user(actor) is not None
                              or not (actor.is_superuser or actor.has_perm(COMPLETE_PERM))):
        raise PermissionDenied(_("Only Bazaar staff send removal orders."))
    with transaction.atomic():
        locked = _locked(removal)
        item = StockItem.objects.get(offer_id=locked.offer_id, warehouse_id=locked.warehouse_id)
        services.stock_adjust(stock_item=item, delta=-locked.quantity, reference=f"removal:{locked}",
                              note=_("sent back to the seller"), actor=actor)
        quote = selectors.fee_quotes(product_ids=[locked.offer.product_id]).get(locked.offer.product_id)
        locked.status, locked.completed_at = R.COMPLETED, timezone.now()
        locked.fee_per_unit = quote.removal_fee if quote is not None else None
        locked.save(update_fields=["status", "completed_at", "fee_per_unit"])
        events.record(fulfillment_events.REMOVAL_COMPLETED, aggregate="removal_order", aggregate_id=locked.pk,
                      removal_id=locked.pk, seller_id=locked.seller_id)
        return locked


# --- reads for the API (seller isolation as in admin) ---------------------------------------------

VIEW_PERM, CHANGE_PERM = "fulfillment.view_removalorder", "fulfillment.change_removalorder"


def removals_for_user(*, user) -> QuerySet[RemovalOrder]:
    """Removal orders ``user`` may see, newest first: their sellers' where their role shows them;
    every seller's for platform staff who may view or change them; none for anyone else."""
    qs = (RemovalOrder.objects.select_related("seller", "offer", "offer__product", "warehouse")
          .order_by("-created_at", "-id"))
    if not getattr(user, "is_authenticated", False):
        return qs.none()
    if marketplace_selectors.seller_scope_for_user(user) is not None:
        return qs.filter(seller_id__in=sorted(marketplace_selectors.seller_ids_with_permission(user, VIEW_PERM)))
    if user.is_superuser or user.has_perm(VIEW_PERM) or user.has_perm(CHANGE_PERM):
        return qs
    return qs.none()


def removal_get_for_user(*, user, pk: int) -> RemovalOrder:
    """One removal order ``user`` may see; another seller's is "not found", like one that does not exist."""
    removal = removals_for_user(user=user).filter(pk=pk).first()
    if removal is None:
        raise NotFound(_("No such removal order among yours."))
    return removal
