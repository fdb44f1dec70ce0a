"""Payments' domain events (recorded with ``core.events.record``; aggregate ``payment``, its id)."""

# The payment reached a status: ``payments.payment_<status>`` with payment_id, reference (an order
# number, a membership charge...), status, amount, currency (and captured_amount, refund_id,
# refunded where they apply). <status>: authorized, captured, declined, failed, cancelled, refunded.
STATUS_PREFIX = "payments.payment_"
# A provider's webhook changed the payment: whoever it pays for settles it. payment_id, status.
PAYMENT_UPDATED = "payments.payment_updated"
AGGREGATE = "payment"


def status_event(status: str) -> str:
    return f"{STATUS_PREFIX}{status}"
