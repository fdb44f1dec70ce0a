"""Fulfilment admin: stock changes only through the services (a ledger row each, buy box refreshed),
the ledger is read-only, and a seller's member sees only that seller's stock (invariant 7 in docs/architecture.md)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from fulfillment import services
from fulfillment.models import StockItem, StockMovement, Warehouse
from marketplace.models import BuyBox, Offer
from marketplace.roles import ROLE_GROUPS
from tests.commit import committed
from tests.factories import (
    OfferFactory,
    SellerFactory,
    WarehouseFactory,
    admin_form_data,
    seller_member,
    shipping_method,
    stock,
)

pytestmark = pytest.mark.django_db


def _url(model: str, view: str, *args) -> str:
    return reverse(f"admin:fulfillment_{model}_{view}", args=args)


@pytest.fixture
def su_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser(email="root@example.com", password="pw-1"))
    return client


@pytest.fixture
def member_client(client, world):
    client.force_login(seller_member(world["mine"], role="manager"))
    return client


def _adjust(client, item, **changes):
    page = client.get(_url("stockitem", "change", item.pk))
    assert page.status_code == 200
    return client.post(_url("stockitem", "change", item.pk), admin_form_data(page, **changes))


class TestPagesOpen:
    @pytest.mark.parametrize("model", ["warehouse", "shippingmethod", "stockitem", "stockmovement"])
    def test_changelist(self, su_client, world, model):
        shipping_method(channel="platform", price="3.00")
        assert su_client.get(_url(model, "changelist")).status_code == 200

    @pytest.mark.parametrize("model", ["warehouse", "shippingmethod", "stockitem"])
    def test_add_page(self, su_client, model):
        assert su_client.get(_url(model, "add")).status_code == 200

    def test_change_pages(self, su_client, world):
        method = shipping_method(channel="platform", price="3.00")
        movement = StockMovement.objects.filter(stock_item=world["their_stock"]).first()
        for model, obj in [
            ("warehouse", world["centre"]), ("shippingmethod", method), ("stockitem", world["my_stock"]),
            ("stockmovement", movement),
        ]:
            assert su_client.get(_url(model, "change", obj.pk)).status_code == 200, model

    def test_ledger_is_read_only(self, su_client, world):
        movement = StockMovement.objects.filter(stock_item=world["their_stock"]).first()
        assert su_client.get(_url("stockmovement", "add")).status_code == 403
        response = su_client.post(_url("stockmovement", "change", movement.pk), {"note": "edited"})
        assert response.status_code == 403
        assert su_client.post(_url("stockmovement", "delete", movement.pk), {"post": "yes"}).status_code == 403
        assert StockMovement.objects.get(pk=movement.pk).note == ""


class TestStockChanges:
    def test_on_hand_and_reserved_are_not_form_fields(self, su_client, world):
        page = su_client.get(_url("stockitem", "change", world["my_stock"].pk))
        form = page.context["adminform"].form
        assert "on_hand" not in form.fields
        assert "reserved" not in form.fields
        assert {"adjust_by", "note"} <= set(form.fields)

    def test_posting_on_hand_directly_changes_nothing(self, su_client, world):
        item = world["my_stock"]
        response = _adjust(su_client, item, on_hand="999", reserved="5")
        assert response.status_code == 302
        item.refresh_from_db()
        assert (item.on_hand, item.reserved) == (0, 0)
        assert not StockMovement.objects.filter(stock_item=item).exists()

    def test_adjust_writes_a_ledger_row_and_updates_the_buy_box(self, su_client, world):
        item, offer = world["my_stock"], world["my_offer"]
        assert BuyBox.objects.get(product=world["product"]).offer_id == world["their_offer"].pk
        with committed():
            response = _adjust(su_client, item, adjust_by="5", note="found in aisle 3")
        assert response.status_code == 302
        item.refresh_from_db()
        assert item.on_hand == 5
        movement = StockMovement.objects.get(stock_item=item)
        assert (movement.kind, movement.on_hand_delta, movement.on_hand_after) == ("adjust", 5, 5)
        assert movement.note == "found in aisle 3"
        assert movement.actor.email == "root@example.com"
        assert BuyBox.objects.get(product=world["product"]).offer_id == offer.pk  # 20.00 with stock wins

    def test_receive_writes_a_receive_row(self, su_client, world):
        item = world["my_stock"]
        assert _adjust(su_client, item, adjust_by="7", movement="receive").status_code == 302
        assert StockMovement.objects.get(stock_item=item).kind == StockMovement.Kind.RECEIVE
        item.refresh_from_db()
        assert item.on_hand == 7

    def test_negative_receive_is_a_form_error(self, su_client, world):
        response = _adjust(su_client, world["their_stock"], adjust_by="-1", movement="receive")
        assert response.status_code == 200
        assert "adjust_by" in response.context["adminform"].form.errors

    def test_adjust_below_reserved_is_a_form_error(self, su_client, world):
        item = world["their_stock"]
        services.stock_reserve(lines=[(world["their_offer"].pk, 3)], reference="order-1")
        rows = StockMovement.objects.count()
        response = _adjust(su_client, item, adjust_by="-2")
        assert response.status_code == 200
        assert "adjust_by" in response.context["adminform"].form.errors
        item.refresh_from_db()
        assert (item.on_hand, item.reserved) == (4, 3)
        assert StockMovement.objects.count() == rows
        assert _adjust(su_client, item, adjust_by="-1").status_code == 302  # down to the reserved 3 is fine
        item.refresh_from_db()
        assert item.on_hand == 3

    def test_race_past_the_form_check_is_a_message_not_a_500(self, su_client, world, monkeypatch):
        from core.exceptions import ApplicationError

        def refuse(**kwargs):
            raise ApplicationError("Too large a reduction.", fields={"delta": ["Too large a reduction."]})

        monkeypatch.setattr(services, "stock_adjust", refuse)
        item = world["their_stock"]
        response = _adjust(su_client, item, adjust_by="-1")
        assert response.status_code == 200  # the form again, with what was typed and the reason
        assert b"Too large a reduction." in response.content
        assert b'value="-1"' in response.content
        item.refresh_from_db()
        assert item.on_hand == 4

    def test_new_stock_item_goes_through_the_service(self, su_client, world):
        offer = OfferFactory(seller=world["mine"], sku="MINE-2")
        with committed():
            response = su_client.post(_url("stockitem", "add"), {
                "offer": offer.pk, "warehouse": world["centre"].pk, "quantity": "6", "note": "first delivery",
            })
        assert response.status_code == 302
        item = StockItem.objects.get(offer=offer)
        assert item.on_hand == 6
        assert StockMovement.objects.get(stock_item=item).kind == StockMovement.Kind.RECEIVE
        assert BuyBox.objects.get(product=offer.product).offer_id == offer.pk

    def test_warehouse_offer_mismatch_is_a_form_error(self, su_client, world):
        offer = OfferFactory(seller=world["mine"], sku="MINE-3")  # fulfilled by Bazaar
        response = su_client.post(_url("stockitem", "add"), {
            "offer": offer.pk, "warehouse": world["my_place"].pk, "quantity": "1",
        })
        assert response.status_code == 200
        assert "warehouse" in response.context["adminform"].form.errors
        assert not StockItem.objects.filter(offer=offer).exists()

    def test_closing_a_warehouse_refreshes_buy_boxes(self, su_client, world):
        with committed():
            services.stock_receive(stock_item=world["my_stock"], quantity=2)
        assert BuyBox.objects.get(product=world["product"]).offer_id == world["my_offer"].pk
        page = su_client.get(_url("warehouse", "change", world["centre"].pk))
        data = admin_form_data(page)
        data.pop("is_active")
        with committed():
            assert su_client.post(_url("warehouse", "change", world["centre"].pk), data).status_code == 302
        assert BuyBox.objects.get(product=world["product"]).offer_id == world["their_offer"].pk


class TestSellerIsolation:
    def test_role_groups_have_the_fulfilment_permissions(self, world):
        seller_member(world["mine"], role="manager")
        seller_member(world["mine"], role="staff")

        def granted(role):
            group = Group.objects.get(name=ROLE_GROUPS[role])
            return {p for p in group.permissions.values_list("content_type__app_label", "codename")
                    if p[0] in ("fulfillment", "catalog")}

        seen = {("fulfillment", "view_stockitem"), ("fulfillment", "view_stockmovement"),
                ("fulfillment", "view_warehouse"), ("catalog", "view_product"), ("fulfillment", "view_inventoryupload"),
                ("fulfillment", "view_sizetier"), ("fulfillment", "view_fulfilmentfeerate"),
                ("fulfillment", "view_inboundshipment"), ("fulfillment", "view_inbounditem"),
                ("fulfillment", "view_storagerate"), ("fulfillment", "view_storagecharge"),
                ("fulfillment", "view_removalorder")}
        assert granted("staff") == seen
        assert granted("manager") == seen | {
            ("fulfillment", "add_stockitem"), ("fulfillment", "change_stockitem"),
            ("fulfillment", "receive_stock"), ("fulfillment", "adjust_stock"), ("fulfillment", "add_inventoryupload"),
            ("fulfillment", "add_inboundshipment"), ("fulfillment", "change_inboundshipment"),
            ("fulfillment", "add_inbounditem"), ("fulfillment", "change_inbounditem"),
            ("fulfillment", "delete_inbounditem"), ("fulfillment", "add_removalorder"),
            ("fulfillment", "change_removalorder"),
        }

    def test_member_pages_open(self, member_client, world):
        services.stock_adjust(stock_item=world["my_stock"], delta=2)
        movement = StockMovement.objects.get(stock_item=world["my_stock"])
        for url in [
            _url("stockitem", "changelist"), _url("stockitem", "add"),
            _url("stockitem", "change", world["my_stock"].pk),
            _url("stockmovement", "changelist"), _url("stockmovement", "change", movement.pk),
            _url("warehouse", "changelist"), _url("warehouse", "change", world["my_place"].pk),
            _url("warehouse", "change", world["centre"].pk),
        ]:
            assert member_client.get(url).status_code == 200, url
        assert member_client.get(_url("warehouse", "add")).status_code == 403
        assert member_client.get(_url("shippingmethod", "changelist")).status_code == 403

    def test_member_sees_only_own_stock_and_ledger(self, member_client, world):
        response = member_client.get(_url("stockitem", "changelist"))
        assert response.status_code == 200
        assert list(response.context["cl"].result_list) == [world["my_stock"]]
        assert b"Theirs" not in response.content
        response = member_client.get(_url("stockmovement", "changelist"))
        assert response.status_code == 200
        assert all(m.stock_item_id == world["my_stock"].pk for m in response.context["cl"].result_list)
        assert response.context["cl"].result_count == 0  # only the other seller's stock has moved

    def test_member_sees_own_and_bazaar_warehouses(self, member_client, world):
        response = member_client.get(_url("warehouse", "changelist"))
        assert response.status_code == 200
        assert set(response.context["cl"].result_list) == {world["centre"], world["my_place"]}
        assert member_client.get(_url("warehouse", "change", world["their_place"].pk)).status_code == 302

    def test_other_sellers_stock_cannot_be_opened_or_adjusted(self, member_client, world):
        item = world["their_stock"]
        url = _url("stockitem", "change", item.pk)
        assert member_client.get(url).status_code in (302, 403, 404)
        response = member_client.post(url, {"movement": "adjust", "adjust_by": "-4", "note": "gone"})
        assert response.status_code in (302, 403, 404)
        item.refresh_from_db()
        assert item.on_hand == 4
        assert not StockMovement.objects.filter(note="gone").exists()
        movement = StockMovement.objects.filter(stock_item=item).first()
        assert member_client.get(_url("stockmovement", "change", movement.pk)).status_code in (302, 403, 404)

    def test_member_adjusts_own_stock(self, member_client, shed_stock):
        response = _adjust(member_client, shed_stock, adjust_by="3")
        assert response.status_code == 302
        assert StockMovement.objects.get(stock_item=shed_stock).on_hand_delta == 3

    def test_member_cannot_stock_another_sellers_offer(self, member_client, world):
        page = member_client.get(_url("stockitem", "add"))
        assert page.status_code == 200
        form = page.context["adminform"].form
        assert set(form.fields["warehouse"].queryset) == {world["my_place"]}  # Bazaar's centres are not a choice
        response = member_client.post(_url("stockitem", "add"), {
            "offer": world["their_offer"].pk, "warehouse": world["their_place"].pk, "quantity": "100",
        })
        assert response.status_code == 200
        errors = response.context["adminform"].form.errors
        assert "offer" in errors
        assert "warehouse" in errors
        assert StockItem.objects.get(pk=world["their_stock"].pk).on_hand == 4


def _stock_rows(n: int) -> None:
    seller = SellerFactory()
    place = WarehouseFactory(kind=Warehouse.Kind.SELLER, seller=seller)
    for _i in range(n):
        offer = OfferFactory(seller=seller, fulfillment_channel=Offer.Channel.MERCHANT)
        item = stock(offer, 5, place)
        services.stock_adjust(stock_item=item, delta=-1, note="damaged")


@pytest.mark.parametrize("model", ["warehouse", "shippingmethod", "stockitem", "stockmovement"])
def test_changelists_query_count_does_not_grow_with_rows(su_client, django_assert_max_num_queries, model):
    url = _url(model, "changelist")
    su_client.get(url)

    def grow(n):
        _stock_rows(n)
        for _i in range(n):
            seller = SellerFactory()
            shipping_method(channel="merchant", price="4.00", seller=seller)
            WarehouseFactory(kind=Warehouse.Kind.SELLER, seller=seller)

    grow(2)
    with django_assert_max_num_queries(15) as small:
        assert su_client.get(url).status_code == 200
    grow(10)
    with django_assert_max_num_queries(len(small.captured_queries)):
        response = su_client.get(url)
    assert response.context["cl"].result_count >= 12


@pytest.mark.parametrize("model", ["stockitem", "stockmovement", "warehouse"])
def test_member_changelists_query_count(client, django_assert_max_num_queries, model):
    seller = SellerFactory()
    client.force_login(seller_member(seller))
    place = WarehouseFactory(kind=Warehouse.Kind.SELLER, seller=seller)
    url = _url(model, "changelist")
    client.get(url)

    def grow(n):
        for _i in range(n):
            stock(OfferFactory(seller=seller, fulfillment_channel=Offer.Channel.MERCHANT), 2, place)
            WarehouseFactory(kind=Warehouse.Kind.SELLER, seller=seller)

    grow(2)
    with django_assert_max_num_queries(15) as small:
        assert client.get(url).status_code == 200
    grow(10)
    with django_assert_max_num_queries(len(small.captured_queries)):
        assert client.get(url).context["cl"].result_count >= 12
