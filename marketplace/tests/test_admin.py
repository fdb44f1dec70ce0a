"""Marketplace admin: sellers, members, offers (also inline on products), buy boxes, and seller
isolation (invariant 7 in docs/architecture.md): a seller's member sees and changes only that seller's offers."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.contrib import admin as django_admin
from django.test import RequestFactory
from django.urls import reverse

from catalog.models import Product
from core.exceptions import ApplicationError
from marketplace import services
from marketplace.admin_scoping import seller_scope
from marketplace.models import BuyBox, Offer, Seller, SellerMember
from marketplace.roles import ROLE_GROUPS, SELLER_GROUPS
from tests.commit import committed
from tests.factories import (
    OfferFactory,
    ProductFactory,
    SellerFactory,
    UserFactory,
    admin_form_data,
    seller_member,
    stock,
)

pytestmark = pytest.mark.django_db


def _url(model: str, view: str, *args) -> str:
    return reverse(f"admin:marketplace_{model}_{view}", args=args)


@pytest.fixture
def su_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser(email="root@example.com", password="pw-1"))
    return client


@pytest.fixture
def two_sellers():
    mine, theirs = SellerFactory(name="Mine"), SellerFactory(name="Theirs")
    product = ProductFactory(title="Shared gadget")
    my_offer = OfferFactory(seller=mine, product=product, sku="MINE-1", price=Decimal("20.00"))
    their_offer = OfferFactory(seller=theirs, product=product, sku="THEIRS-1", price=Decimal("18.00"))
    stock(my_offer, 5)
    stock(their_offer, 5)
    return {"mine": mine, "theirs": theirs, "product": product, "my_offer": my_offer, "their_offer": their_offer}


@pytest.fixture
def member_client(client, two_sellers):
    client.force_login(seller_member(two_sellers["mine"], role="manager"))
    return client


class TestPagesOpen:
    @pytest.mark.parametrize("model", ["seller", "sellermember", "offer", "buybox"])
    def test_changelist(self, su_client, two_sellers, model):
        assert su_client.get(_url(model, "changelist")).status_code == 200

    @pytest.mark.parametrize("model", ["seller", "sellermember", "offer"])
    def test_add_page(self, su_client, model):
        assert su_client.get(_url(model, "add")).status_code == 200

    def test_change_pages(self, su_client, two_sellers):
        member = SellerMember.objects.create(seller=two_sellers["mine"], user=UserFactory())
        for model, obj in [
            ("seller", two_sellers["mine"]), ("sellermember", member), ("offer", two_sellers["my_offer"]),
            ("buybox", BuyBox.objects.get(product=two_sellers["product"])),
        ]:
            assert su_client.get(_url(model, "change", obj.pk)).status_code == 200, model
        product_page = su_client.get(reverse("admin:catalog_product_change", args=[two_sellers["product"].pk]))
        assert product_page.status_code == 200
        assert b"THEIRS-1" in product_page.content  # the offers inline

    def test_buy_box_is_read_only(self, su_client, two_sellers):
        assert su_client.get(_url("buybox", "add")).status_code == 403
        box = BuyBox.objects.get(product=two_sellers["product"])
        assert su_client.post(_url("buybox", "delete", box.pk), {"post": "yes"}).status_code == 403

    def test_offer_list_marks_the_buy_box_winner(self, su_client, two_sellers):
        response = su_client.get(_url("offer", "changelist"))
        winners = {o.sku: o.is_buy_box_winner for o in response.context["cl"].result_list}
        assert winners == {"MINE-1": False, "THEIRS-1": True}  # 18.00 beats 20.00


class TestWrites:
    def test_adding_a_member_gives_admin_access_with_the_group_of_their_role(self, su_client, two_sellers):
        user = UserFactory()
        response = su_client.post(
            _url("sellermember", "add"), {"seller": two_sellers["mine"].pk, "user": user.pk, "role": "manager"}
        )
        assert response.status_code == 302
        user.refresh_from_db()
        assert user.is_staff
        assert list(user.groups.values_list("name", flat=True)) == [ROLE_GROUPS["manager"]]
        assert SellerMember.objects.get(user=user).role == "manager"

    def test_changing_an_offer_refreshes_the_buy_box(self, su_client, two_sellers):
        offer = two_sellers["my_offer"]
        page = su_client.get(_url("offer", "change", offer.pk))
        with committed():
            response = su_client.post(_url("offer", "change", offer.pk), admin_form_data(page, price="15.00"))
        assert response.status_code == 302
        box = BuyBox.objects.get(product=two_sellers["product"])
        assert (box.offer_id, box.price) == (offer.pk, Decimal("15.00"))

    def test_offers_inline_on_the_product_saves_through_the_service(self, su_client, two_sellers):
        product, offer = two_sellers["product"], two_sellers["my_offer"]
        url = reverse("admin:catalog_product_change", args=[product.pk])
        page = su_client.get(url)
        data = admin_form_data(page)
        index = next(i for i in range(2) if data[f"offers-{i}-id"] == str(offer.pk))
        data[f"offers-{index}-price"] = "12.50"
        with committed():
            response = su_client.post(url, data)
        assert response.status_code == 302, response.context and response.context["errors"]
        box = BuyBox.objects.get(product=product)
        assert (box.offer_id, box.price) == (offer.pk, Decimal("12.50"))
        assert Product.objects.get(pk=product.pk).listing_price == Decimal("12.50")

    def test_duplicate_sku_is_a_form_error(self, su_client, two_sellers):
        page = su_client.get(_url("offer", "add"))
        data = admin_form_data(page, product=str(ProductFactory().pk), seller=str(two_sellers["mine"].pk),
                               sku="MINE-1", price="10.00")
        response = su_client.post(_url("offer", "add"), data)
        assert response.status_code == 200
        assert response.context["adminform"].form.errors
        assert Offer.objects.filter(sku="MINE-1").count() == 1

    def test_zero_price_is_a_form_error(self, su_client, two_sellers):
        offer = two_sellers["my_offer"]
        page = su_client.get(_url("offer", "change", offer.pk))
        response = su_client.post(_url("offer", "change", offer.pk), admin_form_data(page, price="0"))
        assert response.status_code == 200
        assert Offer.objects.get(pk=offer.pk).price == Decimal("20.00")

    def test_deactivating_a_seller_moves_the_buy_box(self, su_client, two_sellers):
        theirs = two_sellers["theirs"]
        with committed():  # suspended (with a reason), no longer a field of the change form
            response = su_client.post(_url("seller", "changelist"), {
                "action": "suspend", "_selected_action": [theirs.pk], "apply": "1", "reason": "Test"})
            assert response.status_code == 302
        assert BuyBox.objects.get(product=two_sellers["product"]).offer_id == two_sellers["my_offer"].pk


class TestSellerIsolation:
    def test_member_pages_open(self, member_client, two_sellers):
        index = member_client.get(reverse("admin:index"))
        assert index.status_code == 200
        assert _url("offer", "changelist").encode() in index.content
        assert _url("buybox", "changelist").encode() not in index.content
        for url in [
            _url("offer", "changelist"), _url("offer", "add"), _url("offer", "change", two_sellers["my_offer"].pk),
            _url("seller", "changelist"), _url("seller", "change", two_sellers["mine"].pk),
            reverse("admin:catalog_product_changelist"),
            reverse("admin:catalog_product_change", args=[two_sellers["product"].pk]),
        ]:
            assert member_client.get(url).status_code == 200, url
        assert member_client.get(_url("seller", "change", two_sellers["theirs"].pk)).status_code == 302

    def test_member_sees_only_own_offers(self, member_client, two_sellers):
        response = member_client.get(_url("offer", "changelist"))
        assert response.status_code == 200
        assert [o.sku for o in response.context["cl"].result_list] == ["MINE-1"]
        assert b"THEIRS-1" not in response.content
        assert b"Theirs" not in response.content  # not even in the seller filter

    def test_member_sees_only_own_seller(self, member_client, two_sellers):
        response = member_client.get(_url("seller", "changelist"))
        assert response.status_code == 200
        assert list(response.context["cl"].result_list) == [two_sellers["mine"]]

    def test_other_sellers_offer_cannot_be_opened_or_changed(self, member_client, two_sellers):
        offer = two_sellers["their_offer"]
        url = _url("offer", "change", offer.pk)
        response = member_client.get(url)
        assert response.status_code in (302, 403, 404)
        assert response.status_code != 200
        posted = member_client.post(url, {
            "product": offer.product_id, "seller": offer.seller_id, "sku": "STOLEN", "price": "1.00",
            "condition": "new", "fulfillment_channel": "platform", "handling_days": "1", "is_active": "on",
        })
        assert posted.status_code in (302, 403, 404)
        offer.refresh_from_db()
        assert (offer.sku, offer.price) == ("THEIRS-1", Decimal("18.00"))
        for view in ("history", "delete"):
            assert member_client.get(_url("offer", view, offer.pk)).status_code in (302, 403, 404)

    def test_member_can_change_own_offer(self, member_client, two_sellers):
        offer = two_sellers["my_offer"]
        page = member_client.get(_url("offer", "change", offer.pk))
        assert page.status_code == 200
        with committed():
            response = member_client.post(_url("offer", "change", offer.pk), admin_form_data(page, price="17.00"))
        assert response.status_code == 302
        assert Offer.objects.get(pk=offer.pk).price == Decimal("17.00")
        assert BuyBox.objects.get(product=offer.product).offer_id == offer.pk

    def test_tampered_seller_on_change_is_rejected(self, member_client, two_sellers):
        offer = two_sellers["my_offer"]
        page = member_client.get(_url("offer", "change", offer.pk))
        assert 'name="seller"' not in page.content.decode()  # an offer stays with its seller: read-only
        member_client.post(
            _url("offer", "change", offer.pk), {**admin_form_data(page), "seller": str(two_sellers["theirs"].pk)}
        )
        assert Offer.objects.get(pk=offer.pk).seller_id == two_sellers["mine"].pk

    def test_out_of_range_values_are_explained_beside_their_field(self, member_client, two_sellers):
        """A price of 0 read "Constraint “offer_price_positive” is violated."; 999 handling days alike."""
        offer = two_sellers["my_offer"]
        page = member_client.get(_url("offer", "change", offer.pk))
        response = member_client.post(_url("offer", "change", offer.pk),
                                      admin_form_data(page, price="0", handling_days="999"))
        assert response.status_code == 200
        errors = response.context["adminform"].form.errors
        assert errors["price"] == ["A price is at least 0.01."]
        assert "60" in errors["handling_days"][0]
        assert "Constraint" not in response.content.decode()

    def test_an_offer_never_moves_to_another_product(self, member_client, two_sellers):
        """Its stock (units of one product in a warehouse) would then sell as another product."""
        offer = two_sellers["my_offer"]
        other = ProductFactory()
        page = member_client.get(_url("offer", "change", offer.pk))
        assert 'name="product"' not in page.content.decode()
        member_client.post(_url("offer", "change", offer.pk), {**admin_form_data(page), "product": str(other.pk)})
        assert Offer.objects.get(pk=offer.pk).product_id == two_sellers["product"].pk
        offer.product = other  # and through the service, whoever asks
        with pytest.raises(ApplicationError, match="stays on its product"):
            services.offer_save(offer=offer, actor=UserFactory(is_superuser=True, is_staff=True))
        assert Offer.objects.get(pk=offer.pk).product_id == two_sellers["product"].pk

    def test_tampered_seller_on_add_is_rejected(self, member_client, two_sellers):
        page = member_client.get(_url("offer", "add"))
        assert page.status_code == 200
        form = page.context["adminform"].form
        assert list(form.fields["seller"].queryset) == [two_sellers["mine"]]
        assert form["seller"].value() == two_sellers["mine"].pk  # fixed to their one seller
        product = ProductFactory()
        data = admin_form_data(page, product=str(product.pk), sku="NEW-1", price="9.99",
                               seller=str(two_sellers["theirs"].pk))
        response = member_client.post(_url("offer", "add"), data)
        assert response.status_code == 200
        assert "seller" in response.context["adminform"].form.errors
        assert not Offer.objects.filter(sku="NEW-1").exists()

        data["seller"] = str(two_sellers["mine"].pk)
        assert member_client.post(_url("offer", "add"), data).status_code == 302
        assert Offer.objects.get(sku="NEW-1").seller == two_sellers["mine"]

    def test_autocompletes_are_scoped(self, member_client, two_sellers):
        def ids(model_name, field_name, term=""):
            response = member_client.get(reverse("admin:autocomplete"), {
                "app_label": "marketplace", "model_name": model_name, "field_name": field_name, "term": term,
            })
            assert response.status_code == 200
            return {r["id"] for r in json.loads(response.content)["results"]}

        assert ids("offer", "seller") == {str(two_sellers["mine"].pk)}
        assert str(two_sellers["product"].pk) in ids("offer", "product", "gadget")  # products are shared

    def test_member_cannot_manage_members_or_buy_boxes(self, member_client, two_sellers):
        assert member_client.get(_url("sellermember", "changelist")).status_code == 403
        assert member_client.get(_url("buybox", "changelist")).status_code == 403

    def test_permission_checks_refuse_other_sellers_rows(self, two_sellers):
        user = seller_member(two_sellers["mine"], role="manager")
        request = RequestFactory().get("/")
        request.user = user
        offer_admin = django_admin.site.get_model_admin(Offer)
        assert offer_admin.has_change_permission(request, two_sellers["my_offer"])
        assert not offer_admin.has_change_permission(request, two_sellers["their_offer"])
        assert not offer_admin.has_view_permission(request, two_sellers["their_offer"])
        assert not offer_admin.has_delete_permission(request, two_sellers["their_offer"])

    def test_former_member_in_the_seller_group_sees_nothing(self, client, two_sellers):
        user = seller_member(two_sellers["mine"])
        SellerMember.objects.filter(user=user).delete()
        assert user.groups.filter(name__in=SELLER_GROUPS).exists()
        client.force_login(user)
        response = client.get(_url("offer", "changelist"))
        assert response.status_code == 200
        assert response.context["cl"].result_count == 0

    def test_superuser_and_platform_staff_are_not_scoped(self, two_sellers):
        request = RequestFactory().get("/")
        request.user = UserFactory(is_superuser=True, is_staff=True)
        assert seller_scope(request) is None
        request = RequestFactory().get("/")
        request.user = UserFactory(is_staff=True)
        assert seller_scope(request) is None

    def test_member_of_two_sellers_chooses_between_them(self, client, two_sellers):
        user = seller_member(two_sellers["mine"], role="manager")
        third = SellerFactory(name="Third")
        services.seller_member_add(seller=third, user=user, role="owner")
        client.force_login(user)
        page = client.get(_url("offer", "add"))
        assert set(page.context["adminform"].form.fields["seller"].queryset) == {two_sellers["mine"], third}
        listed = client.get(_url("offer", "changelist")).context["cl"].result_list
        assert {o.seller for o in listed} == {two_sellers["mine"]}


def _offers(n: int) -> None:
    seller = SellerFactory()
    for _i in range(n):
        offer = OfferFactory(seller=seller)
        stock(offer, 3)
        OfferFactory(product=offer.product, seller=SellerFactory())  # a rival without stock


@pytest.mark.parametrize("model", ["offer", "seller", "sellermember", "buybox"])
def test_changelists_query_count_does_not_grow_with_rows(su_client, django_assert_max_num_queries, model):
    url = _url(model, "changelist")
    su_client.get(url)

    def grow(n):
        _offers(n)
        for seller in Seller.objects.filter(members__isnull=True, is_house=False)[:n]:
            SellerMember.objects.create(seller=seller, user=UserFactory())

    grow(2)
    with django_assert_max_num_queries(15) as small:
        assert su_client.get(url).status_code == 200
    grow(10)
    with django_assert_max_num_queries(len(small.captured_queries)):
        response = su_client.get(url)
    assert response.context["cl"].result_count >= 12


def test_member_offer_changelist_query_count(client, django_assert_max_num_queries):
    seller = SellerFactory()
    client.force_login(seller_member(seller))
    url = _url("offer", "changelist")
    client.get(url)
    for _i in range(2):
        OfferFactory(seller=seller)
    with django_assert_max_num_queries(15) as small:
        client.get(url)
    for _i in range(10):
        OfferFactory(seller=seller)
    with django_assert_max_num_queries(len(small.captured_queries)):
        assert client.get(url).context["cl"].result_count == 12
