"""Least privilege for stock: recording received units needs ``fulfillment.receive_stock``, a
correction ``fulfillment.adjust_stock`` (view-only or plain "change" staff can do neither, even with
a forged POST), and a seller's members never receive, correct or ship stock in Bazaar's fulfilment
centres, in admin or through the services (invariant 7 in docs/architecture.md)."""

from __future__ import annotations

import pytest

from core.exceptions import PermissionDenied
from fulfillment import services
from fulfillment.models import StockItem, StockMovement
from fulfillment.tests.test_admin import _adjust, _url
from tests.factories import OfferFactory, admin_form_data, seller_member, staff_user

pytestmark = pytest.mark.django_db

STOCK = ("fulfillment.view_stockitem", "fulfillment.change_stockitem")


def _state(item: StockItem) -> tuple[int, int, int]:
    item.refresh_from_db()
    return item.on_hand, item.reserved, StockMovement.objects.filter(stock_item=item).count()


# --- platform staff: one permission per kind of change ----------------------------------------------


def test_view_only_staff_cannot_change_stock(client, world):
    item = world["their_stock"]
    client.force_login(staff_user("fulfillment.view_stockitem"))
    url = _url("stockitem", "change", item.pk)
    page = client.get(url)
    assert page.status_code == 200
    assert page.context["has_change_permission"] is False
    before = _state(item)
    for movement in ("adjust", "receive"):
        response = client.post(url, {"movement": movement, "adjust_by": "50", "note": "forged"})
        assert response.status_code == 403
    assert _state(item) == before
    assert client.get(_url("stockitem", "add")).status_code == 403


@pytest.mark.parametrize("movement", ["adjust", "receive"])
def test_change_stockitem_alone_neither_receives_nor_corrects(client, world, movement):
    item = world["their_stock"]
    client.force_login(staff_user(*STOCK))
    page = client.get(_url("stockitem", "change", item.pk))
    assert page.status_code == 200
    assert "adjust_by" not in page.context["adminform"].fieldsets[0][1]["fields"]  # nothing to change
    assert page.context["adminform"].form.fields["movement"].choices == []
    before = _state(item)

    response = client.post(_url("stockitem", "change", item.pk),
                           {"movement": movement, "adjust_by": "50", "note": "forged"})

    assert response.status_code == 200  # the form, with its error
    assert response.context["adminform"].form.errors
    assert _state(item) == before


@pytest.mark.parametrize(("held", "allowed", "refused"), [
    ("fulfillment.adjust_stock", "adjust", "receive"),
    ("fulfillment.receive_stock", "receive", "adjust"),
])
def test_each_kind_of_stock_change_needs_its_own_permission(client, world, held, allowed, refused):
    item = world["their_stock"]
    client.force_login(staff_user(*STOCK, held))
    page = client.get(_url("stockitem", "change", item.pk))
    assert [value for value, _label in page.context["adminform"].form.fields["movement"].choices] == [allowed]

    before = _state(item)
    response = client.post(_url("stockitem", "change", item.pk), admin_form_data(page, movement=refused,
                                                                                 adjust_by="3"))
    assert response.status_code == 200
    assert _state(item) == before

    assert _adjust(client, item, movement=allowed, adjust_by="3").status_code == 302
    on_hand, _reserved, rows = _state(item)
    assert (on_hand, rows) == (before[0] + 3, before[2] + 1)
    assert StockMovement.objects.filter(stock_item=item).order_by("-pk").first().kind == allowed


def test_adding_a_stock_row_with_units_needs_receive_stock(client, world):
    offer = OfferFactory(seller=world["mine"], sku="MINE-NEW")
    client.force_login(staff_user("fulfillment.view_stockitem", "fulfillment.add_stockitem"))
    page = client.get(_url("stockitem", "add"))
    assert "quantity" not in page.context["adminform"].fieldsets[0][1]["fields"]
    response = client.post(_url("stockitem", "add"), {
        "offer": offer.pk, "warehouse": world["centre"].pk, "quantity": "40", "note": "forged",
    })
    assert response.status_code == 200
    assert "quantity" in response.context["adminform"].form.errors
    assert not StockItem.objects.filter(offer=offer).exists()

    client.force_login(staff_user("fulfillment.view_stockitem", "fulfillment.add_stockitem",
                                  "fulfillment.receive_stock"))
    response = client.post(_url("stockitem", "add"), {
        "offer": offer.pk, "warehouse": world["centre"].pk, "quantity": "40", "note": "delivery",
    })
    assert response.status_code == 302
    assert StockItem.objects.get(offer=offer).on_hand == 40


# --- sellers and Bazaar's centres --------------------------------------------------------------------


@pytest.fixture
def manager(world):
    return seller_member(world["mine"], role="manager")


class TestSellersStayOutOfBazaarCentres:
    def test_admin_shows_centre_stock_read_only_and_refuses_a_post(self, client, world, manager):
        item = world["my_stock"]  # the seller's own offer, in Bazaar's centre
        client.force_login(manager)
        url = _url("stockitem", "change", item.pk)
        page = client.get(url)
        assert page.status_code == 200
        assert page.context["has_change_permission"] is False
        before = _state(item)
        for movement in ("receive", "adjust"):
            assert client.post(url, {"movement": movement, "adjust_by": "9", "note": "x"}).status_code == 403
        assert _state(item) == before

    def test_admin_add_refuses_a_centre_as_warehouse(self, client, world, manager):
        offer = OfferFactory(seller=world["mine"], sku="MINE-FBA")  # fulfilled by Bazaar (set by Bazaar)
        client.force_login(manager)
        response = client.post(_url("stockitem", "add"), {
            "offer": offer.pk, "warehouse": world["centre"].pk, "quantity": "5",
        })
        assert response.status_code == 200
        assert "warehouse" in response.context["adminform"].form.errors
        assert not StockItem.objects.filter(offer=offer).exists()

    def test_services_refuse_a_member_in_a_centre(self, world, manager):
        item = world["my_stock"]
        before = _state(item)
        with pytest.raises(PermissionDenied, match="Bazaar fulfilment centre") as caught:
            services.stock_receive(stock_item=item, quantity=5, actor=manager)
        assert caught.value.code == "platform_warehouse"
        with pytest.raises(PermissionDenied, match="Bazaar fulfilment centre"):
            services.stock_adjust(stock_item=item, delta=5, actor=manager)
        with pytest.raises(PermissionDenied, match="Bazaar fulfilment centre"):
            services.stock_set_on_hand(stock_item=item, on_hand=9, actor=manager)
        offer = OfferFactory(seller=world["mine"], sku="MINE-FBA-2")
        with pytest.raises(PermissionDenied):
            services.stock_item_ensure(offer=offer, warehouse=world["centre"], actor=manager)
        assert not StockItem.objects.filter(offer=offer).exists()
        assert _state(item) == before

    def test_platform_staff_and_the_system_receive_in_a_centre(self, world):
        item = world["my_stock"]
        services.stock_receive(stock_item=item, quantity=2, actor=staff_user(*STOCK, "fulfillment.receive_stock"))
        services.stock_receive(stock_item=item, quantity=1)
        assert _state(item)[0] == 3

    def test_a_member_ships_nothing_out_of_a_centre(self, world, manager):
        item = world["my_stock"]
        services.stock_receive(stock_item=item, quantity=4)
        [held] = services.stock_reserve(lines=[(world["my_offer"].pk, 2)], reference="order-1")
        before = _state(item)
        with pytest.raises(PermissionDenied, match="Bazaar fulfilment centre"):
            services.stock_ship(reservations=[held], reference="ship:order-1", actor=manager)
        assert _state(item) == before

    def test_a_manager_receives_in_their_own_place(self, world, manager, shed_stock):
        services.stock_receive(stock_item=shed_stock, quantity=6, actor=manager)
        services.stock_adjust(stock_item=shed_stock, delta=-1, actor=manager)
        assert _state(shed_stock)[:2] == (5, 0)


class TestRoles:
    def test_staff_see_stock_but_do_not_change_it(self, client, world, shed_stock):
        staff = seller_member(world["mine"], role="staff")
        client.force_login(staff)
        assert client.get(_url("stockitem", "changelist")).status_code == 200
        url = _url("stockitem", "change", shed_stock.pk)
        assert client.get(url).context["has_change_permission"] is False
        assert client.post(url, {"movement": "receive", "adjust_by": "9"}).status_code == 403
        assert client.get(_url("stockitem", "add")).status_code == 403
        with pytest.raises(PermissionDenied, match="role"):
            services.stock_receive(stock_item=shed_stock, quantity=9, actor=staff)
        assert _state(shed_stock) == (0, 0, 0)

    def test_staff_at_one_seller_and_manager_at_another_changes_stock_at_the_second_only(self, world, shed_stock):
        user = seller_member(world["theirs"], role="manager")
        from marketplace import services as marketplace_services

        marketplace_services.seller_member_add(seller=world["mine"], user=user, role="staff")
        services.stock_receive(stock_item=world["their_stock"], quantity=1, actor=user)
        with pytest.raises(PermissionDenied, match="role"):
            services.stock_receive(stock_item=shed_stock, quantity=1, actor=user)
        assert _state(shed_stock)[0] == 0
        assert _state(world["their_stock"])[0] == 5

    def test_role_change_applies_at_the_next_request(self, client, world, shed_stock):
        from marketplace import services as marketplace_services
        from marketplace.models import SellerMember

        user = seller_member(world["mine"], role="staff")
        client.force_login(user)
        url = _url("stockitem", "change", shed_stock.pk)
        assert client.post(url, {"movement": "receive", "adjust_by": "2"}).status_code == 403
        member = SellerMember.objects.get(user=user)
        marketplace_services.seller_member_change_role(member=member, role="manager")
        assert _adjust(client, shed_stock, movement="receive", adjust_by="2").status_code == 302
        assert _state(shed_stock)[0] == 2
        marketplace_services.seller_member_change_role(member=member, role="staff")
        assert client.post(url, {"movement": "receive", "adjust_by": "2"}).status_code == 403
        assert _state(shed_stock)[0] == 2
