"""No order is ever stranded, stock is released exactly once, keys belong to their owner.

Issue 9 points 2, 3 and 4 at the level of the services and the API, with the built-in test provider
(and a provider that fails on purpose). Stripe's browser flow is covered in tests/test_stripe_payments.py.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.db.models import Sum
from django.utils import timezone
from rest_framework.test import APIClient

from checkout import services
from checkout.models import CartLine
from core.exceptions import ApplicationError, Conflict, IdempotencyKeyReused
from fulfillment.models import StockItem, StockMovement
from orders import services as orders_services
from orders import tasks as orders_tasks
from orders.models import Order, OrderReservation, PaymentProblem
from payments import services as payment_services
from payments.exceptions import PaymentDeclined, PaymentInProgress, PaymentUnavailable
from payments.models import Payment, PaymentStatus
from payments.providers import base as providers
from payments.providers.test import TestProvider
from tests.buying import ADDRESS, GOOD_CARD, cart_with, place, ship
from tests.commit import committed
from tests.concurrency import race
from tests.factories import OfferFactory, UserFactory, shipping_method, stock
from tests.providers import payment_provider


class FlakyProvider(TestProvider):
    """The test provider, unreachable while ``down`` is set, counting the calls that reach it."""

    code = "test"
    down = False
    cancel_down = False
    calls: list = []

    def authorize(self, amount, currency, payment_method, idempotency_key, metadata):
        FlakyProvider.calls.append(("authorize", idempotency_key, str(payment_method)))
        if FlakyProvider.down:
            raise providers.ProviderError("connection timed out")
        return super().authorize(amount, currency, payment_method, idempotency_key, metadata)

    def cancel(self, reference, idempotency_key):
        FlakyProvider.calls.append(("cancel", idempotency_key, reference))
        if FlakyProvider.cancel_down:
            raise providers.ProviderError("connection reset")
        return super().cancel(reference, idempotency_key)

    def capture(self, reference, amount, currency, idempotency_key):
        FlakyProvider.calls.append(("capture", idempotency_key, reference))
        return super().capture(reference, amount, currency, idempotency_key)


@pytest.fixture
def flaky():
    FlakyProvider.down = FlakyProvider.cancel_down = False
    FlakyProvider.calls = []
    with payment_provider("test", FlakyProvider):
        yield FlakyProvider


@pytest.fixture
def methods():
    shipping_method(channel="platform", price="0.00", code="free")
    shipping_method(channel="merchant", price="4.99", code="standard")


def reserved(item: StockItem) -> int:
    item.refresh_from_db()
    return item.reserved


def authorizations(provider) -> list:
    return [call for call in provider.calls if call[0] == "authorize"]


# --- 2. No order is ever stranded ----------------------------------------------------------------


@pytest.mark.django_db
class TestUnreachableProvider:
    def test_a_retry_with_the_same_key_pays_the_same_order_with_the_card_given_first(self, methods, flaky):
        offer = OfferFactory(price=Decimal("12.00"))
        item = stock(offer, 5)
        cart = cart_with((offer, 2))
        flaky.down = True
        with pytest.raises(PaymentUnavailable):
            place(cart, key="k-1")
        order = Order.objects.get()
        assert order.status == Order.Status.PLACED  # kept, with its stock, waiting for the retry
        assert reserved(item) == 2
        assert CartLine.objects.filter(cart=cart).exists()
        payment = Payment.objects.get()
        assert payment.status == PaymentStatus.PENDING
        assert payment.payment_method == "pm_test_ok_4242"  # the token, never the number
        assert GOOD_CARD not in payment.payment_method

        flaky.down = False
        placed = place(cart, key="k-1", card="")  # the card field left empty: the one given first
        assert placed.order.pk == order.pk
        assert not placed.created
        assert placed.order.status == Order.Status.PAID
        assert Order.objects.count() == Payment.objects.count() == 1
        assert [call[1] for call in authorizations(flaky)] == [payment.idempotency_key] * 2
        assert reserved(item) == 2
        assert not CartLine.objects.filter(cart=cart).exists()
        assert len([m for m in mail.outbox if order.number in m.subject]) == 1

    def test_a_retry_with_another_card_is_another_request(self, methods, flaky):
        offer = OfferFactory()
        stock(offer, 5)
        cart = cart_with((offer, 1))
        flaky.down = True
        with pytest.raises(PaymentUnavailable):
            place(cart, key="k-2")
        flaky.down = False
        with pytest.raises(IdempotencyKeyReused) as exc:
            place(cart, key="k-2", card="5555555555554444")
        assert exc.value.status_code == 422
        assert Order.objects.get().status == Order.Status.PLACED
        assert len(authorizations(flaky)) == 1

    def test_a_retry_with_a_new_key_while_the_first_order_waits_is_refused_not_a_second_order(self, methods,
                                                                                                 flaky):
        offer = OfferFactory()
        item = stock(offer, 5)
        cart = cart_with((offer, 1))
        flaky.down = True
        with pytest.raises(PaymentUnavailable):
            place(cart, key="timed-out")
        first = Order.objects.get()
        flaky.down = False
        with pytest.raises(Conflict) as refused:  # a client that timed out and retried with a fresh key
            place(cart, key="fresh")
        assert refused.value.code == "order_in_progress"
        assert first.number in refused.value.message
        assert Order.objects.count() == 1
        assert reserved(item) == 1
        assert place(cart, key="timed-out", card="").order.pk == first.pk  # the first key finishes it
        # Once nothing waits (given up, or long ago), a new key is a new order again.
        Order.objects.filter(pk=first.pk).update(placed_at=timezone.now() - services.PLACING_GUARD)
        assert place(cart_with((offer, 1)), key="later").created

    def test_the_api_never_answers_placed_for_an_unpaid_order(self, methods, flaky):
        offer = OfferFactory(price=Decimal("10.00"))
        stock(offer, 5)
        client = APIClient()
        assert client.post("/api/v1/cart/lines/", {"offer": offer.pk, "quantity": 1}, format="json").status_code == 201
        body = {"email": "api@example.com", "shipping_address": ADDRESS, "payment_method": GOOD_CARD}
        flaky.down = True
        first = client.post("/api/v1/checkout/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY="api-k")
        assert first.status_code == 503
        assert first.json()["error"]["code"] == "payment_unavailable"
        # Still down: the same request again is again a 503, never the unpaid order as if placed.
        again = client.post("/api/v1/checkout/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY="api-k")
        assert again.status_code == 503
        flaky.down = False
        paid = client.post("/api/v1/checkout/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY="api-k")
        assert paid.status_code == 200, paid.content
        assert paid.json()["status"] == "paid"
        assert paid.json()["payment"] is None
        assert Order.objects.count() == Payment.objects.count() == 1
        assert len(authorizations(flaky)) == 3

    def test_a_request_still_talking_to_the_provider_is_a_409_not_a_placed_order(self, methods, flaky):
        offer = OfferFactory()
        stock(offer, 5)
        cart = cart_with((offer, 1))
        flaky.down = True
        with pytest.raises(PaymentUnavailable):
            place(cart, key="k-3")
        Payment.objects.update(locked_until=timezone.now() + timedelta(seconds=30))  # another request holds it
        with pytest.raises(PaymentInProgress):
            place(cart, key="k-3")
        assert Order.objects.get().status == Order.Status.PLACED


@pytest.mark.django_db
class TestProviderRefusals:
    def test_an_error_the_provider_answered_is_a_failure_and_leaves_no_order(self, methods):
        class Refusing(TestProvider):
            code = "test"

            def authorize(self, *args):
                raise providers.ProviderRefused("Invalid API Key provided", code="api_key_invalid")

        offer = OfferFactory()
        item = stock(offer, 5)
        cart = cart_with((offer, 2))
        with payment_provider("test", Refusing), pytest.raises(PaymentDeclined) as exc:
            place(cart)
        assert exc.value.code == "payment_failed"
        assert "nothing was charged" in exc.value.message
        assert exc.value.status_code == 402  # a failure, never "provider unreachable" (503)
        assert not Order.objects.exists()
        assert reserved(item) == 0
        assert CartLine.objects.filter(cart=cart, quantity=2).exists()
        payment = Payment.objects.get()
        assert (payment.status, payment.decline_code) == (PaymentStatus.FAILED, "api_key_invalid")


@pytest.mark.django_db
class TestSettleJob:
    def _unpaid(self, offer, *, age=timedelta(hours=1), quantity=1, payment=None):
        """An order left unpaid ``age`` ago (the process stopped, or the provider never answered)."""
        cart = cart_with((offer, quantity))
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(services.payment_services, "payment_authorize",
                          lambda **kw: (_ for _ in ()).throw(PaymentUnavailable("down")))
            with pytest.raises(PaymentUnavailable):
                place(cart)
        order = Order.objects.latest("pk")
        Order.objects.filter(pk=order.pk).update(placed_at=timezone.now() - age)
        return order

    def test_it_walks_every_unpaid_order_not_the_same_oldest_batch_for_ever(self, methods, flaky):
        offer = OfferFactory()
        item = stock(offer, 20)
        stuck = []
        for _ in range(3):  # payments another worker is asking about right now: left alone
            order = self._unpaid(offer, age=timedelta(minutes=40))
            Payment.objects.create(provider="test", amount=order.total, currency="USD", reference=order.number,
                                   idempotency_key=f"order:{order.idempotency_owner}:{order.idempotency_key}",
                                   locked_until=timezone.now() + timedelta(minutes=5))
            stuck.append(order)
        never_paid = self._unpaid(offer)  # newest: no payment at all
        result = services.settle_unpaid_orders(batch=2)
        assert result["discarded"] == 1
        assert result["waiting"] == 3
        assert not Order.objects.filter(pk=never_paid.pk).exists()
        assert Order.objects.filter(pk__in=[o.pk for o in stuck], status=Order.Status.PLACED).count() == 3
        assert reserved(item) == 3

    def test_it_asks_the_provider_again_once_the_lease_expired(self, methods, flaky):
        offer = OfferFactory()
        item = stock(offer, 5)
        cart = cart_with((offer, 1))
        flaky.down = True
        with pytest.raises(PaymentUnavailable):
            place(cart)
        order = Order.objects.get()
        Order.objects.filter(pk=order.pk).update(placed_at=timezone.now() - timedelta(hours=1))
        flaky.down = False
        assert services.settle_unpaid_orders()["paid"] == 1
        assert Order.objects.get().status == Order.Status.PAID
        assert reserved(item) == 1
        assert services.settle_unpaid_orders()["paid"] == 0  # nothing left to settle

    def test_a_provider_still_down_leaves_the_order_for_the_next_run(self, methods, flaky):
        offer = OfferFactory()
        stock(offer, 5)
        flaky.down = True
        with pytest.raises(PaymentUnavailable):
            place(cart_with((offer, 1)))
        Order.objects.update(placed_at=timezone.now() - timedelta(hours=1))
        result = services.settle_unpaid_orders()
        assert result["unavailable"] == 1
        assert Order.objects.get().status == Order.Status.PLACED
        assert Payment.objects.get().status == PaymentStatus.PENDING  # never given up while the outcome is unknown

    def test_recent_orders_are_left_alone(self, methods):
        offer = OfferFactory()
        stock(offer, 5)
        self._unpaid(offer, age=timedelta(minutes=1))
        assert services.settle_unpaid_orders()["discarded"] == 0
        assert Order.objects.count() == 1

    def test_a_late_authorization_for_an_order_given_up_is_voided(self, methods, flaky):
        offer = OfferFactory()
        item = stock(offer, 5)
        order = self._unpaid(offer)
        assert services.settle_unpaid_orders()["discarded"] == 1
        assert reserved(item) == 0
        # ...and then the provider reports the payment went through after all (a late webhook).
        late = payment_services.payment_authorize(
            amount=order.total, currency="USD", payment_method=GOOD_CARD, reference=order.number,
            idempotency_key=f"order:{order.idempotency_owner}:{order.idempotency_key}",
        )
        assert services.settle_order_payment(payment_id=late.pk) == services.VOIDED
        assert Payment.objects.get(pk=late.pk).status == PaymentStatus.CANCELLED
        assert not Order.objects.exists()

    def test_a_late_authorization_for_a_cancelled_order_is_voided(self, methods, flaky):
        offer = OfferFactory()
        stock(offer, 5)
        order = self._unpaid(offer, age=timedelta(0))
        with committed():
            orders_services.order_cancel(order=order, reason="changed my mind")
        late = payment_services.payment_authorize(
            amount=order.total, currency="USD", payment_method=GOOD_CARD, reference=order.number,
            idempotency_key=f"order:{order.idempotency_owner}:{order.idempotency_key}",
        )
        assert services.settle_order_payment(payment_id=late.pk) == services.VOIDED
        assert Payment.objects.get(pk=late.pk).status == PaymentStatus.CANCELLED
        assert Order.objects.get().status == Order.Status.CANCELLED

    def test_a_payment_that_is_not_an_orders_is_left_alone(self):
        other = payment_services.payment_authorize(amount=Decimal("5"), currency="USD", payment_method=GOOD_CARD,
                                                   reference="membership:1", idempotency_key="membership:1:x")
        assert services.settle_order_payment(payment_id=other.pk) == services.NOTHING
        assert Payment.objects.get().status == PaymentStatus.AUTHORIZED


@pytest.mark.django_db
class TestAuthorizationExpiry:
    def _paid(self, offer):
        order = place(cart_with((offer, 1))).order
        payment = Payment.objects.get(reference=order.number)
        return order, payment

    def test_an_authorization_about_to_lapse_is_captured_before_shipping(self, methods, flaky):
        offer = OfferFactory()
        stock(offer, 5)
        order, payment = self._paid(offer)
        assert payment.authorization_expires_at > timezone.now() + timedelta(days=6)
        assert orders_services.order_secure_expiring_payments() == {"captured": 0, "flagged": 0}
        Payment.objects.filter(pk=payment.pk).update(authorization_expires_at=timezone.now() + timedelta(hours=3))
        assert orders_services.order_secure_expiring_payments() == {"captured": 1, "flagged": 0}
        assert Payment.objects.get(pk=payment.pk).status == PaymentStatus.CAPTURED
        assert orders_services.order_secure_expiring_payments() == {"captured": 0, "flagged": 0}

    def test_a_lapsed_authorization_is_flagged_and_the_package_cannot_ship(self, methods):
        class NoCapture(TestProvider):
            code = "test"

            def capture(self, *args):
                raise providers.ProviderRefused("This PaymentIntent could not be captured because it has expired.")

        offer = OfferFactory()
        item = stock(offer, 5)
        order, payment = self._paid(offer)
        Payment.objects.filter(pk=payment.pk).update(authorization_expires_at=timezone.now() - timedelta(hours=1))
        with payment_provider("test", NoCapture):
            assert orders_services.order_secure_expiring_payments() == {"captured": 0, "flagged": 1}
            order.refresh_from_db()
            assert order.payment_problem == PaymentProblem.AUTHORIZATION_EXPIRED
            assert orders_services.order_secure_expiring_payments()["flagged"] == 0  # staff are told once
        package = order.packages.get()
        with pytest.raises(orders_services.IllegalTransition) as exc:
            ship(package, tracking_number="1Z")
        assert exc.value.code == "no_live_payment"
        package.refresh_from_db()
        assert package.status == package.Status.PENDING
        assert (item.refresh_from_db(), item.on_hand, item.reserved)[1:] == (5, 1)  # nothing left the shelf

    def test_a_payment_cancelled_at_the_provider_on_a_paid_order_is_flagged_for_staff(self, methods):
        offer = OfferFactory()
        stock(offer, 5)
        order, payment = self._paid(offer)
        Payment.objects.filter(pk=payment.pk).update(status=PaymentStatus.CANCELLED)  # e.g. expired at Stripe
        assert services.settle_order_payment(payment_id=payment.pk) == services.FLAGGED
        order.refresh_from_db()
        assert (order.status, order.payment_problem) == (Order.Status.PAID, PaymentProblem.PAYMENT_CANCELLED)
        assert order.events.filter(message__contains="Payment problem").count() == 1
        assert services.settle_order_payment(payment_id=payment.pk) == services.NOTHING  # told once


# --- 3. Stock is released exactly once --------------------------------------------------------------


def release_movements(item: StockItem, number: str) -> int:
    return StockMovement.objects.filter(stock_item=item, kind=StockMovement.Kind.RELEASE,
                                        reference__endswith=number).count()


@pytest.mark.django_db
class TestReleaseOnce:
    def test_refunding_a_paid_order_that_has_not_shipped_releases_its_stock(self, methods):
        offer = OfferFactory()
        item = stock(offer, 10)
        order = place(cart_with((offer, 3))).order
        other = place(cart_with((offer, 2))).order
        assert reserved(item) == 5
        with committed():  # the payment goes back by a task after the commit
            orders_services.order_refund(order=order, reason="duplicate")
        assert reserved(item) == 2  # the other order's units stay held
        assert release_movements(item, order.number) == 1
        assert not OrderReservation.objects.filter(order=order, released=False).exists()
        assert Payment.objects.get(reference=order.number).status == PaymentStatus.CANCELLED
        with pytest.raises(orders_services.IllegalTransition):
            orders_services.order_refund(order=Order.objects.get(pk=order.pk))
        with pytest.raises(orders_services.IllegalTransition):
            orders_services.order_cancel(order=Order.objects.get(pk=order.pk))
        assert reserved(item) == 2
        assert Order.objects.get(pk=other.pk).status == Order.Status.PAID

    def test_a_failed_void_after_a_cancel_is_retried_then_staff_are_told(self, methods, flaky, settings):
        settings.ADMINS = [("Ops", "ops@example.com")]
        offer = OfferFactory()
        stock(offer, 5)
        order = place(cart_with((offer, 1))).order
        flaky.cancel_down = True
        with committed():  # after the commit, the task runs (and retries) eagerly
            orders_services.order_cancel(order=order, reason="changed my mind")
        order.refresh_from_db()
        assert order.status == Order.Status.CANCELLED
        assert len([c for c in flaky.calls if c[0] == "cancel"]) == orders_tasks.RETURN_PAYMENT_RETRIES + 1
        assert order.payment_problem == PaymentProblem.REFUND_FAILED
        assert any(order.number in m.subject and "not returned" in m.subject for m in mail.outbox)
        assert Payment.objects.get(reference=order.number).status == PaymentStatus.AUTHORIZED
        # The provider is back: the next run gives the money back and clears the problem.
        flaky.cancel_down = False
        with committed():
            orders_tasks.return_order_payment.delay(order.pk, "cancelled")
        order.refresh_from_db()
        assert order.payment_problem == ""
        assert Payment.objects.get(reference=order.number).status == PaymentStatus.CANCELLED


def _two_orders_on_one_stock_row(methods_fixture=None):
    offer = OfferFactory()
    item = stock(offer, 10)
    mine = place(cart_with((offer, 2)), card=GOOD_CARD).order
    theirs = place(cart_with((offer, 3)), card=GOOD_CARD).order
    # Mine goes back to "placed" as if its payment were still being decided (declined or stranded).
    Order.objects.filter(pk=mine.pk).update(status=Order.Status.PLACED, placed_at=timezone.now() - timedelta(hours=1))
    Payment.objects.filter(reference=mine.number).delete()
    return item, Order.objects.get(pk=mine.pk), theirs


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("other_path", ["decline", "settle"])
def test_cancel_racing_a_decline_or_the_settle_job_releases_the_stock_once(methods, other_path):
    """The order holds 2 units of a stock row another order holds 3 of. A cancel and a decline
    (or the settle job) on it at the same moment: exactly its 2 units go back, once."""
    item, mine, theirs = _two_orders_on_one_stock_row()
    assert reserved(item) == 5

    def cancel():
        try:
            orders_services.order_cancel(order=Order.objects.get(pk=mine.pk), reason="race")
        except (orders_services.IllegalTransition, Order.DoesNotExist, ApplicationError):
            return "lost"
        return "cancelled"

    def other():
        if other_path == "decline":
            order = Order.objects.filter(pk=mine.pk).first()
            return "undone" if order is not None and services._undo_unpaid(order) else "lost"
        return "undone" if services.settle_unpaid_orders()["discarded"] else "lost"

    for _ in range(1):
        results = race(lambda f: f(), [(cancel,), (other,)])
    assert sorted(results) in (["cancelled", "lost"], ["lost", "undone"]), results
    assert reserved(item) == 3  # exactly the other order's units are still held
    assert release_movements(item, mine.number) == 1
    assert Order.objects.get(pk=theirs.pk).status == Order.Status.PAID
    item.refresh_from_db()
    assert item.on_hand == 10


# --- 4. Idempotency keys belong to their owner --------------------------------------------------------


@pytest.mark.django_db
class TestKeysBelongToTheirOwner:
    def _api(self, user=None):
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        return client

    def _fill(self, client, offer, quantity=1):
        response = client.post("/api/v1/cart/lines/", {"offer": offer.pk, "quantity": quantity}, format="json")
        assert response.status_code == 201

    def test_another_clients_key_never_returns_pays_or_reveals_the_order(self, methods, flaky):
        offer = OfferFactory(price=Decimal("30.00"))
        stock(offer, 10)
        victim = UserFactory(email="victim@example.com")
        victim_client = self._api(victim)
        self._fill(victim_client, offer)
        body = {"email": "victim@example.com", "shipping_address": {**ADDRESS, "full_name": "Vic Tim"},
                "payment_method": GOOD_CARD}
        flaky.down = True  # the victim's order is left unpaid, waiting for a retry
        assert victim_client.post("/api/v1/checkout/orders/", body, format="json",
                                  HTTP_IDEMPOTENCY_KEY="shared-key").status_code == 503
        flaky.down = False
        victim_order = Order.objects.get()

        for attacker in (self._api(), self._api(UserFactory())):
            # With an empty cart: nothing to order, and nothing of the victim's shown.
            empty = attacker.post("/api/v1/checkout/orders/", {**body, "payment_method": "5555555555554444"},
                                  format="json", HTTP_IDEMPOTENCY_KEY="shared-key")
            assert empty.status_code == 400
            assert "Vic Tim" not in empty.content.decode()
            assert victim_order.number not in empty.content.decode()
            # With a cart of their own: their own new order, never the victim's.
            self._fill(attacker, offer)
            own = attacker.post("/api/v1/checkout/orders/", {**body, "email": "eve@example.com",
                                                             "payment_method": "5555555555554444"},
                                format="json", HTTP_IDEMPOTENCY_KEY="shared-key")
            assert own.status_code == 201, own.content
            assert own.json()["number"] != victim_order.number
            assert own.json()["email"] == "eve@example.com"
        victim_order.refresh_from_db()
        assert victim_order.status == Order.Status.PLACED  # not paid by anybody else's card
        assert not Payment.objects.filter(reference=victim_order.number).exclude(
            status=PaymentStatus.PENDING).exists()
        assert not [c for c in flaky.calls if c[0] == "authorize" and "4444" in c[2] and
                    victim_order.idempotency_owner in c[1]]
        # The victim's own retry pays it.
        paid = victim_client.post("/api/v1/checkout/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY="shared-key")
        assert paid.status_code == 200
        assert paid.json()["number"] == victim_order.number

    def test_an_api_order_with_nothing_to_pay_with_is_refused_before_anything_is_held(self, methods):
        offer = OfferFactory()
        item = stock(offer, 5)
        client = self._api()
        self._fill(client, offer)
        body = {"email": "a@example.com", "shipping_address": ADDRESS}
        response = client.post("/api/v1/checkout/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY="k0")
        assert response.status_code == 400
        assert response.json()["error"]["fields"] == {"payment_method": ["Required."]}
        assert not Order.objects.exists()
        assert not Payment.objects.exists()
        assert reserved(item) == 0
        # The same key with a card is then simply the first order under it.
        paid = client.post("/api/v1/checkout/orders/", {**body, "payment_method": GOOD_CARD}, format="json",
                           HTTP_IDEMPOTENCY_KEY="k0")
        assert paid.status_code == 201

    def test_the_same_key_with_another_body_is_a_422(self, methods):
        offer = OfferFactory()
        stock(offer, 5)
        client = self._api(UserFactory())
        self._fill(client, offer)
        body = {"email": "a@example.com", "shipping_address": ADDRESS, "payment_method": GOOD_CARD}
        assert client.post("/api/v1/checkout/orders/", body, format="json",
                           HTTP_IDEMPOTENCY_KEY="k").status_code == 201
        for changed in ({"email": "b@example.com"}, {"shipping_address": {**ADDRESS, "city": "Shelbyville"}},
                        {"payment_method": "5555555555554444"}):
            response = client.post("/api/v1/checkout/orders/", {**body, **changed}, format="json",
                                   HTTP_IDEMPOTENCY_KEY="k")
            assert response.status_code == 422
            assert response.json()["error"]["code"] == "idempotency_key_reused"
        assert Order.objects.count() == Payment.objects.count() == 1

    def test_the_checkout_page_keeps_its_key_until_the_attempt_ends(self, client, methods, flaky):
        """A timeout never leads to a second order: the page's retry is the same order."""
        offer = OfferFactory(price=Decimal("20.00"))
        item = stock(offer, 5)
        assert client.post("/cart/add/", {"offer": offer.pk, "quantity": 1}).status_code == 302
        client.post("/checkout/", {"email": "guest@example.com", **ADDRESS})
        review = client.get("/checkout/review/").content.decode()
        total = review.split('name="expected_total" value="')[1].split('"')[0]
        flaky.down = True
        response = client.post("/checkout/place/", {"card_number": GOOD_CARD, "expected_total": total}, follow=True)
        order = Order.objects.get()
        assert order.number in response.content.decode()  # "your order ... is kept for you"
        assert "Leave empty to try the card you entered before again" in response.content.decode()
        flaky.down = False
        done = client.post("/checkout/place/", {"card_number": "", "expected_total": total}, follow=True)
        assert done.status_code == 200
        assert Order.objects.get().status == Order.Status.PAID
        assert Order.objects.count() == 1
        assert reserved(item) == 1

    def test_changing_the_address_while_an_order_waits_gives_that_order_up(self, client, methods, flaky):
        offer = OfferFactory(price=Decimal("20.00"))
        item = stock(offer, 5)
        client.post("/cart/add/", {"offer": offer.pk, "quantity": 1})
        client.post("/checkout/", {"email": "guest@example.com", **ADDRESS})
        total = client.get("/checkout/review/").content.decode().split('name="expected_total" value="')[1][:5]
        flaky.down = True
        client.post("/checkout/place/", {"card_number": GOOD_CARD, "expected_total": total})
        first = Order.objects.get()
        flaky.down = False
        client.post("/checkout/", {"email": "guest@example.com", **ADDRESS, "line1": "2 Other St"})
        client.post("/checkout/place/", {"card_number": GOOD_CARD, "expected_total": total})
        assert not Order.objects.filter(pk=first.pk).exists()
        second = Order.objects.get()
        assert (second.status, second.shipping_address["line1"]) == (Order.Status.PAID, "2 Other St")
        assert Payment.objects.get(reference=first.number).status == PaymentStatus.CANCELLED
        assert reserved(item) == 1


@pytest.mark.django_db
def test_stock_is_reserved_once_whatever_the_number_of_retries(methods, flaky):
    offer = OfferFactory()
    item = stock(offer, 5)
    cart = cart_with((offer, 2))
    flaky.down = True
    for _ in range(3):
        with pytest.raises(PaymentUnavailable):
            place(cart, key="same")
    flaky.down = False
    place(cart, key="same")
    assert reserved(item) == 2
    assert StockItem.objects.aggregate(n=Sum("reserved"))["n"] == 2


# --- webhooks reach the order, durably -------------------------------------------------------------


@pytest.mark.django_db
class TestWebhookSettlesTheOrder:
    def _waiting(self, offer):
        """An order whose payment waits for the customer (a browser-confirmed intent)."""
        order = place(cart_with((offer, 1))).order
        Order.objects.filter(pk=order.pk).update(status=Order.Status.PLACED)
        Payment.objects.filter(reference=order.number).update(status=PaymentStatus.REQUIRES_ACTION,
                                                              client_secret="pi_secret")
        return Order.objects.get(pk=order.pk), Payment.objects.get(reference=order.number)

    def _webhook(self, event_id, type_, payment, **data):
        import json

        from payments.providers.test import sign

        body = json.dumps({"id": event_id, "type": type_,
                           "data": {"reference": payment.provider_reference, **data}}).encode()
        with committed():  # the provider's request: the settle task has run when this returns
            return payment_services.webhook_receive(provider="test", body=body, headers=sign(body))

    def test_an_authorization_webhook_pays_the_order_once_through_the_outbox(self, methods):
        from core.models import DomainEvent, OutboxMessage

        offer = OfferFactory()
        stock(offer, 5)
        order, payment = self._waiting(offer)
        mail.outbox.clear()
        self._webhook("evt_1", "payment_intent.amount_capturable_updated", payment)
        order.refresh_from_db()
        assert order.status == Order.Status.PAID
        handed = list(OutboxMessage.objects.filter(task_name="checkout.tasks.settle_order_payment")
                      .values_list("kwargs", flat=True))
        assert [{k: v for k, v in kw.items() if k != "event_id"} for kw in handed] == [
            {"payment_id": payment.pk, "status": "authorized"}]
        assert DomainEvent.objects.get(pk=handed[0]["event_id"]).name == "payments.payment_updated"
        self._webhook("evt_1", "payment_intent.amount_capturable_updated", payment)  # replayed: nothing new
        self._webhook("evt_2", "payment_intent.amount_capturable_updated", payment)  # a twin: nothing new
        assert OutboxMessage.objects.filter(task_name="checkout.tasks.settle_order_payment").count() == 1
        assert len([m for m in mail.outbox if order.number in m.subject]) == 1

    def test_a_failure_webhook_undoes_the_order(self, methods):
        offer = OfferFactory()
        item = stock(offer, 5)
        order, payment = self._waiting(offer)
        self._webhook("evt_f", "payment_intent.payment_failed", payment, decline_code="card_declined")
        assert not Order.objects.filter(pk=order.pk).exists()
        assert reserved(item) == 0

    def test_an_authorization_after_the_payment_was_given_up_is_released_at_the_provider(self, methods, flaky):
        offer = OfferFactory()
        stock(offer, 5)
        order, payment = self._waiting(offer)
        Payment.objects.filter(pk=payment.pk).update(status=PaymentStatus.CANCELLED)
        flaky.calls.clear()
        self._webhook("evt_late", "payment_intent.amount_capturable_updated", payment)
        assert [c[0] for c in flaky.calls] == ["cancel"]
        assert Payment.objects.get(pk=payment.pk).status == PaymentStatus.CANCELLED

    def test_an_unknown_consumer_stops_the_start(self, settings):
        from django.core import checks

        settings.EVENT_CONSUMERS = {"payments.payment_updated": ("checkout.tasks.no_such_task",)}
        errors = [e for e in checks.run_checks() if e.id == "core.E003"]
        assert errors
        assert "no_such_task" in errors[0].msg
