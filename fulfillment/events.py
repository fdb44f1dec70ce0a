"""Fulfillment's domain events (recorded durably with ``core.events.record``): names and payloads.
Who consumes them is declared at the composition point (``EVENT_CONSUMERS`` in settings)."""

# A seller's storage fee for a month was charged (aggregate storage_charge): charge_id, seller_id.
STORAGE_CHARGED = "fulfillment.storage_charged"
# Units a seller asked back from a Bazaar centre were sent (aggregate removal_order): removal_id, seller_id.
REMOVAL_COMPLETED = "fulfillment.removal_completed"
# A parcel's tracking moved (aggregate carrier_shipment): shipment_id, reference, status, occurred_at.
TRACKING_UPDATED = "fulfillment.tracking_updated"
