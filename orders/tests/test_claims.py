"""Buyers' claims against a seller: opened by the buyer once a package shipped (once per order and
seller, within the window), answered by the seller, decided by platform staff: granted (the order
is refunded and the seller's ledger takes the refund) or denied with a reason. A claim not denied
counts in the seller's order defect rate."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from core.exceptions import ApplicationError, Conflict, NotFound, PermissionDenied
from finance.models import LedgerEntry
from orders import selectors, services
from orders.models import Claim, Order, Package
from tests.buying import cart_with, place, ship
from tests.commit import committed
from tests.concurrency import race
from tests.factories import OfferFactory, SellerFactory, UserFactory, seller_member, shipping_method, staff_user, stock

pytestmark = pytest.mark.django_db

DECIDER = ("orders.decide_claim", "orders.view_claim")


@pytest.fixture
def shipped():
    """A buyer's order from one seller, shipped (not yet delivered)."""
    shipping_method(channel="merchant", price="4.99", code="standard")
    seller = SellerFactory(email="orders@seller.example")
    offer = OfferFactory(seller=seller, price=Decimal("30.00"), fulfillment_channel="merchant")
    stock(offer, 20)
    buyer = UserFactory()
    order = place(cart_with((offer, 1), user=buyer), user=buyer).order
    with committed():
        ship(Package.objects.get(order=order), tracking_number="1Z")
    return buyer, seller, Order.objects.get(pk=order.pk), offer


def open_claim(order, seller, buyer, **changes) -> Claim:
    fields = {"reason": "not_received", "description": "Tracking says delivered but nothing came.", **changes}
    with committed():
        return services.claim_open(order=order, seller_id=seller.pk, user=buyer, **fields)


def test_a_granted_claim_refunds_the_order_and_the_seller_ledger(shipped):
    buyer, seller, order, _offer = shipped
    claim = open_claim(order, seller, buyer)
    assert claim.status == "open"
    assert {tuple(m.to) for m in mail.outbox[-2:]} == {(order.email,), ("orders@seller.example",)}
    with committed():
        services.claim_respond(claim=claim, actor=seller_member(seller, role="manager"), response="Sent on time.")
    with committed():
        services.claim_grant(claim=claim, actor=staff_user(*DECIDER), resolution="Refunded: the carrier lost it.")
    claim.refresh_from_db()
    order.refresh_from_db()
    assert (claim.status, claim.seller_response, order.status) == ("granted", "Sent on time.", "refunded")
    kinds = set(LedgerEntry.objects.filter(seller=seller).values_list("kind", flat=True))
    assert {"sale", "refund", "referral_fee_refund", "refund_admin_fee"} <= kinds
    decided = [m for m in mail.outbox if "Granted" in m.subject]
    assert {m.to[0] for m in decided} == {order.email, "orders@seller.example"}
    assert "the carrier lost it" in decided[0].body
    with pytest.raises(Conflict):
        services.claim_deny(claim=claim, actor=staff_user(*DECIDER), resolution="No")


def test_a_denied_claim_needs_a_reason_and_refunds_nothing(shipped):
    buyer, seller, order, _offer = shipped
    claim = open_claim(order, seller, buyer, reason="not_as_described", description="It is blue, not red at all.")
    decider = staff_user(*DECIDER)
    with pytest.raises(ApplicationError):
        services.claim_deny(claim=claim, actor=decider, resolution=" ")
    with committed():
        services.claim_deny(claim=time_up(claim), actor=decider, resolution="The listing says blue.")
    order.refresh_from_db()
    assert (Claim.objects.get(pk=claim.pk).status, order.status) == ("denied", "shipped")
    assert not LedgerEntry.objects.filter(seller=seller, kind="refund").exists()


def test_who_may_claim_and_when(shipped):
    buyer, seller, order, offer = shipped
    with pytest.raises(NotFound):  # someone else's order is not revealed
        open_claim(order, seller, UserFactory())
    with pytest.raises(ApplicationError, match="at least 10"):
        open_claim(order, seller, buyer, description="bad")
    with pytest.raises(ApplicationError):
        open_claim(order, seller, buyer, reason="changed_my_mind")
    with pytest.raises(ApplicationError, match="shipped"):
        open_claim(order, SellerFactory(), buyer)  # no package of that seller
    pending = place(cart_with((offer, 1), user=buyer), key="pending", user=buyer).order
    with pytest.raises(ApplicationError, match="shipped"):
        open_claim(pending, seller, buyer)
    Package.objects.filter(order=order).update(shipped_at=timezone.now() - timedelta(days=91))
    with pytest.raises(ApplicationError, match="90 days"):
        open_claim(order, seller, buyer)
    Package.objects.filter(order=order).update(shipped_at=timezone.now())
    open_claim(order, seller, buyer)
    with pytest.raises(Conflict):
        open_claim(order, seller, buyer, reason="damaged")
    assert Claim.objects.count() == 1


def test_who_may_answer_and_decide(shipped):
    buyer, seller, order, _offer = shipped
    claim = open_claim(order, seller, buyer)
    for outsider in (seller_member(seller, role="staff"), seller_member(SellerFactory(), role="owner")):
        with pytest.raises(PermissionDenied):
            services.claim_respond(claim=claim, actor=outsider, response="Not us")
    for not_a_decider in (seller_member(seller, role="owner"), staff_user("orders.view_claim")):
        with pytest.raises(PermissionDenied):
            services.claim_grant(claim=claim, actor=not_a_decider)
    assert Claim.objects.get(pk=claim.pk).status == "open"


def test_a_claim_not_denied_is_a_defect(shipped):
    buyer, seller, order, _offer = shipped
    since = timezone.now() - timedelta(days=60)

    def defects():
        perf = selectors.seller_performance(defect_since=since, cancel_since=since, shipping_since=since)
        return perf[seller.pk].defective_orders

    assert defects() == 0
    claim = open_claim(order, seller, buyer)
    assert defects() == 1
    with committed():
        services.claim_deny(claim=time_up(claim), actor=staff_user(*DECIDER), resolution="Delivered, signed for.")
    assert defects() == 0


class TestPages:
    def test_the_buyer_opens_a_claim_from_the_order_page_and_follows_it(self, client, shipped):
        buyer, seller, order, _offer = shipped
        client.force_login(buyer)
        detail = reverse("orders:detail", args=[order.number])
        url = reverse("orders:claim", args=[order.number, seller.pk])
        assert url in client.get(detail).content.decode()
        bad = client.post(url, {"reason": "not_received", "description": "short"})
        assert bad.status_code == 200
        assert "at least 10 characters" in bad.content.decode()
        with committed():
            good = client.post(url, {"reason": "damaged", "description": "The glass was broken in the box."})
        assert good.status_code == 302
        page = client.get(detail).content.decode()
        assert 'data-claim-status="open"' in page
        assert url not in page
        again = client.post(url, {"reason": "damaged", "description": "The glass was broken in the box."})
        assert "already" in again.content.decode()

    def test_nobody_else_reaches_the_claim_page(self, client, shipped):
        _buyer, seller, order, _offer = shipped
        url = reverse("orders:claim", args=[order.number, seller.pk])
        assert client.get(url).status_code == 302  # signed out: to sign in
        client.force_login(UserFactory())
        assert client.get(url).status_code == 404
        assert client.post(url, {"reason": "damaged", "description": "Not my order but let me try."}).status_code == 404
        assert not Claim.objects.exists()


class TestAdmin:
    def test_the_seller_answers_and_staff_grant_in_admin(self, client, shipped):
        buyer, seller, order, _offer = shipped
        claim = open_claim(order, seller, buyer)
        url = reverse("admin:orders_claim_change", args=[claim.pk])
        client.force_login(seller_member(seller, role="manager"))
        assert 'name="seller_response"' in client.get(url).content.decode()
        assert client.post(url, {"seller_response": "Tracking shows delivery.", "_save": "Save"}).status_code == 302
        assert Claim.objects.get(pk=claim.pk).seller_response == "Tracking shows delivery."

        other = Client()
        other.force_login(seller_member(SellerFactory(), role="owner"))
        assert other.get(url).status_code == 302  # another seller's claim: not found
        assert other.post(url, {"seller_response": "x", "_save": "Save"}).status_code in (302, 403)
        assert Claim.objects.get(pk=claim.pk).seller_response == "Tracking shows delivery."

        staff = Client()
        staff.force_login(staff_user(*DECIDER))
        page = staff.get(url).content.decode()
        assert 'name="_grant"' in page
        assert "Tracking shows delivery." in page
        response = staff.post(url, {"resolution": "", "_deny": "Deny"}, follow=True)
        assert "required" in response.content.decode().lower()
        with committed():
            assert staff.post(url, {"resolution": "Refunded.", "_grant": "Grant"}).status_code == 302
        assert Order.objects.get(pk=order.pk).status == "refunded"

    def test_view_only_staff_cannot_decide(self, client, shipped):
        buyer, seller, order, _offer = shipped
        claim = open_claim(order, seller, buyer)
        client.force_login(staff_user("orders.view_claim"))
        url = reverse("admin:orders_claim_change", args=[claim.pk])
        assert 'name="_grant"' not in client.get(url).content.decode()
        assert client.post(url, {"resolution": "x", "_grant": "Grant"}).status_code == 403
        assert Order.objects.get(pk=order.pk).status == "shipped"


@pytest.mark.django_db(transaction=True)
def test_two_staff_deciding_at_once_decide_once():
    shipping_method(channel="merchant", price="4.99", code="standard")
    seller = SellerFactory()
    offer = OfferFactory(seller=seller, price=Decimal("30.00"), fulfillment_channel="merchant")
    stock(offer, 5)
    buyer = UserFactory()
    order = place(cart_with((offer, 1), user=buyer), user=buyer).order
    ship(Package.objects.get(order=order), tracking_number="1Z")
    claim = services.claim_open(order=Order.objects.get(pk=order.pk), seller_id=seller.pk, user=buyer,
                                reason="damaged", description="Broken glass in the parcel.")
    claim = time_up(claim)
    first, second = staff_user(*DECIDER), staff_user(*DECIDER)
    results = race(lambda call, actor: call(claim=claim, actor=actor, resolution="Decided."),
                   [(services.claim_grant, first), (services.claim_deny, second)])
    assert sum(isinstance(r, Claim) for r in results) == 1
    assert sum(isinstance(r, Conflict) for r in results) == 1
    decided = Claim.objects.get(pk=claim.pk)
    assert (Order.objects.get(pk=order.pk).status == "refunded") is (decided.status == "granted")


def test_a_guest_rates_and_claims_through_their_order_link_and_nobody_else_can(client):
    shipping_method(channel="merchant", price="4.99", code="standard")
    seller = SellerFactory()
    offer = OfferFactory(seller=seller, price=Decimal("12.00"), fulfillment_channel="merchant")
    stock(offer, 5)
    order = place(cart_with((offer, 1)), user=None).order  # placed without an account
    package = Package.objects.get(order=order)
    with committed():
        ship(package, tracking_number="1Z")
        services.package_deliver(package=Package.objects.get(pk=package.pk))
    rate = reverse("orders:guest_seller_feedback", args=[order.number, seller.pk])
    claim = reverse("orders:guest_claim", args=[order.number, seller.pk])

    stranger = Client()  # no link: the same answer as for any order it may not see
    assert stranger.get(rate).status_code == 404
    forged = {"reason": "damaged", "description": "Let me claim a stranger's order."}
    assert stranger.post(claim, forged).status_code == 404
    with pytest.raises(NotFound):
        services.claim_open(order=order, seller_id=seller.pk, user=None, reason="damaged",
                            description="Without the link it is nobody's.")

    assert client.get(selectors.guest_link_path(order=order)).status_code == 303  # the e-mail's link
    page = client.get(reverse("orders:guest_detail", args=[order.number])).content.decode()
    assert rate in page
    assert claim in page
    with committed():
        assert client.post(rate, {"rating": "2", "comment": "Slow"}).status_code == 303
        assert client.post(claim, {"reason": "damaged", "description": "The lid was cracked."}).status_code == 303
    page = client.get(reverse("orders:guest_detail", args=[order.number])).content.decode()
    assert 'data-claim-status="open"' in page
    assert rate not in page
    opened = Claim.objects.get(order=order)
    assert (opened.user, opened.reason) == (None, "damaged")
    assert order.seller_feedback.get().rating == 2


def time_up(claim) -> Claim:
    """The seller's time to answer is over (as 72 hours later)."""
    Claim.objects.filter(pk=claim.pk).update(answer_by=timezone.now() - timedelta(seconds=1))
    return Claim.objects.get(pk=claim.pk)


def test_staff_decide_after_the_sellers_answer_or_its_72_hours(shipped):
    buyer, seller, order, _offer = shipped
    claim = open_claim(order, seller, buyer)
    assert claim.answer_by - claim.created_at == timedelta(hours=72)
    staff = staff_user(*DECIDER)
    with pytest.raises(Conflict, match="The seller has until"):
        services.claim_deny(claim=claim, actor=staff, resolution="Too early.")
    with pytest.raises(Conflict, match="The seller has until"), committed():
        services.claim_grant(claim=claim, actor=staff)
    assert Order.objects.get(pk=order.pk).status != "refunded"  # nothing moved
    with committed():
        services.claim_deny(claim=time_up(claim), actor=staff, resolution="The carrier confirms delivery.")
    assert Claim.objects.get(pk=claim.pk).status == "denied"


def test_a_late_package_can_be_claimed_even_before_it_ships(client):
    shipping_method(channel="merchant", price="4.99", code="standard")
    seller = SellerFactory()
    offer = OfferFactory(seller=seller, fulfillment_channel="merchant")
    stock(offer, 5)
    buyer = UserFactory()
    order = place(cart_with((offer, 1), user=buyer), user=buyer).order
    package = Package.objects.get(order=order)
    with pytest.raises(ApplicationError, match="once the seller has shipped"):
        open_claim(order, seller, buyer)
    with pytest.raises(ApplicationError, match="not late"):
        open_claim(order, seller, buyer, reason="late")
    client.force_login(buyer)
    page = client.get(reverse("orders:detail", args=[order.number])).content.decode()
    assert "Report a problem with this package" not in page
    Package.objects.filter(pk=package.pk).update(estimated_latest=timezone.localdate() - timedelta(days=1))
    page = client.get(reverse("orders:detail", args=[order.number])).content.decode()
    assert "Report a problem with this package" in page
    claim = open_claim(order, seller, buyer, reason="late", description="Promised last week, nothing shipped.")
    assert claim.reason == "late"
    with committed():
        services.claim_grant(claim=time_up(claim), actor=staff_user(*DECIDER), resolution="Refunded: never shipped.")
    assert Order.objects.get(pk=order.pk).status == "refunded"


def test_late_is_refused_for_a_package_on_time_or_delivered(shipped):
    buyer, seller, order, _offer = shipped
    with pytest.raises(ApplicationError, match="not late"):
        open_claim(order, seller, buyer, reason="late")
    Package.objects.filter(order=order).update(estimated_latest=timezone.localdate() - timedelta(days=2))
    services.package_deliver(package=Package.objects.get(order=order))
    with pytest.raises(ApplicationError, match="not late"):
        open_claim(order, seller, buyer, reason="late")
