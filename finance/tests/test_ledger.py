"""The seller ledger: postings from shipped packages and refunds (once per event), the reserve
released a set number of days after delivery, an append-only table, and each seller seeing only
their own entries."""

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from finance import selectors, services
from finance.models import LedgerEntry
from orders import services as orders_services
from orders.models import Package
from tests.buying import cart_with, place
from tests.buying import ship as ship_package
from tests.commit import committed
from tests.factories import OfferFactory, SellerFactory, house_seller, seller_member, shipping_method, stock

pytestmark = pytest.mark.django_db
K = LedgerEntry.Kind


@pytest.fixture
def sold():
    """A merchant-shipped order of one seller: 2 x 20.00 (fee 15%: 6.00) plus 4.99 shipping."""
    shipping_method(channel="merchant", price="4.99", code="standard")
    seller = SellerFactory()
    offer = OfferFactory(seller=seller, price=Decimal("20.00"), fulfillment_channel="merchant")
    stock(offer, 10)
    order = place(cart_with((offer, 2))).order
    return seller, order, Package.objects.get(order=order)


def kinds(seller) -> dict[str, Decimal]:
    """The seller's entries summed by kind."""
    sums: dict[str, Decimal] = {}
    for entry in LedgerEntry.objects.filter(seller=seller):
        sums[entry.kind] = sums.get(entry.kind, Decimal("0.00")) + entry.amount
    return sums


def ship(package):
    with committed():  # the event's consumer (the posting) runs after the commit
        ship_package(package, tracking_number="1Z999")


def deliver(package, when=None):
    with committed():
        orders_services.package_deliver(package=Package.objects.get(pk=package.pk), now=when)


def test_a_shipped_package_posts_sale_fee_shipping_and_holds_it_all(sold):
    seller, order, package = sold
    assert not LedgerEntry.objects.exists()  # nothing before it ships
    ship(package)
    assert kinds(seller) == {K.SALE: Decimal("40.00"), K.REFERRAL_FEE: Decimal("-6.00"),
                             K.SHIPPING_CREDIT: Decimal("4.99"), K.RESERVE_HOLD: Decimal("-38.99")}
    entry = LedgerEntry.objects.get(kind=K.SALE)
    assert (entry.order_number, entry.source_type, entry.event_id is not None) == (order.number, "order_line", True)
    balance = selectors.seller_balance(seller_id=seller.pk)
    assert (balance.available, balance.reserved) == (Decimal("0.00"), Decimal("38.99"))


def test_the_same_event_twice_posts_nothing_more(sold):
    seller, _order, package = sold
    ship(package)
    assert services.ledger_post_package_shipped(package_id=package.pk, event_id=999) == 0
    assert LedgerEntry.objects.count() == 4


def test_the_reserve_is_released_the_configured_days_after_delivery(sold, settings):
    seller, _order, package = sold
    settings.FINANCE_RESERVE_DAYS = 7
    ship(package)
    delivered = timezone.now()
    deliver(package, delivered)
    assert services.ledger_release_reserves(now=delivered + timedelta(days=6, hours=23)) == 0
    assert selectors.seller_balance(seller_id=seller.pk).available == Decimal("0.00")
    with time_machine.travel(delivered + timedelta(days=7, minutes=1)):
        assert services.ledger_release_reserves() == 1
        assert services.ledger_release_reserves() == 0  # run again: nothing twice
    balance = selectors.seller_balance(seller_id=seller.pk)
    assert (balance.available, balance.reserved) == (Decimal("38.99"), Decimal("0.00"))


def test_a_package_not_delivered_keeps_its_reserve(sold):
    seller, _order, package = sold
    ship(package)
    assert services.ledger_release_reserves(now=timezone.now() + timedelta(days=60)) == 0
    assert selectors.seller_balance(seller_id=seller.pk).reserved == Decimal("38.99")


def test_a_refund_after_the_release_takes_back_the_sale_and_keeps_the_admin_fee(sold):
    seller, order, package = sold
    ship(package)
    deliver(package, timezone.now() - timedelta(days=10))
    services.ledger_release_reserves()
    with committed():
        orders_services.order_refund(order=order, reason="Broken")
    entries = kinds(seller)
    # fee 6.00 returned less the lesser of 20% of it (1.20) and 5.00
    assert entries[K.REFUND] == Decimal("-44.99")  # the sale and the shipping credit
    assert entries[K.REFERRAL_FEE_REFUND] == Decimal("6.00")
    assert entries[K.REFUND_ADMIN_FEE] == Decimal("-1.20")
    balance = selectors.seller_balance(seller_id=seller.pk)
    assert (balance.available, balance.reserved) == (Decimal("-1.20"), Decimal("0.00"))
    assert services.ledger_post_order_refunded(order_id=order.pk) == 0  # once


def test_a_refund_before_the_release_settles_the_reserve(sold):
    seller, order, package = sold
    ship(package)
    deliver(package)  # delivered just now: the reserve is still held
    with committed():
        orders_services.order_refund(order=order)
    balance = selectors.seller_balance(seller_id=seller.pk)
    assert (balance.available, balance.reserved) == (Decimal("-1.20"), Decimal("0.00"))
    assert services.ledger_release_reserves(now=timezone.now() + timedelta(days=60)) == 0  # released once


def test_a_refund_before_shipping_posts_nothing(sold):
    seller, order, _package = sold
    with committed():
        orders_services.order_refund(order=order)
    assert not LedgerEntry.objects.filter(seller=seller).exists()


@pytest.mark.parametrize(("fee", "admin_fee"), [("6.00", "1.20"), ("25.00", "5.00"), ("40.00", "5.00"),
                                                ("0.01", "0.00"), ("0.03", "0.01")])
def test_refund_admin_fee_is_the_lesser_of_a_share_and_a_cap(fee, admin_fee):
    assert services.refund_admin_fee(Decimal(fee)) == Decimal(admin_fee)


def test_the_house_seller_posts_nothing():
    shipping_method(channel="platform", price="0.00", code="free")
    offer = OfferFactory(seller=house_seller(), price=Decimal("20.00"))
    stock(offer, 5)
    order = place(cart_with((offer, 1))).order
    ship(Package.objects.get(order=order))
    assert not LedgerEntry.objects.exists()


def test_entries_are_never_changed_or_deleted(sold):
    _seller, _order, package = sold
    ship(package)
    entry = LedgerEntry.objects.first()
    entry.amount = Decimal("1000.00")
    with pytest.raises(ValueError, match="never changed"):
        entry.save()
    with pytest.raises(ValueError, match="never deleted"):
        entry.delete()
    with pytest.raises(Exception, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE finance_ledgerentry SET amount = 1000 WHERE id = %s", [entry.pk])
    with pytest.raises(Exception, match="append-only"), transaction.atomic():
        LedgerEntry.objects.filter(pk=entry.pk).delete()


def test_each_seller_sees_only_their_own_ledger(client, sold):
    seller, _order, package = sold
    ship(package)
    other = SellerFactory()
    client.force_login(seller_member(seller, role="staff"))
    page = client.get(reverse("admin:finance_ledgerentry_changelist"))
    assert page.status_code == 200
    assert page.context["cl"].result_count == 4
    assert "Available $0.00, reserved $38.99" in page.content.decode()
    mine = LedgerEntry.objects.filter(seller=seller).first()
    assert client.get(reverse("admin:finance_ledgerentry_change", args=[mine.pk])).status_code == 200
    client.force_login(seller_member(other, role="owner"))
    page = client.get(reverse("admin:finance_ledgerentry_changelist"))
    assert page.context["cl"].result_count == 0
    assert client.get(reverse("admin:finance_ledgerentry_change", args=[mine.pk])).status_code in (302, 404)
    assert client.post(reverse("admin:finance_ledgerentry_add"), {}).status_code == 403


@pytest.mark.django_db(transaction=True)
def test_the_same_shipment_posted_twice_at_once_posts_once():
    from tests.concurrency import race

    shipping_method(channel="merchant", price="4.99", code="standard")
    offer = OfferFactory(price=Decimal("20.00"), fulfillment_channel="merchant")
    stock(offer, 5)
    order = place(cart_with((offer, 1))).order
    package = Package.objects.get(order=order)
    ship_package(package, tracking_number="1Z")  # eager: posted once already
    results = race(lambda: services.ledger_post_package_shipped(package_id=package.pk, event_id=1), [()] * 4)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert LedgerEntry.objects.filter(seller=offer.seller).count() == 4
    assert selectors.seller_balance(seller_id=offer.seller_id).reserved == Decimal("21.99")
