"""Sell on Bazaar: applying (validated bank details and tax id, one open application), staff
review in admin (approve, ask for information, reject with a reason), e-mails at each step, and
the approved applicant owning their new seller in admin."""

import pytest
from django.core import mail
from django.urls import reverse

from core.exceptions import ApplicationError, Conflict, PermissionDenied
from marketplace import services
from marketplace.models import Seller, SellerApplication, SellerMember
from tests.commit import committed
from tests.factories import CategoryFactory, SellerFactory, UserFactory, seller_member, staff_user

pytestmark = pytest.mark.django_db
S = SellerApplication.Status
REVIEW = "marketplace.review_sellerapplication"


@pytest.fixture
def category():
    return CategoryFactory(name="Kitchen")


def data(category, **changes) -> dict:
    return {"legal_name": "Kettle Works LLC", "store_name": "Kettle Works", "contact_name": "Kim Kettle",
            "email": "kim@kettleworks.example", "phone": "+1 555 0100", "country": "US", "tax_id": "12-3456789",
            "bank_account_holder": "Kettle Works LLC", "bank_account": "000123456789", "bank_routing": "021000021",
            "categories": [category.pk], "expected_volume": "100_1000", "accept_terms": True, **changes}


def submit(user, category, **changes) -> SellerApplication:
    with committed():
        return services.application_submit(applicant=user, data=data(category, **changes))


@pytest.mark.parametrize(("changes", "field"), [
    ({"bank_routing": "021000022"}, "bank_routing"),  # the check digit is wrong
    ({"bank_account": "12"}, "bank_account"),
    ({"country": "DE", "bank_account": "DE89370400440532013001", "tax_id": "DE123456789"}, "bank_account"),
    ({"tax_id": "123"}, "tax_id"),
    ({"tax_id": "ABCDEFGHJ"}, "tax_id"),  # not an EIN for a US business
    ({"accept_terms": False}, "accept_terms"),
    ({"categories": []}, "categories"),
    ({"email": "not-an-address"}, "email"),
    ({"country": "USA"}, "country"),
])
def test_bad_applications_are_refused_field_by_field(category, changes, field):
    with pytest.raises(ApplicationError) as refused:
        services.application_submit(applicant=UserFactory(), data=data(category, **changes))
    assert field in refused.value.fields
    assert not SellerApplication.objects.exists()


def test_an_iban_is_checked_and_normalised(category):
    application = submit(UserFactory(), category, country="DE", bank_account="de89 3704 0044 0532 0130 00",
                         bank_routing="", tax_id="DE123456789")
    assert (application.bank_account, application.bank_routing) == ("DE89370400440532013000", "")


def test_applying_confirms_by_e_mail_and_one_application_stays_open(category):
    user = UserFactory()
    application = submit(user, category)
    assert application.status == S.SUBMITTED
    assert list(application.categories.all()) == [category]
    assert [m.to for m in mail.outbox] == [["kim@kettleworks.example"]]
    assert "We received your application" in mail.outbox[0].subject
    with pytest.raises(Conflict):
        submit(user, category)


def test_approval_creates_the_seller_with_the_applicant_as_owner(client, category):
    user = UserFactory()
    application = submit(user, category)
    reviewer = staff_user(REVIEW, "marketplace.view_sellerapplication", "marketplace.change_sellerapplication")
    with committed():
        approved = services.application_approve(application=application, actor=reviewer, message="Welcome!")
    assert approved.status == S.APPROVED
    seller = Seller.objects.get(pk=approved.seller_id)
    assert (seller.name, seller.slug, seller.email) == ("Kettle Works", "kettle-works", "kim@kettleworks.example")
    assert SellerMember.objects.get(seller=seller).user == user
    assert SellerMember.objects.get(seller=seller).role == SellerMember.Role.OWNER
    assert "can start selling" in mail.outbox[-1].subject
    # ... with its own shipping location, made once however often the event is delivered
    from fulfillment.models import Warehouse
    from fulfillment.tasks import open_seller_location

    location = Warehouse.objects.get(seller=seller)
    assert (location.kind, location.country, location.code) == ("seller", "US", f"seller-{seller.pk}")
    assert open_seller_location(seller_id=seller.pk) is False
    assert Warehouse.objects.filter(seller=seller).count() == 1
    client.force_login(user)
    assert "Our message: Welcome!" in client.get(reverse("marketplace:application")).content.decode()
    assert client.get(reverse("admin:marketplace_offer_changelist")).status_code == 200  # the seller area
    with pytest.raises(Conflict):
        services.application_approve(application=approved, actor=reviewer)  # decided once
    second = submit(UserFactory(), category, store_name="Kettle Works")
    with committed():
        services.application_approve(application=second, actor=reviewer)
    assert Seller.objects.filter(slug="kettle-works-2").exists()


def test_more_information_then_a_corrected_application(client, category):
    user = UserFactory()
    application = submit(user, category)
    reviewer = staff_user(REVIEW)
    with pytest.raises(ApplicationError):
        services.application_request_info(application=application, actor=reviewer, message=" ")
    with committed():
        services.application_request_info(application=application, actor=reviewer,
                                          message="Please send the bank account in the business's name.")
    assert "more information" in mail.outbox[-1].subject
    client.force_login(user)
    page = client.get(reverse("marketplace:application")).content.decode()
    assert "bank account in the business" in page
    response = client.post(reverse("marketplace:application"), {
        **data(category, bank_account_holder="Kettle Works LLC (business)"), "accept_terms": "on"})
    assert response.status_code == 302
    application.refresh_from_db()
    assert (application.status, application.bank_account_holder) == (S.SUBMITTED, "Kettle Works LLC (business)")
    assert [e.to_status for e in application.events.all()] == [S.SUBMITTED, S.NEEDS_INFO, S.SUBMITTED]


def test_rejection_needs_a_reason_and_the_applicant_may_apply_again(client, category):
    user = UserFactory()
    application = submit(user, category)
    reviewer = staff_user(REVIEW)
    with pytest.raises(ApplicationError):
        services.application_reject(application=application, actor=reviewer, reason="")
    with committed():
        services.application_reject(application=application, actor=reviewer, reason="We could not verify the tax id.")
    client.force_login(user)
    page = client.get(reverse("marketplace:application")).content.decode()
    assert "could not verify the tax id" in page
    assert client.get(reverse("marketplace:sell-apply")).status_code == 200  # a new application is possible


def test_only_platform_staff_with_the_permission_decide(category):
    application = submit(UserFactory(), category)
    for actor in (UserFactory(), staff_user("marketplace.view_sellerapplication"),
                  seller_member(SellerFactory(), role="owner")):
        with pytest.raises(PermissionDenied):
            services.application_approve(application=application, actor=actor)
    application.refresh_from_db()
    assert application.status == S.SUBMITTED


class TestPages:
    def test_the_sell_page_is_public_and_applying_needs_an_account(self, client):
        assert "Apply to sell" in client.get(reverse("marketplace:sell")).content.decode()
        response = client.get(reverse("marketplace:sell-apply"))
        assert response.status_code == 302
        assert reverse("accounts:login") in response.url

    def test_applying_through_the_page(self, client, category):
        client.force_login(UserFactory())
        form = client.get(reverse("marketplace:sell-apply"))
        assert "Kitchen" in form.content.decode()
        bad = client.post(reverse("marketplace:sell-apply"), {**data(category, bank_routing="111111111"),
                                                              "accept_terms": "on"})
        assert bad.status_code == 200
        assert "routing number" in bad.content.decode()
        with committed():
            good = client.post(reverse("marketplace:sell-apply"), {**data(category), "accept_terms": "on"})
        assert good.status_code == 302
        status = client.get(reverse("marketplace:application")).content.decode()
        assert 'data-application-status="submitted"' in status
        assert client.get(reverse("marketplace:sell-apply")).status_code == 302  # one at a time

    def test_nobody_sees_another_applicants_application(self, client, category):
        submit(UserFactory(), category)
        client.force_login(UserFactory())
        assert client.get(reverse("marketplace:application")).status_code == 302  # none of their own


class TestAdmin:
    def test_staff_approve_in_admin(self, client, category):
        application = submit(UserFactory(), category)
        client.force_login(staff_user(REVIEW, "marketplace.view_sellerapplication"))
        url = reverse("admin:marketplace_sellerapplication_change", args=[application.pk])
        page = client.get(url)
        assert page.status_code == 200
        assert 'name="_approve"' in page.content.decode()
        with committed():
            response = client.post(url, {"review_message": "Welcome aboard", "_approve": "Approve",
                                         **_inline_management()})
        assert response.status_code == 302, response.content[:2000]
        application.refresh_from_db()
        assert application.status == S.APPROVED

    def test_rejecting_without_a_reason_is_refused_with_a_message(self, client, category):
        application = submit(UserFactory(), category)
        client.force_login(staff_user(REVIEW, "marketplace.view_sellerapplication"))
        url = reverse("admin:marketplace_sellerapplication_change", args=[application.pk])
        response = client.post(url, {"review_message": "", "_reject": "Reject", **_inline_management()}, follow=True)
        assert "Say why" in response.content.decode()
        application.refresh_from_db()
        assert application.status == S.SUBMITTED

    def test_sellers_never_see_applications(self, client, category):
        submit(UserFactory(), category)
        client.force_login(seller_member(SellerFactory(), role="owner"))
        assert client.get(reverse("admin:marketplace_sellerapplication_changelist")).status_code == 403


def _inline_management() -> dict:
    prefix = "events"
    return {f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0", f"{prefix}-MIN_NUM_FORMS": "0",
            f"{prefix}-MAX_NUM_FORMS": "1000"}


@pytest.mark.django_db(transaction=True)
def test_the_same_application_sent_twice_at_once_makes_one():
    from tests.concurrency import race

    category = CategoryFactory(name="Garden")
    user = UserFactory()
    results = race(lambda: services.application_submit(applicant=user, data=data(category)), [()] * 3)
    assert sum(isinstance(r, SellerApplication) for r in results) == 1
    assert all(isinstance(r, Conflict) for r in results if not isinstance(r, SellerApplication))
    assert SellerApplication.objects.filter(applicant=user).count() == 1
