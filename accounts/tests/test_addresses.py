"""Address book: one default per user, and no one sees or changes another user's addresses."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse

from accounts import selectors, services
from accounts.models import Address
from core.exceptions import ApplicationError
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def add(user, **changes) -> Address:
    data = {"full_name": "Ann", "line1": "1 Main St", "city": "Springfield", "country": "US"}
    data.update(changes)
    return services.address_create(user=user, **data)


def defaults(user) -> list[int]:
    return list(Address.objects.filter(user=user, is_default=True).values_list("id", flat=True))


def test_first_address_is_the_default_and_only_one_default_at_a_time():
    user = UserFactory()
    first = add(user)
    second = add(user, line1="2 Side St")
    assert defaults(user) == [first.id]
    third = add(user, line1="3 Hill Rd", is_default=True)
    assert defaults(user) == [third.id]
    services.address_set_default(address=second)
    assert defaults(user) == [second.id]
    services.address_update(address=first, is_default=True, city="Shelbyville")
    assert defaults(user) == [first.id]
    assert selectors.address_list(user=user)[0] == first


def test_the_database_refuses_a_second_default():
    user = UserFactory()
    add(user)
    with pytest.raises(IntegrityError), transaction.atomic():
        Address.objects.create(user=user, full_name="X", line1="x", city="x", country="US", is_default=True)


def test_deleting_the_default_promotes_the_newest_other_address():
    user = UserFactory()
    first = add(user)
    add(user, line1="2 Side St")
    newest = add(user, line1="3 Hill Rd")
    services.address_delete(address=first)
    assert defaults(user) == [newest.id]


def test_bad_country_is_refused_by_the_service():
    with pytest.raises(ApplicationError) as exc:
        add(UserFactory(), country="XX")
    assert "country" in exc.value.fields


def test_address_pages_add_edit_default_delete(client):
    user = UserFactory()
    client.force_login(user)
    data = {"full_name": "Ann", "line1": "1 Main St", "city": "Springfield", "country": "US", "postal_code": "12345"}
    assert client.post(reverse("accounts:address_create"), data).status_code == 302
    assert client.post(reverse("accounts:address_create"), {**data, "line1": "2 Side St"}).status_code == 302
    first, second = Address.objects.filter(user=user).order_by("id")
    body = client.get(reverse("accounts:addresses")).content.decode()
    assert "1 Main St" in body
    assert "2 Side St" in body
    response = client.post(reverse("accounts:address_edit", args=[second.id]), {**data, "line1": "2b Side St"})
    assert response.status_code == 302
    second.refresh_from_db()
    assert second.line1 == "2b Side St"
    client.post(reverse("accounts:address_set_default", args=[second.id]))
    assert defaults(user) == [second.id]
    client.post(reverse("accounts:address_delete", args=[first.id]))
    assert list(Address.objects.filter(user=user)) == [second]
    again = client.post(reverse("accounts:address_delete", args=[first.id]), follow=True)  # a double click
    assert again.status_code == 200
    assert "That address is not in your address book." in again.content.decode()


def test_address_form_errors_are_shown_not_500(client):
    client.force_login(UserFactory())
    response = client.post(reverse("accounts:address_create"), {"full_name": "", "country": "XX"})
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert {"full_name", "line1", "city", "country", "postal_code"} <= set(errors)  # checkout needs a postal code
    assert 'role="alert"' in response.content.decode()
    names = [str(name) for code, name in response.context["form"].fields["country"].choices if code]
    assert names == sorted(names)  # by name, as at checkout


def test_another_users_address_is_a_404_on_every_page(client):
    owner = UserFactory()
    address = add(owner)
    client.force_login(UserFactory())
    assert "1 Main St" not in client.get(reverse("accounts:addresses")).content.decode()
    assert client.get(reverse("accounts:address_edit", args=[address.id])).status_code == 404
    data = {"full_name": "Mallory", "line1": "x", "city": "x", "country": "US"}
    assert client.post(reverse("accounts:address_edit", args=[address.id]), data).status_code == 404
    assert client.post(reverse("accounts:address_set_default", args=[address.id])).status_code == 404
    removing = client.post(reverse("accounts:address_delete", args=[address.id]), follow=True)
    assert "That address is not in your address book." in removing.content.decode()  # as for a double click
    address.refresh_from_db()
    assert address.full_name == "Ann"


def test_delete_is_post_only(client):
    user = UserFactory()
    address = add(user)
    client.force_login(user)
    assert client.get(reverse("accounts:address_delete", args=[address.id])).status_code == 405
    assert Address.objects.filter(pk=address.pk).exists()


@pytest.mark.parametrize("count", [1, 8])
def test_address_list_query_count_is_constant(client, django_assert_max_num_queries, count):
    user = UserFactory()
    for n in range(count):
        add(user, line1=f"{n} Main St")
    client.force_login(user)
    with django_assert_max_num_queries(8):
        assert client.get(reverse("accounts:addresses")).status_code == 200


def test_an_address_book_holds_at_most_fifty_addresses_and_says_so(settings):
    from rest_framework.test import APIClient

    user = UserFactory()
    for n in range(services.MAX_ADDRESSES):
        add(user, line1=f"{n} Main St")
    with pytest.raises(ApplicationError, match="address book is full"):
        add(user)
    api = APIClient()
    api.force_authenticate(user)
    response = api.post("/api/v1/account/addresses/", {"full_name": "Ann", "line1": "1 Main St", "city": "X",
                                                       "postal_code": "12345", "country": "US"}, format="json")
    assert (response.status_code, response.json()["error"]["code"]) == (400, "address_book_full")
    Address.objects.filter(user=user).first().delete()
    add(user)  # room again once one is removed
    assert Address.objects.filter(user=user).count() == services.MAX_ADDRESSES
