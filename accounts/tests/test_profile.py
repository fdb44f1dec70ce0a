"""Profile page: name, and e-mail changes that need the current password."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"


@pytest.fixture
def user(client):
    user = UserFactory(email="ann@example.com", full_name="Ann")
    client.force_login(user)
    return user


def test_change_name_without_password(client, user):
    response = client.post(reverse("accounts:profile"), {"full_name": "Ann Smith", "email": "ann@example.com"})
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.full_name == "Ann Smith"


def test_change_email_needs_the_current_password(client, user):
    response = client.post(reverse("accounts:profile"), {"full_name": "Ann", "email": "new@example.com"})
    assert response.status_code == 200
    assert response.context["form"].errors["current_password"]
    response = client.post(
        reverse("accounts:profile"), {"full_name": "Ann", "email": "new@example.com", "current_password": "wrong"}
    )
    assert response.status_code == 200
    assert "not correct" in " ".join(response.context["form"].errors["current_password"])
    user.refresh_from_db()
    assert user.email == "ann@example.com"
    response = client.post(
        reverse("accounts:profile"), {"full_name": "Ann", "email": "New@Example.com", "current_password": PASSWORD}
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.email == "new@example.com"
    assert client.get(reverse("storefront:account")).status_code == 200  # still signed in


def test_change_email_to_a_taken_one_is_refused(client, user):
    UserFactory(email="taken@example.com")
    response = client.post(
        reverse("accounts:profile"),
        {"full_name": "Ann", "email": "TAKEN@example.com", "current_password": PASSWORD},
    )
    assert response.status_code == 200
    assert "already exists" in " ".join(response.context["form"].errors["email"])
    user.refresh_from_db()
    assert user.email == "ann@example.com"


def test_account_page_shows_name_email_and_default_address(client, user):
    from accounts import services

    services.address_create(user=user, full_name="Ann", line1="1 Main St", city="Springfield", country="US")
    body = client.get(reverse("storefront:account")).content.decode()
    for text in ("Ann", "ann@example.com", "1 Main St", "United States", "Your orders", "You have no orders yet"):
        assert text in body
