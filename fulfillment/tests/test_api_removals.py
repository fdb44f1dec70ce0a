"""Removal orders through the API: a seller's owners and managers ask their stock back from Bazaar
and may cancel while requested; their staff only look; another seller's removal is a 404; bad input
is a 400 on the field; cancelling twice is a 409 and changes nothing."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from fulfillment import removals
from fulfillment.models import RemovalOrder, StockItem
from tests.commit import committed
from tests.factories import OfferFactory, SellerFactory, WarehouseFactory, seller_member, staff_user, stock

pytestmark = pytest.mark.django_db

URL = "/api/v1/removal-orders/"


@pytest.fixture
def held():
    """8 units of a seller's offer in one Bazaar centre, 3 in another."""
    big, small = WarehouseFactory(code="fc-big", name="Big"), WarehouseFactory(code="fc-small", name="Small")
    seller, other = SellerFactory(), SellerFactory()
    offer = OfferFactory(seller=seller, sku="KET-FBA")
    stock(offer, 8, big)
    stock(offer, 3, small)
    their_offer = OfferFactory(seller=other, sku="THEIRS")
    stock(their_offer, 5, big)
    return {"seller": seller, "other": other, "offer": offer, "their_offer": their_offer, "big": big,
            "manager": seller_member(seller, role="manager"),
            "merchant": OfferFactory(seller=seller, sku="SHED-1", fulfillment_channel="merchant")}


def client_for(user) -> APIClient:
    api = APIClient()
    if user is not None:
        api.force_authenticate(user)
    return api


def test_ask_back_read_and_cancel_once(held):
    api = client_for(held["manager"])
    response = api.post(URL, {"sku": "KET-FBA", "quantity": 5}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["status"], body["quantity"], body["source"]["code"], body["sku"], body["fee_per_unit"]) == (
        "requested", 5, "fc-big", "KET-FBA", None)
    assert body["code"] == f"RM{body['id']:07d}"
    removal = RemovalOrder.objects.get()
    assert (removal.seller_id, removal.offer_id, removal.warehouse_id, removal.requested_by_id) == (
        held["seller"].pk, held["offer"].pk, held["big"].pk, held["manager"].pk)
    assert [row["id"] for row in api.get(URL).json()["results"]] == [removal.pk]
    assert api.get(f"{URL}{removal.pk}/").json()["quantity"] == 5
    response = api.post(f"{URL}{removal.pk}/cancel/")
    assert (response.status_code, response.json()["status"]) == (200, "cancelled")
    response = api.post(f"{URL}{removal.pk}/cancel/")
    assert (response.status_code, response.json()["error"]["code"]) == (409, "removal_state")
    assert RemovalOrder.objects.count() == 1
    assert StockItem.objects.get(offer=held["offer"], warehouse=held["big"]).on_hand == 8  # nothing left stock


def test_by_offer_id_and_the_fee_once_sent(held):
    api = client_for(held["manager"])
    response = api.post(URL, {"offer": held["offer"].pk, "quantity": 2}, format="json")
    assert response.status_code == 201
    removal = RemovalOrder.objects.get()
    with committed():
        removals.removal_complete(removal=removal, actor=staff_user("fulfillment.complete_removalorder"))
    body = api.get(f"{URL}{removal.pk}/").json()
    assert body["status"] == "completed"
    fee = RemovalOrder.objects.get().fee_per_unit
    assert fee is not None
    assert (body["fee_per_unit"], body["currency"]) == (str(fee), held["offer"].currency)
    response = api.post(f"{URL}{removal.pk}/cancel/")
    assert response.status_code == 409  # sent already


def test_another_sellers_removal_is_not_found(held):
    removal = client_for(held["manager"]).post(URL, {"sku": "KET-FBA", "quantity": 1}, format="json").json()["id"]
    stranger = client_for(seller_member(held["other"], role="owner"))
    assert stranger.get(URL).json()["results"] == []
    assert stranger.get(f"{URL}{removal}/").status_code == 404
    assert stranger.post(f"{URL}{removal}/cancel/").status_code == 404
    assert RemovalOrder.objects.get(pk=removal).status == "requested"
    # and their own offers are not ours to ask back, by SKU or by id
    for body, field in (({"sku": "THEIRS", "quantity": 1}, "sku"),
                        ({"offer": held["their_offer"].pk, "quantity": 1}, "offer")):
        response = client_for(held["manager"]).post(URL, body, format="json")
        assert response.status_code == 400
        assert field in response.json()["error"]["fields"]
    assert client_for(held["manager"]).post(URL, {"seller": held["other"].slug, "sku": "THEIRS", "quantity": 1},
                                            format="json").status_code == 403
    assert RemovalOrder.objects.count() == 1


def test_who_may(held):
    removal = client_for(held["manager"]).post(URL, {"sku": "KET-FBA", "quantity": 1}, format="json").json()["id"]
    staff = client_for(seller_member(held["seller"], role="staff"))
    assert staff.get(f"{URL}{removal}/").status_code == 200
    assert staff.post(URL, {"sku": "KET-FBA", "quantity": 1}, format="json").status_code == 403
    assert staff.post(f"{URL}{removal}/cancel/").status_code == 403
    viewer = client_for(staff_user("fulfillment.view_removalorder"))
    assert [row["id"] for row in viewer.get(URL).json()["results"]] == [removal]
    body = {"seller": held["seller"].slug, "sku": "KET-FBA", "quantity": 1}
    assert viewer.post(URL, body, format="json").status_code == 403
    assert viewer.post(f"{URL}{removal}/cancel/").status_code == 403
    assert client_for(staff_user()).get(f"{URL}{removal}/").status_code == 404
    anonymous = client_for(None)
    for response in (anonymous.get(URL), anonymous.post(URL, body, format="json"),
                     anonymous.get(f"{URL}{removal}/"), anonymous.post(f"{URL}{removal}/cancel/")):
        assert response.status_code == 401
    assert RemovalOrder.objects.get(pk=removal).status == "requested"
    assert RemovalOrder.objects.count() == 1


@pytest.mark.parametrize(("body", "field"), [
    ({"sku": "KET-FBA", "quantity": 9}, "quantity"),  # no centre has 9 available
    ({"sku": "KET-FBA", "quantity": 0}, "quantity"),
    ({"sku": "KET-FBA", "quantity": -1}, "quantity"),
    ({"sku": "KET-FBA", "quantity": 10**30}, "quantity"),
    ({"sku": "KET-FBA", "quantity": "all"}, "quantity"),
    ({"sku": "KET-FBA"}, "quantity"),
    ({"sku": "NOPE", "quantity": 1}, "sku"),
    ({"sku": "SHED-1", "quantity": 1}, "offer"),  # shipped by the seller: nothing at Bazaar
    ({"offer": 10**15, "quantity": 1}, "offer"),
    ({"quantity": 1}, "non_field_errors"),
    ({"sku": {"a": 1}, "quantity": 1}, "sku"),
    ({"sku": "KET-FBA", "quantity": 1, "warehouse": "fc-small"}, "warehouse"),
    ({"sku": "KET-FBA", "quantity": 1, "seller": "nobody"}, "seller"),
])
def test_bad_input_is_400(held, body, field):
    response = client_for(held["manager"]).post(URL, body, format="json")
    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert field in error["fields"] or (field == "non_field_errors" and error["message"]), error
    assert not RemovalOrder.objects.exists()


def test_list_queries_do_not_grow(held, django_assert_max_num_queries):
    api = client_for(held["manager"])
    api.post(URL, {"sku": "KET-FBA", "quantity": 1}, format="json")
    with django_assert_max_num_queries(6):
        assert len(api.get(URL).json()["results"]) == 1
    for _ in range(6):
        offer = OfferFactory(seller=held["seller"])
        stock(offer, 2, held["big"])
        api.post(URL, {"offer": offer.pk, "quantity": 1}, format="json")
    with django_assert_max_num_queries(6):
        assert len(api.get(URL).json()["results"]) == 7


def test_the_same_idempotency_key_again_finds_the_removal_it_made(held):
    api = client_for(held["manager"])
    body = {"sku": "KET-FBA", "quantity": 5}
    first = api.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="back-1")
    assert first.status_code == 201, first.json()
    again = api.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="back-1")  # a retry after a lost answer
    assert (again.status_code, again.json()["id"]) == (200, first.json()["id"])
    assert RemovalOrder.objects.count() == 1  # the units are not asked back twice
    other = api.post(URL, {**body, "quantity": 6}, format="json", HTTP_IDEMPOTENCY_KEY="back-1")
    assert (other.status_code, other.json()["error"]["code"]) == (422, "idempotency_key_reused")
    assert f"RM{first.json()['id']:07d}" in other.json()["error"]["message"]
    # by offer id it is the same request
    same = api.post(URL, {"offer": held["offer"].pk, "quantity": 5}, format="json", HTTP_IDEMPOTENCY_KEY="back-1")
    assert (same.status_code, same.json()["id"]) == (200, first.json()["id"])
    # another key, or none, is another removal order; keys are per seller
    assert api.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="back-2").status_code == 201
    assert api.post(URL, body, format="json").status_code == 201
    assert RemovalOrder.objects.filter(seller=held["seller"]).count() == 3
    their = client_for(seller_member(held["other"], role="manager"))
    theirs = their.post(URL, {"sku": "THEIRS", "quantity": 1}, format="json", HTTP_IDEMPOTENCY_KEY="back-1")
    assert theirs.status_code == 201
    assert RemovalOrder.objects.get(pk=theirs.json()["id"]).seller == held["other"]


@pytest.mark.parametrize("key", ["", " ", "k" * 81])
def test_an_idempotency_key_that_is_empty_or_too_long_is_400_and_asks_nothing_back(held, key):
    response = client_for(held["manager"]).post(URL, {"sku": "KET-FBA", "quantity": 1}, format="json",
                                                HTTP_IDEMPOTENCY_KEY=key)
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["error"]["fields"]
    assert not RemovalOrder.objects.exists()


def test_a_sellers_staff_with_a_key_are_refused_as_without_one(held):
    client_for(held["manager"]).post(URL, {"sku": "KET-FBA", "quantity": 1}, format="json",
                                     HTTP_IDEMPOTENCY_KEY="back-1")
    staff = client_for(seller_member(held["seller"], role="staff"))
    for body in ({"sku": "KET-FBA", "quantity": 1}, {"sku": "KET-FBA", "quantity": 2}):  # the same, and another
        response = staff.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="back-1")
        assert response.status_code == 403  # nothing said about the key or its removal order
    assert RemovalOrder.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_same_key_sent_twice_at_once_makes_one_removal_order():
    from tests.concurrency import race

    seller = SellerFactory()
    stock(OfferFactory(seller=seller, sku="RACE-FBA"), 4, WarehouseFactory(code="fc-race"))
    manager = seller_member(seller, role="manager")

    def send():
        return client_for(manager).post(URL, {"sku": "RACE-FBA", "quantity": 3}, format="json",
                                        HTTP_IDEMPOTENCY_KEY="same")

    results = race(send, [(), ()])
    assert sorted(r.status_code for r in results) == [200, 201]
    assert len({r.json()["id"] for r in results}) == 1
    assert RemovalOrder.objects.count() == 1
