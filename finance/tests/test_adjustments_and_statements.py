"""Manual adjustments (platform staff, with a reason) and statements as CSV (a period, a payout)."""

import csv
import io
from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse

from core.exceptions import ApplicationError
from finance import services
from finance.models import Adjustment, LedgerEntry, Payout
from tests.factories import SellerFactory, seller_member, staff_user

pytestmark = pytest.mark.django_db
K = LedgerEntry.Kind


def rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.content.decode())))


def test_an_adjustment_posts_its_entry_with_the_reason():
    seller = SellerFactory()
    services.ledger_adjust(seller_id=seller.pk, amount=Decimal("-12.50"), reason="Damaged in our warehouse: no")
    entry = LedgerEntry.objects.get(kind=K.ADJUSTMENT)
    assert (entry.amount, entry.description, entry.source_id) == (
        Decimal("-12.50"), "Damaged in our warehouse: no", Adjustment.objects.get().pk)


@pytest.mark.parametrize(("amount", "reason", "field"), [
    ("0", "Nothing", "amount"), ("1.005", "Fractions", "amount"), ("5.00", "  ", "reason"),
])
def test_bad_adjustments_are_refused_and_post_nothing(amount, reason, field):
    with pytest.raises(ApplicationError) as refused:
        services.ledger_adjust(seller_id=SellerFactory().pk, amount=Decimal(amount), reason=reason)
    assert field in refused.value.fields
    assert not LedgerEntry.objects.exists()


def test_staff_adjust_in_admin_and_sellers_cannot(client):
    seller = SellerFactory()
    client.force_login(staff_user("finance.add_adjustment", "finance.view_adjustment"))
    response = client.post(reverse("admin:finance_adjustment_add"),
                           {"seller": seller.pk, "amount": "25.00", "reason": "Goodwill for a late delivery"})
    assert response.status_code == 302
    assert LedgerEntry.objects.get(kind=K.ADJUSTMENT).amount == Decimal("25.00")
    assert Adjustment.objects.get().created_by is not None
    zero = client.post(reverse("admin:finance_adjustment_add"), {"seller": seller.pk, "amount": "0", "reason": "x"})
    assert zero.status_code == 200  # the form again, with the error
    assert LedgerEntry.objects.count() == 1
    client.force_login(seller_member(seller, role="owner"))
    assert client.get(reverse("admin:finance_adjustment_add")).status_code == 403
    client.force_login(staff_user("finance.view_adjustment"))  # view-only staff
    refused = client.post(reverse("admin:finance_adjustment_add"),
                          {"seller": seller.pk, "amount": "9.00", "reason": "x"})
    assert refused.status_code == 403
    assert LedgerEntry.objects.count() == 1


def test_a_seller_downloads_a_statement_of_their_own_entries_only(client):
    seller, other = SellerFactory(), SellerFactory()
    mine = services.ledger_adjust(seller_id=seller.pk, amount=Decimal("10.00"), reason="=HYPERLINK(\"x\")")
    theirs = services.ledger_adjust(seller_id=other.pk, amount=Decimal("99.00"), reason="Theirs")
    ids = LedgerEntry.objects.filter(source_id__in=[mine.pk, theirs.pk]).values_list("pk", flat=True)
    client.force_login(seller_member(seller, role="staff"))
    response = client.post(reverse("admin:finance_ledgerentry_changelist"),
                           {"action": "download_csv", "_selected_action": list(ids)})
    assert response["Content-Type"].startswith("text/csv")
    table = rows(response)
    assert table[0][:5] == ["posted", "kind", "order", "description", "amount"]
    assert len(table) == 2  # the other seller's entry is not in the seller's selection
    assert table[1][3] == "'=HYPERLINK(\"x\")"  # never a formula in a spreadsheet
    assert table[1][4] == "10.00"


def test_a_payout_statement_lists_what_it_paid(client):
    seller = SellerFactory()
    services.ledger_adjust(seller_id=seller.pk, amount=Decimal("30.00"), reason="First")
    services.payout_run(today=date(2026, 11, 23))
    services.ledger_adjust(seller_id=seller.pk, amount=Decimal("5.00"), reason="Second")
    services.payout_run(today=date(2026, 12, 7))
    second = Payout.objects.get(seller=seller, settled_on=date(2026, 12, 7))
    client.force_login(seller_member(seller, role="staff"))
    response = client.post(reverse("admin:finance_payout_changelist"),
                           {"action": "download_statement", "_selected_action": [second.pk]})
    table = rows(response)
    assert [(r[1], r[4]) for r in table[1:]] == [("Adjustment", "5.00"), ("Payout", "-5.00")]
