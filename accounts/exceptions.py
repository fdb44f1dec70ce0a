"""Errors of the accounts context."""

from core.exceptions import ApplicationError


class InvalidCredentials(ApplicationError):
    code = "invalid_credentials"
    status_code = 400


class AccountLockedOut(ApplicationError):
    """Too many failed sign-ins for this e-mail from this address (django-axes)."""

    code = "locked_out"
    status_code = 429
