"""Seller roles mean something (``marketplace.roles``): staff look and ship, managers also run offers
and stock, owners also run the team; the rights follow a role change at once, and are judged per
seller for someone in several. No seller's member moves an offer onto or off fulfilment by Bazaar,
in admin, in the API or through the services; Bazaar's staff do."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, Permission
from django.urls import reverse
from rest_framework.test import APIClient

from core.exceptions import PermissionDenied
from marketplace import roles, services
from marketplace.models import Offer, SellerMember
from tests.factories import (
    OfferFactory,
    ProductFactory,
    SellerFactory,
    UserFactory,
    admin_form_data,
    seller_member,
    staff_user,
)

pytestmark = pytest.mark.django_db
OWNER, MANAGER, STAFF = SellerMember.Role.OWNER, SellerMember.Role.MANAGER, SellerMember.Role.STAFF
OFFERS_API = "/api/v1/offers/"


def _url(model: str, view: str, *args) -> str:
    return reverse(f"admin:marketplace_{model}_{view}", args=args)


@pytest.fixture
def shop():
    seller = SellerFactory(name="Shop A", slug="shop-a")
    offer = OfferFactory(seller=seller, sku="A-1", price=Decimal("20.00"), fulfillment_channel="merchant")
    return {"seller": seller, "offer": offer}


def _groups(user) -> set[str]:
    return set(user.groups.values_list("name", flat=True))


def _price(offer) -> Decimal:
    return Offer.objects.get(pk=offer.pk).price


def _channel(offer) -> str:
    return Offer.objects.get(pk=offer.pk).fulfillment_channel


# --- the table itself ----------------------------------------------------------------------------


def test_every_role_has_a_group_and_every_named_permission_exists():
    assert set(roles.ROLE_PERMISSIONS) == set(SellerMember.Role.values) == set(roles.ROLE_GROUPS)
    named = set().union(*roles.ROLE_PERMISSIONS.values())
    existing = {f"{a}.{c}" for a, c in Permission.objects.values_list("content_type__app_label", "codename")}
    assert named <= existing, named - existing  # a typo would silently grant nothing


def test_roles_nest_and_none_holds_a_platform_only_right():
    assert roles.ROLE_PERMISSIONS[STAFF] < roles.ROLE_PERMISSIONS[MANAGER] < roles.ROLE_PERMISSIONS[OWNER]
    platform_only = {"marketplace.change_seller", "marketplace.add_sellermember", "fulfillment.change_warehouse",
                     "fulfillment.change_shippingmethod", "orders.view_order", "orders.cancel_order",
                     "orders.refund_order", "payments.view_payment", "catalog.change_product"}
    assert not platform_only & roles.ROLE_PERMISSIONS[OWNER]


def test_migrate_leaves_each_role_group_with_its_permissions():
    """The post-migrate hook ran (after every app's permissions exist): nobody has been added yet."""
    for role, name in roles.ROLE_GROUPS.items():
        granted = {f"{a}.{c}" for a, c in Group.objects.get(name=name)
                   .permissions.values_list("content_type__app_label", "codename")}
        assert granted == roles.ROLE_PERMISSIONS[role], role


@pytest.mark.parametrize("role", [OWNER, MANAGER, STAFF])
def test_a_member_is_in_exactly_the_group_of_their_role(shop, role):
    user = seller_member(shop["seller"], role=role)
    assert _groups(user) == {roles.ROLE_GROUPS[role]}
    granted = {f"{a}.{c}" for a, c in Group.objects.get(name=roles.ROLE_GROUPS[role])
               .permissions.values_list("content_type__app_label", "codename")}
    assert granted == roles.ROLE_PERMISSIONS[role]


def test_role_change_swaps_the_group_and_removal_takes_it(shop):
    seller_member(shop["seller"], role=OWNER)  # keeps the seller owned
    user = seller_member(shop["seller"], role=STAFF)
    member = SellerMember.objects.get(user=user)
    services.seller_member_change_role(member=member, role=MANAGER)
    assert _groups(user) == {roles.ROLE_GROUPS[MANAGER]}
    other = SellerFactory()
    services.seller_member_add(seller=other, user=user, role=OWNER)
    assert _groups(user) == {roles.ROLE_GROUPS[MANAGER], roles.ROLE_GROUPS[OWNER]}
    services.seller_member_remove(member=member)
    user.refresh_from_db()
    assert _groups(user) == {roles.ROLE_GROUPS[OWNER]}
    assert user.is_staff


def test_refresh_moves_members_from_before_roles_into_their_groups(shop):
    """Before roles had groups every member was in "Seller staff": a migrate puts each in their own."""
    legacy = Group.objects.get_or_create(name="Seller staff")[0]
    owner, bystander = UserFactory(is_staff=True), UserFactory(is_staff=True)
    SellerMember.objects.create(seller=shop["seller"], user=owner, role=OWNER)
    owner.groups.add(legacy)
    bystander.groups.add(legacy)  # in the group by hand, in no seller: left as it is

    services.seller_groups_refresh()

    assert _groups(owner) == {roles.ROLE_GROUPS[OWNER]}
    assert _groups(bystander) == {"Seller staff"}


# --- roles in admin --------------------------------------------------------------------------------


class TestRolesInAdmin:
    def test_staff_see_offers_but_change_nothing(self, client, shop):
        client.force_login(seller_member(shop["seller"], role=STAFF))
        offer = shop["offer"]
        assert client.get(_url("offer", "changelist")).status_code == 200
        page = client.get(_url("offer", "change", offer.pk))
        assert page.status_code == 200
        assert page.context["has_change_permission"] is False
        response = client.post(_url("offer", "change", offer.pk), {
            "product": offer.product_id, "seller": offer.seller_id, "sku": "A-1", "price": "1.00",
            "condition": "new", "handling_days": "1", "is_active": "on",
        })
        assert response.status_code == 403
        assert _price(offer) == Decimal("20.00")
        assert client.get(_url("offer", "add")).status_code == 403
        assert client.get(_url("sellermember", "changelist")).status_code == 403
        assert client.get(reverse("admin:orders_package_changelist")).status_code == 200

    @pytest.mark.parametrize("role", [MANAGER, OWNER])
    def test_managers_and_owners_change_prices(self, client, shop, role):
        client.force_login(seller_member(shop["seller"], role=role))
        offer = shop["offer"]
        page = client.get(_url("offer", "change", offer.pk))
        assert client.post(_url("offer", "change", offer.pk), admin_form_data(page, price="17.00")).status_code == 302
        assert _price(offer) == Decimal("17.00")

    def test_only_owners_manage_the_team(self, client, shop):
        owner = seller_member(shop["seller"], role=OWNER)
        manager = seller_member(shop["seller"], role=MANAGER)
        staff_member = SellerMember.objects.get(user=seller_member(shop["seller"], role=STAFF))
        client.force_login(manager)
        assert client.get(_url("sellermember", "changelist")).status_code == 403
        assert client.post(_url("sellermember", "change", staff_member.pk), {"role": OWNER}).status_code == 403
        client.force_login(owner)
        assert client.get(_url("sellermember", "changelist")).status_code == 200
        assert client.get(_url("sellermember", "add")).status_code == 403  # adding: platform staff only
        assert client.post(_url("sellermember", "change", staff_member.pk), {"role": MANAGER}).status_code == 302
        assert SellerMember.objects.get(pk=staff_member.pk).role == MANAGER

    def test_a_role_change_applies_at_the_next_request(self, client, shop):
        seller_member(shop["seller"], role=OWNER)
        user = seller_member(shop["seller"], role=STAFF)
        member = SellerMember.objects.get(user=user)
        offer = shop["offer"]
        client.force_login(user)
        assert client.get(_url("offer", "change", offer.pk)).context["has_change_permission"] is False

        services.seller_member_change_role(member=member, role=MANAGER)
        page = client.get(_url("offer", "change", offer.pk))
        assert page.context["has_change_permission"] is True
        assert client.post(_url("offer", "change", offer.pk), admin_form_data(page, price="18.00")).status_code == 302
        assert _price(offer) == Decimal("18.00")

        services.seller_member_change_role(member=member, role=STAFF)
        response = client.post(_url("offer", "change", offer.pk), admin_form_data(page, price="1.00"))
        assert response.status_code == 403
        assert _price(offer) == Decimal("18.00")

    def test_rights_are_judged_per_seller(self, client, shop):
        """Owner at one seller, staff at another: offers change at the first only."""
        theirs = SellerFactory(name="Shop B")
        their_offer = OfferFactory(seller=theirs, sku="B-1", price=Decimal("30.00"), fulfillment_channel="merchant")
        seller_member(theirs, role=OWNER)
        user = seller_member(shop["seller"], role=OWNER)
        services.seller_member_add(seller=theirs, user=user, role=STAFF)
        client.force_login(user)

        listed = {o.pk for o in client.get(_url("offer", "changelist")).context["cl"].result_list}
        assert listed == {shop["offer"].pk, their_offer.pk}  # both seen
        page = client.get(_url("offer", "change", their_offer.pk))
        assert page.context["has_change_permission"] is False
        assert client.post(_url("offer", "change", their_offer.pk),
                           admin_form_data(page, price="1.00")).status_code == 403
        assert _price(their_offer) == Decimal("30.00")
        add = client.get(_url("offer", "add"))
        assert list(add.context["adminform"].form.fields["seller"].queryset) == [shop["seller"]]
        team = {m.seller_id for m in client.get(_url("sellermember", "changelist")).context["cl"].result_list}
        assert team == {shop["seller"].pk}
        with pytest.raises(PermissionDenied):
            services.offer_update(offer=their_offer, price="1.00", actor=user)


# --- fulfilment by Bazaar is Bazaar's decision ------------------------------------------------------


class TestPlatformFulfilment:
    def test_admin_shows_the_channel_read_only_to_sellers_and_ignores_a_forged_one(self, client, shop):
        offer = shop["offer"]
        client.force_login(seller_member(shop["seller"], role=OWNER))
        page = client.get(_url("offer", "change", offer.pk))
        assert "fulfillment_channel" not in page.context["adminform"].form.fields
        response = client.post(_url("offer", "change", offer.pk),
                               admin_form_data(page, fulfillment_channel="platform", price="19.00"))
        assert response.status_code == 302
        assert (_channel(offer), _price(offer)) == ("merchant", Decimal("19.00"))

    def test_admin_add_by_a_seller_is_shipped_by_the_seller(self, client, shop):
        client.force_login(seller_member(shop["seller"], role=MANAGER))
        page = client.get(_url("offer", "add"))
        data = admin_form_data(page, product=str(ProductFactory().pk), sku="A-NEW", price="9.99",
                               fulfillment_channel="platform")
        assert client.post(_url("offer", "add"), data).status_code == 302
        assert Offer.objects.get(sku="A-NEW").fulfillment_channel == "merchant"

    def test_platform_staff_switch_an_offer_to_bazaar(self, client, shop):
        offer = shop["offer"]
        client.force_login(staff_user("marketplace.view_offer", "marketplace.change_offer"))
        page = client.get(_url("offer", "change", offer.pk))
        assert client.post(_url("offer", "change", offer.pk),
                           admin_form_data(page, fulfillment_channel="platform")).status_code == 302
        assert _channel(offer) == "platform"

    @pytest.mark.parametrize("role", [OWNER, MANAGER])
    def test_the_service_refuses_a_member_either_way(self, shop, role):
        member = seller_member(shop["seller"], role=role)
        offer = shop["offer"]
        with pytest.raises(PermissionDenied) as caught:
            services.offer_update(offer=Offer.objects.get(pk=offer.pk), fulfillment_channel="platform", actor=member)
        assert caught.value.code == "platform_fulfilment"
        assert "fulfillment_channel" in caught.value.fields
        assert _channel(offer) == "merchant"
        with pytest.raises(PermissionDenied):
            services.offer_create(seller=shop["seller"], product=ProductFactory(), sku="A-FBA", price="5.00",
                                  fulfillment_channel="platform", actor=member)
        assert not Offer.objects.filter(sku="A-FBA").exists()

        services.offer_update(offer=Offer.objects.get(pk=offer.pk), fulfillment_channel="platform")  # the system
        with pytest.raises(PermissionDenied):
            services.offer_update(offer=Offer.objects.get(pk=offer.pk), fulfillment_channel="merchant", actor=member)
        assert _channel(offer) == "platform"
        services.offer_update(offer=Offer.objects.get(pk=offer.pk), price="15.00", actor=member)  # other terms: fine
        assert (_channel(offer), _price(offer)) == ("platform", Decimal("15.00"))


# --- the offers API ---------------------------------------------------------------------------------


@pytest.fixture
def api():
    return APIClient()


class TestOffersApi:
    def _as(self, api, shop, role):
        api.force_authenticate(seller_member(shop["seller"], role=role))
        return api

    @pytest.mark.parametrize("role", [OWNER, MANAGER])
    def test_owners_and_managers_list_and_change_offers(self, api, shop, role):
        client = self._as(api, shop, role)
        body = {"product": ProductFactory().slug, "sku": "A-API", "price": "12.00"}
        assert client.post(OFFERS_API, body, format="json").status_code == 201
        response = client.patch(f"{OFFERS_API}{shop['offer'].pk}/", {"price": "16.00"}, format="json")
        assert response.status_code == 200
        assert _price(shop["offer"]) == Decimal("16.00")

    def test_staff_may_not_write_offers(self, api, shop):
        client = self._as(api, shop, STAFF)
        body = {"product": ProductFactory().slug, "sku": "A-API", "price": "12.00"}
        response = client.post(OFFERS_API, body, format="json")
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "permission_denied"
        assert not Offer.objects.filter(sku="A-API").exists()
        response = client.patch(f"{OFFERS_API}{shop['offer'].pk}/", {"price": "1.00"}, format="json")
        assert response.status_code == 403
        assert _price(shop["offer"]) == Decimal("20.00")

    def test_switching_to_platform_fulfilment_is_refused(self, api, shop):
        client = self._as(api, shop, OWNER)
        response = client.patch(f"{OFFERS_API}{shop['offer'].pk}/", {"fulfillment_channel": "platform"},
                                format="json")
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "platform_fulfilment"
        assert _channel(shop["offer"]) == "merchant"
        body = {"product": ProductFactory().slug, "sku": "A-FBA", "price": "12.00", "fulfillment_channel": "platform"}
        response = client.post(OFFERS_API, body, format="json")
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "platform_fulfilment"
        assert not Offer.objects.filter(sku="A-FBA").exists()

    def test_a_superuser_may_switch_it(self, api, shop):
        api.force_authenticate(UserFactory(is_superuser=True, is_staff=True))
        response = api.patch(f"{OFFERS_API}{shop['offer'].pk}/", {"fulfillment_channel": "platform"}, format="json")
        assert response.status_code == 200
        assert _channel(shop["offer"]) == "platform"
