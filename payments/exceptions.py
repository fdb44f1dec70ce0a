"""Errors the payment services raise; each carries a message fit to show a shopper."""

from __future__ import annotations

from django.utils.translation import gettext as _

from core.exceptions import ApplicationError, Conflict


class PaymentDeclined(ApplicationError):
    """The provider refused the card. The declined Payment is recorded and attached."""

    code = "payment_declined"
    status_code = 402

    def __init__(self, message: str, *, payment, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.payment = payment


class PaymentInProgress(Conflict):
    """Another request with the same idempotency key is talking to the provider right now."""

    code = "payment_in_progress"

    def __init__(self, message: str, *, payment) -> None:
        super().__init__(message)
        self.payment = payment


class PaymentUnavailable(ApplicationError):
    """The provider could not be reached; retrying with the same idempotency key is safe."""

    code = "payment_unavailable"
    status_code = 503


class RefundFailed(ApplicationError):
    code = "refund_failed"
    status_code = 402

    def __init__(self, message: str, *, refund) -> None:
        super().__init__(message)
        self.refund = refund


class PaymentActionRequired(ApplicationError):
    """The customer must confirm the payment with their bank (3-D Secure) in the browser or app:
    ``client_secret`` lets Stripe.js (``handleNextAction``) or a mobile SDK do it. Sending the same
    request again afterwards (the same idempotency key) finishes it."""

    code = "requires_action"
    status_code = 402

    def __init__(self, message: str, *, payment) -> None:
        super().__init__(message)
        self.payment = payment

    @property
    def extra(self) -> dict:
        return {"client_secret": self.payment.client_secret, "provider": self.payment.provider}


class InvalidGiftCard(ApplicationError):
    """A gift card code that cannot be used: never issued, mistyped, used up, redeemed or voided.
    The answer is the same for all of them, so trying codes tells nothing about which exist."""

    code = "invalid_gift_card"

    def __init__(self, *, field: str = "code") -> None:
        message = _("This gift card code is not valid or has no balance left.")
        super().__init__(message, fields={field: [message]})
