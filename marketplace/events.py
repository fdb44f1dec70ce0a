"""Marketplace's domain events (published durably through ``core.outbox.publish``): their names and
payloads. Who consumes them is declared at the composition point (``EVENT_CONSUMERS`` in settings)."""

# These products' buy boxes may have changed (an offer, its stock, a seller, a shipping method or a
# deal changed). Payload: ``product_ids`` (list of ints, at most REFRESH_BATCH).
BUY_BOX_STALE = "marketplace.buy_box_stale"
