"""Errors of the accounts context."""

from django.conf import settings
from django.utils.translation import gettext as _

from core.exceptions import ApplicationError


class InvalidCredentials(ApplicationError):
    code = "invalid_credentials"
    status_code = 400


class AccountLockedOut(ApplicationError):
    """Too many failed sign-ins for this e-mail from this address (django-axes)."""

    code = "locked_out"
    status_code = 429


def cooloff_minutes() -> int:
    """How long signing in stays paused after a lockout (``AXES_COOLOFF_TIME``), in whole minutes."""
    cooloff = settings.AXES_COOLOFF_TIME
    return max(1, int(cooloff.total_seconds() // 60)) if cooloff else 0


def lockout_message() -> str:
    """What a locked-out person is told, by the sign-in service and the lockout pages alike."""
    return _(
        "Too many failed sign-in attempts. For your security, signing in is paused for %(minutes)d "
        "minutes. You can reset your password in the meantime."
    ) % {"minutes": cooloff_minutes()}
