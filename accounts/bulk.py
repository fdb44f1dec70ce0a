"""Bulk writes for accounts: many users at once (demo customers, imports)."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from core import bulk


def users_bulk_ensure(*, users: Sequence[tuple[str, str]], password_hash: str) -> dict[str, int]:
    """Create the ``(email, full name)`` users that do not exist yet, all with one password.

    ``password_hash`` is an already hashed password (``make_password`` once, not per user:
    hashing is deliberately slow). Returns e-mail (lower case) -> id for every user given.
    """
    wanted = {email.strip().lower(): name for email, name in users}
    with transaction.atomic():
        found = dict(User.objects.filter(email__in=list(wanted)).values_list("email", "id"))
        missing = [e for e in wanted if e not in found]
        now = timezone.now()
        ids = bulk.insert_rows(
            User,
            ["email", "full_name", "password", "is_staff", "is_superuser", "is_active", "date_joined", "last_login"],
            [(e, wanted[e][:150], password_hash, False, False, True, now, None) for e in missing],
            with_ids=True,
        )
        found.update(zip(missing, ids, strict=True))
    return found
