"""Products proposed by sellers: hidden until platform staff approve them, then published with the
seller's offer selling; rejected with a reason; in the service, admin and API, and never visible
to another seller."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from catalog.models import Product
from core.exceptions import ApplicationError, Conflict, PermissionDenied
from marketplace import services
from marketplace.models import Offer, ProductProposal
from tests.commit import committed
from tests.factories import CategoryFactory, SellerFactory, seller_member, staff_user, stock

pytestmark = pytest.mark.django_db

S = ProductProposal.Status
REVIEWER_PERMS = ("marketplace.review_productproposal", "marketplace.view_productproposal")
PROPOSALS = "/api/v1/product-proposals/"


@pytest.fixture
def kitchen():
    return CategoryFactory(name="Kitchen")


@pytest.fixture
def seller():
    return SellerFactory(name="Kettle Works", email="team@kettleworks.example")


@pytest.fixture
def manager(seller):
    return seller_member(seller, role="manager")


def propose(seller, actor, category, **changes) -> ProductProposal:
    fields = {"title": "Cast-iron tea kettle", "description": "Enamelled inside.", "sku": "CI-1",
              "price": Decimal("39.00"), **changes}
    with committed():
        return services.product_propose(seller=seller, actor=actor, category=category, **fields)


def test_a_proposed_product_is_hidden_until_approved_then_its_offer_sells(client, seller, manager, kitchen):
    proposal = propose(seller, manager, kitchen, note="Our own brand")
    product, offer = proposal.product, proposal.offer
    assert (proposal.status, product.is_active, offer.seller, offer.price) == (S.PENDING, False, seller,
                                                                               Decimal("39.00"))
    stock(offer, 3)
    assert client.get(product.get_absolute_url()).status_code == 404
    assert client.get(reverse("catalog:search"), {"q": "cast-iron"}).content.decode().count(product.title) == 0
    assert APIClient().get("/api/v1/offers/", {"product": product.slug}).status_code == 400  # unknown product
    assert offer.pk not in [o["id"] for o in APIClient().get("/api/v1/offers/").json()["results"]]

    with committed():
        services.product_proposal_approve(proposal=proposal, actor=staff_user(*REVIEWER_PERMS), message="Nice")
    proposal.refresh_from_db()
    product.refresh_from_db()
    assert (proposal.status, proposal.review_message, product.is_active) == (S.APPROVED, "Nice", True)
    page = client.get(product.get_absolute_url())
    assert page.status_code == 200
    assert "Kettle Works" in page.content.decode()
    assert len(APIClient().get("/api/v1/offers/", {"product": product.slug}).json()["results"]) == 1
    assert mail.outbox[-1].subject == "Approved: Cast-iron tea kettle is now in the catalogue"
    assert sorted(mail.outbox[-1].to) == sorted({"team@kettleworks.example", manager.email})


def test_rejection_needs_a_reason_keeps_the_product_hidden_and_is_final(seller, manager, kitchen):
    proposal = propose(seller, manager, kitchen, sku="", price=None)
    reviewer = staff_user(*REVIEWER_PERMS)
    with pytest.raises(ApplicationError):
        services.product_proposal_reject(proposal=proposal, actor=reviewer, reason="  ")
    with committed():
        services.product_proposal_reject(proposal=proposal, actor=reviewer, reason="We sell this already.")
    assert Product.objects.get(pk=proposal.product_id).is_active is False
    assert "Not approved" in mail.outbox[-1].subject
    assert "We sell this already." in mail.outbox[-1].body
    with pytest.raises(Conflict):
        services.product_proposal_approve(proposal=proposal, actor=reviewer)
    with pytest.raises(Conflict):
        services.product_proposal_update(proposal=proposal, actor=manager, title="Another try", category=kitchen)


def test_who_may_propose_and_who_may_decide(seller, manager, kitchen):
    with pytest.raises(PermissionDenied):  # a seller's staff may look, not propose
        propose(seller, seller_member(seller, role="staff"), kitchen)
    with pytest.raises(PermissionDenied):  # a manager elsewhere is nobody here
        propose(seller, seller_member(SellerFactory(), role="manager"), kitchen)
    proposal = propose(seller, manager, kitchen)
    viewer = staff_user("marketplace.view_productproposal")
    for not_a_reviewer in (manager, seller_member(seller, role="owner"), viewer):
        with pytest.raises(PermissionDenied):
            services.product_proposal_approve(proposal=proposal, actor=not_a_reviewer)
    # staff holding the review permission who also work for a seller act as that seller's member
    member_reviewer = seller_member(SellerFactory(), role="owner")
    member_reviewer.is_staff = True
    member_reviewer.save()
    from django.contrib.auth.models import Permission

    member_reviewer.user_permissions.add(Permission.objects.get(codename="review_productproposal"))
    with pytest.raises(PermissionDenied):
        services.product_proposal_approve(proposal=proposal, actor=type(member_reviewer).objects.get(
            pk=member_reviewer.pk))
    with committed():
        services.seller_suspend(seller=seller, reason="Counterfeits", actor=None)
    seller.refresh_from_db()
    with pytest.raises(PermissionDenied, match="suspended"):
        propose(seller, manager, kitchen, sku="CI-2")


@pytest.mark.parametrize(("changes", "field"), [
    ({"title": "ab"}, "title"),
    ({"title": "x" * 201}, "title"),
    ({"sku": "CI-9", "price": None}, "sku"),
    ({"sku": "", "price": Decimal("5.00")}, "sku"),
])
def test_incomplete_proposals_are_refused_and_nothing_is_made(seller, manager, kitchen, changes, field):
    before = Product.objects.count()
    with pytest.raises(ApplicationError) as refused:
        propose(seller, manager, kitchen, **changes)
    assert refused.value.fields
    assert Product.objects.count() == before


def test_an_inactive_category_and_a_duplicate_sku_make_nothing(seller, manager, kitchen):
    hidden = CategoryFactory(name="Retired", is_active=False)
    with pytest.raises(ApplicationError):
        propose(seller, manager, hidden)
    propose(seller, manager, kitchen)
    before = Product.objects.count()
    with pytest.raises(ApplicationError, match="SKU"):
        propose(seller, manager, kitchen, title="Another kettle")  # same SKU CI-1
    assert Product.objects.count() == before  # the product of the refused proposal was rolled back


class TestAdmin:
    def _add_page(self, client):
        return reverse("admin:marketplace_productproposal_add")

    def test_a_manager_proposes_and_corrects_in_admin_and_others_never_see_it(self, client, seller, manager,
                                                                              kitchen):
        client.force_login(manager)
        assert client.get(self._add_page(client)).status_code == 200
        with committed():
            response = client.post(self._add_page(client), {
                "seller": seller.pk, "title": "Copper kettle", "category": kitchen.pk, "description": "Shiny",
                "note": "", "sku": "CU-1", "price": "55.00", "condition": "new"})
        assert response.status_code == 302, response.content.decode()[:3000]
        proposal = ProductProposal.objects.get(seller=seller)
        assert (proposal.product.title, proposal.product.is_active, proposal.offer.sku) == ("Copper kettle", False,
                                                                                          "CU-1")
        change = reverse("admin:marketplace_productproposal_change", args=[proposal.pk])
        assert 'value="Copper kettle"' in client.get(change).content.decode()  # editable while pending
        response = client.post(change, {"title": "Copper kettle, 1 l", "category": kitchen.pk, "description": "Shiny",
                                        "note": "size added", "_save": "Save"})
        assert response.status_code == 302, response.content.decode()[:3000]
        assert Product.objects.get(pk=proposal.product_id).title == "Copper kettle, 1 l"

        client = Client()  # a fresh browser: no messages left from the manager's session
        client.force_login(seller_member(SellerFactory(), role="owner"))
        assert client.get(change).status_code == 302  # not found among theirs: back to the admin index
        listed = client.get(reverse("admin:marketplace_productproposal_changelist")).content.decode()
        assert "Copper kettle" not in listed
        products = client.get(reverse("admin:catalog_product_changelist")).content.decode()
        assert "Copper kettle" not in products
        assert client.get(reverse("admin:catalog_product_change", args=[proposal.product_id])).status_code == 302

    def test_a_seller_cannot_propose_for_another_seller(self, client, seller, manager, kitchen):
        other = SellerFactory(name="Other")
        client.force_login(manager)
        response = client.post(self._add_page(client), {
            "seller": other.pk, "title": "Copper kettle", "category": kitchen.pk, "sku": "", "price": ""})
        assert response.status_code == 200
        assert "Select a valid choice" in response.content.decode()
        assert not ProductProposal.objects.exists()

    def test_staff_approve_with_the_button_and_rejecting_needs_a_message(self, client, seller, manager, kitchen):
        first, second = propose(seller, manager, kitchen), propose(seller, manager, kitchen, title="Mug", sku="M-1")
        client.force_login(staff_user(*REVIEWER_PERMS))
        url = reverse("admin:marketplace_productproposal_change", args=[first.pk])
        page = client.get(url).content.decode()
        assert 'name="_approve"' in page
        assert "Cast-iron tea kettle" in page
        with committed():
            assert client.post(url, {"review_message": "", "_approve": "Approve"}).status_code == 302
        assert ProductProposal.objects.get(pk=first.pk).status == S.APPROVED
        url = reverse("admin:marketplace_productproposal_change", args=[second.pk])
        response = client.post(url, {"review_message": "", "_reject": "Reject"}, follow=True)
        assert "Say why" in response.content.decode()
        assert ProductProposal.objects.get(pk=second.pk).status == S.PENDING
        assert 'name="_approve"' not in client.get(
            reverse("admin:marketplace_productproposal_change", args=[first.pk])).content.decode()

    def test_a_view_only_staff_member_cannot_decide(self, client, seller, manager, kitchen):
        proposal = propose(seller, manager, kitchen)
        client.force_login(staff_user("marketplace.view_productproposal"))
        url = reverse("admin:marketplace_productproposal_change", args=[proposal.pk])
        assert 'name="_approve"' not in client.get(url).content.decode()
        assert client.post(url, {"review_message": "", "_approve": "Approve"}).status_code == 403
        assert ProductProposal.objects.get(pk=proposal.pk).status == S.PENDING


class TestApi:
    def test_propose_list_and_read_own_proposals(self, seller, manager, kitchen):
        api = APIClient()
        api.force_authenticate(manager)
        with committed():
            response = api.post(PROPOSALS, {"title": "Stovetop kettle", "category": kitchen.slug, "sku": "ST-1",
                                            "price": "29.90"}, format="json")
        assert response.status_code == 201, response.json()
        body = response.json()
        assert (body["status"], body["seller"], body["title"], body["category"]) == (
            "pending", seller.slug, "Stovetop kettle", kitchen.slug)
        assert Offer.objects.get(pk=body["offer"]).price == Decimal("29.90")
        assert [p["id"] for p in api.get(PROPOSALS).json()["results"]] == [body["id"]]
        assert api.get(f"{PROPOSALS}{body['id']}/").json()["status"] == "pending"

        stranger = APIClient()
        stranger.force_authenticate(seller_member(SellerFactory(), role="owner"))
        assert stranger.get(f"{PROPOSALS}{body['id']}/").status_code == 404
        assert stranger.get(PROPOSALS).json()["results"] == []
        assert APIClient().get(PROPOSALS).status_code == 401  # signed out

    @pytest.mark.parametrize(("body", "field"), [
        ({"title": "Kettle", "category": "no-such-category"}, "category"),
        ({"title": "Kettle", "category": "kitchen", "brand": "no-such-brand"}, "brand"),
        ({"title": "Kettle", "category": "kitchen", "sku": "K-1"}, "price"),
        ({"title": "Kettle", "category": "kitchen", "price": "-3"}, "price"),
        ({"title": "Kettle", "category": "kitchen", "listing_price": "1"}, "listing_price"),
        ({"category": "kitchen"}, "title"),
    ])
    def test_bad_bodies_are_400_with_the_field(self, manager, kitchen, body, field):
        api = APIClient()
        api.force_authenticate(manager)
        response = api.post(PROPOSALS, body, format="json")
        assert response.status_code == 400
        assert field in response.json()["error"]["fields"], response.json()
        assert not ProductProposal.objects.exists()

    def test_staff_of_a_seller_and_other_sellers_are_refused(self, seller, kitchen):
        api = APIClient()
        api.force_authenticate(seller_member(seller, role="staff"))
        assert api.post(PROPOSALS, {"title": "Kettle", "category": kitchen.slug}, format="json").status_code == 403
        api.force_authenticate(seller_member(SellerFactory(), role="manager"))
        response = api.post(PROPOSALS, {"seller": seller.slug, "title": "Kettle", "category": kitchen.slug},
                            format="json")
        assert response.status_code == 403
        assert not ProductProposal.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_two_reviewers_deciding_at_once_decide_once():
    from tests.concurrency import race

    seller = SellerFactory(email="s@example.com")
    proposal = services.product_propose(seller=seller, actor=None, title="Teapot", category=CategoryFactory())
    first, second = staff_user(*REVIEWER_PERMS), staff_user(*REVIEWER_PERMS)
    results = race(lambda call, actor: call(proposal=proposal, actor=actor, **(
        {"reason": "No"} if call is services.product_proposal_reject else {})),
        [(services.product_proposal_approve, first), (services.product_proposal_reject, second)])
    assert sum(isinstance(r, ProductProposal) for r in results) == 1
    assert sum(isinstance(r, Conflict) for r in results) == 1
    decided = ProductProposal.objects.get(pk=proposal.pk)
    assert Product.objects.get(pk=proposal.product_id).is_active is (decided.status == S.APPROVED)
