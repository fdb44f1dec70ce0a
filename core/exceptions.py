"""Application errors: what a user or client did wrong, with a message fit to show them."""

from __future__ import annotations


class ApplicationError(Exception):
    """A domain rule refused the request. Rendered as a 4xx with ``message``, never a 500."""

    code = "invalid"
    status_code = 400

    def __init__(self, message: str, *, code: str | None = None, fields: dict | None = None) -> None:
        super().__init__(message)
        self.message = str(message)
        if code:
            self.code = code
        self.fields = fields or {}


class NotFound(ApplicationError):
    code = "not_found"
    status_code = 404


class PermissionDenied(ApplicationError):
    code = "permission_denied"
    status_code = 403


class Conflict(ApplicationError):
    code = "conflict"
    status_code = 409


class IdempotencyKeyReused(Conflict):
    """The same idempotency key came back with different details (as Stripe answers): the first
    request's outcome stands, and a new request needs a new key."""

    code = "idempotency_key_reused"
    status_code = 422
