"""Refunding an order in full (``order_refund`` and the admin's "Refund selected orders in full"):
a paid order that has not shipped gives its stock back once and its authorization is released; a
delivered (or completed) order gets its captured money back once and keeps its stock history; the
money moves after the commit, the customer is told, and what cannot be refunded is refused with a
message while nothing changes."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.core import mail

from core.exceptions import ApplicationError
from fulfillment.models import StockMovement
from orders import services, tasks
from orders.models import Order, OrderEvent, Package, PaymentProblem
from orders.tests.test_shipping import buy, counts, package_of, payment
from payments.models import Payment, PaymentStatus, Refund
from payments.providers import base as providers
from payments.providers.test import TestProvider
from tests.buying import ship
from tests.commit import committed
from tests.concurrency import race
from tests.factories import admin_action, seller_member, staff_user
from tests.providers import payment_provider

pytestmark = pytest.mark.django_db
S = Order.Status
ORDERS = "/admin/orders/order/"


class CountingProvider(TestProvider):
    """The test provider, recording refunds and voids; it can refuse refunds."""

    code = "test"
    calls: list = []
    refuse_refunds = False

    def refund(self, reference, amount, currency, idempotency_key):
        CountingProvider.calls.append(("refund", amount))
        if CountingProvider.refuse_refunds:
            raise providers.ProviderRefused("Charge already disputed.")
        return super().refund(reference, amount, currency, idempotency_key)

    def cancel(self, reference, idempotency_key):
        CountingProvider.calls.append(("cancel", reference))
        return super().cancel(reference, idempotency_key)


@pytest.fixture
def provider():
    CountingProvider.calls, CountingProvider.refuse_refunds = [], False
    with payment_provider("test", CountingProvider):
        yield CountingProvider


def delivered(order: Order, offer_list) -> Order:
    """Every package shipped (the payment is captured) and delivered."""
    with committed():
        for offer in offer_list:
            package = package_of(order, offer)
            ship(package)
            services.package_deliver(package=package)
    return Order.objects.get(pk=order.pk)


def refund_mails(order: Order) -> list:
    return [m for m in mail.outbox if m.subject == f"Order {order.number} refunded"]


def releases(order: Order) -> list[tuple[int, int]]:
    return list(StockMovement.objects.filter(kind=StockMovement.Kind.RELEASE, reference=f"refund:{order.number}")
                .order_by("pk").values_list("on_hand_delta", "reserved_delta"))


# --- the service ----------------------------------------------------------------------------------


def test_refunding_a_paid_order_not_yet_shipped_gives_its_stock_back_and_releases_the_authorization(
        offers, provider):
    kettle, towel = offers
    order = buy(offers)
    staff = staff_user("orders.refund_order")
    assert (counts(kettle), counts(towel)) == ((5, 2), (5, 2))

    with committed():
        services.order_refund(order=order, actor=staff, reason="ordered twice")
        # nothing leaves before the commit: no e-mail, no call to the provider
        assert refund_mails(order) == []
        assert provider.calls == []

    order.refresh_from_db()
    assert order.status == S.REFUNDED
    assert (counts(kettle), counts(towel)) == ((5, 0), (5, 0))  # reserved units back on sale, none shipped
    assert releases(order) == [(0, -2), (0, -2)]
    assert set(order.packages.values_list("status", flat=True)) == {Package.Status.CANCELLED}
    # nothing was captured, so nothing is refunded: the authorization is released
    assert payment(order).status == PaymentStatus.CANCELLED
    assert [name for name, _arg in provider.calls] == ["cancel"]
    assert not Refund.objects.exists()
    event = OrderEvent.objects.filter(order=order).order_by("pk").last()
    assert (event.from_status, event.to_status, event.message, event.actor) == (S.PAID, S.REFUNDED,
                                                                               "ordered twice", staff)
    assert len(refund_mails(order)) == 1
    assert refund_mails(order)[0].to == ["ada@example.com"]
    assert order.payment_problem == ""


def test_refunding_a_delivered_order_returns_the_captured_money_once_and_keeps_the_stock(offers, provider):
    kettle, towel = offers
    order = delivered(buy(offers), offers)
    assert order.status == S.DELIVERED
    assert payment(order).status == PaymentStatus.CAPTURED
    assert (counts(kettle), counts(towel)) == ((3, 0), (3, 0))

    with committed():
        services.order_refund(order=order, reason="arrived broken")

    order.refresh_from_db()
    paid = payment(order)
    assert order.status == S.REFUNDED
    assert (paid.status, paid.captured_amount, paid.refunded_amount) == (
        PaymentStatus.REFUNDED, order.total, order.total)
    assert provider.calls == [("refund", order.total)]
    assert list(Refund.objects.values_list("amount", "reason")) == [(order.total, "refunded")]
    # the goods left with the customer: no stock comes back, no package changes
    assert (counts(kettle), counts(towel)) == ((3, 0), (3, 0))
    assert releases(order) == []
    assert set(order.packages.values_list("status", flat=True)) == {Package.Status.DELIVERED}
    assert len(refund_mails(order)) == 1

    # the task runs again (a redelivered message): the money is not returned twice
    assert tasks.return_order_payment(order.pk, "refunded") == 0
    assert provider.calls == [("refund", order.total)]
    assert Payment.objects.get(pk=paid.pk).refunded_amount == order.total


def test_a_completed_order_can_be_refunded_too(offers, provider):
    order = delivered(buy(offers), offers)
    services.order_complete(order=order)
    with committed():
        services.order_refund(order=Order.objects.get(pk=order.pk))
    assert Order.objects.get(pk=order.pk).status == S.REFUNDED
    assert payment(order).refunded_amount == order.total


@pytest.mark.parametrize("state", ["placed", "cancelled", "partially_shipped", "shipped", "refunded"])
def test_an_order_that_cannot_be_refunded_is_refused_and_nothing_changes(offers, provider, state):
    kettle, towel = offers
    order = buy(offers)
    with committed():
        if state == "placed":
            Order.objects.filter(pk=order.pk).update(status=S.PLACED)
        elif state == "cancelled":
            services.order_cancel(order=order)
        elif state in ("partially_shipped", "shipped"):
            ship(package_of(order, kettle))
            if state == "shipped":
                ship(package_of(order, towel))
        else:
            services.order_refund(order=order)
    order = Order.objects.get(pk=order.pk)
    before = (order.status, payment(order).status, payment(order).refunded_amount, counts(kettle), counts(towel),
              OrderEvent.objects.filter(order=order).count(), len(mail.outbox), list(provider.calls))

    with committed(), pytest.raises(services.IllegalTransition) as refused:
        services.order_refund(order=order, reason="try anyway")

    assert refused.value.status_code == 409
    order = Order.objects.get(pk=order.pk)
    assert (order.status, payment(order).status, payment(order).refunded_amount, counts(kettle), counts(towel),
            OrderEvent.objects.filter(order=order).count(), len(mail.outbox), list(provider.calls)) == before


def test_a_refund_the_provider_refuses_is_flagged_for_staff(offers, provider, settings):
    settings.ADMINS = [("Ops", "ops@example.com")]
    order = delivered(buy(offers), offers)
    provider.refuse_refunds = True
    with committed():
        services.order_refund(order=order)
    order.refresh_from_db()
    assert order.status == S.REFUNDED
    assert order.payment_problem == PaymentProblem.REFUND_FAILED
    assert order.payment_problem_note == ("Could not give the money back (refunded): "
                                          "The payment provider refused the refund.")
    assert payment(order).refunded_amount == Decimal("0.00")
    assert [m.subject for m in mail.outbox if "not returned" in m.subject] == [
        f"[Django] Order {order.number}: money not returned"]


@pytest.mark.django_db(transaction=True)
def test_two_refunds_of_the_same_order_at_once_return_the_money_once(offers, provider):
    order = delivered(buy(offers), offers)
    results = race(lambda: services.order_refund(order=Order.objects.get(pk=order.pk), reason="twice"), [()] * 2)
    refused = [r for r in results if isinstance(r, ApplicationError)]
    assert len(refused) == 1, results
    assert refused[0].status_code == 409  # the other one: a clear refusal
    assert [r.status for r in results if isinstance(r, Order)] == [S.REFUNDED], results
    assert provider.calls == [("refund", order.total)]
    assert payment(order).refunded_amount == order.total
    assert OrderEvent.objects.filter(order=order, to_status=S.REFUNDED).count() == 1
    assert len(refund_mails(order)) == 1


# --- the admin action -----------------------------------------------------------------------------


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_the_admin_action_refunds_every_selected_order(client, offers, provider):
    kettle, towel = offers
    waiting, done = buy(offers), delivered(buy(offers), offers)
    assert (counts(kettle), counts(towel)) == ((3, 2), (3, 2))
    staff = staff_user("orders.view_order", "orders.refund_order")
    client.force_login(staff)

    response = admin_action(client, ORDERS, "refund_orders", waiting, done, follow=True)

    assert response.status_code == 200
    assert messages_of(response) == ["2 order(s): refunded by staff."]
    assert set(Order.objects.filter(pk__in=[waiting.pk, done.pk]).values_list("status", flat=True)) == {S.REFUNDED}
    assert (counts(kettle), counts(towel)) == ((3, 0), (3, 0))  # the waiting order's units came back
    assert payment(waiting).status == PaymentStatus.CANCELLED
    assert (payment(done).status, payment(done).refunded_amount) == (PaymentStatus.REFUNDED, done.total)
    for order in (waiting, done):
        event = OrderEvent.objects.filter(order=order, to_status=S.REFUNDED).get()
        assert (event.actor, event.message) == (staff, "refunded by staff")
        assert len(refund_mails(order)) == 1


def test_the_admin_action_says_which_order_it_could_not_refund_and_refunds_the_others(client, offers, provider):
    kettle, _towel = offers
    shipped, paid = buy(offers), buy(offers)
    with committed():
        ship(package_of(shipped, kettle))
    client.force_login(staff_user("orders.view_order", "orders.refund_order"))

    response = admin_action(client, ORDERS, "refund_orders", shipped, paid, follow=True)

    assert response.status_code == 200  # a message, never an error page
    assert sorted(messages_of(response)) == sorted([
        "1 order(s): refunded by staff.",
        f"{shipped.number}: An order that is partially shipped cannot become refunded.",
    ])
    assert Order.objects.get(pk=shipped.pk).status == S.PARTIALLY_SHIPPED
    assert payment(shipped).refunded_amount == Decimal("0.00")
    assert Order.objects.get(pk=paid.pk).status == S.REFUNDED


@pytest.mark.parametrize("who", ["change-order staff", "seller owner"])
def test_a_forged_refund_by_someone_without_the_permission_changes_nothing(client, offers, provider, who):
    kettle, towel = offers
    order = delivered(buy(offers), offers)
    user = (staff_user("orders.view_order", "orders.change_order") if who == "change-order staff"
            else seller_member(kettle.seller, role="owner"))
    client.force_login(user)

    response = admin_action(client, ORDERS, "refund_orders", order)

    assert response.status_code in (200, 302, 403)
    assert Order.objects.get(pk=order.pk).status == S.DELIVERED
    assert payment(order).refunded_amount == Decimal("0.00")
    assert provider.calls == []
    assert refund_mails(order) == []
    assert (counts(kettle), counts(towel)) == ((3, 0), (3, 0))


class CapturedMeanwhileProvider(CountingProvider):
    """The authorization was captured at the provider after we last looked (a gift card's capture in
    a worker, the provider's dashboard): a cancel is refused and the payment is found captured."""

    def cancel(self, reference, idempotency_key):
        CountingProvider.calls.append(("cancel", reference))
        raise providers.ProviderRefused("This PaymentIntent has already been captured.")

    def retrieve(self, reference):
        return providers.ProviderResult(providers.CAPTURED, reference)


def test_a_cancelled_order_whose_payment_was_captured_meanwhile_gets_its_money_refunded(offers):
    CountingProvider.calls, CountingProvider.refuse_refunds = [], False
    with payment_provider("test", CapturedMeanwhileProvider):
        order = buy(offers)
        assert payment(order).status == PaymentStatus.AUTHORIZED
        with committed():
            services.order_cancel(order=order, reason="changed my mind")
    order.refresh_from_db()
    paid = payment(order)
    assert order.status == S.CANCELLED
    assert order.payment_problem == ""  # nobody needs to step in: the money went back
    assert (paid.status, paid.captured_amount, paid.refunded_amount) == (
        PaymentStatus.REFUNDED, order.total, order.total)
    assert [name for name, _arg in CountingProvider.calls] == ["cancel", "refund"]
    assert list(Refund.objects.filter(payment=paid).values_list("amount", flat=True)) == [order.total]
