"""Writes for accounts: users and their staff access."""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission
from django.db import transaction

from accounts.models import User


def user_create(*, email: str, password: str | None = None, full_name: str = "", is_staff: bool = False) -> User:
    return User.objects.create_user(email=email, password=password, full_name=full_name, is_staff=is_staff)


def staff_group_ensure(*, name: str, permissions: list[tuple[str, str]]) -> Group:
    """A group holding exactly these ``(app_label, codename)`` permissions."""
    with transaction.atomic():
        group, _ = Group.objects.get_or_create(name=name)
        perms = []
        for app_label, codename in permissions:
            perm = Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()
            if perm is not None:
                perms.append(perm)
        group.permissions.set(perms)
    return group


def user_grant_staff_group(*, user: User, group: Group) -> User:
    """Let ``user`` sign in to admin with ``group``'s permissions."""
    with transaction.atomic():
        if not user.is_staff:
            user.is_staff = True
            user.save(update_fields=["is_staff"])
        user.groups.add(group)
    return user


def superuser_ensure(*, email: str, password: str) -> tuple[User, bool]:
    """The administrator with ``email``, created with ``password`` when missing."""
    existing = User.objects.filter(email__iexact=email).first()
    if existing is not None:
        return existing, False
    return User.objects.create_superuser(email=email, password=password), True
