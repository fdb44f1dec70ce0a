"""Store credit: an append-only ledger per customer and currency whose balance (kept on the account
row) is always the sum of its entries, never below zero even when checkouts spend it at the same
time; spends are idempotent per reference and can be given back once; staff adjust it only with
their own permission; customers see only their own, on their page and in the API."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.db.models import Sum
from rest_framework.test import APIClient

from core.exceptions import ApplicationError, Conflict, IdempotencyKeyReused, PermissionDenied
from core.models import DomainEvent
from payments import selectors, services
from payments.models import StoreCreditAccount, StoreCreditEntry
from tests.concurrency import race
from tests.factories import UserFactory, staff_user

pytestmark = pytest.mark.django_db
Kind = services.StoreCreditKind
ADJUST_URL = "/admin/payments/storecreditaccount/adjust/"


def refund(user, amount: str, reference: str = "refund:1") -> StoreCreditEntry:
    return services.store_credit_grant(user=user, amount=Decimal(amount), kind=Kind.REFUND, reference=reference)


def balance(user) -> Decimal:
    return selectors.store_credit_balance(user=user).amount


def ledger_sum(user) -> Decimal:
    return StoreCreditEntry.objects.filter(account__user=user).aggregate(total=Sum("amount"))["total"] or Decimal(0)


# --- the ledger -------------------------------------------------------------------------------


def test_grants_spends_and_releases_keep_the_balance_equal_to_the_sum_of_entries():
    user = UserFactory()
    refund(user, "30.00", "refund:1")
    services.store_credit_grant(user=user, amount="20.00", kind=Kind.GIFT_CARD, reference="gift_card:7:1")
    spend = services.store_credit_spend(user=user, amount="35.50", reference="order:B-1")
    assert (spend.kind, spend.amount, spend.balance_after) == (Kind.SPEND, Decimal("-35.50"), Decimal("14.50"))
    assert balance(user) == Decimal("14.50") == ledger_sum(user)
    released = services.store_credit_release(reference="order:B-1")
    assert (released.kind, released.amount) == (Kind.SPEND_RELEASE, Decimal("35.50"))
    assert balance(user) == Decimal("50.00") == ledger_sum(user)
    assert [(e.kind, e.reference) for e in StoreCreditEntry.objects.order_by("id")] == [
        ("refund", "refund:1"), ("gift_card", "gift_card:7:1"), ("spend", "order:B-1"), ("spend_release", "order:B-1")]
    # every entry is an event for the rest of the shop (analytics, the finance ledger)
    posted = DomainEvent.objects.filter(name="payments.store_credit_posted").order_by("id")
    assert [e.payload["kind"] for e in posted] == ["refund", "gift_card", "spend", "spend_release"]
    assert posted.last().payload["balance"] == "50.00"


def test_entries_are_never_changed_or_deleted_by_the_model_or_the_database():
    user = UserFactory()
    entry = refund(user, "10.00")
    entry.amount = Decimal("1000.00")
    with pytest.raises(ValueError, match="never changed"):
        entry.save()
    with pytest.raises(ValueError, match="never deleted"):
        entry.delete()
    with pytest.raises(Exception, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE payments_storecreditentry SET amount = 1000 WHERE id = %s", [entry.pk])
    with pytest.raises(Exception, match="append-only"), transaction.atomic():
        StoreCreditEntry.objects.filter(pk=entry.pk).delete()
    with pytest.raises(Exception, match="append-only"), transaction.atomic():
        StoreCreditEntry.objects.filter(pk=entry.pk).update(reference="changed")
    entry.refresh_from_db()
    assert (entry.amount, entry.reference) == (Decimal("10.00"), "refund:1")


def test_the_database_refuses_a_negative_balance():
    user = UserFactory()
    refund(user, "5.00")
    with pytest.raises(Exception, match="store_credit_balance_not_negative"), transaction.atomic():
        StoreCreditAccount.objects.filter(user=user).update(balance=Decimal("-1.00"))


def test_spending_more_than_the_balance_is_refused_clearly_and_changes_nothing():
    user = UserFactory()
    refund(user, "10.00")
    with pytest.raises(ApplicationError) as refused:
        services.store_credit_spend(user=user, amount="10.01", reference="order:B-1")
    assert refused.value.code == "insufficient_store_credit"
    assert refused.value.message == "Your store credit is $10.00, less than $10.01."
    assert refused.value.status_code == 400
    with pytest.raises(ApplicationError, match=r"Your store credit is \$0.00"):
        services.store_credit_spend(user=UserFactory(), amount="1.00", reference="order:B-2")
    assert balance(user) == Decimal("10.00")
    assert not StoreCreditEntry.objects.filter(kind=Kind.SPEND).exists()


def test_a_spend_is_idempotent_per_reference_and_a_release_too():
    user = UserFactory()
    refund(user, "50.00")
    first = services.store_credit_spend(user=user, amount="20.00", reference="order:B-1")
    again = services.store_credit_spend(user=user, amount="20.00", reference="order:B-1")
    assert again.pk == first.pk
    assert balance(user) == Decimal("30.00")
    with pytest.raises(IdempotencyKeyReused):
        services.store_credit_spend(user=user, amount="25.00", reference="order:B-1")
    with pytest.raises(IdempotencyKeyReused):  # another customer's order number
        services.store_credit_spend(user=UserFactory(), amount="20.00", reference="order:B-1")

    released = services.store_credit_release(reference="order:B-1")
    assert services.store_credit_release(reference="order:B-1").pk == released.pk
    assert balance(user) == Decimal("50.00") == ledger_sum(user)
    # a released reference is not spent again (a new attempt is a new order number)
    with pytest.raises(Conflict, match="given back"):
        services.store_credit_spend(user=user, amount="20.00", reference="order:B-1")
    assert services.store_credit_release(reference="order:NEVER") is None
    assert balance(user) == Decimal("50.00")


def test_a_grant_is_idempotent_per_kind_and_reference():
    user = UserFactory()
    first = refund(user, "12.00", "refund:9")
    assert refund(user, "12.00", "refund:9").pk == first.pk
    with pytest.raises(IdempotencyKeyReused):
        refund(user, "13.00", "refund:9")
    assert balance(user) == Decimal("12.00")
    with pytest.raises(ValueError, match="kind"):  # spends and adjustments have services of their own
        services.store_credit_grant(user=user, amount="1.00", kind=Kind.ADJUSTMENT, reference="x")


@pytest.mark.parametrize(("amount", "message"), [
    ("0", "Must be above zero."), ("-5", "Must be above zero."), ("abc", "Enter a valid amount."),
    (1.5, "Enter a valid amount."), ("1.005", "At most 2 decimal places."), ("NaN", "Enter a valid amount."),
    ("2000000", "Must be at most $1,000,000.00."),
])
def test_bad_amounts_are_refused_with_a_field_message(amount, message):
    user = UserFactory()
    with pytest.raises(ApplicationError) as refused:
        services.store_credit_grant(user=user, amount=amount, kind=Kind.REFUND, reference="refund:1")
    assert refused.value.fields == {"amount": [message]}
    assert not StoreCreditEntry.objects.exists()


def test_the_balance_never_passes_what_the_column_holds(settings):
    settings.MAX_PRICE = "9999999999.99"
    user = UserFactory()
    refund(user, "9999999999.99", "refund:1")
    with pytest.raises(ApplicationError, match="over"):
        refund(user, "0.01", "refund:2")
    assert balance(user) == ledger_sum(user) == Decimal("9999999999.99")


def test_balances_are_per_currency():
    user = UserFactory()
    refund(user, "10.00", "refund:1")
    services.store_credit_grant(user=user, amount="7.00", kind=Kind.REFUND, reference="refund:2", currency="EUR")
    assert [str(m) for m in selectors.store_credit_balances(user=user)] == ["$10.00", "€7.00"]
    with pytest.raises(ApplicationError, match="less than"):
        services.store_credit_spend(user=user, amount="8.00", reference="order:B-1", currency="EUR")
    services.store_credit_spend(user=user, amount="7.00", reference="order:B-2", currency="EUR")
    assert selectors.store_credit_balance(user=user, currency="EUR").amount == 0
    assert balance(user) == Decimal("10.00")


# --- concurrency --------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_checkouts_spending_one_balance_at_once_never_overdraw_it():
    user = UserFactory()
    refund(user, "100.00")

    def spend(reference):
        return services.store_credit_spend(user=user, amount="60.00", reference=reference)

    results = race(spend, [("order:A",), ("order:B",)], catch=(ApplicationError,))
    won = [r for r in results if isinstance(r, StoreCreditEntry)]
    lost = [r for r in results if isinstance(r, ApplicationError)]
    assert len(won) == 1
    assert len(lost) == 1
    assert lost[0].code == "insufficient_store_credit"
    assert balance(user) == Decimal("40.00") == ledger_sum(user)


@pytest.mark.django_db(transaction=True)
def test_many_spends_at_once_take_exactly_what_there_is():
    user = UserFactory()
    refund(user, "100.00")
    results = race(lambda ref: services.store_credit_spend(user=user, amount="30.00", reference=ref),
                   [(f"order:{n}",) for n in range(6)], catch=(ApplicationError,))
    assert sum(isinstance(r, StoreCreditEntry) for r in results) == 3
    assert balance(user) == Decimal("10.00") == ledger_sum(user)


@pytest.mark.django_db(transaction=True)
def test_the_same_order_spending_twice_at_once_spends_once():
    user = UserFactory()
    refund(user, "100.00")
    results = race(lambda ref: services.store_credit_spend(user=user, amount="30.00", reference=ref),
                   [("order:A",), ("order:A",), ("order:A",)])
    assert len({r.pk for r in results}) == 1
    assert balance(user) == Decimal("70.00") == ledger_sum(user)
    released = race(lambda ref: services.store_credit_release(reference=ref), [("order:A",), ("order:A",)])
    assert len({r.pk for r in released}) == 1
    assert balance(user) == Decimal("100.00") == ledger_sum(user)


@pytest.mark.django_db(transaction=True)
def test_a_first_grant_races_no_duplicate_account():
    user = UserFactory()
    race(lambda ref: refund(user, "5.00", ref), [("refund:1",), ("refund:2",), ("refund:3",)])
    assert StoreCreditAccount.objects.filter(user=user).count() == 1
    assert balance(user) == Decimal("15.00") == ledger_sum(user)


# --- staff adjustments --------------------------------------------------------------------------


def test_an_adjustment_needs_the_permission_and_a_reason_and_never_overdraws():
    customer = UserFactory()
    refund(customer, "10.00")
    with pytest.raises(PermissionDenied):
        services.store_credit_adjust(user=customer, amount="5.00", reason="goodwill",
                                     actor=staff_user("payments.view_storecreditaccount",
                                                      "payments.change_storecreditaccount"))
    adjuster = staff_user("payments.adjust_store_credit")
    with pytest.raises(ApplicationError) as no_reason:
        services.store_credit_adjust(user=customer, amount="5.00", reason="  ", actor=adjuster)
    assert "reason" in no_reason.value.fields
    added = services.store_credit_adjust(user=customer, amount="5.00", reason="late parcel", actor=adjuster, key="k1")
    assert services.store_credit_adjust(user=customer, amount="5.00", reason="late parcel", actor=adjuster,
                                        key="k1").pk == added.pk  # the form sent twice
    assert (added.note, added.created_by, added.amount) == ("late parcel", adjuster, Decimal("5.00"))
    taken = services.store_credit_adjust(user=customer, amount="-12.00", reason="duplicate refund", actor=adjuster)
    assert taken.amount == Decimal("-12.00")
    with pytest.raises(ApplicationError, match="at most that"):
        services.store_credit_adjust(user=customer, amount="-3.01", reason="too much", actor=adjuster)
    assert balance(customer) == Decimal("3.00") == ledger_sum(customer)


def test_view_only_staff_cannot_adjust_in_admin(client):
    customer = UserFactory()
    refund(customer, "10.00")
    account = StoreCreditAccount.objects.get(user=customer)
    client.force_login(staff_user("payments.view_storecreditaccount", "payments.view_storecreditentry"))
    page = client.get(f"/admin/payments/storecreditaccount/{account.pk}/change/")
    assert page.status_code == 200
    assert "late parcel" not in page.content.decode()
    assert ADJUST_URL not in page.content.decode()
    assert client.get(ADJUST_URL).status_code == 403
    response = client.post(ADJUST_URL, {"email": customer.email, "currency": "USD", "amount": "500",
                                        "reason": "mine now", "adjust_key": "k"})
    assert response.status_code == 403
    assert balance(customer) == Decimal("10.00")
    assert StoreCreditEntry.objects.count() == 1


def test_staff_with_the_permission_adjust_in_admin_and_see_the_history(client):
    customer = UserFactory()
    refund(customer, "10.00")
    account = StoreCreditAccount.objects.get(user=customer)
    client.force_login(staff_user("payments.view_storecreditaccount", "payments.adjust_store_credit"))
    page = client.get(f"/admin/payments/storecreditaccount/{account.pk}/change/")
    assert f"{ADJUST_URL}?account={account.pk}" in page.content.decode()
    form = client.get(f"{ADJUST_URL}?account={account.pk}")
    assert form.context["form"].initial["email"] == customer.email
    bad = client.post(ADJUST_URL, {"email": customer.email, "currency": "USD", "amount": "-20", "reason": "x",
                                   "adjust_key": "k1"})
    assert bad.status_code == 400
    assert "at most that can be taken" in bad.content.decode()
    done = client.post(ADJUST_URL, {"email": customer.email, "currency": "USD", "amount": "2.50",
                                    "reason": "late parcel", "adjust_key": "k2"})
    assert done.status_code == 302
    assert client.post(ADJUST_URL, {"email": customer.email, "currency": "USD", "amount": "2.50",
                                    "reason": "late parcel", "adjust_key": "k2"}).status_code == 302
    assert balance(customer) == Decimal("12.50") == ledger_sum(customer)
    history = client.get(f"/admin/payments/storecreditaccount/{account.pk}/change/").content.decode()
    assert "late parcel" in history
    assert "$2.50" in history
    unknown = client.post(ADJUST_URL, {"email": "nobody@example.com", "currency": "USD", "amount": "1",
                                       "reason": "x", "adjust_key": "k3"})
    assert unknown.status_code == 400
    assert "No customer has this e-mail address." in unknown.content.decode()
    # the ledger has no add, change or delete in admin
    entry = StoreCreditEntry.objects.first()
    assert client.post(f"/admin/payments/storecreditentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403


# --- the customer's page and API ----------------------------------------------------------------


def test_the_page_is_for_signed_in_customers_and_shows_only_their_own(client, django_assert_max_num_queries):
    assert client.get("/account/store-credit/").status_code == 302
    mine, other = UserFactory(), UserFactory()
    refund(mine, "25.00", "refund:1")
    services.store_credit_spend(user=mine, amount="5.00", reference="order:B-77", description="Order B-77")
    refund(other, "999.00", "refund:2")
    client.force_login(mine)
    page = client.get("/account/store-credit/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "$20.00" in html
    assert "Order B-77" in html
    assert "-$5.00" in html
    assert "$999.00" not in html
    assert page["Cache-Control"].startswith("max-age=0")


def test_the_page_shows_20_entries_a_page_with_a_constant_query_count(client, django_assert_max_num_queries):
    user = UserFactory()
    client.force_login(user)
    for n in range(3):
        refund(user, "1.00", f"refund:{n}")
    with django_assert_max_num_queries(12) as small:
        client.get("/account/store-credit/")
    for n in range(3, 45):
        refund(user, "1.00", f"refund:{n}")
    with django_assert_max_num_queries(len(small.captured_queries)):
        page = client.get("/account/store-credit/")
    assert len(page.context["entries"]) == 20
    assert page.context["page_obj"].paginator.num_pages == 3
    assert len(client.get("/account/store-credit/?page=3").context["entries"]) == 5


def test_the_api_answers_with_the_callers_own_credit_only():
    api = APIClient()
    assert api.get("/api/v1/store-credit/").status_code == 401
    mine, other = UserFactory(), UserFactory()
    for n in range(25):
        refund(mine, "2.00", f"refund:{n}")
    refund(other, "999.00", "refund:other")
    api.force_authenticate(mine)
    body = api.get("/api/v1/store-credit/").json()
    assert (body["currency"], body["balance"], body["count"]) == ("USD", "50.00", 25)
    assert body["balances"] == [{"currency": "USD", "balance": "50.00"}]
    assert len(body["results"]) == 20
    assert body["next"].endswith("page=2")
    assert body["results"][0] == {
        "id": body["results"][0]["id"], "created_at": body["results"][0]["created_at"], "kind": "refund",
        "kind_label": "Refund", "amount": "2.00", "balance_after": "50.00", "currency": "USD",
        "reference": "refund:24", "description": ""}
    assert len(api.get("/api/v1/store-credit/?page=2").json()["results"]) == 5
    assert api.get("/api/v1/store-credit/?page=9").status_code == 400
    api.force_authenticate(other)
    assert api.get("/api/v1/store-credit/").json()["balance"] == "999.00"


def test_the_account_page_links_to_store_credit_and_gift_cards(client):
    client.force_login(UserFactory())
    html = client.get("/account/").content.decode()
    for url in ("/account/store-credit/", "/account/gift-cards/redeem/", "/gift-cards/balance/"):
        assert f'href="{url}"' in html


def test_the_admin_pages_render_and_offer_no_add_change_or_delete(client, django_user_model):
    customer = UserFactory()
    refund(customer, "10.00")
    card, _code = services.gift_card_issue(amount="25.00")
    admin_user = django_user_model.objects.create_superuser(email="root@example.com", password="x" * 12)
    client.force_login(admin_user)
    entry = StoreCreditEntry.objects.get()
    account = entry.account
    for url in ("/admin/payments/storecreditaccount/", f"/admin/payments/storecreditaccount/{account.pk}/change/",
                "/admin/payments/storecreditentry/", f"/admin/payments/storecreditentry/{entry.pk}/change/",
                "/admin/payments/storecreditentry/?kind=refund&q=refund",
                "/admin/payments/giftcard/", f"/admin/payments/giftcard/{card.pk}/change/",
                "/admin/payments/giftcard/?q=nothing", "/admin/payments/giftcard/issue/", ADJUST_URL):
        assert client.get(url).status_code == 200, url
    for url in ("/admin/payments/storecreditaccount/add/", "/admin/payments/storecreditentry/add/",
                "/admin/payments/giftcard/add/", f"/admin/payments/giftcard/{card.pk}/delete/"):
        assert client.get(url).status_code == 403, url
