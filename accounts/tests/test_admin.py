"""Users in admin: someone who may edit users (support) cannot hand out rights; superusers can."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from tests.factories import UserFactory, admin_form_data, staff_user

pytestmark = pytest.mark.django_db


def _url(user) -> str:
    return f"/admin/accounts/user/{user.pk}/change/"


def _form(page, **changes) -> dict:
    """The change form as sent, the join date split as its widget sends it."""
    data = admin_form_data(page, **changes)
    data.pop("date_joined", None)
    return {**data, "date_joined_0": "2026-01-02", "date_joined_1": "10:00:00"}


def test_a_user_editor_cannot_make_anyone_superuser_or_grant_permissions(client):
    editor = staff_user("accounts.view_user", "accounts.change_user")
    customer = UserFactory(full_name="Ada")
    group = Group.objects.create(name="Finance")
    client.force_login(editor)
    for target in (editor, customer):
        page = client.get(_url(target))
        assert page.status_code == 200
        data = _form(page, full_name="Changed", is_superuser="on", is_staff="on", groups=[str(group.pk)])
        assert client.post(_url(target), data).status_code == 302
        target.refresh_from_db()
        assert target.full_name == "Changed"  # the profile is theirs to edit
        assert not target.is_superuser
        assert not target.groups.exists()
    customer.refresh_from_db()
    assert not customer.is_staff
    assert editor.user_permissions.count() == 2


def test_a_superuser_grants_rights(admin_client):
    customer = UserFactory()
    group = Group.objects.create(name="Finance")
    page = admin_client.get(_url(customer))
    data = _form(page, is_staff="on", groups=[str(group.pk)])
    assert admin_client.post(_url(customer), data).status_code == 302
    customer.refresh_from_db()
    assert customer.is_staff
    assert list(customer.groups.all()) == [group]
