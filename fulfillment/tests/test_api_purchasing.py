"""Purchase orders and reorder suggestions through the API: platform staff only, by their purchasing
permissions; a seller's members get a 403 whatever their role; a view-only buyer lists but does not
draft; bad input is a 400 on the field (the line included); a move made twice is a 409."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from fulfillment import services as fulfillment_services
from fulfillment.models import PurchaseOrder, PurchaseOrderLine, Supplier, SupplierOffer, Warehouse
from tests.factories import OfferFactory, SellerFactory, WarehouseFactory, house_seller, seller_member, staff_user
from tests.factories import stock as put_stock

pytestmark = pytest.mark.django_db

URL, SUGGESTIONS = "/api/v1/purchase-orders/", "/api/v1/reorder-suggestions/"
BUYER = ("fulfillment.add_purchaseorder", "fulfillment.change_purchaseorder", "fulfillment.view_purchaseorder")


@pytest.fixture
def shop():
    centre = WarehouseFactory(code="fc-main", name="Main centre")
    supplier = Supplier.objects.create(name="Acme Wholesale", lead_time_days=10)
    kettle = OfferFactory(seller=house_seller(), sku="H-KETTLE")
    toaster = OfferFactory(seller=house_seller(), sku="H-TOASTER")
    SupplierOffer.objects.create(supplier=supplier, offer=kettle, unit_cost=D("11.50"))
    seller = SellerFactory()
    return {"centre": centre, "supplier": supplier, "kettle": kettle, "toaster": toaster, "seller": seller,
            "seller_offer": OfferFactory(seller=seller, sku="S-KETTLE"), "buyer": staff_user(*BUYER)}


def client_for(user) -> APIClient:
    api = APIClient()
    if user is not None:
        api.force_authenticate(user)
    return api


def draft(shop, **changes) -> dict:
    body = {"supplier": shop["supplier"].pk, "warehouse": "fc-main",
            "lines": [{"sku": "H-KETTLE", "quantity": 40, "unit_cost": "11.50"},
                      {"offer": shop["toaster"].pk, "quantity": 10, "unit_cost": "20"}], **changes}
    response = client_for(shop["buyer"]).post(URL, body, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def test_draft_order_and_cancel_each_once(shop):
    api = client_for(shop["buyer"])
    body = draft(shop)
    assert (body["status"], body["supplier"]["name"], body["warehouse"]["code"], body["units"]) == (
        "draft", "Acme Wholesale", "fc-main", 50)
    assert [(line["sku"], line["quantity"], line["unit_cost"]) for line in body["lines"]] == [
        ("H-KETTLE", 40, "11.50"), ("H-TOASTER", 10, "20.00")]
    order = PurchaseOrder.objects.get()
    assert sorted(order.lines.values_list("offer__sku", "quantity", "unit_cost")) == [
        ("H-KETTLE", 40, D("11.50")), ("H-TOASTER", 10, D("20.00"))]
    assert [row["id"] for row in api.get(URL).json()["results"]] == [order.pk]
    response = api.post(f"{URL}{order.pk}/order/")
    assert response.status_code == 200, response.json()
    assert (response.json()["status"], response.json()["expected_on"]) == (
        "ordered", str(timezone.localdate() + timezone.timedelta(days=10)))
    response = api.post(f"{URL}{order.pk}/order/")
    assert (response.status_code, response.json()["error"]["code"]) == (409, "po_state")
    assert api.post(f"{URL}{order.pk}/cancel/").json()["status"] == "cancelled"
    assert api.post(f"{URL}{order.pk}/cancel/").status_code == 409
    assert PurchaseOrder.objects.count() == 1
    assert PurchaseOrderLine.objects.count() == 2


def test_sellers_members_are_refused_whatever_their_role(shop):
    order = draft(shop)["id"]
    for role in ("owner", "manager", "staff"):
        member = client_for(seller_member(shop["seller"], role=role))
        for response in (member.get(URL), member.get(f"{URL}{order}/"), member.get(SUGGESTIONS),
                         member.post(URL, {"supplier": shop["supplier"].pk, "warehouse": "fc-main",
                                           "lines": [{"sku": "H-KETTLE", "quantity": 1, "unit_cost": "1"}]},
                                     format="json"),
                         member.post(f"{URL}{order}/order/"), member.post(f"{URL}{order}/cancel/")):
            assert response.status_code == 403
            assert response.json()["error"]["code"] == "permission_denied"
    assert PurchaseOrder.objects.get().status == "draft"
    assert PurchaseOrder.objects.count() == 1


def test_a_view_only_buyer_lists_but_does_not_draft_or_order(shop):
    order = draft(shop)["id"]
    viewer = client_for(staff_user("fulfillment.view_purchaseorder"))
    assert [row["id"] for row in viewer.get(URL).json()["results"]] == [order]
    assert viewer.get(f"{URL}{order}/").status_code == 200
    body = {"supplier": shop["supplier"].pk, "warehouse": "fc-main",
            "lines": [{"sku": "H-KETTLE", "quantity": 1, "unit_cost": "1"}]}
    assert viewer.post(URL, body, format="json").status_code == 403
    assert viewer.post(f"{URL}{order}/order/").status_code == 403
    assert viewer.post(f"{URL}{order}/cancel/").status_code == 403
    assert viewer.get(SUGGESTIONS).status_code == 403
    # add without change: the service refuses the draft (as in admin)
    assert client_for(staff_user("fulfillment.add_purchaseorder")).post(URL, body, format="json").status_code == 403
    assert client_for(staff_user()).get(URL).status_code == 403
    anonymous = client_for(None)
    assert [anonymous.get(URL).status_code, anonymous.post(URL, body, format="json").status_code,
            anonymous.get(SUGGESTIONS).status_code] == [401, 401, 401]
    assert PurchaseOrder.objects.count() == 1
    assert client_for(shop["buyer"]).get(f"{URL}{10**12}/").status_code == 404


@pytest.mark.parametrize(("changes", "field"), [
    ({"supplier": 999_999}, "supplier"),
    ({"supplier": 10**20}, "supplier"),
    ({"supplier": "acme"}, "supplier"),
    ({"warehouse": "nowhere"}, "warehouse"),
    ({"warehouse": "seller-home"}, "warehouse"),  # a seller's location, not a Bazaar centre
    ({"lines": []}, "lines"),
    ({"lines": {"sku": "H-KETTLE"}}, "lines"),
    ({"lines": [{"sku": "S-KETTLE", "quantity": 1, "unit_cost": "1"}]}, "lines[0].sku"),  # a seller's offer
    ({"lines": [{"sku": "H-KETTLE", "quantity": 0, "unit_cost": "1"}]}, "lines[0].quantity"),
    ({"lines": [{"sku": "H-KETTLE", "quantity": 1_000_001, "unit_cost": "1"}]}, "lines[0].quantity"),
    ({"lines": [{"sku": "H-KETTLE", "quantity": "many", "unit_cost": "1"}]}, "lines[0].quantity"),
    ({"lines": [{"sku": "H-KETTLE", "quantity": 1, "unit_cost": "-1"}]}, "lines[0].unit_cost"),
    ({"lines": [{"sku": "H-KETTLE", "quantity": 1, "unit_cost": "0"}]}, "lines[0].unit_cost"),
    ({"lines": [{"sku": "H-KETTLE", "quantity": 1, "unit_cost": "1.001"}]}, "lines[0].unit_cost"),
    ({"lines": [{"sku": "H-KETTLE", "quantity": 1, "unit_cost": "1e400"}]}, "lines[0].unit_cost"),
    ({"lines": [{"sku": "H-KETTLE", "quantity": 1, "unit_cost": "99999999999"}]}, "lines[0].unit_cost"),
    ({"lines": [{"sku": "H-KETTLE", "quantity": 1}]}, "lines[0].unit_cost"),
    ({"lines": [{"sku": "H-KETTLE", "quantity": 1, "unit_cost": "1"},
                {"sku": "H-KETTLE", "quantity": 2, "unit_cost": "1"}]}, "lines[1]"),
    ({"status": "ordered"}, "status"),
])
def test_bad_input_is_400_on_the_field(shop, changes, field):
    WarehouseFactory(code="seller-home", kind=Warehouse.Kind.SELLER, seller=shop["seller"])
    body = {"supplier": shop["supplier"].pk, "warehouse": "fc-main",
            "lines": [{"sku": "H-KETTLE", "quantity": 1, "unit_cost": "1"}], **changes}
    response = client_for(shop["buyer"]).post(URL, body, format="json")
    assert response.status_code == 400, response.json()
    assert field in response.json()["error"]["fields"], response.json()
    assert not PurchaseOrder.objects.exists()


def test_an_inactive_supplier_is_refused(shop):
    Supplier.objects.filter(pk=shop["supplier"].pk).update(is_active=False)
    body = {"supplier": shop["supplier"].pk, "warehouse": "fc-main",
            "lines": [{"sku": "H-KETTLE", "quantity": 1, "unit_cost": "1"}]}
    response = client_for(shop["buyer"]).post(URL, body, format="json")
    assert (response.status_code, response.json()["error"]["fields"].get("supplier")) == (400, ["Inactive."])


def test_reorder_suggestions_for_buyers(shop):
    put_stock(shop["kettle"], 56, shop["centre"])
    reservations = fulfillment_services.stock_reserve(lines=[(shop["kettle"].pk, 56)], reference="sold")
    fulfillment_services.stock_ship(reservations=reservations, reference="sold")  # 2 a day over 28 days
    put_stock(shop["kettle"], 20, shop["centre"])
    response = client_for(shop["buyer"]).get(SUGGESTIONS)
    assert response.status_code == 200
    [row] = response.json()["results"]
    assert (row["sku"], row["supplier_name"], row["daily_sales"], row["available"], row["reorder_point"],
            row["quantity"], row["unit_cost"]) == ("H-KETTLE", "Acme Wholesale", "2.00", 20, 34, 70, "11.50")


def test_list_queries_do_not_grow(shop, django_assert_max_num_queries):
    api = client_for(shop["buyer"])
    draft(shop)
    with django_assert_max_num_queries(6):
        assert len(api.get(URL).json()["results"]) == 1
    for _ in range(6):
        draft(shop)
    with django_assert_max_num_queries(6):
        assert len(api.get(URL).json()["results"]) == 7
    last = PurchaseOrder.objects.order_by("-pk").first().pk
    with django_assert_max_num_queries(6):
        api.get(f"{URL}{last}/")


def test_the_same_idempotency_key_again_finds_the_draft_it_made(shop):
    api = client_for(shop["buyer"])
    body = {"supplier": shop["supplier"].pk, "warehouse": "fc-main",
            "lines": [{"sku": "H-KETTLE", "quantity": 40, "unit_cost": "11.50"},
                      {"offer": shop["toaster"].pk, "quantity": 10, "unit_cost": "20"}]}
    first = api.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="po-1")
    assert first.status_code == 201, first.json()
    # a retry after a lost answer, its lines in another order and its amounts written otherwise
    retry = {**body, "lines": [{"sku": "H-TOASTER", "quantity": 10, "unit_cost": "20.00"},
                               {"offer": shop["kettle"].pk, "quantity": 40, "unit_cost": "11.5"}]}
    again = api.post(URL, retry, format="json", HTTP_IDEMPOTENCY_KEY="po-1")
    assert (again.status_code, again.json()["id"]) == (200, first.json()["id"])
    assert PurchaseOrder.objects.count() == 1
    assert PurchaseOrderLine.objects.count() == 2  # nothing bought twice
    changed = {**body, "lines": [{"sku": "H-KETTLE", "quantity": 41, "unit_cost": "11.50"}]}
    other = api.post(URL, changed, format="json", HTTP_IDEMPOTENCY_KEY="po-1")
    assert (other.status_code, other.json()["error"]["code"]) == (422, "idempotency_key_reused")
    assert PurchaseOrder.objects.count() == 1
    # keys are per user: another buyer's same key drafts their own
    colleague = client_for(staff_user(*BUYER))
    theirs = colleague.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="po-1")
    assert theirs.status_code == 201
    assert theirs.json()["id"] != first.json()["id"]
    assert api.post(URL, body, format="json").status_code == 201  # no key: a new draft each time
    assert PurchaseOrder.objects.count() == 3


ONE_LINE = {"sku": "H-KETTLE", "quantity": 1, "unit_cost": "11.50"}


@pytest.mark.parametrize("key", ["", "k" * 81])
def test_an_idempotency_key_that_is_empty_or_too_long_is_400_and_drafts_nothing(shop, key):
    body = {"supplier": shop["supplier"].pk, "warehouse": "fc-main", "lines": [ONE_LINE]}
    response = client_for(shop["buyer"]).post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["error"]["fields"]
    assert not PurchaseOrder.objects.exists()


def test_a_view_only_buyer_with_a_key_is_refused_as_without_one(shop):
    body = {"supplier": shop["supplier"].pk, "warehouse": "fc-main", "lines": [ONE_LINE]}
    assert client_for(shop["buyer"]).post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="po-1").status_code == 201
    viewer = client_for(staff_user("fulfillment.view_purchaseorder"))
    response = viewer.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="po-1")
    assert response.status_code == 403
    assert PurchaseOrder.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_same_key_sent_twice_at_once_drafts_one_order():
    from tests.concurrency import race

    WarehouseFactory(code="fc-race")
    supplier = Supplier.objects.create(name="Race Wholesale", lead_time_days=3)
    OfferFactory(seller=house_seller(), sku="H-RACE")
    buyer = staff_user(*BUYER)
    body = {"supplier": supplier.pk, "warehouse": "fc-race", "lines": [{"sku": "H-RACE", "quantity": 5,
                                                                       "unit_cost": "2.00"}]}

    def send():
        return client_for(buyer).post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="same")

    results = race(send, [(), ()])
    assert sorted(r.status_code for r in results) == [200, 201]
    assert len({r.json()["id"] for r in results}) == 1
    assert PurchaseOrder.objects.count() == 1
    assert PurchaseOrderLine.objects.count() == 1
