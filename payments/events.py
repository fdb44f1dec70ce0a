"""Payments' domain events (recorded with ``core.events.record``; aggregate ``payment``, its id)."""

# The payment reached a status: ``payments.payment_<status>`` with payment_id, reference (an order
# number, a membership charge...), status, amount, currency (and captured_amount, refund_id,
# refunded where they apply). Recorded for the statuses that move money or end a payment:
# captured, refunded, cancelled, declined, failed. An authorization moves no money; the payment row
# keeps when it happened, and the order it paid records its own event (placed -> paid).
STATUS_PREFIX = "payments.payment_"
RECORDED_STATUSES = frozenset({"captured", "refunded", "cancelled", "declined", "failed"})
# A provider's webhook changed the payment: whoever it pays for settles it. payment_id, status.
PAYMENT_UPDATED = "payments.payment_updated"
AGGREGATE = "payment"


def status_event(status: str) -> str:
    return f"{STATUS_PREFIX}{status}"

# Store credit moved: one event per ledger entry, aggregate ``store_credit_account`` (its id), with
# entry_id, user_id, kind (refund, gift_card, spend, spend_release, adjustment), amount (signed),
# balance (after), currency, reference.
STORE_CREDIT_POSTED = "payments.store_credit_posted"
STORE_CREDIT_AGGREGATE = "store_credit_account"
# A gift card's balance moved: one event per card entry, aggregate ``gift_card`` (its id), with
# entry_id, card_id, kind (issued, spend, spend_release, redeemed, voided), amount (signed),
# balance (after), currency, reference. Never the code.
GIFT_CARD_POSTED = "payments.gift_card_posted"
GIFT_CARD_AGGREGATE = "gift_card"
