"""Labels and tracking (writes): a parcel's label bought from a carrier, and the carrier's tracking
events applied once each, whether they arrive by signed webhook or by polling.

``label_buy`` buys one label per reference (a second call returns the first: a double click buys
nothing twice). ``tracking_apply`` stores each new event (unique per shipment and carrier event id),
moves the shipment's status when the event is the newest, and announces the change with a durable
``fulfillment.tracking_updated`` event, which orders turn into "delivered" and e-mails. Polling
(``tracking_poll``, a beat task) asks the carrier about every parcel not delivered yet.
"""

from __future__ import annotations

from decimal import Decimal

from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils import timezone

from core import events
from fulfillment import carriers
from fulfillment import events as fulfillment_events
from fulfillment.models import CarrierShipment, TrackingEvent


def label_buy(*, reference: str, carrier_code: str, service: str, parcel: carriers.Parcel) -> CarrierShipment:
    """The label of ``reference`` (bought now unless it has one): a tracking number and a PDF.
    Calls the carrier: never inside a transaction. Raises :class:`carriers.CarrierError`."""
    existing = CarrierShipment.objects.filter(reference=reference).first()
    if existing is not None:
        return existing
    carrier = carriers.get_carrier(carrier_code)
    label = carrier.buy_label(reference=reference, parcel=parcel, service=service)
    shipment = CarrierShipment(reference=reference, carrier=carrier.code, service=label.service,
                               tracking_number=label.tracking_number, cost=label.cost,
                               weight_lb=parcel.weight_lb.quantize(Decimal("0.001")))
    shipment.label.save(f"{carrier.code}-{label.tracking_number}.pdf", ContentFile(label.pdf), save=False)
    try:
        with transaction.atomic():
            shipment.save()
    except IntegrityError:  # bought at the same time by another request: keep theirs
        shipment.label.delete(save=False)
        return CarrierShipment.objects.get(reference=reference)
    return shipment


def tracking_apply(*, carrier_code: str, events_in: list[carriers.CarrierEvent]) -> int:
    """Store the new events of known parcels; returns how many were new. Unknown tracking numbers
    are ignored (another system's parcels)."""
    numbers = {event.tracking_number for event in events_in}
    shipments = {s.tracking_number: s for s in CarrierShipment.objects.filter(carrier=carrier_code,
                                                                              tracking_number__in=numbers)}
    applied = 0
    for event in sorted(events_in, key=lambda e: e.occurred_at):
        shipment = shipments.get(event.tracking_number)
        if shipment is None:
            continue
        with transaction.atomic():
            try:
                with transaction.atomic():
                    TrackingEvent.objects.create(shipment=shipment, event_id=event.event_id, status=event.status,
                                                 occurred_at=event.occurred_at, description=event.description,
                                                 location=event.location)
            except IntegrityError:
                continue  # seen already (a webhook repeated, or polling after the webhook)
            locked = CarrierShipment.objects.select_for_update().get(pk=shipment.pk)
            if locked.status_at is None or event.occurred_at >= locked.status_at:
                locked.status, locked.status_at = event.status, event.occurred_at
                locked.save(update_fields=["status", "status_at"])
                events.record(fulfillment_events.TRACKING_UPDATED, aggregate="carrier_shipment",
                              aggregate_id=locked.pk, shipment_id=locked.pk, reference=locked.reference,
                              status=event.status, occurred_at=event.occurred_at.isoformat())
            applied += 1
    return applied


def tracking_poll(*, now=None, limit: int = 500) -> int:
    """Ask the carriers about parcels not delivered yet (the webhook's fallback). Returns new events."""
    now = now or timezone.now()
    open_shipments = (CarrierShipment.objects.exclude(status__in=CarrierShipment.FINAL)
                      .order_by("status_at", "pk")[:limit])
    applied = 0
    for shipment in open_shipments:
        carrier = carriers.get_carrier(shipment.carrier)
        found = carrier.track(tracking_number=shipment.tracking_number, label_bought_at=shipment.created_at, now=now)
        applied += tracking_apply(carrier_code=shipment.carrier, events_in=found)
    return applied
