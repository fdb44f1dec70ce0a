"""Checkout's domain events (recorded with ``core.events.record``; aggregate ``cart``). Each carries
the cart's ``visitor_id`` and ``user_id`` so insights can tie it to the visit it happened in."""

CART_LINE_ADDED = "checkout.cart_line_added"  # cart_id, offer_id, product_id, sku, price, quantity (added)
CART_LINE_REMOVED = "checkout.cart_line_removed"  # cart_id, offer_id, product_id, sku, price, quantity (removed)
CHECKOUT_STARTED = "checkout.started"  # cart_id, lines, value
CHECKOUT_STEP_COMPLETED = "checkout.step_completed"  # cart_id, step (1 address, 2 delivery), step_name
AGGREGATE = "cart"
