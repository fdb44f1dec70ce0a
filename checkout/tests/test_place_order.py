"""place_order: atomic, idempotent, never oversold, never charged twice; a decline leaves no order."""

from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Sum

from checkout import services
from checkout.models import Cart, CartLine
from core.exceptions import ApplicationError
from fulfillment.models import StockItem
from orders.models import Order
from payments.exceptions import PaymentInProgress
from payments.models import Payment
from tests.buying import ADDRESS, DECLINED_CARD, cart_with, place
from tests.concurrency import race
from tests.factories import OfferFactory, UserFactory, shipping_method, stock


def reserved(offer) -> int:
    return StockItem.objects.filter(offer=offer).aggregate(n=Sum("reserved"))["n"] or 0


@pytest.fixture
def methods():
    shipping_method(channel="platform", price="0.00", code="free")
    shipping_method(channel="merchant", price="4.99", code="standard")


@pytest.mark.django_db
class TestPlaceOrder:
    def test_an_order_from_two_sellers_reserves_stock_charges_once_and_empties_the_cart(self, methods):
        house_offer = OfferFactory(price=Decimal("20.00"))
        other = OfferFactory(price=Decimal("5.00"), fulfillment_channel="merchant")
        stock(house_offer, 5)
        stock(other, 5)
        cart = cart_with((house_offer, 2), (other, 1))
        placed = place(cart)
        order = placed.order
        assert placed.created
        assert order.status == Order.Status.PAID
        assert order.total == Decimal("49.99")  # 40 + 5 + 4.99 shipping
        assert order.packages.count() == 2
        assert (reserved(house_offer), reserved(other)) == (2, 1)
        payment = Payment.objects.get(reference=order.number)
        assert payment.amount == Decimal("49.99")
        assert not CartLine.objects.filter(cart=cart).exists()

    def test_the_same_key_returns_the_same_order_and_never_charges_twice(self, methods):
        offer = OfferFactory()
        stock(offer, 5)
        cart = cart_with((offer, 1))
        first = place(cart, key="double-click")
        second = place(cart, key="double-click")
        assert second.order.pk == first.order.pk
        assert not second.created
        assert Order.objects.count() == 1
        assert Payment.objects.count() == 1
        assert reserved(offer) == 1

    def test_a_declined_card_leaves_no_order_releases_stock_and_keeps_the_cart(self, methods):
        offer = OfferFactory()
        stock(offer, 5)
        cart = cart_with((offer, 2))
        with pytest.raises(ApplicationError, match="declined"):
            place(cart, card=DECLINED_CARD)
        assert Order.objects.count() == 0
        assert reserved(offer) == 0
        assert CartLine.objects.filter(cart=cart, quantity=2).exists()

    def test_the_same_declined_request_sent_again_is_declined_again_and_holds_nothing(self, methods):
        offer = OfferFactory()
        stock(offer, 5)
        cart = cart_with((offer, 1))
        for _ in range(2):  # a client replaying the request it was refused
            with pytest.raises(ApplicationError) as declined:
                place(cart, key="declined-key", card=DECLINED_CARD)
            assert declined.value.code == "payment_declined"
            assert Order.objects.count() == 0
            assert reserved(offer) == 0
        # ...and the same key with a card that pays is a new attempt that succeeds.
        assert place(cart, key="declined-key").order.status == Order.Status.PAID
        assert reserved(offer) == 1

    def test_a_changed_total_is_shown_before_paying(self, methods):
        offer = OfferFactory(price=Decimal("10.00"))
        stock(offer, 5)
        with pytest.raises(services.PriceChanged, match="changed") as err:
            place(cart_with((offer, 1)), expected_total=Decimal("9.00"))
        assert err.value.fields == {"expected_total": ["10.00"]}
        assert Order.objects.count() == 0
        assert Payment.objects.count() == 0

    def test_not_enough_stock_says_how_many_are_left(self, methods):
        offer = OfferFactory()
        stock(offer, 3)
        with pytest.raises(ApplicationError, match="Only 3 left"):
            place(cart_with((offer, 4)))
        assert Order.objects.count() == 0
        assert reserved(offer) == 0

    @pytest.mark.parametrize(
        "changes",
        [{"email": "not-an-email"}, {"shipping_address": {"full_name": "x"}}, {"shipping_address": "nope"},
         {"shipping_address": {**ADDRESS, "country": "USA"}}, {"key": "k" * 200}],
    )
    def test_bad_input_is_refused_with_a_message(self, methods, changes):
        offer = OfferFactory()
        stock(offer, 3)
        key = changes.pop("key", None)
        with pytest.raises(ApplicationError):
            place(cart_with((offer, 1)), key=key, **changes)
        assert Order.objects.count() == 0

    def test_an_empty_cart_cannot_be_ordered(self, methods):
        with pytest.raises(ApplicationError, match="empty"):
            place(Cart.objects.create())

    def test_the_order_belongs_to_the_signed_in_customer(self, methods):
        offer = OfferFactory()
        stock(offer, 3)
        user = UserFactory()
        order = place(cart_with((offer, 1)), user=user).order
        assert order.user_id == user.pk


@pytest.mark.django_db(transaction=True)
def test_fifty_buyers_of_the_last_ten_units(methods):
    offer = OfferFactory(price=Decimal("8.00"))
    stock(offer, 10)
    carts = [cart_with((offer, 1)) for _ in range(50)]
    results = race(place, [(cart,) for cart in carts], catch=(ApplicationError,))
    orders = [r for r in results if isinstance(r, services.PlacedOrder)]
    errors = [r for r in results if isinstance(r, ApplicationError)]
    assert len(orders) == 10
    assert len(errors) == 40
    assert all("out of stock" in e.message or "left" in e.message for e in errors)
    assert Order.objects.count() == 10
    assert Payment.objects.count() == 10
    item = StockItem.objects.get(offer=offer)
    assert (item.on_hand, item.reserved) == (10, 10)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("signed_in", [False, True])
def test_one_cart_placed_under_several_keys_at_once_is_one_order(methods, signed_in):
    """Two tabs, or a client retrying with a new key before the first answer: one cart is one order."""
    offer = OfferFactory()
    stock(offer, 10)
    user = UserFactory() if signed_in else None
    cart = cart_with((offer, 1), user=user)
    results = race(lambda key: place(cart, key=key, user=user), [(f"key-{n}",) for n in range(4)],
                   catch=(ApplicationError,))
    placed = [r for r in results if isinstance(r, services.PlacedOrder)]
    assert len(placed) == 1, results
    # The others were told why: the cart is being placed, or was (emptied by the paid order).
    assert all(r.code in ("order_in_progress", "cart_changed", "empty_cart") for r in results
               if not isinstance(r, services.PlacedOrder)), results
    assert Order.objects.count() == Payment.objects.count() == 1
    assert reserved(offer) == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("twins", [2, 8])
def test_the_same_key_sent_twice_at_once_gives_one_order_and_one_charge(methods, twins):
    offer = OfferFactory()
    stock(offer, 10)
    cart = cart_with((offer, 1))
    # However late a twin reads the cart (emptied by the first, once paid), it is never told the cart is empty.
    results = race(place, [(cart, "same-key-at-once")] * twins, catch=(ApplicationError,))
    placed = [r for r in results if isinstance(r, services.PlacedOrder)]
    # The twin either finds the order paid, or is told the payment is being processed (409): it is
    # never handed the order as placed while it is still unpaid.
    others = [r for r in results if not isinstance(r, services.PlacedOrder)]
    assert placed, results
    assert all(isinstance(r, PaymentInProgress) for r in others), results
    assert all(r.order.status == Order.Status.PAID for r in placed)
    assert len({r.order.pk for r in placed}) == 1
    assert Order.objects.count() == 1
    assert Payment.objects.count() == 1
    assert StockItem.objects.get(offer=offer).reserved == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("lines", "budget"), [(1, 26), (5, 38)])
def test_placing_an_order_does_no_hidden_work(methods, lines, budget):
    """SQL statements per place_order, as a web process runs it (work after the commit goes to a
    worker through the outbox): at most 23 + 3 per line, BEGIN and COMMIT counted. The buy-box
    refresh is one task per order, sent with the e-mail in one go at the end."""
    from celery import current_app
    from django.test.utils import CaptureQueriesContext

    from core.models import DomainEvent, OutboxMessage

    offers = [OfferFactory(price=Decimal("8.00")) for _ in range(lines)]
    for offer in offers:
        stock(offer, 5)
    counts = []
    events_before = DomainEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    current_app.conf.task_always_eager = False
    try:
        for _ in range(2):  # the second with warm caches, as in a running shop
            cart = cart_with(*[(offer, 1) for offer in offers])
            with CaptureQueriesContext(connection) as captured:
                placed = place(cart)
            counts.append(len(captured.captured_queries))
            last_queries = [q["sql"][:90] for q in captured.captured_queries]
    finally:
        current_app.conf.task_always_eager = True
    assert placed.order.status == Order.Status.PAID
    assert counts[-1] <= budget, (counts, last_queries)
    order_tasks = OutboxMessage.objects.filter(kwargs__order_id=placed.order.pk)
    # (the order becoming paid is an event too: finance issues its invoices, in a worker)
    assert sorted(order_tasks.values_list("task_name", flat=True)) == [
        "finance.tasks.issue_order_documents", "shop.tasks.refresh_buy_boxes_for_order"]
    # Placing asks for no refresh per line: the one order task does it, after the commit.
    assert not DomainEvent.objects.filter(pk__gt=events_before, name="marketplace.buy_box_stale").exists()
    assert not OutboxMessage.objects.filter(sent_at__isnull=True).exists()
