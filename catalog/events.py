"""Catalog's domain events (recorded with ``core.events.record``; aggregate ``product``)."""

PRODUCT_CREATED = "catalog.product_created"  # product_id
AGGREGATE = "product"
