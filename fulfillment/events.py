"""Fulfillment's domain events (recorded durably with ``core.events.record``): names and payloads.
Who consumes them is declared at the composition point (``EVENT_CONSUMERS`` in settings)."""

# A seller's storage fee for a month was charged (aggregate storage_charge): charge_id, seller_id.
STORAGE_CHARGED = "fulfillment.storage_charged"
