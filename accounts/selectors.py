"""Reads for accounts: a user's address book. A user only ever sees their own addresses."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import Address, User


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
