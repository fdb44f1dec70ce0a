"""Gift cards: a long random code shown once and stored only as a keyed hash; redeemed into store
credit once (even by two customers at the same moment); spent and given back at checkout once per
reference; e-mailed on their day once, after which nothing in the database can give the code back;
codes tried are limited, and any unusable code gets the same answer."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core import mail
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from core.exceptions import ApplicationError, Conflict, IdempotencyKeyReused, PermissionDenied
from core.models import DomainEvent, OutboxMessage
from payments import gift_cards, selectors, services
from payments.exceptions import InvalidGiftCard
from payments.models import GiftCard, GiftCardEntry, StoreCreditEntry
from tests.commit import committed
from tests.concurrency import race
from tests.factories import UserFactory, staff_user

pytestmark = pytest.mark.django_db
GENERIC = "This gift card code is not valid or has no balance left."
CODE = re.compile(r"^[2-9A-HJKMNP-TV-Z]{4}(?:-[2-9A-HJKMNP-TV-Z]{4}){4}$")


def issue(amount: str = "50.00", **kwargs) -> tuple[GiftCard, str]:
    card, code = services.gift_card_issue(amount=amount, **kwargs)
    return card, code


def store_credit(user) -> Decimal:
    return selectors.store_credit_balance(user=user).amount


@pytest.fixture
def frozen():
    """The clock stands still at the start of an hour: a test's attempts share one rate window."""
    start = timezone.now().replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    with time_machine.travel(start, tick=False) as traveller:
        yield traveller


@pytest.fixture
def low_rate(settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "gift_card": "3/hour"}


# --- codes ------------------------------------------------------------------------------------


def test_the_code_is_long_random_shown_once_and_only_its_hash_is_stored():
    card, code = issue("25.00", recipient_email="ann@example.com", deliver_on=timezone.localdate() + timedelta(days=3))
    assert CODE.match(code), code
    plain = code.replace("-", "")
    assert card.last4 == plain[-4:]
    assert card.code_hash == gift_cards.code_hash(plain)
    row = json.dumps(list(GiftCard.objects.filter(pk=card.pk).values())[0], default=str)
    stored = row + json.dumps(list(GiftCardEntry.objects.values()), default=str) + json.dumps(
        [e.payload for e in DomainEvent.objects.all()]) + json.dumps(list(OutboxMessage.objects.values()), default=str)
    assert plain not in stored
    assert code not in stored
    assert plain.lower() not in stored.lower()
    # the card cannot tell its code again: a second look finds only the last four characters
    card.refresh_from_db()
    assert str(card) == f"•••• {plain[-4:]}"
    other_card, other = issue("25.00")
    assert other != code
    assert other_card.code_hash != card.code_hash


def test_codes_are_read_without_case_spaces_or_dashes():
    card, code = issue("10.00")
    for typed in (code, code.lower(), code.replace("-", " "), f"  {code.replace('-', '')}  "):
        assert selectors.gift_card_balance(code=typed).balance.amount == Decimal("10.00")
    for wrong in ("", "short", code[:-1], code[:-1] + "0", None, 12, "x" * 500):
        assert selectors.gift_card_balance(code=wrong) is None


def test_a_code_issued_under_an_old_secret_still_works_once_it_is_a_fallback(settings):
    card, code = issue("10.00", recipient_email="ann@example.com", deliver_on=timezone.localdate() + timedelta(days=1))
    old = settings.GIFT_CARD_SECRET
    settings.GIFT_CARD_SECRET = "a brand new secret, long enough to be a real one: 0123456789"
    assert selectors.gift_card_balance(code=code) is None
    settings.GIFT_CARD_SECRET_FALLBACKS = [old]
    assert selectors.gift_card_balance(code=code).last4 == card.last4
    assert gift_cards.delivery_code(card) == code  # a pending e-mail still carries the right code


# --- issuing ------------------------------------------------------------------------------------


def test_issuing_is_idempotent_per_reference_and_shows_the_code_once():
    card, code = issue("50.00", recipient_email="ann@example.com", reference="order_line:7")
    again, no_code = issue("50.00", recipient_email="ann@example.com", reference="order_line:7")
    assert (again.pk, no_code) == (card.pk, None)
    with pytest.raises(IdempotencyKeyReused):
        issue("25.00", recipient_email="ann@example.com", reference="order_line:7")
    assert GiftCard.objects.count() == 1
    assert [(e.kind, e.amount) for e in card.entries.all()] == [("issued", Decimal("50.00"))]


@pytest.mark.parametrize(("amount", "ok"), [
    ("10", True), ("100.00", True), ("5.00", True), ("123.45", True), ("500", True),
    ("4.99", False), ("500.01", False), ("0", False), ("-10", False), ("12.345", False), ("ten", False),
])
def test_amounts_are_the_fixed_ones_or_within_the_custom_limits(amount, ok):
    if ok:
        assert issue(amount)[0].balance == Decimal(amount)
        return
    with pytest.raises(ApplicationError) as refused:
        issue(amount)
    assert "amount" in refused.value.fields
    assert not GiftCard.objects.exists()


def test_fixed_amounts_outside_the_custom_range_are_allowed_and_the_message_lists_them(settings):
    settings.GIFT_CARD_DENOMINATIONS = (Decimal("1000"),)
    assert issue("1000")[0].balance == Decimal("1000")
    with pytest.raises(ApplicationError) as refused:
        issue("999")
    assert refused.value.fields["amount"] == ["Choose $1,000.00, or an amount from $5.00 to $500.00."]


@pytest.mark.parametrize(("details", "field"), [
    ({"recipient_email": "not an address"}, "recipient_email"),
    ({"deliver_on": timezone.localdate() + timedelta(days=1)}, "recipient_email"),
    ({"recipient_email": "a@example.com", "deliver_on": timezone.localdate() - timedelta(days=1)}, "deliver_on"),
    ({"recipient_email": "a@example.com", "deliver_on": timezone.localdate() + timedelta(days=400)}, "deliver_on"),
    ({"message": "x" * 501}, "message"),
    ({"sender_name": "x" * 101}, "sender_name"),
])
def test_bad_details_are_refused_with_a_field_message(details, field):
    with pytest.raises(ApplicationError) as refused:
        issue("25.00", **details)
    assert field in refused.value.fields
    assert not GiftCard.objects.exists()


# --- redeeming ----------------------------------------------------------------------------------


def test_redeeming_moves_the_whole_balance_into_store_credit_once():
    card, code = issue("40.00")
    services.gift_card_spend(code=code, amount="15.00", reference="order:B-1")
    user = UserFactory()
    credit = services.gift_card_redeem(code=code, user=user)
    assert (credit.kind, credit.amount, credit.description) == ("gift_card", Decimal("25.00"),
                                                                f"Gift card ending {card.last4}")
    assert store_credit(user) == Decimal("25.00")
    card.refresh_from_db()
    assert (card.status, card.balance, card.redeemed_by) == (GiftCard.Status.REDEEMED, Decimal("0.00"), user)
    with pytest.raises(ApplicationError) as twice:
        services.gift_card_redeem(code=code, user=user)
    assert twice.value.code == "already_redeemed"
    assert "already redeemed" in twice.value.message
    with pytest.raises(InvalidGiftCard):
        services.gift_card_redeem(code=code, user=UserFactory())
    assert StoreCreditEntry.objects.count() == 1
    assert store_credit(user) == Decimal("25.00")


@pytest.mark.django_db(transaction=True)
def test_two_customers_redeeming_one_card_at_once_one_wins():
    _card, code = issue("30.00")
    ann, bob = UserFactory(), UserFactory()
    results = race(lambda user: services.gift_card_redeem(code=code, user=user), [(ann,), (bob,)],
                   catch=(ApplicationError,))
    assert sum(isinstance(r, StoreCreditEntry) for r in results) == 1
    assert sum(isinstance(r, InvalidGiftCard) for r in results) == 1
    assert store_credit(ann) + store_credit(bob) == Decimal("30.00")
    assert StoreCreditEntry.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_redemption_and_checkout_spends_at_once_never_take_more_than_the_card_holds():
    _card, code = issue("50.00")
    user = UserFactory()

    def use(what):
        if what == "redeem":
            return services.gift_card_redeem(code=code, user=user)
        return services.gift_card_spend(code=code, amount="30.00", reference=what)

    race(use, [("redeem",), ("order:A",), ("order:B",)], catch=(ApplicationError,))
    card = GiftCard.objects.get()
    spent = -sum(e.amount for e in card.entries.filter(kind="spend"))
    assert spent + store_credit(user) + card.balance == Decimal("50.00")
    assert card.balance == sum(e.amount for e in card.entries.all())


# --- spending at checkout -------------------------------------------------------------------------


def test_spends_are_idempotent_per_reference_and_given_back_once():
    card, code = issue("50.00")
    first = services.gift_card_spend(code=code, amount="20.00", reference="order:B-1")
    assert services.gift_card_spend(code=code.lower(), amount="20.00", reference="order:B-1").pk == first.pk
    with pytest.raises(IdempotencyKeyReused):
        services.gift_card_spend(code=code, amount="21.00", reference="order:B-1")
    with pytest.raises(ApplicationError) as too_much:
        services.gift_card_spend(code=code, amount="30.01", reference="order:B-2")
    assert (too_much.value.code, too_much.value.message) == ("insufficient_gift_card_balance",
                                                             "This gift card has $30.00 left.")
    with pytest.raises(ApplicationError, match="in USD"):
        services.gift_card_spend(code=code, amount="5.00", reference="order:B-3", currency="EUR")
    card.refresh_from_db()
    assert card.balance == Decimal("30.00")

    released = services.gift_card_release(reference="order:B-1")
    assert [e.pk for e in services.gift_card_release(reference="order:B-1")] == [e.pk for e in released]
    card.refresh_from_db()
    assert card.balance == Decimal("50.00") == sum(e.amount for e in card.entries.all())
    with pytest.raises(Conflict):
        services.gift_card_spend(code=code, amount="20.00", reference="order:B-1")
    assert services.gift_card_release(reference="order:NONE") == []


def test_a_release_gives_back_every_card_an_order_spent_and_reopens_a_redeemed_one():
    card_a, code_a = issue("10.00")
    card_b, code_b = issue("25.00")
    services.gift_card_spend(code=code_a, amount="10.00", reference="order:B-9")
    services.gift_card_spend(code=code_b, amount="5.00", reference="order:B-9")
    user = UserFactory()
    services.gift_card_redeem(code=code_b, user=user)  # the other $20 went into store credit
    with pytest.raises(InvalidGiftCard):
        services.gift_card_spend(code=code_a, amount="1.00", reference="order:B-10")  # used up
    assert len(services.gift_card_release(reference="order:B-9")) == 2
    card_a.refresh_from_db()
    card_b.refresh_from_db()
    assert (card_a.balance, card_b.balance, card_b.status) == (Decimal("10.00"), Decimal("5.00"), "active")
    assert services.gift_card_redeem(code=code_b, user=user).amount == Decimal("5.00")
    assert store_credit(user) == Decimal("25.00")


@pytest.mark.django_db(transaction=True)
def test_checkouts_spending_one_card_at_once_never_overdraw_it():
    _card, code = issue("50.00")
    results = race(lambda ref: services.gift_card_spend(code=code, amount="20.00", reference=ref),
                   [(f"order:{n}",) for n in range(4)], catch=(ApplicationError,))
    assert sum(isinstance(r, GiftCardEntry) for r in results) == 2
    card = GiftCard.objects.get()
    assert card.balance == Decimal("10.00") == sum(e.amount for e in card.entries.all())


def test_card_entries_are_append_only_in_the_model_and_the_database():
    card, _code = issue("10.00")
    entry = card.entries.get()
    with pytest.raises(ValueError, match="never changed"):
        entry.save()
    with pytest.raises(ValueError, match="never deleted"):
        entry.delete()
    with pytest.raises(Exception, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE payments_giftcardentry SET amount = 1000 WHERE id = %s", [entry.pk])
    with pytest.raises(Exception, match="append-only"), transaction.atomic():
        GiftCardEntry.objects.filter(pk=entry.pk).delete()
    with pytest.raises(Exception, match="gift_card_balance_le_initial_amount"), transaction.atomic():
        GiftCard.objects.filter(pk=card.pk).update(balance=Decimal("11.00"))


# --- wrong and used codes look the same ---------------------------------------------------------


def test_wrong_and_used_up_codes_get_the_same_answer_everywhere(settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "gift_card": "100/hour"}
    _spent, spent = issue("10.00")
    services.gift_card_spend(code=spent, amount="10.00", reference="order:B-1")
    _redeemed, redeemed = issue("10.00")
    services.gift_card_redeem(code=redeemed, user=UserFactory())
    voided_card, voided = issue("10.00")
    services.gift_card_void(card_id=voided_card.pk, actor=staff_user("payments.void_gift_card"))
    never = "ABCD-EFGH-JKMN-PQRS-TVWX"
    api = APIClient()
    customer = APIClient()
    customer.force_authenticate(UserFactory())
    page = Client()
    page.force_login(UserFactory())
    answers = set()
    for code in (never, spent, redeemed, voided, "nonsense"):
        balance = api.post("/api/v1/gift-cards/balance/", {"code": code}, format="json")
        redeem = customer.post("/api/v1/gift-cards/redeem/", {"code": code}, format="json")
        balance_page = page.post("/gift-cards/balance/", {"code": code})
        redeem_page = page.post("/account/gift-cards/redeem/", {"code": code})
        answers.add((balance.status_code, json.dumps(balance.json()), redeem.status_code, json.dumps(redeem.json()),
                     balance_page.status_code, redeem_page.status_code,
                     GENERIC in balance_page.content.decode(), GENERIC in redeem_page.content.decode()))
    assert answers == {(400, json.dumps({"error": {"code": "invalid_gift_card", "message": GENERIC,
                                                   "fields": {"code": [GENERIC]}}}),
                        400, json.dumps({"error": {"code": "invalid_gift_card", "message": GENERIC,
                                                   "fields": {"code": [GENERIC]}}}),
                        400, 400, True, True)}


# --- pages and API ------------------------------------------------------------------------------


def test_anyone_may_check_a_balance_and_only_customers_may_redeem(client):
    card, code = issue("35.00")
    balance = APIClient().post("/api/v1/gift-cards/balance/", {"code": code}, format="json")
    assert balance.status_code == 200
    assert balance.json() == {"balance": "35.00", "currency": "USD", "last4": card.last4}
    page = client.post("/gift-cards/balance/", {"code": code})
    assert page.status_code == 200
    assert f"The gift card ending {card.last4} has $35.00 left." in page.content.decode()
    assert code not in page.content.decode()  # never written back into the page

    assert APIClient().post("/api/v1/gift-cards/redeem/", {"code": code}, format="json").status_code == 401
    assert client.get("/account/gift-cards/redeem/").status_code == 302  # to sign in
    assert client.post("/account/gift-cards/redeem/", {"code": code}).status_code == 302
    card.refresh_from_db()
    assert card.status == GiftCard.Status.ACTIVE
    assert not StoreCreditEntry.objects.exists()


def test_a_customer_redeems_on_the_page_and_in_the_api(client):
    _card, code = issue("35.00")
    user = UserFactory()
    client.force_login(user)
    form = client.get("/account/gift-cards/redeem/")
    assert form.status_code == 200
    assert "csrfmiddlewaretoken" in form.content.decode()
    done = client.post("/account/gift-cards/redeem/", {"code": code}, follow=True)
    assert done.redirect_chain[-1][0] == "/account/store-credit/"
    assert "$35.00 was added to your store credit." in done.content.decode()
    again = client.post("/account/gift-cards/redeem/", {"code": code})
    assert again.status_code == 400
    assert "already redeemed" in again.content.decode()

    _card2, code2 = issue("15.00")
    api = APIClient()
    api.force_authenticate(user)
    answer = api.post("/api/v1/gift-cards/redeem/", {"code": code2}, format="json")
    assert answer.status_code == 200
    assert answer.json() == {"amount": "15.00", "currency": "USD", "store_credit_balance": "50.00"}
    assert api.post("/api/v1/gift-cards/redeem/", {"code": code2, "amount": "99"}, format="json").status_code == 400
    assert api.post("/api/v1/gift-cards/redeem/", {}, format="json").json()["error"]["fields"] == {
        "code": ["This field is required."]}


def test_the_pages_enforce_csrf():
    _card, code = issue("10.00")
    client = Client(enforce_csrf_checks=True)
    client.force_login(UserFactory())
    assert client.post("/account/gift-cards/redeem/", {"code": code}).status_code == 403
    assert Client(enforce_csrf_checks=True).post("/gift-cards/balance/", {"code": code}).status_code == 403


# --- attempts are limited ------------------------------------------------------------------------


def test_balance_checks_are_limited_per_client_address(frozen, low_rate):
    _card, code = issue("10.00")
    api = APIClient(REMOTE_ADDR="203.0.113.9")
    answers = [api.post("/api/v1/gift-cards/balance/", {"code": code}, format="json").status_code for _ in range(3)]
    assert answers == [200, 200, 200]
    limited = api.post("/api/v1/gift-cards/balance/", {"code": code}, format="json")
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "throttled"
    assert int(limited["Retry-After"]) > 0
    # the page counts on the same counters; another address is not affected
    assert Client(REMOTE_ADDR="203.0.113.9").post("/gift-cards/balance/", {"code": code}).status_code == 429
    assert APIClient(REMOTE_ADDR="198.51.100.1").post("/api/v1/gift-cards/balance/", {"code": code},
                                                       format="json").status_code == 200
    frozen.shift(timedelta(hours=1))
    assert api.post("/api/v1/gift-cards/balance/", {"code": code}, format="json").status_code == 200


def test_redeem_attempts_are_limited_per_user_across_addresses(frozen, low_rate):
    user = UserFactory()
    for n, address in enumerate(("192.0.2.1", "192.0.2.2", "192.0.2.3")):
        api = APIClient(REMOTE_ADDR=address)
        api.force_authenticate(user)
        assert api.post("/api/v1/gift-cards/redeem/", {"code": f"WRONG-{n}"}, format="json").status_code == 400
    page = Client(REMOTE_ADDR="192.0.2.4")
    page.force_login(user)
    _card, code = issue("10.00")
    limited = page.post("/account/gift-cards/redeem/", {"code": code})
    assert limited.status_code == 429
    assert limited["Retry-After"]
    assert not StoreCreditEntry.objects.exists()  # over the limit, even a right code is not tried
    assert page.get("/account/gift-cards/redeem/").status_code == 200  # reading the form is not counted


# --- delivery -----------------------------------------------------------------------------------


def test_the_card_is_e_mailed_once_on_its_day_and_the_code_is_then_gone(mailoutbox):
    today = timezone.localdate()
    with committed():
        card, code = issue("50.00", recipient_email="ann@example.com", recipient_name="Ann", sender_name="Bob",
                           message="Happy birthday <3", deliver_on=today + timedelta(days=2))
    assert card.delivery_seed
    assert card.delivered_at is None
    with committed():
        assert services.gift_card_deliver_due(today=today + timedelta(days=1)) == 0
    assert mailoutbox == []
    with committed():
        assert services.gift_card_deliver_due(today=today + timedelta(days=2)) == 1
    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    assert message.to == ["ann@example.com"]
    assert message.subject == "Bob sent you a Bazaar gift card"
    assert code in message.body
    assert "Happy birthday <3" in message.body
    assert "Hello Ann," in message.body
    html = message.alternatives[0][0]
    assert code in html
    assert "Happy birthday &lt;3" in html
    assert "/account/gift-cards/redeem/" in message.body
    card.refresh_from_db()
    assert card.delivered_at is not None
    assert card.delivery_seed == ""
    assert gift_cards.delivery_code(card) is None
    # again, and the worker's task again: nothing more is sent
    with committed():
        assert services.gift_card_deliver_due(today=today + timedelta(days=3)) == 0
    from payments.tasks import send_gift_card_email

    assert send_gift_card_email(card.pk) is False
    assert len(mailoutbox) == 1
    assert services.gift_card_redeem(code=code, user=UserFactory()).amount == Decimal("50.00")


def test_a_card_for_today_is_e_mailed_after_the_commit_and_the_beat_task_is_declared(settings):
    assert settings.CELERY_BEAT_SCHEDULE["deliver-gift-cards"]["task"] == "payments.tasks.deliver_gift_cards"
    with committed():
        card, code = issue("10.00", recipient_email="ann@example.com")
        assert mail.outbox == []
    assert len(mail.outbox) == 1
    assert code in mail.outbox[0].body
    assert mail.outbox[0].subject == "Bazaar sent you a Bazaar gift card"
    card.refresh_from_db()
    assert card.deliver_on == timezone.localdate()
    assert card.delivery_seed == ""


def test_a_voided_or_redeemed_card_is_not_e_mailed():
    tomorrow = timezone.localdate() + timedelta(days=1)
    voided, _ = issue("10.00", recipient_email="a@example.com", deliver_on=tomorrow)
    _redeemed, code = issue("10.00", recipient_email="b@example.com", deliver_on=tomorrow)
    services.gift_card_void(card_id=voided.pk, actor=staff_user("payments.void_gift_card"), reason="lost")
    services.gift_card_redeem(code=code, user=UserFactory())
    with committed():
        assert services.gift_card_deliver_due(today=tomorrow) == 0
    assert mail.outbox == []
    assert not GiftCard.objects.exclude(delivery_seed="").exists()


# --- staff --------------------------------------------------------------------------------------


def test_voiding_needs_its_permission_and_stops_the_card(client):
    card, code = issue("20.00")
    with pytest.raises(PermissionDenied):
        services.gift_card_void(card_id=card.pk, actor=staff_user("payments.view_giftcard",
                                                                   "payments.change_giftcard"))
    viewer = staff_user("payments.view_giftcard")
    client.force_login(viewer)
    page = client.get(f"/admin/payments/giftcard/{card.pk}/change/")
    assert page.status_code == 200
    assert "void-gift-card" not in page.content.decode()
    assert client.post(f"/admin/payments/giftcard/{card.pk}/void/", {"reason": "x"}).status_code == 403
    card.refresh_from_db()
    assert card.status == GiftCard.Status.ACTIVE

    client.force_login(staff_user("payments.view_giftcard", "payments.void_gift_card"))
    assert "void-gift-card" in client.get(f"/admin/payments/giftcard/{card.pk}/change/").content.decode()
    assert client.post(f"/admin/payments/giftcard/{card.pk}/void/", {"reason": "sold by mistake"}).status_code == 302
    card.refresh_from_db()
    assert (card.status, card.balance) == (GiftCard.Status.VOIDED, Decimal("0.00"))
    assert card.entries.last().note == "sold by mistake"
    assert selectors.gift_card_balance(code=code) is None


def test_staff_issue_a_card_in_admin_and_see_its_code_once(client):
    client.force_login(staff_user("payments.view_giftcard"))
    assert client.get("/admin/payments/giftcard/issue/").status_code == 403
    assert client.post("/admin/payments/giftcard/issue/", {"amount": "25", "issue_key": "k"}).status_code == 403
    assert "/admin/payments/giftcard/issue/" not in client.get("/admin/payments/giftcard/").content.decode()
    assert not GiftCard.objects.exists()

    issuer = staff_user("payments.view_giftcard", "payments.issue_gift_card")
    client.force_login(issuer)
    assert "/admin/payments/giftcard/issue/" in client.get("/admin/payments/giftcard/").content.decode()
    bad = client.post("/admin/payments/giftcard/issue/", {"amount": "1", "issue_key": "k1"})
    assert bad.status_code == 400
    assert "Choose" in bad.content.decode()
    done = client.post("/admin/payments/giftcard/issue/", {"amount": "25", "recipient_name": "Ann",
                                                            "issue_key": "k2"})
    assert done.status_code == 200
    assert "no-store" in done["Cache-Control"]
    code = done.context["code"]
    assert CODE.match(code)
    assert code in done.content.decode()
    card = GiftCard.objects.get()
    assert (card.issued_by, card.reference, card.balance) == (issuer, "admin:k2", Decimal("25.00"))
    # sent twice: no second card, and the code is not shown again
    twice = client.post("/admin/payments/giftcard/issue/", {"amount": "25", "recipient_name": "Ann",
                                                             "issue_key": "k2"}, follow=True)
    assert GiftCard.objects.count() == 1
    assert code not in twice.content.decode()
    # the list and the card's page show the last four characters, never the code
    for url in ("/admin/payments/giftcard/", f"/admin/payments/giftcard/{card.pk}/change/"):
        html = client.get(url).content.decode()
        assert card.last4 in html
        assert code not in html
        assert code.replace("-", "") not in html
    found = client.get("/admin/payments/giftcard/", {"q": code.lower()})
    assert list(found.context["cl"].result_list) == [card]


def test_gift_card_amounts_no_card_could_be_issued_for_stop_start_up(settings):
    from payments.apps import check_gift_card_amounts

    assert check_gift_card_amounts() == []
    settings.GIFT_CARD_DENOMINATIONS = (Decimal("0"), Decimal("10.005"))
    assert [e.id for e in check_gift_card_amounts()] == ["payments.E002", "payments.E002"]
