"""Inbound shipments through the API: a seller's owners and managers plan, mark ready, print labels,
ship and void their own shipments; their staff only look; another seller's shipment is a 404;
platform staff see what their permissions allow; bad input is a 400 on the field (the row of a
list included), a move the state does not allow a 409, and nothing is stored twice."""

from __future__ import annotations

from datetime import timedelta

import pytest
from rest_framework.test import APIClient

from fulfillment import inbound
from fulfillment.models import InboundItem, InboundShipment, Warehouse
from tests.factories import OfferFactory, SellerFactory, WarehouseFactory, seller_member, staff_user, stock

pytestmark = pytest.mark.django_db

URL = "/api/v1/inbound-shipments/"
S = InboundShipment.Status
RECEIVER = ("fulfillment.receive_inbound", "fulfillment.view_inboundshipment")


@pytest.fixture
def world():
    WarehouseFactory(code="fc-abroad", name="Abroad", country="DE")
    centre = WarehouseFactory(code="fc-reno", name="Reno centre", country="US", city="Reno")
    seller = SellerFactory(name="Kettle Works", country="US")
    other = SellerFactory(name="Other Goods", country="US")
    return {
        "centre": centre, "seller": seller, "other": other,
        "kettle": OfferFactory(seller=seller, sku="KET-FBA"), "mug": OfferFactory(seller=seller, sku="MUG-FBA"),
        "shed": OfferFactory(seller=seller, sku="SHED-1", fulfillment_channel="merchant"),
        "their_offer": OfferFactory(seller=other, sku="OTHER-FBA"),
        "manager": seller_member(seller, role="manager"),
    }


def client_for(user) -> APIClient:
    api = APIClient()
    if user is not None:
        api.force_authenticate(user)
    return api


def plan(world, **changes) -> dict:
    body = {"name": "December restock", "box_count": 2,
            "items": [{"sku": "KET-FBA", "quantity": 10}, {"offer": world["mug"].pk, "quantity": 4}], **changes}
    response = client_for(world["manager"]).post(URL, body, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def test_plan_ready_labels_ship_and_see_what_was_received(world):
    api = client_for(world["manager"])
    body = plan(world)
    assert (body["seller"], body["status"], body["box_count"], body["destination"], body["units"]) == (
        world["seller"].slug, "draft", 2, None, 14)
    assert [(i["sku"], i["quantity"], i["received"], i["discrepancy"]) for i in body["items"]] == [
        ("KET-FBA", 10, 0, None), ("MUG-FBA", 4, 0, None)]
    shipment = InboundShipment.objects.get()
    assert sorted(shipment.items.values_list("offer__sku", "quantity")) == [("KET-FBA", 10), ("MUG-FBA", 4)]
    assert [row["id"] for row in api.get(URL).json()["results"]] == [shipment.pk]

    ready = api.post(f"{URL}{shipment.pk}/ready/")
    assert ready.status_code == 200, ready.json()
    assert (ready.json()["status"], ready.json()["destination"]["code"]) == ("ready", "fc-reno")

    labels = api.get(f"{URL}{shipment.pk}/labels.pdf", HTTP_ACCEPT="application/pdf")
    assert (labels.status_code, labels["Content-Type"]) == (200, "application/pdf")
    assert labels.content.startswith(b"%PDF")
    assert f"{shipment.code}-labels.pdf" in labels["Content-Disposition"]

    shipped = api.post(f"{URL}{shipment.pk}/ship/", {"carrier": "UPS", "tracking_number": "1Z9"}, format="json")
    assert shipped.status_code == 200, shipped.json()
    data = shipped.json()
    assert (data["status"], data["carrier"], data["tracking_number"]) == ("shipped", "UPS", "1Z9")
    assert data["void_until"] is not None

    # Bazaar receives (staff, in admin): the seller sees expected against received per item.
    receiver = staff_user(*RECEIVER)
    items = {item.offer.sku: item.pk for item in shipment.items.select_related("offer")}
    inbound.inbound_receive(shipment=shipment, counts={items["KET-FBA"]: 9, items["MUG-FBA"]: 5}, actor=receiver)
    inbound.inbound_close(shipment=shipment, actor=receiver)
    closed = api.get(f"{URL}{shipment.pk}/").json()
    assert closed["status"] == "closed"
    assert [(i["sku"], i["quantity"], i["received"], i["discrepancy"]) for i in closed["items"]] == [
        ("KET-FBA", 10, 9, -1), ("MUG-FBA", 4, 5, 1)]


def test_the_only_seller_is_implied_otherwise_named(world):
    both = seller_member(world["seller"], role="manager")
    from marketplace import services as marketplace_services
    from tests.commit import committed
    with committed():
        marketplace_services.seller_member_add(seller=world["other"], user=both, role="manager")
    api = client_for(both)
    body = {"items": [{"sku": "KET-FBA", "quantity": 1}]}
    response = api.post(URL, body, format="json")
    assert response.status_code == 400
    assert "seller" in response.json()["error"]["fields"]
    assert api.post(URL, {**body, "seller": "no-such-seller"}, format="json").status_code == 400
    response = api.post(URL, {**body, "seller": world["seller"].slug}, format="json")
    assert response.status_code == 201
    assert response.json()["name"].startswith("Shipment of ")
    outsider = client_for(world["manager"])
    response = outsider.post(URL, {**body, "seller": world["other"].slug}, format="json")
    assert response.status_code == 403
    assert InboundShipment.objects.count() == 1


def test_another_sellers_shipment_is_not_found_and_untouched(world):
    shipment = plan(world)["id"]
    stranger = client_for(seller_member(world["other"], role="owner"))
    assert stranger.get(URL).json()["results"] == []
    assert stranger.get(f"{URL}{shipment}/").status_code == 404
    assert stranger.get(f"{URL}{shipment}/labels.pdf").status_code == 404
    assert stranger.patch(f"{URL}{shipment}/", {"box_count": 9}, format="json").status_code == 404
    assert stranger.post(f"{URL}{shipment}/items/", {"sku": "KET-FBA", "quantity": 0}, format="json").status_code \
        == 404
    for action in ("ready", "ship", "void"):
        response = stranger.post(f"{URL}{shipment}/{action}/")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    row = InboundShipment.objects.get(pk=shipment)
    assert (row.status, row.box_count, row.items.count()) == (S.DRAFT, 2, 2)
    assert client_for(world["manager"]).get(f"{URL}{10**12}/").status_code == 404  # too big for an id: still 404


def test_a_sellers_staff_look_but_do_not_plan(world):
    shipment = plan(world)["id"]
    staff = client_for(seller_member(world["seller"], role="staff"))
    assert staff.get(f"{URL}{shipment}/").status_code == 200
    assert staff.post(URL, {"items": []}, format="json").status_code == 403
    assert staff.post(f"{URL}{shipment}/ready/").status_code == 403
    assert staff.post(f"{URL}{shipment}/void/").status_code == 403
    assert InboundShipment.objects.get(pk=shipment).status == S.DRAFT
    assert InboundShipment.objects.count() == 1


def test_platform_staff_by_their_permissions(world):
    shipment = plan(world)["id"]
    viewer = client_for(staff_user("fulfillment.view_inboundshipment"))
    assert [row["id"] for row in viewer.get(URL).json()["results"]] == [shipment]
    assert viewer.get(f"{URL}{shipment}/").status_code == 200
    body = {"seller": world["seller"].slug, "items": [{"sku": "KET-FBA", "quantity": 1}]}
    assert viewer.post(URL, body, format="json").status_code == 403
    assert viewer.post(f"{URL}{shipment}/ready/").status_code == 403
    nobody = client_for(staff_user())
    assert nobody.get(URL).json()["results"] == []
    assert nobody.get(f"{URL}{shipment}/").status_code == 404
    planner = client_for(staff_user("fulfillment.view_inboundshipment", "fulfillment.add_inboundshipment",
                                    "fulfillment.change_inboundshipment"))
    response = planner.post(URL, body, format="json")
    assert response.status_code == 201
    assert response.json()["seller"] == world["seller"].slug
    assert InboundShipment.objects.count() == 2


def test_signed_out_is_401(world):
    shipment = plan(world)["id"]
    anonymous = client_for(None)
    for response in (anonymous.get(URL), anonymous.post(URL, {}, format="json"), anonymous.get(f"{URL}{shipment}/"),
                     anonymous.post(f"{URL}{shipment}/ready/"), anonymous.get(f"{URL}{shipment}/labels.pdf")):
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "not_authenticated"
    assert InboundShipment.objects.get(pk=shipment).status == S.DRAFT


@pytest.mark.parametrize(("body", "field"), [
    ({"items": [{"sku": "NOPE", "quantity": 1}]}, "items[0].sku"),
    ({"items": [{"sku": "KET-FBA", "quantity": 1}, {"sku": "NOPE", "quantity": 1}]}, "items[1].sku"),
    ({"items": [{"sku": "KET-FBA", "quantity": 0}]}, "items[0].quantity"),
    ({"items": [{"sku": "KET-FBA", "quantity": -3}]}, "items[0].quantity"),
    ({"items": [{"sku": "KET-FBA", "quantity": 100_001}]}, "items[0].quantity"),
    ({"items": [{"sku": "KET-FBA", "quantity": 10**40}]}, "items[0].quantity"),
    ({"items": [{"sku": "KET-FBA", "quantity": "ten"}]}, "items[0].quantity"),
    ({"items": [{"sku": "KET-FBA", "quantity": 2.5}]}, "items[0].quantity"),
    ({"items": [{"sku": "KET-FBA", "quantity": True}]}, "items[0].quantity"),
    ({"items": [{"sku": "KET-FBA"}]}, "items[0].quantity"),
    ({"items": [{"quantity": 1}]}, "items[0]"),
    ({"items": [{"sku": "KET-FBA", "offer": 1, "quantity": 1}]}, "items[0]"),
    ({"items": [{"offer": 10**15, "quantity": 1}]}, "items[0].offer"),
    ({"items": [{"offer": "abc", "quantity": 1}]}, "items[0].offer"),
    ({"items": [{"sku": ["KET-FBA"], "quantity": 1}]}, "items[0].sku"),
    ({"items": [{"sku": "KET-FBA", "quantity": 1, "price": "1.00"}]}, "items[0].price"),
    ({"items": [{"sku": "KET-FBA", "quantity": 1}, {"sku": "KET-FBA", "quantity": 2}]}, "items[1]"),
    ({"items": {"sku": "KET-FBA", "quantity": 1}}, "items"),
    ({"items": ["KET-FBA"]}, "items[0]"),
    ({"items": "KET-FBA"}, "items"),
    ({"items": [{"sku": "KET-FBA", "quantity": 1}] * 201}, "items"),
    ({"box_count": 0}, "box_count"),
    ({"box_count": 201}, "box_count"),
    ({"box_count": "many"}, "box_count"),
    ({"name": "x" * 81}, "name"),
    ({"name": None}, "name"),
    ({"name": "Lamps\u0000"}, "name"),
    ({"items": [{"sku": "KET\u0000", "quantity": 1}]}, "items[0].sku"),
    ({"warehouse": "fc-reno"}, "warehouse"),
    ({"seller": 12}, "seller"),
])
def test_bad_input_is_400_on_the_field_and_stores_nothing(world, body, field):
    response = client_for(world["manager"]).post(URL, body, format="json")
    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert field in error["fields"], error
    assert all(isinstance(m, str) and m for m in error["fields"][field])
    assert not InboundShipment.objects.exists()


@pytest.mark.parametrize(("item", "message"), [
    ({"offer": "their_offer"}, "no offer with id"),  # another seller's offer, by id
    ({"sku": "OTHER-FBA"}, "no offer with SKU OTHER-FBA"),  # and by SKU
    ({"sku": "SHED-1"}, "SHED-1 is shipped by you"),  # not fulfilled by Bazaar
])
def test_offers_of_another_seller_or_not_at_bazaar_are_refused(world, item, message):
    if "offer" in item:
        item = {"offer": world[item["offer"]].pk}
    response = client_for(world["manager"]).post(URL, {"items": [{**item, "quantity": 1}]}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert message.lower() in (error["message"] + " ".join(sum(error["fields"].values(), []))).lower(), error
    assert not InboundShipment.objects.exists()


@pytest.mark.parametrize("raw", ["[]", '[{"sku": "KET-FBA"}]', '"plan"', "12", "null", "{", '{"items": [}'])
def test_a_body_that_is_not_an_object_is_400(world, raw):
    response = client_for(world["manager"]).post(URL, raw, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["message"]
    assert not InboundShipment.objects.exists()


def test_a_lone_surrogate_in_the_json_is_400(world):
    raw = '{"name": "\\ud800", "items": [{"sku": "\\udfff", "quantity": 1}]}'
    response = client_for(world["manager"]).post(URL, raw, content_type="application/json")
    assert response.status_code == 400
    assert {"name", "items[0].sku"} <= set(response.json()["error"]["fields"])
    assert not InboundShipment.objects.exists()


def test_form_encoding_is_415(world):
    response = client_for(world["manager"]).post(URL, {"name": "x"}, format="multipart")
    assert response.status_code == 415


def test_edit_a_draft_then_not_after_it_is_ready(world):
    api = client_for(world["manager"])
    shipment = plan(world)["id"]
    response = api.post(f"{URL}{shipment}/items/", {"sku": "KET-FBA", "quantity": 25}, format="json")
    assert response.status_code == 200
    assert [(i["sku"], i["quantity"]) for i in response.json()["items"]] == [("KET-FBA", 25), ("MUG-FBA", 4)]
    response = api.post(f"{URL}{shipment}/items/", {"offer": world["mug"].pk, "quantity": 0}, format="json")
    assert [i["sku"] for i in response.json()["items"]] == ["KET-FBA"]
    for body, field in (({"sku": "NOPE", "quantity": 1}, "sku"), ({"sku": "KET-FBA", "quantity": -1}, "quantity"),
                        ({"sku": "KET-FBA"}, "quantity")):
        response = api.post(f"{URL}{shipment}/items/", body, format="json")
        assert response.status_code == 400
        assert field in response.json()["error"]["fields"]
    response = api.patch(f"{URL}{shipment}/", {"name": "Renamed", "box_count": 5}, format="json")
    assert (response.status_code, response.json()["name"], response.json()["box_count"]) == (200, "Renamed", 5)
    assert api.patch(f"{URL}{shipment}/", {"box_count": 0}, format="json").status_code == 400
    assert api.post(f"{URL}{shipment}/ready/").status_code == 200
    response = api.post(f"{URL}{shipment}/items/", {"sku": "KET-FBA", "quantity": 1}, format="json")
    assert (response.status_code, response.json()["error"]["code"]) == (409, "inbound_state")
    assert list(InboundItem.objects.filter(shipment_id=shipment).values_list("quantity", flat=True)) == [25]


def test_each_move_happens_once_and_a_wrong_one_is_409(world):
    api = client_for(world["manager"])
    empty = plan(world, items=[])["id"]
    response = api.post(f"{URL}{empty}/ready/")
    assert (response.status_code, response.json()["error"]["code"]) == (400, "inbound_empty")
    shipment = plan(world)["id"]
    assert api.get(f"{URL}{shipment}/labels.pdf").status_code == 409  # a draft has no centre yet
    shipped = {"carrier": "UPS", "tracking_number": "1Z999AA10123456784"}
    response = api.post(f"{URL}{shipment}/ship/", shipped, format="json")
    assert (response.status_code, response.json()["error"]["code"]) == (409, "inbound_state")
    assert api.post(f"{URL}{shipment}/ready/").status_code == 200
    response = api.post(f"{URL}{shipment}/ready/")
    assert (response.status_code, response.json()["error"]["code"]) == (409, "inbound_state")
    response = api.post(f"{URL}{shipment}/ship/")  # ready, but which carrier, which tracking number?
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"carrier", "tracking_number"}
    assert api.post(f"{URL}{shipment}/ship/", shipped, format="json").status_code == 200
    assert api.post(f"{URL}{shipment}/ship/", shipped, format="json").status_code == 409
    assert api.post(f"{URL}{shipment}/void/").status_code == 200
    response = api.post(f"{URL}{shipment}/void/")
    assert (response.status_code, response.json()["error"]["code"]) == (409, "inbound_state")
    assert api.get(f"{URL}{shipment}/labels.pdf").status_code == 409  # cancelled
    assert InboundShipment.objects.count() == 2
    assert InboundItem.objects.filter(shipment_id=shipment).count() == 2


def test_a_shipment_shipped_more_than_24_hours_ago_cannot_be_voided(world):
    api = client_for(world["manager"])
    shipment = plan(world)["id"]
    api.post(f"{URL}{shipment}/ready/")
    api.post(f"{URL}{shipment}/ship/", {"carrier": "UPS", "tracking_number": "1Z9"}, format="json")
    shipped_at = InboundShipment.objects.get(pk=shipment).shipped_at - timedelta(hours=25)
    InboundShipment.objects.filter(pk=shipment).update(shipped_at=shipped_at)
    response = api.post(f"{URL}{shipment}/void/")
    assert (response.status_code, response.json()["error"]["code"]) == (409, "inbound_void_too_late")
    assert InboundShipment.objects.get(pk=shipment).status == S.SHIPPED


def test_ship_input_is_checked(world):
    api = client_for(world["manager"])
    shipment = plan(world)["id"]
    api.post(f"{URL}{shipment}/ready/")
    for body, field in (({"carrier": "x" * 61}, "carrier"), ({"tracking_number": ["1"]}, "tracking_number"),
                        ({"status": "closed"}, "status")):
        response = api.post(f"{URL}{shipment}/ship/", body, format="json")
        assert response.status_code == 400
        assert field in response.json()["error"]["fields"]
    assert InboundShipment.objects.get(pk=shipment).status == S.READY


def test_errors_of_the_labels_are_json_even_to_a_pdf_client(world):
    shipment = plan(world)["id"]
    response = client_for(world["manager"]).get(f"{URL}{shipment}/labels.pdf", HTTP_ACCEPT="application/pdf")
    assert (response.status_code, response["Content-Type"]) == (409, "application/json")
    assert "ready to ship" in response.json()["error"]["message"]


def test_sellers_have_no_receiving_endpoint(world):
    shipment = plan(world)["id"]
    api = client_for(world["manager"])
    assert api.post(f"{URL}{shipment}/ready/").status_code == 200
    assert api.post(f"{URL}{shipment}/receive/", {"counts": {}}, format="json").status_code == 404
    assert api.post(f"{URL}{shipment}/close/").status_code == 404


def test_list_and_detail_queries_do_not_grow_with_the_data(world, django_assert_max_num_queries):
    api = client_for(world["manager"])
    centre = Warehouse.objects.get(code="fc-reno")

    def make(n):
        for _ in range(n):
            offers = [OfferFactory(seller=world["seller"]) for _ in range(3)]
            inbound.inbound_create(seller=world["seller"], actor=world["manager"], name="x",
                                   items=[(offer, 2) for offer in offers])
        stock(world["kettle"], 1, centre)

    make(2)
    with django_assert_max_num_queries(8):
        assert len(api.get(URL).json()["results"]) == 2
    last = InboundShipment.objects.order_by("-pk").first().pk
    with django_assert_max_num_queries(8):
        api.get(f"{URL}{last}/")
    make(10)
    with django_assert_max_num_queries(8):
        assert len(api.get(URL).json()["results"]) == 12
    with django_assert_max_num_queries(8):
        api.get(f"{URL}{last}/")


@pytest.mark.django_db(transaction=True)
def test_ship_sent_twice_at_once_through_the_api_ships_once():
    from tests.concurrency import race

    WarehouseFactory(code="fc-race", country="US")
    seller = SellerFactory(country="US")
    manager = seller_member(seller, role="manager")
    shipment = inbound.inbound_create(seller=seller, actor=manager, name="Race",
                                      items=[(OfferFactory(seller=seller), 2)])
    inbound.inbound_ready(shipment=shipment, actor=manager)

    def ship(tracking):
        return client_for(manager).post(f"{URL}{shipment.pk}/ship/", {"carrier": "UPS", "tracking_number": tracking},
                                          format="json")

    results = race(ship, [("1Z-A",), ("1Z-B",)])
    assert sorted(r.status_code for r in results) == [200, 409]
    [winner] = [r.json()["tracking_number"] for r in results if r.status_code == 200]
    row = InboundShipment.objects.get(pk=shipment.pk)
    assert (row.status, row.tracking_number) == (S.SHIPPED, winner)


def test_the_same_idempotency_key_again_finds_the_shipment_it_planned(world):
    api = client_for(world["manager"])
    body = {"name": "Restock", "box_count": 2, "items": [{"sku": "KET-FBA", "quantity": 10}]}
    first = api.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="plan-1")
    assert first.status_code == 201, first.json()
    again = api.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="plan-1")  # a retry after a lost answer
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert InboundShipment.objects.count() == 1
    # the key with another plan is refused and plans nothing
    other = api.post(URL, {**body, "box_count": 3}, format="json", HTTP_IDEMPOTENCY_KEY="plan-1")
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    # another key (or none) is another shipment; keys are per seller
    assert api.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="plan-2").status_code == 201
    assert api.post(URL, body, format="json").status_code == 201
    assert InboundShipment.objects.count() == 3
    their = client_for(seller_member(world["other"], role="manager"))
    theirs = their.post(URL, {"name": "Restock", "box_count": 2, "items": [{"sku": "OTHER-FBA", "quantity": 1}]},
                        format="json", HTTP_IDEMPOTENCY_KEY="plan-1")
    assert theirs.status_code == 201
    assert theirs.json()["id"] != first.json()["id"]


@pytest.mark.parametrize("key", ["", " ", "k" * 81])
def test_an_idempotency_key_that_is_empty_or_too_long_is_400_and_plans_nothing(world, key):
    response = client_for(world["manager"]).post(
        URL, {"box_count": 1, "items": [{"sku": "KET-FBA", "quantity": 1}]}, format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["error"]["fields"]
    assert not InboundShipment.objects.exists()


def test_a_sellers_staff_with_a_key_are_refused_as_without_one(world):
    staff = seller_member(world["seller"], role="staff")
    response = client_for(staff).post(URL, {"box_count": 1, "items": [{"sku": "KET-FBA", "quantity": 1}]},
                                      format="json", HTTP_IDEMPOTENCY_KEY="plan-1")
    assert response.status_code == 403
    assert not InboundShipment.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_same_key_sent_twice_at_once_plans_one_shipment():
    from tests.concurrency import race

    seller = SellerFactory(country="US")
    manager = seller_member(seller, role="manager")
    OfferFactory(seller=seller, sku="RACE-FBA")
    body = {"name": "Race", "box_count": 1, "items": [{"sku": "RACE-FBA", "quantity": 2}]}

    def send():
        return client_for(manager).post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="same")

    results = race(send, [(), ()])
    assert sorted(r.status_code for r in results) == [200, 201]
    assert len({r.json()["id"] for r in results}) == 1
    assert InboundShipment.objects.count() == 1
    assert InboundItem.objects.count() == 1
