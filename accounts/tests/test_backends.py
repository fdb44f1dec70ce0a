"""The e-mail backend: Django's ModelBackend, with each request's user read by one statement."""

import pytest
from django.contrib.auth import BACKEND_SESSION_KEY
from django.test import Client
from django.urls import reverse

from accounts import selectors
from accounts.backends import EmailBackend
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"  # noqa: S105


def test_user_by_pk_reads_the_whole_user_or_nothing(django_assert_num_queries):
    user = UserFactory(full_name="Ann Example", is_staff=True)
    with django_assert_num_queries(1):
        found = selectors.user_by_pk(str(user.pk))
    assert (found.pk, found.email, found.full_name, found.is_staff, found.date_joined) == (
        user.pk, user.email, "Ann Example", True, user.date_joined)
    assert found._state.adding is False
    assert found._state.db == "default"
    found.full_name = "Ann Changed"
    found.save(update_fields=["full_name"])  # a normal model instance
    assert selectors.user_by_pk(user.pk).full_name == "Ann Changed"
    for bad in (None, "", "abc", "1.5", [1], user.pk + 1000):
        assert selectors.user_by_pk(bad) is None


def test_an_inactive_user_is_signed_out_on_the_next_request():
    user = UserFactory()
    assert EmailBackend().get_user(user.pk) == user
    user.is_active = False
    user.save(update_fields=["is_active"])
    assert EmailBackend().get_user(user.pk) is None


def test_signing_in_with_the_form_records_the_email_backend_and_keeps_the_user_signed_in():
    user = UserFactory(email="ann@example.com")
    user.set_password(PASSWORD)
    user.save()
    client = Client()
    response = client.post(reverse("accounts:login"), {"username": "ann@example.com", "password": PASSWORD})
    assert response.status_code == 302, response.content[:300]
    assert client.session[BACKEND_SESSION_KEY] == "accounts.backends.EmailBackend"
    assert client.get(reverse("storefront:account")).status_code == 200  # signed in
