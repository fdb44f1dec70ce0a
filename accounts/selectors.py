"""Reads for accounts: a user's address book (a user only ever sees their own addresses) and
API tokens."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import connections, router
from django.db.models import QuerySet
from django.utils import timezone
from rest_framework.authtoken.models import Token

from accounts.models import COUNTRY_CHOICES, Address, User


def address_list(*, user: User) -> QuerySet[Address]:
    """``user``'s addresses, the default first, then the newest."""
    return Address.objects.filter(user_id=user.pk).order_by("-is_default", "-created_at", "-id")


def address_get(*, user: User, address_id: int | str) -> Address | None:
    """``user``'s address with this id; ``None`` when there is none or it belongs to someone else."""
    try:
        pk = int(address_id)
    except (TypeError, ValueError):
        return None
    return Address.objects.filter(user_id=user.pk, pk=pk).select_related("user").first()


def address_default(*, user: User) -> Address | None:
    return Address.objects.filter(user_id=user.pk, is_default=True).first()


def country_choices() -> list[tuple[str, str]]:
    """The countries the shop delivers to, as (code, name), sorted by name in the active language
    (the address book and checkout offer the same list)."""
    return sorted(((code, str(name)) for code, name in COUNTRY_CHOICES), key=lambda choice: choice[1])


# --- API tokens ----------------------------------------------------------------------------


def api_token_get(*, key: str) -> Token | None:
    """The token with this key and its user; None when there is none (never issued, or revoked)."""
    if not isinstance(key, str) or not key or len(key) > 40:
        return None
    return Token.objects.select_related("user").filter(key=key).first()


def api_token_expires_at(*, token: Token) -> datetime:
    """When ``token`` stops working: ``API_TOKEN_TTL_DAYS`` after it was issued."""
    return token.created + timedelta(days=settings.API_TOKEN_TTL_DAYS)


def api_token_expired(*, token: Token, now: datetime | None = None) -> bool:
    return (now or timezone.now()) >= api_token_expires_at(token=token)


def user_by_pk(pk) -> User | None:
    """The user with this primary key (any form the session stores it in), or None.

    Read on every request of a signed-in customer (the session names them), cached pages
    included, so it is one prepared statement of the model's own columns rather than a queryset
    built each time (building one cost more than serving the rest of a cached page).
    """
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        return None
    alias = router.db_for_read(User)
    fields = User._meta.concrete_fields
    columns = ", ".join(connections[alias].ops.quote_name(field.column) for field in fields)
    with connections[alias].cursor() as cursor:
        cursor.execute(f"SELECT {columns} FROM {User._meta.db_table} WHERE id = %s", [pk])  # noqa: S608 - names from the model
        row = cursor.fetchone()
    return None if row is None else User.from_db(alias, [field.attname for field in fields], row)


def personal_data(*, user: User) -> dict:
    """What accounts holds about ``user``, for their data export: the profile and the address book."""
    return {
        "profile": {"email": user.email, "full_name": user.full_name, "date_joined": user.date_joined,
                    "last_login": user.last_login},
        "addresses": list(Address.objects.filter(user=user).order_by("id").values(
            "full_name", "line1", "line2", "city", "postal_code", "region", "country", "phone", "is_default",
            "created_at")),
    }
