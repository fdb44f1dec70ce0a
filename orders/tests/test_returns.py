"""Returns (``orders.returns``): who may return what and when, the seller's answer (or the clock's),
the label or drop-off, receiving with restock through the stock ledger, and the refund on receipt
whose amounts are explained and sum exactly, the return label deducted when the shopper pays."""

from __future__ import annotations

import io
import re
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from core.exceptions import ApplicationError, IdempotencyKeyReused, NotFound, PermissionDenied
from fulfillment.models import StockItem, StockMovement
from orders import returns, selectors, services
from orders.models import Claim, Order, OrderLine, OrderRefund, Package, ReturnLine, ReturnPolicy, ReturnRequest
from orders.tests.test_partial_refunds import provider  # noqa: F401 (a fixture)
from orders.tests.test_shipping import package_of
from tests.buying import cart_with, place, ship
from tests.commit import committed
from tests.concurrency import race
from tests.factories import CategoryFactory, UserFactory, admin_form_data, seller_member, staff_user

pytestmark = pytest.mark.django_db
R = ReturnRequest.Status
S = ReturnLine.Condition


def bought(offers, buyer, quantity=2) -> Order:
    """``quantity`` of each offer bought by ``buyer``, shipped and delivered."""
    order = place(cart_with(*((offer, quantity) for offer in offers), user=buyer), user=buyer).order
    with committed():
        for offer in offers:
            package = package_of(order, offer)
            ship(package)
            services.package_deliver(package=package)
    return Order.objects.get(pk=order.pk)


def line_of(order, offer) -> OrderLine:
    return OrderLine.objects.get(order=order, offer=offer)


BUYER = object()


def start(order, offer, units=1, reason="defective", user=BUYER, key=None, **kwargs) -> ReturnRequest:
    line = line_of(order, offer)
    with committed():
        return returns.return_start(order=order, package_id=line.package_id, lines={line.pk: units}, reason=reason,
                                    user=order.user if user is BUYER else user,
                                    idempotency_key=key or uuid.uuid4().hex, **kwargs)


@pytest.fixture
def buyer():
    return UserFactory()


@pytest.fixture
def platform_staff():
    return staff_user("orders.decide_return", "orders.view_returnrequest", "orders.change_returnrequest")


def receive(request, actor, condition=S.SELLABLE):
    with committed():
        return returns.return_receive(request=request, actor=actor,
                                      conditions={line.pk: condition for line in request.lines.all()})


# --- business days and policies ---------------------------------------------------------------------


def test_business_days_skip_the_weekend():
    friday = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)
    assert returns.business_days_after(friday, 2) == datetime(2026, 12, 1, 15, 0, tzinfo=UTC)  # Tuesday
    monday = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    assert returns.business_days_after(monday, 2) == datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    saturday = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
    assert returns.business_days_after(saturday, 2) == datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def test_the_nearest_ancestors_policy_applies_else_the_default(settings):
    settings.RETURNS_WINDOW_DAYS = 30
    root = CategoryFactory()
    child = CategoryFactory(parent=root)
    grandchild = CategoryFactory(parent=child)
    other = CategoryFactory()
    returns.return_policy_save(policy=ReturnPolicy(category=root, window_days=10, buyer_pays_reasons=["defective"]))
    returns.return_policy_save(policy=ReturnPolicy(category=child, returnable=False, window_days=5))
    found = returns.policies_for(category_ids={root.pk, grandchild.pk, other.pk, None})
    assert found[root.pk] == returns.Policy(True, 10, frozenset({"defective"}))
    assert found[grandchild.pk].returnable is False
    assert found[other.pk] == found[None] == returns.Policy(True, 30, frozenset({"no_longer_needed"}))
    with pytest.raises(ApplicationError):
        returns.return_policy_save(policy=ReturnPolicy(category=other, buyer_pays_reasons=["bored"]))


# --- starting a return ------------------------------------------------------------------------------


def test_a_platform_return_is_approved_at_once_with_a_label(offers, buyer, provider):  # noqa: F811
    kettle, _towel = offers
    order = bought(offers, buyer)
    mail.outbox.clear()
    request = start(order, kettle, units=2, reason="damaged")
    assert request.status == R.LABEL_ISSUED
    assert request.tracking_number
    assert request.label_cost > 0
    assert request.destination_id == package_of(order, kettle).shipped_from_id
    assert request.buyer_pays_shipping is False
    shipment = returns.return_label_shipment(request=request)
    assert shipment.reference == f"return:{request.pk}"
    assert shipment.label.name.endswith(".pdf")
    assert list(request.events.values_list("to_status", flat=True)) == [R.REQUESTED, R.APPROVED, R.LABEL_ISSUED]
    assert [m.subject for m in mail.outbox] == [
        f"Return {request.pk} of order {order.number}: approved, send it back"]
    assert request.tracking_number in mail.outbox[0].body


def test_a_merchant_return_waits_for_the_seller_who_is_told(offers, buyer, provider):  # noqa: F811
    _kettle, towel = offers
    towel.seller.email = "towels@example.com"
    towel.seller.save(update_fields=["email"])
    order = bought(offers, buyer)
    mail.outbox.clear()
    request = start(order, towel, reason="no_longer_needed")
    assert request.status == R.REQUESTED
    assert request.buyer_pays_shipping is True
    assert request.answer_by is not None
    assert sorted(m.to[0] for m in mail.outbox) == [order.email, "towels@example.com"]


def test_only_the_buyer_starts_a_return_and_anothers_order_is_not_found(offers, buyer, provider):  # noqa: F811
    kettle, _towel = offers
    order = bought(offers, buyer)
    with pytest.raises(NotFound):
        start(order, kettle, user=UserFactory())
    with pytest.raises(NotFound):  # a signed-in order is not opened by a guest link
        start(order, kettle, user=None, guest_access=True)
    assert not ReturnRequest.objects.exists()


def test_a_guest_with_the_order_link_starts_a_return(offers, provider):  # noqa: F811
    kettle, _towel = offers
    order = bought(offers, None)
    with pytest.raises(NotFound):
        start(order, kettle, user=None)
    assert start(order, kettle, user=None, guest_access=True).status == R.LABEL_ISSUED


def test_only_delivered_packages_within_the_window_of_returnable_categories(offers, buyer, provider,  # noqa: F811
                                                                             settings):
    kettle, towel = offers
    order = place(cart_with((kettle, 1), (towel, 1), user=buyer), user=buyer).order
    with pytest.raises(ApplicationError, match="delivered"):
        start(order, kettle)
    order = bought(offers, buyer)
    delivered_at = package_of(order, kettle).delivered_at
    with time_machine.travel(delivered_at + timedelta(days=31)), pytest.raises(ApplicationError,
                                                                               match="at most 0 unit"):
        start(order, kettle)
    returns.return_policy_save(policy=ReturnPolicy(category=kettle.product.category, window_days=60))
    with time_machine.travel(delivered_at + timedelta(days=31)):
        assert start(order, kettle).status == R.LABEL_ISSUED
    ReturnPolicy.objects.update(returnable=False)
    with pytest.raises(ApplicationError, match="not returnable"):
        start(order, kettle)


def test_the_same_key_is_the_same_return_and_units_are_not_returned_twice(offers, buyer, provider):  # noqa: F811
    kettle, _towel = offers
    order = bought(offers, buyer)
    first = start(order, kettle, units=2, key="k1")
    assert start(order, kettle, units=2, key="k1").pk == first.pk
    # The same key for another return (other units, another reason) is refused, not answered with the first.
    for changed in ({"units": 1}, {"reason": "no_longer_needed"}, {"description": "It rattles, too."}):
        with pytest.raises(IdempotencyKeyReused):
            start(order, kettle, key="k1", **{"units": 2, **changed})
    assert ReturnRequest.objects.filter(order=order).count() == 1
    with pytest.raises(ApplicationError, match="at most 0 unit"):
        start(order, kettle, units=1, key="k2")
    with committed():
        returns.return_cancel(request=first, user=buyer)
    assert start(order, kettle, units=2, key="k3").status == R.LABEL_ISSUED
    assert ReturnRequest.objects.filter(order=order).count() == 2


@pytest.mark.django_db(transaction=True)
def test_two_returns_of_the_last_unit_at_once_make_one(offers, buyer, provider):  # noqa: F811
    kettle, _towel = offers
    order = bought(offers, buyer, quantity=1)
    line = line_of(order, kettle)
    results = race(lambda key: returns.return_start(order=order, package_id=line.package_id, lines={line.pk: 1},
                                                    reason="defective", user=buyer, idempotency_key=key),
                   [("a",), ("b",)])
    won = [r for r in results if isinstance(r, ReturnRequest)]
    lost = [r for r in results if isinstance(r, ApplicationError)]
    assert len(won) == 1, results
    assert len(lost) == 1, results
    assert ReturnRequest.objects.filter(order=order).count() == 1


# --- the seller's answer ------------------------------------------------------------------------------


def test_the_seller_refuses_and_the_shopper_may_then_claim(offers, buyer, provider, settings):  # noqa: F811
    _kettle, towel = offers
    order = bought(offers, buyer)
    request = start(order, towel, reason="not_as_described")
    manager = seller_member(towel.seller, role="manager")
    with pytest.raises(ApplicationError, match="No return"):
        services.claim_open(order=order, seller_id=towel.seller_id, user=buyer, reason="return_refused",
                            description="The seller said no to my return.")
    mail.outbox.clear()
    with committed():
        returns.return_refuse(request=request, actor=manager, reason="Used and washed.")
    request.refresh_from_db()
    assert request.status == R.REFUSED
    assert request.refusal_reason == "Used and washed."
    [email] = mail.outbox
    assert "Used and washed." in email.body
    assert "claim" in email.body
    settings.ORDERS_CLAIM_WINDOW_DAYS = 1  # counted from the refusal, not from shipping
    with time_machine.travel(request.decided_at + timedelta(hours=12)):
        claim = services.claim_open(order=order, seller_id=towel.seller_id, user=buyer, reason="return_refused",
                                    description="The seller said no to my return.")
    assert claim.reason == Claim.Reason.RETURN_REFUSED


def test_a_seller_never_acts_on_anothers_or_on_platform_returns_and_view_only_staff_on_none(
        offers, buyer, provider):  # noqa: F811
    kettle, towel = offers
    order = bought(offers, buyer)
    merchant = start(order, towel)
    platform = start(order, kettle)
    stranger = seller_member(kettle.seller, role="owner")  # another seller (the kettle's)
    staffer = seller_member(towel.seller, role="staff")  # the right seller, a view-only role
    viewer = staff_user("orders.view_returnrequest")
    for actor in (stranger, staffer, viewer):
        with pytest.raises(PermissionDenied):
            returns.return_approve(request=merchant, actor=actor)
    with pytest.raises(PermissionDenied):
        receive(platform, seller_member(towel.seller, role="owner"))
    assert ReturnRequest.objects.get(pk=merchant.pk).status == R.REQUESTED


def test_unanswered_merchant_returns_are_approved_after_two_business_days(offers, buyer, provider):  # noqa: F811
    _kettle, towel = offers
    order = bought(offers, buyer)
    friday = datetime(2026, 12, 4, 16, 0, tzinfo=UTC)
    with time_machine.travel(friday):
        request = start(order, towel)
    assert request.answer_by == datetime(2026, 12, 8, 16, 0, tzinfo=UTC)  # Tuesday: the weekend skipped
    with time_machine.travel(datetime(2026, 12, 7, 16, 0, tzinfo=UTC)), committed():
        assert returns.returns_approve_unanswered() == 0
    with time_machine.travel(datetime(2026, 12, 8, 16, 1, tzinfo=UTC)), committed():
        assert returns.returns_approve_unanswered() == 1
    request.refresh_from_db()
    assert request.status == R.LABEL_ISSUED
    assert request.events.filter(to_status=R.APPROVED, message__contains="automatically").exists()


def test_a_partial_refund_offer_accepted_keeps_the_items(offers, buyer, provider):  # noqa: F811
    _kettle, towel = offers
    order = bought(offers, buyer)
    line = line_of(order, towel)
    request = start(order, towel, units=2, reason="not_as_described")
    owner = seller_member(towel.seller, role="owner")
    with pytest.raises(ApplicationError):
        returns.return_offer_partial(request=request, actor=owner, amount=line.total)
    with committed():
        returns.return_offer_partial(request=request, actor=owner, amount="3.00")
        request = returns.return_accept_offer(request=request, user=buyer)
    refund = OrderRefund.objects.get(pk=request.refund_id)
    assert request.status == R.REFUNDED
    assert (refund.amount, refund.items_amount, refund.deduction) == (
        Decimal("3.00"), line.total, line.total - Decimal("3.00"))
    assert "keep the items" in refund.deduction_label
    assert not StockMovement.objects.filter(reference=f"return:{request.pk}").exists()


# --- the way back, receiving and the refund -------------------------------------------------------------


def test_tracking_moves_a_return_in_transit_then_delivered_back(offers, buyer, provider):  # noqa: F811
    kettle, _towel = offers
    order = bought(offers, buyer)
    request = start(order, kettle)
    reference = f"return:{request.pk}"
    assert returns.return_tracking_update(reference=reference, status="in_transit") == "in_transit"
    assert returns.return_tracking_update(reference=reference, status="delivered") == "delivered_back"
    assert returns.return_tracking_update(reference="return:x", status="delivered") == "ignored"
    request.refresh_from_db()
    assert request.status == R.DELIVERED_BACK
    # the package's own tracking is untouched
    assert Package.objects.get(pk=request.package_id).status == Package.Status.DELIVERED


def test_receiving_restocks_through_the_ledger_and_refunds_shipping_when_the_shop_is_at_fault(
        offers, buyer, provider, platform_staff):  # noqa: F811
    _kettle, towel = offers
    order = bought(offers, buyer)
    towel_line, package = line_of(order, towel), package_of(order, towel)
    request = start(order, towel, units=2, reason="wrong_item")
    with committed():
        returns.return_approve(request=request, actor=seller_member(towel.seller, role="manager"))
    request.refresh_from_db()
    on_hand = StockItem.objects.get(offer=towel, warehouse=request.destination).on_hand
    mail.outbox.clear()
    request = receive(request, seller_member(towel.seller, role="owner"))
    assert request.status == R.REFUNDED
    item = StockItem.objects.get(offer=towel, warehouse=request.destination)
    assert item.on_hand == on_hand + 2
    [movement] = StockMovement.objects.filter(reference=f"return:{request.pk}")
    assert (movement.kind, movement.on_hand_delta, movement.stock_item_id) == (StockMovement.Kind.RECEIVE, 2,
                                                                                item.pk)
    refund = OrderRefund.objects.get(pk=request.refund_id)
    shipping = package.shipping_price + package.shipping_tax
    assert (refund.items_amount, refund.shipping_amount, refund.deduction) == (towel_line.total, shipping,
                                                                               Decimal("0.00"))
    assert refund.amount == towel_line.total + shipping
    assert {m.subject for m in mail.outbox} >= {f"Return {request.pk} of order {order.number}: received"}
    # The shopper's order list says what came back beside the order's status.
    client = Client()
    client.force_login(buyer)
    assert f"${refund.amount} refunded" in client.get("/orders/").content.decode()


def test_the_shopper_pays_the_label_when_no_longer_needed_and_amounts_sum_exactly(
        offers, buyer, provider, platform_staff):  # noqa: F811
    kettle, _towel = offers
    order = bought(offers, buyer, quantity=3)
    line = line_of(order, kettle)
    request = start(order, kettle, units=1, reason="no_longer_needed")
    assert request.buyer_pays_shipping is True
    request = receive(request, platform_staff, condition=S.UNSELLABLE)
    refund = OrderRefund.objects.get(pk=request.refund_id)
    share = (line.total / 3).quantize(Decimal("0.01"))
    assert refund.items_amount == share
    assert refund.shipping_amount == 0
    assert refund.deduction == request.label_cost > 0
    assert refund.amount == refund.items_amount + refund.shipping_amount - refund.deduction
    assert "Return shipping label" in refund.deduction_label
    assert not StockMovement.objects.filter(reference=f"return:{request.pk}").exists()  # unsellable
    assert ReturnLine.objects.get(request=request).condition == S.UNSELLABLE
    # the rest, in a second return, gives back exactly what is left of the line
    second = receive(start(order, kettle, units=2, reason="defective"), platform_staff)
    second_refund = OrderRefund.objects.get(pk=second.refund_id)
    assert refund.items_amount + second_refund.items_amount == line.total
    assert OrderLine.objects.get(pk=line.pk).refunded_quantity == 3
    with pytest.raises(ApplicationError, match="at most 0 unit"):
        start(order, kettle, units=1)
    refund_mails = [m for m in mail.outbox if "refunded" in m.subject]
    assert any("Return shipping label" in m.body for m in refund_mails)


def test_a_cancelled_return_cannot_be_received_and_view_only_staff_cannot_receive(
        offers, buyer, provider, platform_staff):  # noqa: F811
    kettle, _towel = offers
    order = bought(offers, buyer)
    request = start(order, kettle)
    with pytest.raises(PermissionDenied):
        receive(request, staff_user("orders.view_returnrequest"))
    with committed():
        returns.return_cancel(request=request, user=buyer)
    with pytest.raises(services.IllegalTransition):
        receive(request, platform_staff)
    assert not OrderRefund.objects.filter(order=order).exists()


# --- pages ------------------------------------------------------------------------------------------------


def png(name="photo.png") -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), "red").save(buffer, format="PNG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/png")


def test_the_buyer_returns_items_from_the_order_page_with_photos_and_downloads_the_label(
        client, offers, buyer, provider):  # noqa: F811
    kettle, _towel = offers
    order = bought(offers, buyer)
    line, package = line_of(order, kettle), package_of(order, kettle)
    client.force_login(buyer)
    page = client.get(f"/orders/{order.number}/")
    url = f"/orders/{order.number}/return/{package.pk}/"
    assert url in page.content.decode()
    form = client.get(url)
    assert form.status_code == 200
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", form.content.decode()))
    assert "(optional) (optional)" not in text  # a label says it once
    assert f"{line.product_title} (optional)" not in text  # a number of units is not an optional detail
    assert "Up to 2 units." in text or "Up to 1 unit." in text
    assert "unit(s)" not in text
    with committed():
        response = client.post(url, {"key": "page-1", f"units-{line.pk}": "1", "reason": "defective",
                                     "description": "It leaks.", "photos": [png(), png("b.png")]})
    request = ReturnRequest.objects.get(order=order)
    assert response.status_code == 303
    assert response["Location"] == f"/orders/{order.number}/returns/{request.pk}/"
    assert request.photos.count() == 2
    assert request.status == R.LABEL_ISSUED
    detail = client.get(response["Location"])
    assert request.tracking_number in detail.content.decode()
    label = client.get(f"/orders/{order.number}/returns/{request.pk}/label/")
    assert label.status_code == 200
    assert label["Content-Type"] == "application/pdf"
    assert b"".join(label.streaming_content).startswith(b"%PDF")
    # another shopper sees none of it
    client.force_login(UserFactory())
    assert client.get(f"/orders/{order.number}/returns/{request.pk}/").status_code == 404
    assert client.get(f"/orders/{order.number}/returns/{request.pk}/label/").status_code == 404
    assert client.get(url).status_code == 404


def test_a_photo_that_is_not_an_image_is_refused(client, offers, buyer, provider):  # noqa: F811
    kettle, _towel = offers
    order = bought(offers, buyer)
    line, package = line_of(order, kettle), package_of(order, kettle)
    client.force_login(buyer)
    fake = SimpleUploadedFile("x.png", b"not an image", content_type="image/png")
    response = client.post(f"/orders/{order.number}/return/{package.pk}/",
                           {"key": "p", f"units-{line.pk}": "1", "reason": "defective", "photos": [fake]})
    assert response.status_code == 200
    assert "must be images" in response.content.decode()
    assert not ReturnRequest.objects.exists()


def test_a_guest_returns_through_the_order_link_and_cancels(client, offers, provider):  # noqa: F811
    kettle, _towel = offers
    order = bought(offers, None)
    line, package = line_of(order, kettle), package_of(order, kettle)
    url = f"/orders/guest/{order.number}/return/{package.pk}/"
    assert client.get(url).status_code == 404  # no link opened yet
    client.get(selectors.guest_link_path(order=order))
    assert url in client.get(f"/orders/guest/{order.number}/").content.decode()
    with committed():
        response = client.post(url, {"key": "g-1", f"units-{line.pk}": "2", "reason": "no_longer_needed"})
    request = ReturnRequest.objects.get(order=order)
    assert response["Location"] == f"/orders/guest/{order.number}/returns/{request.pk}/"
    client.post(response["Location"], {"action": "cancel"})
    assert ReturnRequest.objects.get(pk=request.pk).status == R.CANCELLED


# --- API ------------------------------------------------------------------------------------------------


def test_the_api_starts_and_lists_the_owners_returns_and_hides_others(client, offers, buyer,
                                                                       provider):  # noqa: F811
    kettle, towel = offers
    order = bought(offers, buyer)
    line, package = line_of(order, towel), package_of(order, towel)
    client.force_login(buyer)
    body = {"package": package.pk, "lines": [{"line": line.pk, "quantity": 1}], "reason": "no_longer_needed"}
    url = f"/api/v1/orders/{order.number}/returns/"
    assert client.post(url, body, content_type="application/json").status_code == 400  # no Idempotency-Key
    with committed():
        made = client.post(url, body, content_type="application/json", headers={"Idempotency-Key": "a1"})
    again = client.post(url, body, content_type="application/json", headers={"Idempotency-Key": "a1"})
    assert made.status_code == 201
    assert again.json()["id"] == made.json()["id"]
    other = client.post(url, {**body, "lines": [{"line": line.pk, "quantity": 2}]}, content_type="application/json",
                        headers={"Idempotency-Key": "a1"})
    assert (other.status_code, other.json()["error"]["code"]) == (422, "idempotency_key_reused")
    data = made.json()
    assert (data["status"], data["reason"], data["buyer_pays_shipping"], data["refund"]) == (
        "requested", "no_longer_needed", True, None)
    assert data["lines"] == [{"line": line.pk, "product_title": "Tea Towel", "quantity": 1, "condition": ""}]
    assert [r["id"] for r in client.get(url).json()] == [data["id"]]
    assert client.get(f"/api/v1/returns/{data['id']}/").json()["order"] == order.number
    client.force_login(UserFactory())
    assert client.get(url).status_code == 404
    assert client.get(f"/api/v1/returns/{data['id']}/").status_code == 404
    assert client.post(url, body, content_type="application/json",
                       headers={"Idempotency-Key": "b"}).status_code == 404


# --- admin ----------------------------------------------------------------------------------------------


def test_sellers_see_and_answer_only_their_own_returns_in_admin(client, offers, buyer, provider):  # noqa: F811
    kettle, towel = offers
    order = bought(offers, buyer)
    merchant, platform = start(order, towel), start(order, kettle)
    owner = seller_member(towel.seller, role="owner")
    client.force_login(owner)
    listing = client.get("/admin/orders/returnrequest/")
    assert listing.status_code == 200
    assert f"/admin/orders/returnrequest/{merchant.pk}/change/" in listing.content.decode()
    assert f"/admin/orders/returnrequest/{platform.pk}/change/" not in listing.content.decode()
    assert client.get(f"/admin/orders/returnrequest/{platform.pk}/change/").status_code in (302, 404)
    page = client.get(f"/admin/orders/returnrequest/{merchant.pk}/change/")
    assert 'name="_refuse"' in page.content.decode()
    with committed():
        client.post(f"/admin/orders/returnrequest/{merchant.pk}/change/",
                    admin_form_data(page, refusal_reason="Worn and washed.", _refuse="Refuse"))
    merchant.refresh_from_db()
    assert merchant.status == R.REFUSED
    assert merchant.refusal_reason == "Worn and washed."


def test_platform_staff_receive_in_admin_and_view_only_staff_cannot(client, offers, buyer, provider,  # noqa: F811
                                                                    platform_staff):
    kettle, _towel = offers
    order = bought(offers, buyer)
    request = start(order, kettle)
    url = f"/admin/orders/returnrequest/{request.pk}/change/"
    client.force_login(staff_user("orders.view_returnrequest"))
    assert 'name="_receive"' not in client.get(url).content.decode()
    client.force_login(platform_staff)
    page = client.get(url)
    assert 'name="_receive"' in page.content.decode()
    [line] = request.lines.all()
    with committed():
        client.post(url, admin_form_data(page, **{f"condition-{line.pk}": "sellable", "_receive": "1"}))
    request.refresh_from_db()
    assert request.status == R.REFUNDED
    assert StockMovement.objects.filter(reference=f"return:{request.pk}", on_hand_delta=1).exists()


def test_return_policies_are_kept_in_admin(client, offers):
    kettle, _towel = offers
    client.force_login(staff_user("orders.add_returnpolicy", "orders.view_returnpolicy",
                                  "orders.change_returnpolicy"))
    response = client.post("/admin/orders/returnpolicy/add/", {
        "category": kettle.product.category_id, "returnable": "on", "window_days": "14",
        "buyer_pays_reasons": ["no_longer_needed", "arrived_late"]})
    assert response.status_code == 302
    policy = ReturnPolicy.objects.get()
    assert (policy.window_days, policy.buyer_pays_reasons) == (14, ["arrived_late", "no_longer_needed"])


def test_the_returns_list_and_page_query_counts_do_not_grow_with_returns(client, offers, buyer, provider,  # noqa: F811
                                                                          platform_staff,
                                                                          django_assert_max_num_queries):
    kettle, towel = offers
    order = bought(offers, buyer, quantity=4)
    receive(start(order, kettle), platform_staff)
    client.force_login(buyer)
    url = f"/api/v1/orders/{order.number}/returns/"
    page = f"/orders/{order.number}/"
    with django_assert_max_num_queries(30) as few:
        assert len(client.get(url).json()) == 1
    with django_assert_max_num_queries(60) as few_page:
        client.get(page)
    for _ in range(2):
        receive(start(order, kettle), platform_staff)
    start(order, towel)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(client.get(url).json()) == 4
    with django_assert_max_num_queries(len(few_page.captured_queries)):
        assert client.get(page).status_code == 200


def test_a_trusted_shopper_is_refunded_at_drop_off_when_the_setting_is_on(offers, buyer, provider,  # noqa: F811
                                                                          platform_staff, settings):
    kettle, _towel = offers
    settings.RETURNS_TRUSTED_MIN_ORDERS = 2
    order = bought(offers, buyer)
    first = start(order, kettle, units=1)
    assert returns.return_tracking_update(reference=f"return:{first.pk}", status="in_transit") == "in_transit"
    assert ReturnRequest.objects.get(pk=first.pk).refund_id is None  # the setting is off
    settings.RETURNS_REFUND_AT_DROP_OFF = True
    second = start(order, kettle, units=1)
    with committed():  # one delivered order only: not trusted yet
        assert returns.return_tracking_update(reference=f"return:{second.pk}", status="in_transit") == "in_transit"
    bought(offers, buyer, quantity=1)
    third_order = bought(offers, buyer, quantity=1)
    third = start(third_order, kettle, units=1)
    with committed():
        done = returns.return_tracking_update(reference=f"return:{third.pk}", status="in_transit")
    assert done == "in_transit_refunded"
    third.refresh_from_db()
    assert third.status == R.IN_TRANSIT
    assert third.refund_id is not None
    received = receive(third, platform_staff)
    assert received.status == R.REFUNDED
    assert OrderRefund.objects.filter(order=third_order).count() == 1  # not twice
    assert StockMovement.objects.filter(reference=f"return:{third.pk}").exists()


def test_a_return_that_rolls_back_keeps_no_photo_file(offers, buyer, provider, settings):  # noqa: F811
    from pathlib import Path
    from unittest import mock

    kettle, _towel = offers
    order = bought(offers, buyer)
    line, package = line_of(order, kettle), package_of(order, kettle)
    private = Path(settings.STORAGES["private"]["OPTIONS"]["location"])
    # a failure after the photos were written (here: the order's history), as a crash would
    with mock.patch("orders.returns.order_note", side_effect=RuntimeError("crash")), pytest.raises(RuntimeError):
        returns.return_start(order=order, package_id=package.pk, lines={line.pk: 1}, reason="defective",
                             user=buyer, idempotency_key="crash", photos=[png(), png("b.png")])
    assert not ReturnRequest.objects.filter(order=order).exists()
    photos = [p for p in private.rglob("*.png") if p.is_file()]
    assert photos == []  # the photos went with the rolled-back return (labels and invoices stay)


def test_a_full_refund_cancels_the_returns_not_yet_sent_and_never_refunds_twice(offers, buyer, provider,  # noqa: F811
                                                                              platform_staff):
    """A claim granted (the whole order refunded) while a return waited: the return was approved
    after, a label bought for refunded items, and receiving it failed for good."""
    kettle, towel = offers
    order = bought(offers, buyer)
    waiting = start(order, towel, reason="no_longer_needed")  # the seller has not answered
    on_its_way = start(order, kettle, reason="damaged")
    returns.return_tracking_update(reference=f"return:{on_its_way.pk}", status="in_transit")
    with committed():
        services.order_refund(order=order, reason="Claim granted", in_transit=True)
    waiting.refresh_from_db()
    assert waiting.status == R.CANCELLED
    assert "refunded meanwhile" in waiting.events.last().message
    with pytest.raises(services.IllegalTransition):
        returns.return_approve(request=waiting, actor=platform_staff)
    refunds_before = OrderRefund.objects.count()
    on_its_way.refresh_from_db()
    received = receive(on_its_way, platform_staff)  # it was already in the post: received, not refunded again
    assert received.status == R.REFUNDED
    assert received.refund_id is None
    assert OrderRefund.objects.count() == refunds_before
    order.refresh_from_db()
    assert order.refunded_amount == order.total


def test_staff_refunding_returned_units_cancels_that_return_but_not_the_others(offers, buyer, provider,  # noqa: F811
                                                                               platform_staff):
    from orders import refunds

    kettle, towel = offers
    order = bought(offers, buyer)
    towel_return = start(order, towel, reason="no_longer_needed")
    kettle_return = start(order, kettle, units=1, reason="damaged")
    with committed():
        refunds.order_refund_partial(order=order, lines={line_of(order, towel).pk: 2}, reason="Goodwill",
                                     idempotency_key="goodwill-1", actor=platform_staff)
    towel_return.refresh_from_db()
    kettle_return.refresh_from_db()
    assert towel_return.status == R.CANCELLED
    assert kettle_return.status == R.LABEL_ISSUED  # its units are still to be refunded on receipt
    assert receive(kettle_return, platform_staff).refund is not None


def test_the_order_page_offers_return_items_only_while_a_unit_can_be_returned(
        client, offers, buyer, provider):  # noqa: F811
    kettle, _towel = offers
    order = bought(offers, buyer)
    client.force_login(buyer)
    page = client.get(f"/orders/{order.number}/").content.decode()
    assert page.count("data-return-link") == 2
    start(order, kettle, units=2)  # every kettle is on its way back: nothing left to return there
    page = client.get(f"/orders/{order.number}/").content.decode()
    assert page.count("data-return-link") == 1  # the towels still can be
