"""Partial refunds (``orders.refunds``): some units of some lines and a package's shipping, on
shipped, delivered or completed orders, several times, never beyond what was paid (also at once),
every amount explained and summing exactly; the seller's ledger takes its share once."""

from __future__ import annotations

import random
import uuid
from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.core import mail

from core.exceptions import ApplicationError
from finance.models import LedgerEntry
from orders import refunds, services
from orders.models import Order, OrderLine, OrderRefund, Package, PaymentProblem
from orders.tests.test_refund import CountingProvider, delivered
from orders.tests.test_shipping import buy, package_of, payment
from tests.commit import committed
from tests.concurrency import race
from tests.providers import payment_provider

pytestmark = pytest.mark.django_db
E = LedgerEntry.Kind


@pytest.fixture
def provider():
    """The test provider, recording refunds (and refusing them when told)."""
    CountingProvider.calls, CountingProvider.refuse_refunds = [], False
    with payment_provider("test", CountingProvider):
        yield CountingProvider


def refund(order, lines=None, shipping=(), key=None, reason="Arrived damaged"):
    with committed():  # the money goes back and the e-mail leaves after the commit
        return refunds.order_refund_partial(order=order, lines=lines or {}, shipping=shipping, reason=reason,
                                            idempotency_key=key or uuid.uuid4().hex)


def line_of(order, offer) -> OrderLine:
    return OrderLine.objects.get(order=order, offer=offer)


@pytest.mark.parametrize("seed", range(20))
def test_shares_of_a_line_always_sum_to_its_total(seed):
    rng = random.Random(seed)
    quantity = rng.randint(1, 9)
    total = Decimal(rng.randint(1, 100_000)) / 100
    done_units, done_amount = 0, Decimal("0.00")
    while done_units < quantity:
        units = rng.randint(1, quantity - done_units)
        amount = refunds.share(total, units, quantity, done_units, "USD")
        # cumulative: after k units exactly total x k / n (rounded) was given back, whatever the steps
        assert done_amount + amount == (total * (done_units + units) / quantity).quantize(Decimal("0.01"),
                                                                                          ROUND_HALF_UP)
        assert amount >= 0
        assert amount == amount.quantize(Decimal("0.01"))
        done_units, done_amount = done_units + units, done_amount + amount
    assert done_amount == total


def test_units_of_a_line_step_by_step_give_back_exactly_its_total(offers, provider):
    kettle, towel = offers
    order = delivered(buy(offers, quantity=2), offers)
    kettle_line = line_of(order, kettle)
    mail.outbox.clear()

    first = refund(order, {kettle_line.pk: 1})
    first.refresh_from_db()
    half = (kettle_line.total / 2).quantize(Decimal("0.01"))
    assert (first.amount, first.items_amount, first.shipping_amount, first.status) == (
        half, half, Decimal("0.00"), OrderRefund.Status.SUCCEEDED)
    assert provider.calls == [("refund", half)]
    assert payment(order).refunded_amount == half
    assert payment(order).status == "partially_refunded"
    [email] = mail.outbox
    assert email.subject == f"Order {order.number}: ${half} refunded"
    assert "1 x Blue Kettle" in email.body
    assert "Arrived damaged" in email.body

    second = refund(order, {kettle_line.pk: 1})
    assert second.amount == kettle_line.total - half  # the last unit: what is left of the line
    kettle_line.refresh_from_db()
    assert (kettle_line.refunded_quantity, kettle_line.refunded_amount) == (2, kettle_line.total)
    with pytest.raises(ApplicationError, match="at most 0 more unit"):
        refund(order, {kettle_line.pk: 1})
    order.refresh_from_db()
    assert order.refunded_amount == kettle_line.total
    assert order.status == Order.Status.DELIVERED  # partly refunded: it stays what it was
    assert "Refunded" in order.events.order_by("pk").last().message


def test_shipping_is_given_back_whole_and_once(offers, provider):
    kettle, towel = offers
    order = delivered(buy(offers, quantity=1), offers)
    merchant = package_of(order, towel)  # $4.99 shipping
    done = refund(order, shipping=[merchant.pk])
    assert done.shipping_amount == merchant.shipping_price + merchant.shipping_tax
    assert done.shipping_packages == [merchant.pk]
    with pytest.raises(ApplicationError, match="free or is refunded already"):
        refund(order, shipping=[merchant.pk])
    with pytest.raises(ApplicationError, match="free or is refunded already"):
        refund(order, shipping=[package_of(order, kettle).pk])  # free shipping: nothing to give back


def test_what_cannot_be_refunded_is_refused_and_nothing_changes(offers, provider):
    kettle, towel = offers
    order = buy(offers, quantity=1)  # paid, nothing shipped
    line = line_of(order, kettle)
    with pytest.raises(ApplicationError, match="has not shipped yet"):
        refund(order, {line.pk: 1})
    delivered(order, offers)
    other = buy(offers, quantity=1)
    cases = [({line_of(other, kettle).pk: 1}, "not part of order"), ({line.pk: 5}, "at most 1 more"),
             ({line.pk: "two"}, "whole number"), ({line.pk: -1}, "whole number"), ({}, "Choose units"),
             ({line.pk: 0}, "Choose units")]
    for lines, message in cases:
        with pytest.raises(ApplicationError, match=message):
            refund(order, lines)
    with pytest.raises(ApplicationError, match="Say why"):
        refund(order, {line.pk: 1}, reason="  ")
    assert not OrderRefund.objects.exists()
    assert provider.calls == []
    assert Order.objects.get(pk=order.pk).refunded_amount == 0


def test_the_same_key_refunds_once(offers, provider):
    kettle, _towel = offers
    order = delivered(buy(offers, quantity=2), offers)
    line = line_of(order, kettle)
    first = refund(order, {line.pk: 1}, key="k-1")
    again = refund(order, {str(line.pk): "1"}, key="k-1")  # a retried request (a form sends text)
    assert again.pk == first.pk
    # The key sent again for another refund (more units, shipping too) is refused: never "refunded" twice over.
    from core.exceptions import IdempotencyKeyReused

    with pytest.raises(IdempotencyKeyReused):
        refund(order, {line.pk: 2}, key="k-1")
    with pytest.raises(IdempotencyKeyReused):
        refund(order, {line.pk: 1}, shipping=[line.package_id], key="k-1")
    with pytest.raises(IdempotencyKeyReused):
        refund(order, {line.pk: 1}, key="k-1", reason="Another reason")
    assert OrderRefund.objects.count() == 1
    assert len(provider.calls) == 1
    assert line_of(order, kettle).refunded_quantity == 1


@pytest.mark.django_db(transaction=True)
def test_two_refunds_of_the_last_units_at_once_refund_once(offers, provider):
    kettle, _towel = offers
    order = delivered(buy(offers, quantity=1), offers)
    line = line_of(order, kettle)
    results = race(lambda key: refunds.order_refund_partial(order=order, lines={line.pk: 1}, reason="Twice",
                                                            idempotency_key=key), [("a",), ("b",)])
    won = [r for r in results if isinstance(r, OrderRefund)]
    lost = [r for r in results if isinstance(r, ApplicationError)]
    assert len(won) == 1, results
    assert len(lost) == 1
    assert "at most 0 more" in str(lost[0].message)
    assert OrderLine.objects.get(pk=line.pk).refunded_quantity == 1
    assert Order.objects.get(pk=order.pk).refunded_amount == line.total


def test_never_beyond_what_was_paid_then_a_full_refund_returns_the_rest(offers, provider):
    kettle, towel = offers
    order = delivered(buy(offers, quantity=2), offers)
    refund(order, {line_of(order, kettle).pk: 1, line_of(order, towel).pk: 2},
           shipping=[package_of(order, towel).pk])
    with committed():
        services.order_refund(order=Order.objects.get(pk=order.pk), reason="The rest")
    paid = payment(order)
    assert paid.refunded_amount == paid.captured_amount == order.total  # everything back, nothing more
    assert paid.status == "refunded"
    order.refresh_from_db()
    assert (order.status, order.refunded_amount) == (Order.Status.REFUNDED, order.total)


def test_a_refused_refund_is_flagged_for_staff(offers, provider):
    kettle, _towel = offers
    order = delivered(buy(offers, quantity=1), offers)
    provider.refuse_refunds = True
    done = refund(order, {line_of(order, kettle).pk: 1})
    done.refresh_from_db()
    assert done.status == OrderRefund.Status.FAILED
    order.refresh_from_db()
    assert order.payment_problem == PaymentProblem.REFUND_FAILED
    assert payment(order).refunded_amount == 0  # the provider's refusal gave the reservation back


def test_the_sellers_ledger_takes_back_its_share_once_and_a_full_refund_only_the_rest(offers, provider):
    _kettle, towel = offers  # the towel's seller ships itself: sale, fee and shipping credit posted
    order = delivered(buy([towel], quantity=3), [towel])
    line = line_of(order, towel)
    seller = towel.seller_id

    def posted(kind):
        return sorted(e.amount for e in LedgerEntry.objects.filter(seller_id=seller, kind=kind))

    first = refund(order, {line.pk: 1})
    refund(order, {line.pk: 1}, shipping=[package_of(order, towel).pk])
    from finance import services as finance_services

    finance_services.ledger_post_order_partially_refunded(refund_id=first.pk)  # replayed: nothing more
    third_share = (line.subtotal / 3).quantize(Decimal("0.01"))
    assert posted(E.REFUND) == sorted([-third_share, -third_share, -Package.objects.get(
        order=order, seller_id=seller).shipping_price])
    fee_share = (line.referral_fee / 3).quantize(Decimal("0.01"))
    assert posted(E.REFERRAL_FEE_REFUND) == [fee_share, fee_share]
    with committed():
        services.order_refund(order=Order.objects.get(pk=order.pk), reason="The rest")
    refunded_sale = -sum(e.amount for e in LedgerEntry.objects.filter(
        seller_id=seller, kind=E.REFUND).exclude(description="shipping"))
    assert refunded_sale == line.subtotal  # the three thirds, exactly
    returned_fee = sum(e.amount for e in LedgerEntry.objects.filter(seller_id=seller, kind=E.REFERRAL_FEE_REFUND))
    assert returned_fee == line.referral_fee
    assert LedgerEntry.objects.filter(seller_id=seller, kind=E.REFUND, description="shipping").count() == 1


def test_staff_refund_from_admin_once_per_form_and_the_buyer_sees_it(client, offers, provider):
    from django.test import Client

    from orders import selectors
    from tests.factories import staff_user

    kettle, towel = offers
    order = delivered(buy(offers, quantity=2), offers)
    line = line_of(order, kettle)
    url = f"/admin/orders/order/{order.pk}/refund/"
    viewer = Client()
    viewer.force_login(staff_user("orders.view_order"))
    assert viewer.get(url).status_code == 403  # viewing orders is not refunding them
    assert viewer.post(url, {"key": "x", f"units-{line.pk}": "1", "reason": "No"}).status_code == 403
    staff = Client()
    staff.force_login(staff_user("orders.view_order", "orders.change_order", "orders.refund_order"))
    form = staff.get(url)
    assert f'name="units-{line.pk}"' in form.content.decode()
    key = form.context["key"]
    body = {"key": key, f"units-{line.pk}": "1", "reason": "Dented lid"}
    with committed():
        first = staff.post(url, body)
        again = staff.post(url, body)  # a double submit
    assert first.status_code == again.status_code == 302
    assert OrderRefund.objects.count() == 1
    bad = staff.post(url, {"key": "other", f"units-{line.pk}": "9", "reason": "Too many"})
    assert "at most 1 more unit" in bad.content.decode()
    page = staff.get(f"/admin/orders/order/{order.pk}/change/").content.decode()
    assert "Dented lid" in page
    buyer_page = client.get(selectors.guest_link_path(order=order), follow=True).content.decode()
    assert "Dented lid" in buyer_page
    assert "1 x Blue Kettle" in buyer_page
    # The order's status line says money came back, beside "Delivered" (a part refund keeps the status).
    refunded = OrderRefund.objects.get().amount
    assert "Status: <strong>Delivered</strong>" in buyer_page
    assert f"${refunded} refunded" in buyer_page
    assert f"Back to the card you paid with: ${refunded}" in buyer_page  # where the money went
    assert "To your store credit" not in buyer_page


def test_staff_refund_through_the_api_and_the_buyer_reads_it(offers, provider):
    from rest_framework.test import APIClient

    from tests.factories import UserFactory, seller_member, staff_user

    kettle, towel = offers
    order = delivered(buy(offers, quantity=2), offers)
    line = line_of(order, kettle)
    url = f"/api/v1/orders/{order.number}/refunds/"
    api = APIClient()
    assert api.post(url, {}, format="json").status_code == 401
    api.force_authenticate(seller_member(towel.seller, role="owner"))
    assert api.post(url, {"lines": [{"line": line.pk, "quantity": 1}], "reason": "x"}, format="json",
                    HTTP_IDEMPOTENCY_KEY="k").status_code == 403  # a seller does not refund through Bazaar's API
    api.force_authenticate(staff_user("orders.refund_order"))
    assert api.post(url, {"lines": [{"line": line.pk, "quantity": 1}], "reason": "x"},
                    format="json").status_code == 400  # no key
    for bad in ({"lines": "all", "reason": "x"}, {"lines": [{"line": "a", "quantity": 1}], "reason": "x"},
                {"lines": [{"line": line.pk, "quantity": 10**30}], "reason": "x"}, {"lines": []},
                {"shipping": [package_of(order, kettle).pk], "reason": "x"}):
        response = api.post(url, bad, format="json", HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex)
        assert response.status_code == 400, (bad, response.content)
    assert api.post("/api/v1/orders/BZ-NOPE/refunds/", {"lines": [{"line": line.pk, "quantity": 1}],
                                                        "reason": "x"}, format="json",
                    HTTP_IDEMPOTENCY_KEY="k2").status_code == 404
    with committed():
        made = api.post(url, {"lines": [{"line": line.pk, "quantity": 1}], "reason": "Scratched"}, format="json",
                        HTTP_IDEMPOTENCY_KEY="k3")
        again = api.post(url, {"lines": [{"line": line.pk, "quantity": 1}], "reason": "Scratched"}, format="json",
                         HTTP_IDEMPOTENCY_KEY="k3")
    assert made.status_code == 201, made.content
    assert again.json()["id"] == made.json()["id"]
    assert made.json()["lines"][0]["quantity"] == 1
    owner = UserFactory()
    Order.objects.filter(pk=order.pk).update(user=owner)
    api.force_authenticate(owner)
    mine = api.get(f"/api/v1/orders/{order.number}/").json()
    assert mine["refunded_amount"] == made.json()["amount"]
    assert mine["refunds"][0]["reason"] == "Scratched"
    assert mine["packages"][0]["lines"][0]["refunded_quantity"] in (0, 1)


def test_a_refund_as_store_credit_keeps_the_card_money_and_is_never_given_twice(offers, provider):
    from payments import selectors as payment_selectors
    from tests.factories import UserFactory

    kettle, towel = offers
    order = delivered(buy(offers, quantity=2), offers)
    with pytest.raises(ApplicationError, match="placed as a guest"):
        refunds.order_refund_partial(order=order, lines={line_of(order, kettle).pk: 1}, reason="Credit",
                                     idempotency_key="g", to_store_credit=True)
    owner = UserFactory()
    Order.objects.filter(pk=order.pk).update(user=owner)
    order.refresh_from_db()
    mail.outbox.clear()
    with committed():
        done = refunds.order_refund_partial(order=order, lines={line_of(order, kettle).pk: 2}, reason="Credit",
                                            idempotency_key="c", to_store_credit=True)
    assert done.status == OrderRefund.Status.SUCCEEDED
    assert payment_selectors.store_credit_balance(user=owner).amount == done.amount
    assert provider.calls == []  # the card keeps the money
    assert "store credit" in mail.outbox[-1].body
    from django.test import Client

    shopper = Client()
    shopper.force_login(owner)
    page = shopper.get(f"/orders/{order.number}/").content.decode()
    assert f"To your store credit: ${done.amount}" in page
    assert "Back to the card you paid with" not in page
    with committed():
        services.order_refund(order=Order.objects.get(pk=order.pk), reason="The rest to the card")
    paid = payment(order)
    assert paid.refunded_amount == paid.captured_amount - done.amount  # the credited part is not refunded again
    assert payment_selectors.store_credit_balance(user=owner).amount == done.amount


def test_each_seller_gets_a_credit_note_matching_the_refund_exactly(offers, provider):
    from finance.models import CreditNote, Invoice

    kettle, towel = offers
    order = delivered(buy(offers, quantity=3), offers)
    first = refund(order, {line_of(order, kettle).pk: 1, line_of(order, towel).pk: 2},
                   shipping=[package_of(order, towel).pk])
    second = refund(order, {line_of(order, kettle).pk: 2})
    notes = CreditNote.objects.filter(invoice__order_id=order.pk)
    assert notes.count() == 3  # the first refund: one per seller; the second: the kettle's seller
    for done in (first, second):
        credited = sum(n.total for n in notes.filter(source=f"refund:{done.pk}"))
        assert credited == done.amount  # the credit notes say exactly what the refund gave back
    kettle_invoice = Invoice.objects.get(order_id=order.pk, seller_id=kettle.seller_id)
    assert sum(n.total for n in notes.filter(invoice=kettle_invoice)) == kettle_invoice.total  # all of it
    from finance import invoices

    assert len(invoices.credit_notes_for_refund(refund_id=first.pk)) == 2  # replayed: the same two
    assert notes.count() == 3


def test_staff_try_a_refused_refund_again_and_it_is_paid_once(offers, provider):
    from django.test import Client

    from tests.factories import admin_action, admin_actions, staff_user

    kettle, _towel = offers
    order = delivered(buy(offers, quantity=1), offers)
    provider.refuse_refunds = True
    done = refund(order, {line_of(order, kettle).pk: 1})
    done.refresh_from_db()
    assert done.status == OrderRefund.Status.FAILED
    provider.refuse_refunds = False
    viewer = Client()
    viewer.force_login(staff_user("orders.view_orderrefund"))
    assert "retry_refunds" not in admin_actions(viewer.get("/admin/orders/orderrefund/"))
    staff = Client()
    staff.force_login(staff_user("orders.view_orderrefund", "orders.refund_order"))
    with committed():
        admin_action(staff, "/admin/orders/orderrefund/", "retry_refunds", done)
    done.refresh_from_db()
    assert (done.status, done.retries) == (OrderRefund.Status.SUCCEEDED, 1)
    assert payment(order).refunded_amount == done.amount  # paid once, on the second try
    with pytest.raises(ApplicationError, match="Only a failed refund"):
        refunds.refund_retry(refund=done)


def test_a_package_refunded_in_full_offers_no_return(client, offers, provider):
    from orders import selectors

    kettle, _towel = offers
    order = delivered(buy(offers, quantity=1), offers)
    page = client.get(selectors.guest_link_path(order=order), follow=True).content.decode()
    assert page.count("data-return-link") == 2
    refund(order, {line_of(order, kettle).pk: 1})
    page = client.get(selectors.guest_link_path(order=order), follow=True).content.decode()
    assert page.count("data-return-link") == 1  # the kettle is refunded: nothing of it to return
