"""Orders' domain events (recorded with ``core.events.record``; aggregate ``order``, its id)."""

ORDER_PLACED = "orders.order_placed"  # order_id, total, currency
STATUS_CHANGED = "orders.status_changed"  # order_id, from_status, to_status
ORDER_DISCARDED = "orders.order_discarded"  # order_id, order_number: never paid, removed
PAYMENT_PROBLEM = "orders.payment_problem"  # order_id, problem (PaymentProblem value)
PACKAGE_SHIPPED = "orders.package_shipped"  # order_id, package_id, seller_id
PACKAGE_DELIVERED = "orders.package_delivered"  # order_id, package_id
ORDER_CANCELLED = "orders.order_cancelled"  # order_id, order_number: cancelled before anything shipped
ORDER_REFUNDED = "orders.order_refunded"  # order_id: refunded in full
ORDER_PARTIALLY_REFUNDED = "orders.order_partially_refunded"  # order_id, refund_id, amount: some units or shipping
AGGREGATE = "order"
