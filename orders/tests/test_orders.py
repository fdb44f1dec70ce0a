"""Orders: snapshot lines, human-friendly numbers, the status machine, guest links."""

import re
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from core.exceptions import ApplicationError, Conflict
from marketplace import services as marketplace_services
from orders import selectors, services
from orders.models import Order, OrderEvent
from tests.concurrency import race
from tests.factories import OfferFactory

S = Order.Status


def draft_for(offer, quantity=2, email="buyer@example.com", user=None) -> services.OrderDraft:
    unit = offer.price
    line = services.LineDraft(
        offer_id=offer.pk, product_id=offer.product_id, seller_id=offer.seller_id, seller_name=offer.seller.name,
        product_title=offer.product.title, product_slug=offer.product.slug, sku=offer.sku, quantity=quantity,
        unit_price=unit, subtotal=unit * quantity, discount=Decimal(0), tax_rate=Decimal(0), tax=Decimal(0),
        total=unit * quantity,
    )
    package = services.PackageDraft(
        seller_id=offer.seller_id, seller_name=offer.seller.name, channel=offer.fulfillment_channel,
        method_code="free", method_name="Free", shipping_price=Decimal(0), shipping_tax=Decimal(0),
        earliest=None, latest=None, lines=(line,),
    )
    return services.OrderDraft(
        user=user, email=email, currency="USD", prices_include_tax=False, subtotal=line.subtotal,
        discount=Decimal(0), shipping=Decimal(0), tax=Decimal(0), total=line.total,
        shipping_address={"full_name": "A B", "country": "US"}, billing_address={"country": "US"},
        packages=(package,),
    )


@pytest.mark.django_db
class TestCreate:
    def test_lines_are_snapshots_that_later_edits_do_not_change(self):
        offer = OfferFactory(price=Decimal("12.50"), product__title="Blue Kettle")
        order = services.order_create(draft=draft_for(offer), idempotency_key="k1")
        marketplace_services.offer_update(offer=offer, price="99.00")
        offer.product.title = "Renamed"
        offer.product.save()
        line = Order.objects.get(pk=order.pk).lines.get()
        assert (line.unit_price, line.subtotal, line.product_title) == (
            Decimal("12.50"), Decimal("25.00"), "Blue Kettle"
        )
        assert re.fullmatch(r"BZ-\d{6}-[2-9A-HJKMNP-Z]{8}", order.number)
        assert order.status == S.PLACED
        assert list(OrderEvent.objects.filter(order=order).values_list("to_status", flat=True)) == ["placed"]

    def test_an_idempotency_key_is_used_once(self):
        offer = OfferFactory()
        services.order_create(draft=draft_for(offer), idempotency_key="same")
        with pytest.raises(IntegrityError), transaction.atomic():
            services.order_create(draft=draft_for(offer), idempotency_key="same")
        assert Order.objects.count() == 1

    def test_an_order_needs_items(self):
        offer = OfferFactory()
        empty = draft_for(offer)
        empty = services.OrderDraft(**{**empty.__dict__, "packages": ()})
        with pytest.raises(ApplicationError, match="at least one item"):
            services.order_create(draft=empty, idempotency_key="e")


LEGAL = [
    (S.PLACED, S.PAID), (S.PLACED, S.CANCELLED), (S.PAID, S.PARTIALLY_SHIPPED), (S.PAID, S.SHIPPED),
    (S.PAID, S.CANCELLED), (S.PAID, S.REFUNDED), (S.PARTIALLY_SHIPPED, S.SHIPPED), (S.SHIPPED, S.DELIVERED),
    (S.SHIPPED, S.REFUNDED), (S.DELIVERED, S.COMPLETED), (S.DELIVERED, S.REFUNDED), (S.COMPLETED, S.REFUNDED),
    (S.PAID, S.COMPLETED),  # an order of gift cards only, once they are issued
]


@pytest.mark.django_db
@pytest.mark.parametrize(("start", "end"), [(a, b) for a in S.values for b in S.values])
def test_every_transition_is_allowed_or_refused_as_the_machine_says(start, end):
    order = services.order_create(draft=draft_for(OfferFactory()), idempotency_key=f"{start}-{end}")
    Order.objects.filter(pk=order.pk).update(status=start)
    order.refresh_from_db()
    if (start, end) in LEGAL:
        services.order_transition(order=order, to=end, message="test")
        assert Order.objects.get(pk=order.pk).status == end
        assert OrderEvent.objects.filter(order=order, from_status=start, to_status=end).exists()
    else:
        with pytest.raises(services.IllegalTransition):
            services.order_transition(order=order, to=end)
        assert Order.objects.get(pk=order.pk).status == start


@pytest.mark.django_db
def test_a_stale_order_object_cannot_transition():
    order = services.order_create(draft=draft_for(OfferFactory()), idempotency_key="stale")
    stale = Order.objects.get(pk=order.pk)
    services.order_transition(order=order, to=S.PAID)
    with pytest.raises(Conflict):
        services.order_transition(order=stale, to=S.CANCELLED)
    assert Order.objects.get(pk=order.pk).status == S.PAID


@pytest.mark.django_db(transaction=True)
def test_concurrent_transitions_only_one_wins():
    order = services.order_create(draft=draft_for(OfferFactory()), idempotency_key="race")
    # both load the order while it is still placed, then race: each believes the move is legal,
    # and only the conditional UPDATE on the status can refuse one
    moves = [(Order.objects.get(pk=order.pk), to) for to in (S.PAID, S.CANCELLED)]
    results = race(lambda mine, to: services.order_transition(order=mine, to=to), moves)
    refused = [r for r in results if isinstance(r, Conflict | services.IllegalTransition)]
    assert len(refused) == 1
    assert not [r for r in results if isinstance(r, Exception) and r not in refused], results
    assert Order.objects.get(pk=order.pk).status in {S.PAID, S.CANCELLED}
    assert OrderEvent.objects.filter(order=order).count() == 2


@pytest.mark.django_db
def test_guest_links_open_only_their_order():
    order = services.order_create(draft=draft_for(OfferFactory()), idempotency_key="guest")
    token = selectors.guest_token(order=order)
    assert selectors.order_by_guest_token(token=token).pk == order.pk
    assert selectors.order_by_guest_token(token=token[:-2] + "xx") is None
    assert selectors.order_by_guest_token(token="garbage") is None


@pytest.mark.django_db
def test_money_checks_hold_to_the_cent_and_accept_the_sums_sqlite_adds_in_floating_point():
    """The money CHECKs leave a tenth of a cent for SQLite's binary floating point (93.99 + 4.99
    is 98.97999... there, which refused a return's refund with a 500); on whole cents they still
    refuse any amount a cent off."""
    from orders.models import OrderRefund

    offer = OfferFactory(price=Decimal("93.99"))
    order = services.order_create(draft=draft_for(offer), idempotency_key="sums")
    fields = {"order": order, "items_amount": Decimal("93.99"), "shipping_amount": Decimal("4.99"),
              "reason": "r", "status": OrderRefund.Status.SUCCEEDED}
    OrderRefund.objects.create(amount=Decimal("98.98"), idempotency_key="exact", **fields)
    for wrong in (Decimal("98.97"), Decimal("98.99")):
        with pytest.raises(IntegrityError), transaction.atomic():
            OrderRefund.objects.create(amount=wrong, idempotency_key=f"off-{wrong}", **fields)
    line = order.lines.get()
    with pytest.raises(IntegrityError), transaction.atomic():
        type(line).objects.filter(pk=line.pk).update(subtotal=line.subtotal + Decimal("0.01"))


def test_packages_name_who_ships_them_as_offers_do():
    from marketplace.models import Offer
    from orders.models import FULFILMENT_CHOICES

    assert [(value, str(label)) for value, label in FULFILMENT_CHOICES] == [
        (value, str(label)) for value, label in Offer.Channel.choices]
