"""Invoices and credit notes: one invoice per seller and paid order (the merchant of record of its
lines), numbered gaplessly per seller, also under concurrency; amounts that add up exactly to the
order, tax grouped per rate; credit notes for refunds and cancellations; PDFs drawn on the first
download into private storage; downloads for the order's shopper only (signed in or through the guest link),
in pages and the API, and for the seller's own members in admin."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from checkout.models import TaxRate
from checkout.services import tax_rate_save
from core.exceptions import ApplicationError
from finance import invoices, tasks
from finance.models import CreditNote, DocumentCounter, Invoice, LineKind
from marketplace.models import SellerApplication
from orders import selectors as orders_selectors
from orders import services as orders_services
from orders.models import Order, OrderLine
from promotions.models import Voucher
from tests.buying import cart_with, place
from tests.commit import committed
from tests.concurrency import race
from tests.factories import (
    OfferFactory,
    SellerFactory,
    UserFactory,
    house_seller,
    seller_member,
    shipping_method,
    staff_user,
    stock,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(settings):
    """Two marketplace sellers shipping their own packages and Bazaar's own offer, a sales tax of
    8.25% (shipping taxed too) and a 10% voucher, so lines carry discounts and tax in cents."""
    settings.FINANCE_HOUSE_LEGAL_NAME = "Bazaar Retail Ltd"
    settings.FINANCE_HOUSE_ADDRESS = ["1 Market Square", "Springfield 12345", "US"]
    settings.FINANCE_HOUSE_TAX_ID = "US-99-1234567"
    tax_rate_save(rate=TaxRate(country="US", name="Sales tax", rate=Decimal("0.0825"), applies_to_shipping=True))
    shipping_method(channel="merchant", price="4.99", code="standard")
    shipping_method(channel="platform", price="3.00", code="fast")
    Voucher.objects.create(code="SAVE10", kind=Voucher.Kind.PERCENT, value=Decimal("10"))
    acme, bolt = SellerFactory(name="Acme"), SellerFactory(name="Bolt")
    SellerApplication.objects.create(
        applicant=UserFactory(), status=SellerApplication.Status.APPROVED, legal_name="Acme Trading GmbH",
        store_name="Acme", contact_name="Ann", email="ann@acme.example", country="DE", tax_id="DE123456789",
        bank_account_holder="Acme", bank_account="DE89370400440532013000", expected_volume="under_100",
        terms_accepted_at=timezone.now(), seller=acme, reviewed_at=timezone.now())
    offers = {
        "acme": OfferFactory(seller=acme, price=Decimal("19.99"), fulfillment_channel="merchant", sku="ACME-1",
                             product__title="Copper kettle"),
        "bolt": OfferFactory(seller=bolt, price=Decimal("5.00"), fulfillment_channel="merchant", sku="BOLT-1"),
        "house": OfferFactory(seller=house_seller(), price=Decimal("12.50"), sku="BZ-1"),
    }
    for offer in offers.values():
        stock(offer, 100)
    return offers


def buy(*pairs, user=None, voucher: str = "", email: str = "ada@example.com") -> Order:
    return place(cart_with(*pairs, user=user), user=user, voucher_code=voucher, email=email).order


def full_order(shop, user=None) -> Order:
    return buy((shop["acme"], 3), (shop["bolt"], 1), (shop["house"], 2), user=user, voucher="SAVE10")


@pytest.fixture
def not_invoicing(settings):
    """Orders placed without the invoicing consumer (to issue their invoices by hand)."""
    settings.EVENT_CONSUMERS = {name: consumers for name, consumers in settings.EVENT_CONSUMERS.items()
                                if name != "orders.status_changed"}


def invoices_of(order) -> dict[int, Invoice]:
    return {invoice.seller_id: invoice for invoice in Invoice.objects.filter(order_id=order.pk)}


# --- issuing ------------------------------------------------------------------------------------------


def test_a_paid_order_gets_one_invoice_per_seller_adding_up_to_the_order(shop):
    order = full_order(shop)
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert order.discount > 0
    assert order.tax > 0
    issued = invoices_of(order)
    acme, bolt, house = shop["acme"].seller, shop["bolt"].seller, house_seller()
    assert set(issued) == {acme.pk, bolt.pk, house.pk}
    # the invoices together are exactly the order, figure by figure
    for figure in ("subtotal", "discount", "shipping", "tax", "total"):
        assert sum(getattr(i, figure) for i in issued.values()) == getattr(order, figure), figure
    for seller_id, invoice in issued.items():
        assert invoice.number == f"INV-{seller_id}-000001"
        assert invoice.sequence == 1
        assert (invoice.order_number, invoice.currency, invoice.buyer_email) == (order.number, "USD", order.email)
        assert invoice.shipping_address == order.shipping_address
        assert invoice.billing_address["full_name"]
        order_lines = list(OrderLine.objects.filter(order=order, seller_id=seller_id).order_by("id"))
        items = [line for line in invoice.lines.order_by("position") if line.kind == LineKind.ITEM]
        assert [(i.order_line_id, i.title, i.sku, i.quantity, i.unit_price, i.discount, i.tax_rate, i.tax, i.total)
                for i in items] == [(o.pk, o.product_title, o.sku, o.quantity, o.unit_price, o.discount, o.tax_rate,
                                     o.tax, o.total) for o in order_lines]
        assert sum(i.total for i in items) == sum(o.total for o in order_lines)
        # tax per rate: sums of the lines, adding up to the invoice
        rows = invoices.tax_by_rate(invoice.lines.all())
        assert [r.rate for r in rows] == [Decimal("0.0825")]
        assert (sum(r.net for r in rows), sum(r.tax for r in rows), sum(r.gross for r in rows)) == (
            invoice.net, invoice.tax, invoice.total)
        assert invoice.total == invoice.net + invoice.tax
    # each seller's shipping is a line of its own invoice, taxed at the order's rate
    shipping = issued[acme.pk].lines.get(kind=LineKind.SHIPPING)
    assert (shipping.unit_price, shipping.tax_rate, shipping.tax) == (Decimal("4.99"), Decimal("0.0825"),
                                                                      Decimal("0.41"))
    # the merchant of record: a seller's approved legal details, Bazaar's configured ones
    assert (issued[acme.pk].seller_legal_name, issued[acme.pk].seller_tax_id) == ("Acme Trading GmbH",
                                                                                 "DE123456789")
    assert issued[bolt.pk].seller_legal_name == "Bolt"  # no application: its store name
    assert (issued[house.pk].seller_legal_name, issued[house.pk].seller_tax_id) == ("Bazaar Retail Ltd",
                                                                                   "US-99-1234567")
    assert issued[house.pk].seller_address.splitlines() == ["1 Market Square", "Springfield 12345", "US"]


def test_rates_are_grouped_and_sum_exactly():
    rows = [SimpleNamespace(tax_rate=Decimal(r), net=Decimal(n), tax=Decimal(t), gross=Decimal(g))
            for r, n, t, g in (("0.2000", "10.00", "2.00", "12.00"), ("0.0700", "3.33", "0.23", "3.56"),
                               ("0.2", "0.01", "0.00", "0.01"), ("0", "4.99", "0.00", "4.99"))]
    summary = invoices.tax_by_rate(rows)
    assert [(r.label, r.net, r.tax, r.gross) for r in summary] == [
        ("0%", Decimal("4.99"), Decimal("0.00"), Decimal("4.99")),
        ("7%", Decimal("3.33"), Decimal("0.23"), Decimal("3.56")),
        ("20%", Decimal("10.01"), Decimal("2.00"), Decimal("12.01"))]
    assert invoices.rate_label(Decimal("0.0825")) == "8.25%"


def test_numbers_are_gapless_per_seller_and_independent_across_sellers(shop):
    for _ in range(3):
        buy((shop["acme"], 1))
    for _ in range(2):
        buy((shop["acme"], 1), (shop["bolt"], 2))
    acme, bolt = shop["acme"].seller_id, shop["bolt"].seller_id
    sequences = defaultdict(list)
    for invoice in Invoice.objects.order_by("id"):
        sequences[invoice.seller_id].append(invoice.sequence)
    assert sequences[acme] == [1, 2, 3, 4, 5]
    assert sequences[bolt] == [1, 2]
    assert DocumentCounter.objects.get(seller_id=acme, series="invoice").last_number == 5


def test_the_consumer_run_twice_issues_one_invoice(shop):
    order = buy((shop["acme"], 1), (shop["bolt"], 1))
    before = {i.pk: i.number for i in Invoice.objects.all()}
    with committed():
        assert tasks.issue_order_documents(order_id=order.pk, from_status="placed", to_status="paid",
                                           event_id=1) == 2
        tasks.issue_order_documents(order_id=order.pk, from_status="paid", to_status="shipped")  # not payment
    assert {i.pk: i.number for i in Invoice.objects.all()} == before
    assert DocumentCounter.objects.get(seller_id=shop["acme"].seller_id, series="invoice").last_number == 1


def test_a_rolled_back_invoice_gives_its_number_back(shop, not_invoicing):
    first, second = buy((shop["acme"], 1)), buy((shop["acme"], 2))
    assert not Invoice.objects.exists()

    def issue_then_fail():
        with transaction.atomic():
            invoices.invoices_issue(order_id=first.pk)
            raise RuntimeError("the transaction fails after the invoice was numbered")

    with pytest.raises(RuntimeError):
        issue_then_fail()
    assert not Invoice.objects.exists()
    [invoice] = invoices.invoices_issue(order_id=second.pk)
    assert invoice.number == f"INV-{shop['acme'].seller_id}-000001"


@pytest.mark.django_db(transaction=True)
def test_concurrent_invoices_of_one_seller_get_consecutive_numbers(settings):
    """Eight orders of one seller invoiced at once, each twice (a retried event racing its first
    delivery): eight invoices numbered 1 to 8, none missing, none twice."""
    settings.EVENT_CONSUMERS = {name: consumers for name, consumers in settings.EVENT_CONSUMERS.items()
                                if name != "orders.status_changed"}
    shipping_method(channel="merchant", price="0.00", code="standard")
    offer = OfferFactory(price=Decimal("10.00"), fulfillment_channel="merchant")
    stock(offer, 100)
    orders = [buy((offer, 1)) for _ in range(8)]
    results = race(lambda order_id: invoices.invoices_issue(order_id=order_id)[0].number,
                   [(order.pk,) for order in orders] * 2)
    assert not [r for r in results if isinstance(r, Exception)], results
    sequences = sorted(Invoice.objects.filter(seller_id=offer.seller_id).values_list("sequence", flat=True))
    assert sequences == list(range(1, 9))
    assert len(set(results)) == 8  # both deliveries of an order answer with its one invoice
    assert DocumentCounter.objects.get(seller_id=offer.seller_id, series="invoice").last_number == 8


# --- credit notes -------------------------------------------------------------------------------------------


def test_a_full_refund_credits_every_invoice_in_full_once(shop):
    order = full_order(shop)
    with committed():
        orders_services.order_refund(order=order, reason="Changed my mind")
    issued = invoices_of(order)
    notes = {note.invoice.seller_id: note for note in CreditNote.objects.select_related("invoice")}
    assert set(notes) == set(issued)
    for seller_id, note in notes.items():
        invoice = issued[seller_id]
        assert note.number == f"CN-{seller_id}-000001"  # the seller's own series of credit notes
        assert (note.total, note.net, note.tax, note.shipping) == (invoice.total, invoice.net, invoice.tax,
                                                                  invoice.shipping)
        assert (note.reason, note.source, note.order_number) == ("Order refunded", "order_refunded", order.number)
        assert [(c.invoice_line_id, c.quantity, c.discount, c.tax, c.total, c.gross) for c in note.lines.all()] == [
            (i.pk, i.quantity, i.discount, i.tax, i.total, i.gross) for i in invoice.lines.order_by("position")]
    assert sum(n.total for n in notes.values()) == order.total
    with committed():  # the event again: nothing more
        tasks.credit_order_refunded(order_id=order.pk, event_id=99)
    assert CreditNote.objects.count() == 3


def test_cancelling_a_paid_order_credits_its_invoices(shop):
    order = buy((shop["acme"], 2))
    with committed():
        orders_services.order_cancel(order=order, reason="Cancelled by the customer")
    [note] = CreditNote.objects.all()
    assert (note.reason, note.total) == ("Order cancelled", invoices_of(order)[shop["acme"].seller_id].total)


def test_a_refund_before_its_invoice_was_issued_issues_then_credits(shop, not_invoicing):
    order = buy((shop["bolt"], 1))
    assert not Invoice.objects.exists()
    with committed():
        orders_services.order_refund(order=order)
    [invoice] = Invoice.objects.all()
    assert invoice.credit_notes.get().total == invoice.total


def test_partial_credit_notes_give_back_exactly_what_the_lines_charged(shop):
    order = buy((shop["acme"], 3), voucher="SAVE10")
    invoice = invoices_of(order)[shop["acme"].seller_id]
    line = invoice.lines.get(kind=LineKind.ITEM)
    shipping = invoice.lines.get(kind=LineKind.SHIPPING)
    assert line.discount == Decimal("6.00")
    assert line.tax == Decimal("4.45")
    with committed():
        one = invoices.credit_note_issue(invoice=invoice, lines={line.order_line_id: 1}, shipping=Decimal("2.00"),
                                         reason="One kettle arrived dented", source="refund:1")
        again = invoices.credit_note_issue(invoice=invoice, lines={line.order_line_id: 1}, reason="retried",
                                           source="refund:1")
        two = invoices.credit_note_issue(invoice=invoice, lines={line.order_line_id: 1}, reason="Second one")
    assert again.pk == one.pk  # the same source: the same credit note
    item = one.lines.get(kind=LineKind.ITEM)
    # one unit of three: its cumulative share of the discount and tax, rounded
    assert (item.quantity, item.discount, item.tax, item.total) == (1, Decimal("2.00"), Decimal("1.48"),
                                                                    Decimal("17.99"))
    ship = one.lines.get(kind=LineKind.SHIPPING)
    assert (ship.gross, ship.tax, ship.net) == (Decimal("2.00"), Decimal("0.15"), Decimal("1.85"))
    assert (one.shipping, one.total) == (Decimal("1.85"), Decimal("19.47") + Decimal("2.00"))
    assert two.lines.get().tax == Decimal("2.97") - Decimal("1.48")  # round(4.45 x 2/3) less what one gave
    with pytest.raises(ApplicationError, match="at most 1 more"):
        invoices.credit_note_issue(invoice=invoice, lines={line.order_line_id: 2}, reason="too many")
    with pytest.raises(ApplicationError, match="shipping"):
        invoices.credit_note_issue(invoice=invoice, lines={}, shipping=Decimal("9.00"), reason="too much")
    with pytest.raises(ApplicationError, match="not on invoice"):
        invoices.credit_note_issue(invoice=invoice, lines={line.order_line_id + 999: 1}, reason="another line")
    with pytest.raises(ApplicationError, match="Choose units"):
        invoices.credit_note_issue(invoice=invoice, lines={}, reason="nothing")
    with pytest.raises(ApplicationError, match="why"):
        invoices.credit_note_issue(invoice=invoice, lines={line.order_line_id: 1}, reason=" ")
    with committed():
        rest = invoices.credit_note_issue_rest(invoice=invoice, reason="The rest")
        assert invoices.credit_note_issue_rest(invoice=invoice, reason="Nothing left") is None
    notes = [one, two, rest]
    assert [n.number for n in notes] == [f"CN-{invoice.seller_id}-00000{i}" for i in (1, 2, 3)]
    credited = [c for n in notes for c in n.lines.all()]
    for field in ("discount", "tax", "total", "net", "gross"):
        assert sum(getattr(c, field) for c in credited if c.invoice_line_id == line.pk) == getattr(line, field)
        assert sum(getattr(c, field) for c in credited if c.invoice_line_id == shipping.pk) == getattr(
            shipping, field)
    assert sum(n.total for n in notes) == invoice.total
    assert sum(c.quantity for c in credited if c.invoice_line_id == line.pk) == 3


def test_a_refund_that_kept_a_return_label_back_credits_exactly_the_money_given(shop):
    from orders import refunds

    order = buy((shop["acme"], 2))
    line = order.lines.get(seller_id=shop["acme"].seller_id)
    with committed():
        orders_services.package_ship(package=line.package, tracking_number="1Z999AA10123456784", carrier_name="UPS")
    with committed():
        refund = refunds.order_refund_partial(order=order, lines={line.pk: 1}, reason="Returned, no longer needed",
                                              idempotency_key="r-1", deduction=Decimal("4.50"),
                                              deduction_label="Return label")
    [note] = CreditNote.objects.filter(source=f"refund:{refund.pk}")
    line.refresh_from_db()
    # prices shown without tax: the unit's tax was paid on top, so it comes back with it
    assert refund.items_tax > 0
    assert refund.items_amount == (line.total + line.tax) / 2
    assert note.total == refund.amount  # the items less the label: what the shopper got back
    kept = note.lines.get(kind=LineKind.DEDUCTION)
    assert (kept.title, kept.gross, kept.quantity) == ("Return label", Decimal("-4.50"), 0)
    assert kept.gross == kept.net + kept.tax
    assert kept.tax <= 0
    # crediting the rest later gives back the other unit in full; the label stays charged
    invoice = invoices_of(order)[shop["acme"].seller_id]
    with committed():
        rest = invoices.credit_note_issue_rest(invoice=invoice, reason="Refunded in full")
    assert note.total + rest.total == invoice.total - Decimal("4.50")


@pytest.mark.parametrize(("amount", "quantity", "steps"), [
    (Decimal("0.02"), 4, [1, 1, 1, 1]), (Decimal("4.45"), 3, [1, 1, 1]), (Decimal("0.06"), 10, [1] * 10),
    (Decimal("100.00"), 7, [3, 2, 2]),
])
def test_cumulative_shares_are_never_negative_and_sum_exactly(amount, quantity, steps):
    done, parts = 0, []
    for units in steps:
        parts.append(invoices.cumulative_share(amount, done=done, more=units, of=quantity, currency="USD"))
        done += units
    assert all(part >= 0 for part in parts)
    assert sum(parts) == amount


# --- PDFs and where they are kept -------------------------------------------------------------------------


def test_pdfs_are_drawn_on_the_first_download_into_private_storage(shop, settings):
    order = buy((shop["acme"], 1), (shop["house"], 1))
    with committed():
        orders_services.order_refund(order=order)
    private_root = Path(settings.STORAGES["private"]["OPTIONS"]["location"])
    documents = [*Invoice.objects.all(), *CreditNote.objects.all()]
    assert len(documents) == 4
    assert not any(document.pdf for document in documents)  # issuing draws nothing
    for document in documents:
        with invoices.document_file(document) as pdf:
            assert pdf.read().startswith(b"%PDF")
        document.refresh_from_db()
        assert document.pdf.name.endswith(f"/{document.seller_id}/{document.number}.pdf")
        path = Path(document.pdf.path)
        assert path.is_relative_to(private_root)
        assert not path.is_relative_to(Path(settings.MEDIA_ROOT))
        assert path.read_bytes().startswith(b"%PDF")
    assert not Path(settings.MEDIA_ROOT).exists() or not any(Path(settings.MEDIA_ROOT).rglob("*.pdf"))
    # the next download reads the kept copy: nothing is drawn again
    kept = documents[0].pdf.name
    assert invoices.invoice_pdf_render(invoice_id=documents[0].pk) is False
    with invoices.document_file(Invoice.objects.get(pk=documents[0].pk)) as pdf:
        assert pdf.read() == Path(documents[0].pdf.path).read_bytes()
    assert Invoice.objects.get(pk=documents[0].pk).pdf.name == kept
    assert len(list(private_root.rglob(f"{documents[0].number}*.pdf"))) == 1


@pytest.mark.django_db(transaction=True)
def test_two_first_downloads_at_once_keep_one_pdf(shop, settings):
    order = buy((shop["acme"], 1))
    invoice = Invoice.objects.get(order_id=order.pk)

    def download() -> bytes:
        with invoices.document_file(Invoice.objects.get(pk=invoice.pk)) as pdf:
            return pdf.read()

    first, second = race(download, [(), ()])
    assert first == second
    assert first.startswith(b"%PDF")
    private_root = Path(settings.STORAGES["private"]["OPTIONS"]["location"])
    assert len(list(private_root.rglob(f"{invoice.number}*.pdf"))) == 1  # the loser's copy was deleted


def test_storage_that_cannot_be_written_answers_409_and_the_next_download_works(shop, client, monkeypatch):
    user = UserFactory()
    order = buy((shop["acme"], 1), user=user)
    invoice = Invoice.objects.get(order_id=order.pk)
    storage = Invoice._meta.get_field("pdf").storage

    def full_disk(*_args, **_kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(storage, "save", full_disk)
    client.force_login(user)
    response = client.get(reverse("finance:invoice_pdf", args=[invoice.pk]))
    assert response.status_code == 409
    assert response["Retry-After"] == "60"
    assert "cannot be prepared just now" in response.content.decode()
    api = APIClient()
    api.force_authenticate(user)
    answer = api.get(reverse("api-invoice-pdf", args=[invoice.pk]))
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "document_not_ready"
    assert not Invoice.objects.get(pk=invoice.pk).pdf
    monkeypatch.undo()
    response = client.get(reverse("finance:invoice_pdf", args=[invoice.pk]))
    assert response.status_code == 200
    assert _pdf(response).startswith(b"%PDF")


# --- shoppers: the order page, downloads and the API -------------------------------------------------------


def _pdf(response) -> bytes:
    return b"".join(response.streaming_content)


def test_the_owner_sees_and_downloads_the_invoices_others_do_not(shop, client):
    owner = UserFactory()
    order = buy((shop["acme"], 1), (shop["bolt"], 1), user=owner)
    with committed():
        orders_services.order_refund(order=order)
    invoice = Invoice.objects.filter(order_id=order.pk).first()
    note = CreditNote.objects.filter(order_id=order.pk).first()
    client.force_login(owner)
    page = client.get(reverse("orders:detail", args=[order.number])).content.decode()
    for document in [*Invoice.objects.all(), *CreditNote.objects.all()]:
        assert document.number in page
    assert reverse("finance:invoice_pdf", args=[invoice.pk]) in page
    for url in (reverse("finance:invoice_pdf", args=[invoice.pk]), reverse("finance:credit_note_pdf", args=[note.pk])):
        response = client.get(url)
        assert response.status_code == 200
        assert response["Content-Type"] == "application/pdf"
        assert "no-store" in response["Cache-Control"]
        assert _pdf(response).startswith(b"%PDF")
        client.force_login(UserFactory())  # another customer: as if it did not exist
        assert client.get(url).status_code == 404
        client.logout()  # nobody: sign in first
        anonymous = client.get(url)
        assert anonymous.status_code == 302
        assert reverse("accounts:login") in anonymous["Location"]
        client.force_login(owner)
    assert client.get(reverse("finance:invoice_pdf", args=[invoice.pk + 1000])).status_code == 404


def test_a_guest_downloads_through_the_order_link(shop, client):
    order = buy((shop["acme"], 1))
    invoice = Invoice.objects.get(order_id=order.pk)
    url = reverse("finance:invoice_pdf", args=[invoice.pk])
    assert client.get(url).status_code == 302  # no link opened yet
    assert client.get(orders_selectors.guest_link_path(order=order)).status_code == 303
    page = client.get(reverse("orders:guest_detail", args=[order.number])).content.decode()
    assert invoice.number in page
    assert url in page
    response = client.get(url)
    assert response.status_code == 200
    assert _pdf(response).startswith(b"%PDF")
    api = APIClient()
    api.cookies = client.cookies  # the same browser session
    listed = api.get(reverse("api-order-invoices", args=[order.number]))
    assert listed.status_code == 200
    assert [i["number"] for i in listed.json()] == [invoice.number]
    assert api.get(reverse("api-invoice-pdf", args=[invoice.pk])).status_code == 200


def test_the_api_lists_the_orders_invoices_and_serves_their_pdfs(shop):
    owner = UserFactory()
    order = full_order(shop, user=owner)
    with committed():
        orders_services.order_refund(order=order)
    api = APIClient()
    api.force_authenticate(owner)
    response = api.get(f"/api/v1/orders/{order.number}/invoices/")
    assert response.status_code == 200
    body = response.json()
    assert len(body) == 3
    assert sum(Decimal(i["total"]) for i in body) == order.total
    acme = next(i for i in body if i["seller"] == "Acme")
    assert acme["seller_legal_name"] == "Acme Trading GmbH"
    assert acme["number"].startswith("INV-")
    assert acme["tax_by_rate"] == [{"rate": "0.0825", "net": acme["net"], "tax": acme["tax"],
                                    "gross": acme["total"]}]
    assert [line["kind"] for line in acme["lines"]] == ["item", "shipping"]
    assert acme["pdf"]["url"].endswith(f"/api/v1/invoices/{acme['id']}/pdf/")
    [note] = acme["credit_notes"]
    assert note["total"] == acme["total"]
    assert note["reason"] == "Order refunded"
    pdf = api.get(acme["pdf"]["url"])
    assert pdf.status_code == 200
    assert pdf["Content-Type"] == "application/pdf"
    assert _pdf(pdf).startswith(b"%PDF")
    assert api.get(note["pdf"]["url"]).status_code == 200
    stranger = APIClient()
    stranger.force_authenticate(UserFactory())
    assert stranger.get(f"/api/v1/orders/{order.number}/invoices/").status_code == 404
    assert stranger.get(acme["pdf"]["url"]).status_code == 404
    assert stranger.get(note["pdf"]["url"]).status_code == 404
    assert APIClient().get(f"/api/v1/orders/{order.number}/invoices/").status_code == 401
    assert APIClient().get(acme["pdf"]["url"]).status_code == 401


@pytest.mark.parametrize("sellers", [1, 3])
def test_the_invoice_list_takes_constant_queries(shop, sellers, django_assert_max_num_queries):
    owner = UserFactory()
    pairs = [(shop[name], 2) for name in ("acme", "bolt", "house")[:sellers]]
    order = buy(*pairs, user=owner)
    with committed():
        orders_services.order_refund(order=order)
    api = APIClient()
    api.force_authenticate(owner)
    with django_assert_max_num_queries(10):  # the order and who may see it; invoices, lines, credit notes, theirs
        assert len(api.get(f"/api/v1/orders/{order.number}/invoices/").json()) == sellers


# --- sellers and staff in admin ------------------------------------------------------------------------------


def test_sellers_see_and_download_only_their_own_documents_in_admin(shop, client):
    order = full_order(shop)
    with committed():
        orders_services.order_refund(order=order)
    mine, theirs = (invoices_of(order)[shop[name].seller_id] for name in ("acme", "bolt"))
    client.force_login(seller_member(shop["acme"].seller, role="staff"))
    listing = client.get(reverse("admin:finance_invoice_changelist"))
    assert listing.status_code == 200
    assert [i.number for i in listing.context["cl"].result_list] == [mine.number]
    assert client.get(reverse("admin:finance_invoice_change", args=[mine.pk])).status_code == 200
    assert client.get(reverse("admin:finance_invoice_change", args=[theirs.pk])).status_code == 302  # not found
    response = client.get(reverse("admin:finance_invoice_pdf", args=[mine.pk]))
    assert response.status_code == 200
    assert _pdf(response).startswith(b"%PDF")
    assert client.get(reverse("admin:finance_invoice_pdf", args=[theirs.pk])).status_code == 404
    notes = client.get(reverse("admin:finance_creditnote_changelist")).context["cl"].result_list
    assert [n.invoice_id for n in notes] == [mine.pk]
    their_note = CreditNote.objects.get(invoice=theirs)
    assert client.get(reverse("admin:finance_creditnote_pdf", args=[their_note.pk])).status_code == 404
    assert client.get(reverse("admin:finance_invoice_add")).status_code == 403  # read-only


def test_platform_staff_with_the_permission_see_every_sellers_invoices(shop, client):
    full_order(shop)
    client.force_login(staff_user("finance.view_invoice"))
    listing = client.get(reverse("admin:finance_invoice_changelist"))
    assert len(listing.context["cl"].result_list) == 3
    invoice = Invoice.objects.first()
    assert client.get(reverse("admin:finance_invoice_pdf", args=[invoice.pk])).status_code == 200
    client.force_login(staff_user("finance.view_ledgerentry"))  # staff, but not for invoices
    assert client.get(reverse("admin:finance_invoice_changelist")).status_code == 403
    assert client.get(reverse("admin:finance_invoice_pdf", args=[invoice.pk])).status_code == 403


def test_the_house_invoice_says_who_sells_and_a_sellers_says_it_sells_through_bazaar(shop):
    order = buy((shop["acme"], 1), (shop["house"], 1))
    issued = invoices_of(order)
    house = invoices.invoice_document(issued[house_seller().pk])
    acme = invoices.invoice_document(issued[shop["acme"].seller_id])
    assert house.parties[0].lines[0] == "Bazaar Retail Ltd"
    assert not any("merchant of record" in n for n in house.notes)
    assert acme.parties[0].lines[:2] == ["Acme Trading GmbH", "trading as Acme"]
    assert any("merchant of record" in note for note in acme.notes)
    assert settings.SHOP_NAME in " ".join(acme.notes)


@pytest.mark.parametrize("orders", [1, 4])
def test_the_invoice_changelist_takes_constant_queries(shop, client, orders, django_assert_max_num_queries):
    for _ in range(orders):
        buy((shop["acme"], 1), (shop["bolt"], 1))
    client.force_login(staff_user("finance.view_invoice"))
    with django_assert_max_num_queries(11):
        response = client.get(reverse("admin:finance_invoice_changelist"))
    assert len(response.context["cl"].result_list) == 2 * orders


def test_a_line_of_no_units_shows_its_amount_only():
    """The return label a refund kept back read as a line of quantity 0 at a unit price."""
    from types import SimpleNamespace

    from finance import invoices as documents

    kept = SimpleNamespace(title="Return shipping label", sku="", quantity=0, unit_price=Decimal("-6.00"),
                           discount=Decimal(0), tax_rate=Decimal(0), tax=Decimal(0), gross=Decimal("-6.00"))
    row = documents._rows([kept], "USD")[0]
    assert (row.quantity, row.unit_price, row.amount) == ("", "", "-$6.00")
