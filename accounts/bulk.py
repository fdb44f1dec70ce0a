"""Bulk writes for accounts: many users at once (demo customers, imports)."""

from __future__ import annotations

from collections.abc import Sequence

from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils import timezone

from accounts import services
from accounts.models import User
from core import bulk


def users_bulk_ensure(*, users: Sequence[tuple[str, str]], password: str) -> dict[str, int]:
    """Create the ``(email, full name)`` users that do not exist yet, all with one password.

    The password is hashed once and the hash reused for every new user (hashing is slow on
    purpose). Existing users are left as they are. Returns e-mail (lower case) -> id.
    """
    wanted = {email.strip().lower(): name for email, name in users}
    with transaction.atomic():
        found = dict(User.objects.filter(email__in=list(wanted)).values_list("email", "id"))
        missing = [e for e in wanted if e not in found]
        if not missing:
            return found
        password_hash = make_password(password)
        now = timezone.now()
        ids = bulk.insert_rows(
            User,
            ["email", "full_name", "password", "is_staff", "is_superuser", "is_active", "date_joined", "last_login"],
            [(e, wanted[e][:150], password_hash, False, False, True, now, None) for e in missing],
            with_ids=True,
        )
        found.update(zip(missing, ids, strict=True))
    return found


def user_ensure(*, email: str, password: str, full_name: str = "") -> tuple[User, bool]:
    """The user with this e-mail, created with ``password`` when missing; ``(user, created)``."""
    user = User.objects.filter(email__iexact=email.strip()).first()
    if user is not None:
        return user, False
    return services.user_create(email=email.strip().lower(), password=password, full_name=full_name), True


def user_count() -> int:
    return User.objects.count()
