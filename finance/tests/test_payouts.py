"""Payouts: the available balance paid once per seller and settlement date, whoever runs it and
however often; failed transfers retried without touching the balance; negative balances carried."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from finance import selectors, services
from finance.models import LedgerEntry, Payout
from finance.providers import PayoutFailed, StripeConnectPayoutProvider, Transfer
from tests.concurrency import race
from tests.factories import SellerFactory, seller_member
from tests.stripe_standin.fake import FakeStripe

K, SRC = LedgerEntry.Kind, LedgerEntry.Source
SETTLEMENT = date(2026, 11, 23)  # a settlement date: 2026-01-05 plus 23 periods of 14 days


_STRIPE: list[FakeStripe] = []  # the test's Stripe, for the provider the settings name


class OfflineStripeConnect(StripeConnectPayoutProvider):
    """The real Stripe Connect provider, its HTTP client answered by the test's in-memory Stripe."""

    def __init__(self) -> None:
        super().__init__(secret_key=_STRIPE[-1].secret_key, http_client=_STRIPE[-1].http_client)


class FailingProvider:
    name = "failing"

    def transfer(self, **kwargs) -> Transfer:
        raise PayoutFailed("The bank did not answer in time.")


def credit(seller, amount: str, source_id: int, kind=K.SALE) -> None:
    LedgerEntry.objects.create(seller=seller, kind=kind, amount=Decimal(amount), currency="USD",
                               source_type=SRC.ORDER_LINE, source_id=source_id)


def available(seller) -> Decimal:
    return selectors.seller_balance(seller_id=seller.pk).available


@pytest.mark.django_db
class TestPayoutRun:
    def test_settlement_dates_are_every_period_from_the_epoch(self):
        assert selectors.settlement_date(SETTLEMENT) == SETTLEMENT
        assert selectors.settlement_date(SETTLEMENT + timedelta(days=13)) == SETTLEMENT
        assert selectors.settlement_date(SETTLEMENT + timedelta(days=14)) == SETTLEMENT + timedelta(days=14)
        assert selectors.next_settlement_date(SETTLEMENT + timedelta(days=3)) == SETTLEMENT + timedelta(days=14)

    def test_the_available_balance_is_paid_once_per_settlement(self):
        seller, other = SellerFactory(), SellerFactory()
        credit(seller, "120.50", 1)
        credit(other, "10.00", 2)
        run = services.payout_run(today=SETTLEMENT + timedelta(days=2))
        assert (run.settled_on, run.created, run.paid, run.failed) == (SETTLEMENT, 2, 2, 0)
        payout = Payout.objects.get(seller=seller)
        assert (payout.amount, payout.status, payout.provider_reference.startswith("tr_test_")) == (
            Decimal("120.50"), Payout.Status.PAID, True)
        assert LedgerEntry.objects.get(kind=K.PAYOUT, seller=seller).amount == Decimal("-120.50")
        assert available(seller) == Decimal("0.00")
        again = services.payout_run(today=SETTLEMENT + timedelta(days=5))  # same settlement: nothing new
        assert (again.created, again.paid) == (0, 0)
        credit(seller, "30.00", 3)
        assert services.payout_run(today=SETTLEMENT + timedelta(days=6)).created == 0  # waits for the next date
        assert services.payout_run(today=SETTLEMENT + timedelta(days=14)).paid == 1
        assert available(seller) == Decimal("0.00")
        assert Payout.objects.filter(seller=seller).count() == 2

    def test_a_negative_balance_pays_nothing_and_is_carried_forward(self):
        seller = SellerFactory()
        credit(seller, "-7.20", 1, kind=K.REFUND_ADMIN_FEE)
        assert services.payout_run(today=SETTLEMENT).created == 0
        credit(seller, "20.00", 2)
        services.payout_run(today=SETTLEMENT + timedelta(days=14))
        assert Payout.objects.get(seller=seller).amount == Decimal("12.80")

    def test_a_failed_transfer_stays_pending_leaves_the_balance_and_is_retried(self, settings):
        seller = SellerFactory()
        credit(seller, "50.00", 1)
        settings.FINANCE_PAYOUT_PROVIDER = f"{__name__}.FailingProvider"
        run = services.payout_run(today=SETTLEMENT)
        assert (run.created, run.paid, run.failed) == (1, 0, 1)
        payout = Payout.objects.get(seller=seller)
        assert (payout.status, payout.attempts, payout.last_error) == (
            Payout.Status.PENDING, 1, "The bank did not answer in time.")
        assert available(seller) == Decimal("50.00")  # untouched until the money moves
        assert not LedgerEntry.objects.filter(kind=K.PAYOUT).exists()
        credit(seller, "5.00", 2)
        services.payout_run(today=SETTLEMENT + timedelta(days=14))  # still failing: no second payout of the same money
        assert Payout.objects.get(seller=seller, settled_on=SETTLEMENT + timedelta(days=14)).amount == Decimal("5.00")
        settings.FINANCE_PAYOUT_PROVIDER = "finance.providers.TestPayoutProvider"
        assert services.payout_run(today=SETTLEMENT + timedelta(days=15)).paid == 2
        assert available(seller) == Decimal("0.00")
        assert LedgerEntry.objects.filter(kind=K.PAYOUT).count() == 2

    def test_a_seller_sees_their_payouts_and_the_next_one(self, client):
        seller, other = SellerFactory(), SellerFactory()
        credit(seller, "20.00", 1)
        credit(other, "99.00", 2)
        services.payout_run(today=SETTLEMENT)
        credit(seller, "8.00", 3)
        client.force_login(seller_member(seller, role="staff"))
        page = client.get(reverse("admin:finance_payout_changelist"))
        assert page.status_code == 200
        assert page.context["cl"].result_count == 1
        ledger = client.get(reverse("admin:finance_ledgerentry_changelist")).content.decode()
        assert "Available $8.00" in ledger
        assert ": $8.00" in ledger  # the expected next payout


@pytest.mark.django_db(transaction=True)
def test_payout_runs_at_once_pay_each_seller_exactly_once():
    sellers = [SellerFactory() for _ in range(3)]
    for n, seller in enumerate(sellers):
        credit(seller, "40.00", n + 1)
    results = race(lambda: services.payout_run(today=SETTLEMENT), [()] * 4)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert Payout.objects.count() == 3
    assert LedgerEntry.objects.filter(kind=K.PAYOUT).count() == 3
    assert all(available(seller) == Decimal("0.00") for seller in sellers)


@pytest.mark.django_db
class TestStripeConnect:
    """Payouts through Stripe Connect, offline: the official library talks to the in-memory Stripe."""

    @pytest.fixture
    def stripe_payouts(self, settings):
        fake = FakeStripe()
        fake.connected_accounts.add("acct_kettleworks")
        _STRIPE.append(fake)
        settings.FINANCE_PAYOUT_PROVIDER = f"{__name__}.OfflineStripeConnect"
        yield fake
        _STRIPE.remove(fake)

    def test_a_payout_is_a_transfer_to_the_connected_account_once(self, stripe_payouts):
        seller = SellerFactory()
        Seller = type(seller)
        Seller.objects.filter(pk=seller.pk).update(stripe_account="acct_kettleworks")
        credit(seller, "120.55", 1)
        run = services.payout_run(today=SETTLEMENT)
        assert run.paid == 1
        [transfer] = stripe_payouts.transfers.values()
        assert (transfer["amount"], transfer["currency"], transfer["destination"]) == (12055, "usd", "acct_kettleworks")
        payout = Payout.objects.get()
        assert payout.provider_reference == transfer["id"]
        assert [r.idempotency_key for r in stripe_payouts.requests] == [f"payout:{payout.pk}"]
        assert available(seller) == Decimal("0.00")

    def test_stripe_down_or_no_account_leaves_the_payout_pending_and_the_balance(self, stripe_payouts):
        seller = SellerFactory()
        credit(seller, "40.00", 1)
        services.payout_run(today=SETTLEMENT)  # no connected account yet
        payout = Payout.objects.get()
        assert (payout.status, "no Stripe connected account" in payout.last_error) == (Payout.Status.PENDING, True)
        type(seller).objects.filter(pk=seller.pk).update(stripe_account="acct_kettleworks")
        with stripe_payouts.down():
            services.payout_run(today=SETTLEMENT)
        payout.refresh_from_db()
        assert (payout.status, payout.attempts) == (Payout.Status.PENDING, 2)
        assert available(seller) == Decimal("40.00")
        with stripe_payouts.down(drop_responses=True):  # Stripe moved the money, the answer was lost
            services.payout_run(today=SETTLEMENT)
        services.payout_run(today=SETTLEMENT)  # the retry with the same key is the same transfer
        assert len(stripe_payouts.transfers) == 1
        assert Payout.objects.get().status == Payout.Status.PAID
        assert available(seller) == Decimal("0.00")
