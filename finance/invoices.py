"""Invoices and credit notes: the documents of every sale, one per seller and order.

Each seller is the merchant of record of its own lines (the house seller of Bazaar's first-party
lines), so an order with lines of three sellers has three invoices. An invoice is issued once the
order is paid (``orders.status_changed`` to ``paid``, see ``EVENT_CONSUMERS``); a refund in full
(``orders.order_refunded``) or the cancellation of a paid order credits what each invoice still
charges, with a credit note. Both are snapshots: the seller's legal name and details, the buyer's
addresses and every line as it was sold; nothing later changes them.

Numbering. Each seller has two gapless series of its own: invoices (``INV-<seller>-000001``...) and
credit notes (``CN-<seller>-000001``...). A document takes its number from the seller's counter row
(:class:`~finance.models.DocumentCounter`), locked with ``SELECT ... FOR UPDATE`` in the transaction
that creates the document: concurrent issuers wait for each other, and a rollback gives the number
back together with the document (a database sequence would leave a gap). Issuing twice (a retried
or replayed event) finds the invoice of that order and seller under the same lock and numbers
nothing; a unique constraint backs it up.

Amounts. An invoice line is its order line: price times quantity less the discount (``total``, as
the order shows it: tax included when the shop's prices include tax), the tax rate and tax; ``net``
is without tax and ``gross`` what the buyer paid. Each package's shipping is a line of its own, at
the rate its tax was charged at. The invoice's figures are sums of its lines and the tax is grouped
by rate from them, so the invoices of an order add up exactly to the order's total.

A credit note gives back units of item lines and an amount of shipping. Units take their share of
the line cumulatively: once ``k`` of a line's ``q`` units are credited, they have been given back
exactly ``round(amount x k / q)`` of its discount and tax (to the currency's minor unit), and a
credit note gives the difference. So the last units take what is left, a line credited in several
steps gives back exactly what it charged, and no part is ever negative. Shipping is credited as an
amount the buyer paid (tax included), its tax in proportion the same way.

A document's PDF is drawn the first time anyone downloads it (the shopper from the order page or
the API, the seller or staff from admin) and kept in private storage (``core.files``); every later
download reads the kept copy. It is drawn only from what the document row holds (its lines, the
parties' details as they were when it was issued), so when it is drawn changes nothing in it, and
an order costs no PDF work until somebody asks for one (most invoices are never downloaded).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Prefetch, Sum
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from core.addresses import address_lines
from core.compiled_query import CompiledQuery
from core.exceptions import ApplicationError, Conflict, NotFound
from core.money import cumulative_share as money_share
from core.money import format_money, quantize
from finance import invoice_pdf
from finance.models import CreditNote, CreditNoteLine, DocumentCounter, Invoice, InvoiceLine, LineKind
from marketplace import selectors as marketplace_selectors
from orders import selectors as orders_selectors

logger = logging.getLogger(__name__)

Series = DocumentCounter.Series
PREFIXES = {Series.INVOICE: "INV", Series.CREDIT_NOTE: "CN"}
ZERO = Decimal("0.00")

# what caused a credit note (unique per invoice: an event replayed credits nothing twice)
SOURCE_REFUNDED = "order_refunded"
SOURCE_CANCELLED = "order_cancelled"


class DocumentNotReady(Conflict):
    """The document exists but its PDF could not be drawn or kept just now (private storage
    unavailable): try again shortly."""

    code = "document_not_ready"


# --- numbering ------------------------------------------------------------------------------------


def document_number(series: str, *, seller_id: int, sequence: int) -> str:
    """``INV-12-000034``: the series, the seller, the number in the seller's series."""
    return f"{PREFIXES[series]}-{seller_id}-{sequence:06d}"


def _counter_locked(seller_id: int, series: str):
    return DocumentCounter.objects.select_for_update().filter(seller_id=seller_id, series=series).order_by("pk")[:1]


def _invoice_of(order_id: int, seller_id: int):
    return Invoice.objects.filter(order_id=order_id, seller_id=seller_id).order_by("pk")[:1]


# Read for every invoice a paid order gets (core.compiled_query: compiled once per worker).
_COUNTER_LOCKED = CompiledQuery(_counter_locked)
_INVOICE_OF = CompiledQuery(_invoice_of)


def _first(found: list):
    return found[0] if found else None


def _lock_counter(*, seller_id: int, series: str) -> DocumentCounter:
    """The seller's counter of ``series``, locked until the caller's transaction ends (made on
    first use: a concurrent first use waits on the unique constraint, then locks the same row)."""
    counter = _first(_COUNTER_LOCKED.fetch(seller_id=seller_id, series=series))
    if counter is None:
        DocumentCounter.objects.bulk_create([DocumentCounter(seller_id=seller_id, series=series)],
                                            ignore_conflicts=True)
        counter = DocumentCounter.objects.select_for_update().get(seller_id=seller_id, series=series)
    return counter


def _take_number(counter: DocumentCounter) -> int:
    """The next number of a locked counter (the caller's transaction keeps or gives it back)."""
    counter.last_number += 1
    counter.save(update_fields=["last_number"])
    return counter.last_number


# --- amounts ----------------------------------------------------------------------------------------


def _net_gross(total: Decimal, tax: Decimal, *, included: bool) -> tuple[Decimal, Decimal]:
    """(net, gross) of a line whose ``total`` includes ``tax`` or not."""
    return (total - tax, total) if included else (total, total + tax)


def cumulative_share(amount: Decimal, *, done: int, more: int, of: int, currency: str) -> Decimal:
    """What ``more`` units give back of ``amount`` (a line's discount or tax, over ``of`` units) once
    ``done`` units were given back (the one rule, :func:`core.money.cumulative_share`)."""
    return money_share(amount, done=done, more=more, of=of, currency=currency)


@dataclass(frozen=True)
class TaxRow:
    """One tax rate of a document: the net amounts taxed at it, the tax, and both together."""

    rate: Decimal
    net: Decimal
    tax: Decimal
    gross: Decimal

    @property
    def label(self) -> str:
        return rate_label(self.rate)


def rate_label(rate: Decimal) -> str:
    """``0.0825`` -> ``8.25%``, ``0.2`` -> ``20%``."""
    percent = (Decimal(rate) * 100).quantize(Decimal("0.01")).normalize()
    return f"{percent:f}%"


def tax_by_rate(lines: Iterable) -> list[TaxRow]:
    """The lines' net, tax and gross summed per tax rate, lowest rate first (sums of the lines'
    own rounded amounts: they add up exactly to the document's figures)."""
    rows: dict[Decimal, list[Decimal]] = {}
    for line in lines:
        sums = rows.setdefault(Decimal(line.tax_rate).normalize(), [ZERO, ZERO, ZERO])
        sums[0] += line.net
        sums[1] += line.tax
        sums[2] += line.gross
    return [TaxRow(rate, *sums) for rate, sums in sorted(rows.items())]


# --- issuing invoices --------------------------------------------------------------------------------


def _house_details(identity) -> dict:
    name = identity.name or settings.SHOP_NAME
    return {"seller_name": name, "seller_legal_name": settings.FINANCE_HOUSE_LEGAL_NAME or name,
            "seller_tax_id": settings.FINANCE_HOUSE_TAX_ID, "seller_address": "\n".join(settings.FINANCE_HOUSE_ADDRESS)}


def merchant_details(*, seller_id: int) -> dict:
    """The merchant of record as the invoice shows it: Bazaar's configured legal details for the
    house seller; for a marketplace seller its legal name and tax id from its approved application,
    its country and contact e-mail (sellers keep no postal address)."""
    identity = marketplace_selectors.seller_identity(seller_id=seller_id)
    if identity is None:
        raise NotFound(_("No such seller."))
    if identity.is_house:
        return _house_details(identity)
    return {"seller_name": identity.name, "seller_legal_name": identity.legal_name, "seller_tax_id": identity.tax_id,
            "seller_address": "\n".join(part for part in (identity.country, identity.email) if part)}


def _invoice_lines(packages: Sequence, *, included: bool) -> list[InvoiceLine]:
    rows: list[InvoiceLine] = []
    for package in sorted(packages, key=lambda p: p.pk):
        lines = sorted(package.lines.all(), key=lambda line: line.pk)
        for line in lines:
            net, gross = _net_gross(line.total, line.tax, included=included)
            rows.append(InvoiceLine(
                kind=LineKind.ITEM, order_line_id=line.pk, title=line.product_title[:200], sku=line.sku[:64],
                quantity=line.quantity, unit_price=line.unit_price, discount=line.discount, total=line.total,
                tax_rate=line.tax_rate, tax=line.tax, net=net, gross=gross))
        if package.shipping_price or package.shipping_tax:
            # shipping is taxed at its lines' rate where the destination taxes shipping, else not at all
            rate = next((line.tax_rate for line in lines), Decimal(0)) if package.shipping_tax else Decimal(0)
            net, gross = _net_gross(package.shipping_price, package.shipping_tax, included=included)
            rows.append(InvoiceLine(
                kind=LineKind.SHIPPING, package_id=package.pk, quantity=1, unit_price=package.shipping_price,
                title=(_("Shipping: %(method)s") % {"method": package.shipping_method_name or "-"})[:200],
                total=package.shipping_price, tax_rate=rate, tax=package.shipping_tax, net=net, gross=gross))
    for position, row in enumerate(rows, start=1):
        row.position = position
    return rows


def _sum(rows: Iterable, field: str, kind: str | None = None) -> Decimal:
    return sum((getattr(r, field) for r in rows if kind is None or r.kind == kind), ZERO)


def _invoice_issue(*, order, seller_id: int, packages: Sequence, details: dict, event_id: int | None) -> Invoice:
    lines = _invoice_lines(packages, included=order.prices_include_tax)
    items = [r for r in lines if r.kind == LineKind.ITEM]
    with transaction.atomic():
        counter = _lock_counter(seller_id=seller_id, series=Series.INVOICE)
        existing = _first(_INVOICE_OF.fetch(order_id=order.pk, seller_id=seller_id))
        if existing is not None:  # a retried or replayed event: the number stays unused
            return existing
        sequence = _take_number(counter)
        invoice = Invoice.objects.create(
            seller_id=seller_id, order_id=order.pk, order_number=order.number, sequence=sequence,
            number=document_number(Series.INVOICE, seller_id=seller_id, sequence=sequence),
            currency=order.currency, prices_include_tax=order.prices_include_tax,
            buyer_email=order.email, billing_address=order.billing_address or order.shipping_address,
            shipping_address=order.shipping_address,
            subtotal=sum((r.unit_price * r.quantity for r in items), ZERO), discount=_sum(items, "discount"),
            shipping=_sum(lines, "total", LineKind.SHIPPING), net=_sum(lines, "net"), tax=_sum(lines, "tax"),
            total=_sum(lines, "gross"), event_id=event_id, **details)
        for row in lines:
            row.invoice = invoice
        InvoiceLine.objects.bulk_create(lines)
    return invoice


def invoices_issue(*, order_id: int, event_id: int | None = None) -> list[Invoice]:
    """The invoices of a paid order: one per seller with lines in it, each numbered in the seller's
    series (see the module). Idempotent: an invoice already issued is returned as it is. The caller
    vouches that the order was paid (the event that says so); an unknown order issues nothing."""
    packages = orders_selectors.order_packages_with_lines(order_id=order_id)
    if not packages:
        return []
    order = packages[0].order
    by_seller: dict[int, list] = {}
    for package in packages:
        by_seller.setdefault(package.seller_id, []).append(package)
    issued = []
    for seller_id in sorted(by_seller):  # one short transaction per seller: one counter locked at a time
        mine = by_seller[seller_id]
        if not any(package.lines.all() for package in mine):
            continue
        details = merchant_details(seller_id=seller_id)
        issued.append(_invoice_issue(order=order, seller_id=seller_id, packages=mine, details=details,
                                     event_id=event_id))
    return issued


# --- credit notes -----------------------------------------------------------------------------------------


@dataclass
class _Credited:
    """What the credit notes of one invoice line gave back so far."""

    units: int = 0
    discount: Decimal = ZERO
    tax: Decimal = ZERO
    gross: Decimal = ZERO


def _credited(invoice: Invoice) -> dict[int, _Credited]:
    rows = (CreditNoteLine.objects.filter(invoice_line__invoice=invoice).exclude(kind=LineKind.DEDUCTION)
            .values("invoice_line_id")
            .annotate(units=Sum("quantity"), discount=Sum("discount"), tax=Sum("tax"), gross=Sum("gross")))
    return {row["invoice_line_id"]: _Credited(row["units"] or 0, row["discount"] or ZERO, row["tax"] or ZERO,
                                              row["gross"] or ZERO) for row in rows}


def _item_credit(line: InvoiceLine, units: int, done: _Credited, *, currency: str,
                 included: bool) -> CreditNoteLine:
    discount = cumulative_share(line.discount, done=done.units, more=units, of=line.quantity, currency=currency)
    tax = cumulative_share(line.tax, done=done.units, more=units, of=line.quantity, currency=currency)
    total = line.unit_price * units - discount
    net, gross = _net_gross(total, tax, included=included)
    return CreditNoteLine(invoice_line=line, kind=LineKind.ITEM, title=line.title, sku=line.sku, quantity=units,
                          unit_price=line.unit_price, discount=discount, total=total, tax_rate=line.tax_rate, tax=tax,
                          net=net, gross=gross)


def _shipping_credit(line: InvoiceLine, amount: Decimal, done: _Credited, *, currency: str,
                     included: bool) -> CreditNoteLine:
    """``amount`` (as paid, tax included) of a shipping line, its tax in proportion (cumulatively)."""
    credited = done.gross + amount
    tax_after = line.tax if credited >= line.gross else quantize(line.tax * credited / line.gross, currency)
    tax = tax_after - done.tax
    total = amount if included else amount - tax
    return CreditNoteLine(invoice_line=line, kind=LineKind.SHIPPING, title=line.title, quantity=1, unit_price=total,
                          total=total, tax_rate=line.tax_rate, tax=tax, net=amount - tax, gross=amount)


def _units(value, *, what: str) -> int:
    try:
        units = int(str(value).strip())
    except (TypeError, ValueError):
        units = -1
    if units < 0:
        raise ApplicationError(_("%(what)s: a whole number of units, 0 or more.") % {"what": what},
                               fields={"lines": [_("Not a number of units.")]})
    return units


def _shipping_amount(value, currency: str) -> Decimal:
    try:
        amount = Decimal(str(value if value is not None else "0"))
    except (InvalidOperation, ValueError):
        amount = Decimal(-1)
    if not amount.is_finite() or amount < 0 or amount != quantize(amount, currency):
        raise ApplicationError(_("Shipping to credit: an amount of 0 or more, in cents."),
                               fields={"shipping": [_("Not valid.")]})
    return amount


Picker = Callable[[list[InvoiceLine], dict[int, _Credited]], tuple[dict[int, int], Decimal]]


def _deduction_row(rows: list[CreditNoteLine], amount: Decimal, label: str, currency: str) -> CreditNoteLine:
    """What a refund kept back, as a negative line of its credit note: its tax in proportion to the
    tax of what is credited (the charge is for the same supply), on the first credited line."""
    gross_credited = _sum(rows, "gross")
    tax = quantize(_sum(rows, "tax") * amount / gross_credited, currency) if gross_credited else ZERO
    first = rows[0]
    return CreditNoteLine(invoice_line=first.invoice_line, kind=LineKind.DEDUCTION, title=label[:200], quantity=0,
                          unit_price=ZERO, total=-amount, tax_rate=first.tax_rate, tax=-tax, net=tax - amount,
                          gross=-amount)


def _credit(*, invoice_id: int, pick: Picker, reason: str, source: str, event_id: int | None,
            empty_ok: bool, deduction: Decimal = ZERO, deduction_label: str = "") -> CreditNote | None:
    """Credit what ``pick`` chooses (invoice line id -> units, and an amount of shipping), decided
    with the invoice's row locked so two credits of one invoice never give a unit back twice; less
    ``deduction`` (at most what is credited but a cent), shown as a line of its own."""
    reason = (reason or "").strip()
    if not reason:
        raise ApplicationError(_("Say why the money is credited."), fields={"reason": [_("Required.")]})
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update().filter(pk=invoice_id).first()
        if invoice is None:
            raise NotFound(_("No such invoice."))
        if source:
            existing = CreditNote.objects.filter(invoice=invoice, source=source).first()
            if existing is not None:
                return existing
        lines = list(invoice.lines.order_by("position"))
        done = _credited(invoice)
        units, shipping = pick(lines, done)
        currency, included = invoice.currency, invoice.prices_include_tax
        rows = [_item_credit(line, units[line.pk], done.get(line.pk, _Credited()), currency=currency,
                             included=included)
                for line in lines if line.kind == LineKind.ITEM and units.get(line.pk)]
        left = shipping
        for line in lines:
            if line.kind != LineKind.SHIPPING or left <= 0:
                continue
            previous = done.get(line.pk, _Credited())
            amount = min(left, line.gross - previous.gross)
            if amount > 0:
                rows.append(_shipping_credit(line, amount, previous, currency=currency, included=included))
                left -= amount
        if not rows or _sum(rows, "gross") <= 0:
            if empty_ok:
                return None
            raise ApplicationError(_("Choose units or shipping to credit."), fields={"lines": [_("Nothing chosen.")]})
        deduction = min(deduction, _sum(rows, "gross") - Decimal("0.01"))
        if deduction > 0:
            rows.append(_deduction_row(rows, deduction, deduction_label or _("Deducted"), currency))
        sequence = _take_number(_lock_counter(seller_id=invoice.seller_id, series=Series.CREDIT_NOTE))
        note = CreditNote.objects.create(
            seller_id=invoice.seller_id, invoice=invoice, order_id=invoice.order_id, order_number=invoice.order_number,
            sequence=sequence, number=document_number(Series.CREDIT_NOTE, seller_id=invoice.seller_id,
                                                      sequence=sequence),
            currency=currency, reason=reason[:300], source=source[:100],
            shipping=_sum(rows, "total", LineKind.SHIPPING), net=_sum(rows, "net"), tax=_sum(rows, "tax"),
            total=_sum(rows, "gross"), event_id=event_id)
        for position, row in enumerate(rows, start=1):
            row.credit_note, row.position = note, position
        CreditNoteLine.objects.bulk_create(rows)
    return note


def credit_note_issue(*, invoice: Invoice, lines: Mapping[int, int], shipping: Decimal | str | int = ZERO,
                      reason: str, source: str = "", event_id: int | None = None, deduction: Decimal = ZERO,
                      deduction_label: str = "") -> CreditNote:
    """Credit units of some of ``invoice``'s lines (``lines``: order line id -> units) and an amount
    of its shipping (``shipping``: as the buyer paid it, tax included), for ``reason``; for a partial
    refund, say. Each item line gives back its units' cumulative share of its discount and tax (see
    the module); shipping is credited line by line in order, its tax in proportion. Refuses units
    beyond what is left to credit, lines of another invoice, more shipping than is left, and an
    empty credit. ``source`` (e.g. ``refund:12``) makes it idempotent: the same source on the same
    invoice returns the credit note made the first time. ``deduction`` (what the refund kept back,
    ``deduction_label`` saying what for) is a negative line, so the note adds up to the money given."""

    def pick(invoice_lines: list[InvoiceLine], done: dict[int, _Credited]) -> tuple[dict[int, int], Decimal]:
        items = {line.order_line_id: line for line in invoice_lines if line.kind == LineKind.ITEM}
        chosen: dict[int, int] = {}
        for key, value in (lines or {}).items():
            line = items.get(_units(key, what=_("Line")))
            if line is None:
                raise ApplicationError(_("That line is not on invoice %(number)s.") % {"number": invoice.number},
                                       fields={"lines": [_("Unknown line.")]})
            units = _units(value, what=line.title)
            left = line.quantity - done.get(line.pk, _Credited()).units
            if units > left:
                raise ApplicationError(_("%(title)s: at most %(left)s more unit(s) can be credited.")
                                       % {"title": line.title, "left": left}, fields={"lines": [_("Too many units.")]})
            if units:
                chosen[line.pk] = chosen.get(line.pk, 0) + units
        amount = _shipping_amount(shipping, invoice.currency)
        left = sum((line.gross - done.get(line.pk, _Credited()).gross
                    for line in invoice_lines if line.kind == LineKind.SHIPPING), ZERO)
        if amount > left:
            raise ApplicationError(_("At most %(amount)s of shipping can be credited.")
                                   % {"amount": format_money(left, invoice.currency)},
                                   fields={"shipping": [_("Too much.")]})
        return chosen, amount

    note = _credit(invoice_id=invoice.pk, pick=pick, reason=reason, source=source, event_id=event_id, empty_ok=False,
                   deduction=Decimal(deduction or 0), deduction_label=deduction_label)
    assert note is not None
    return note


def _everything_left(invoice_lines: list[InvoiceLine], done: dict[int, _Credited]) -> tuple[dict[int, int], Decimal]:
    units = {line.pk: line.quantity - done.get(line.pk, _Credited()).units
             for line in invoice_lines if line.kind == LineKind.ITEM}
    shipping = sum((line.gross - done.get(line.pk, _Credited()).gross
                    for line in invoice_lines if line.kind == LineKind.SHIPPING), ZERO)
    return {pk: n for pk, n in units.items() if n > 0}, shipping


def credit_note_issue_rest(*, invoice: Invoice, reason: str, source: str = "",
                           event_id: int | None = None) -> CreditNote | None:
    """Credit everything ``invoice`` still charges (every unit and all shipping not credited yet);
    None when nothing is left. Idempotent per ``source``, and a second call finds nothing left."""
    return _credit(invoice_id=invoice.pk, pick=_everything_left, reason=reason, source=source, event_id=event_id,
                   empty_ok=True)


def credit_notes_for_order(*, order_id: int, reason: str, source: str,
                           event_id: int | None = None) -> list[CreditNote]:
    """An order refunded in full (or cancelled after it was paid): a credit note per invoice for
    what it still charges. Its invoices are issued first when they were not yet (the events may
    arrive in any order; the refund proves the payment). Idempotent."""
    invoices_issue(order_id=order_id)
    notes = []
    for invoice in Invoice.objects.filter(order_id=order_id).order_by("seller_id"):
        note = credit_note_issue_rest(invoice=invoice, reason=reason, source=source, event_id=event_id)
        if note is not None:
            notes.append(note)
    return notes


# --- PDFs ------------------------------------------------------------------------------------------------


def _address_lines(address: Mapping | None) -> list[str]:
    return address_lines(address) if isinstance(address, Mapping) else []


def _money(amount: Decimal, currency: str) -> str:
    return format_money(amount, currency)


def _rows(lines: Iterable, currency: str) -> list[invoice_pdf.Row]:
    # A line of no units (what a refund kept back, say) shows its amount only.
    return [invoice_pdf.Row(description=line.title, sku=line.sku, quantity=str(line.quantity) if line.quantity else "",
                            unit_price=_money(line.unit_price, currency) if line.quantity else "",
                            discount=_money(line.discount, currency) if line.discount else "",
                            tax_rate=rate_label(line.tax_rate), tax=_money(line.tax, currency),
                            amount=_money(line.gross, currency)) for line in lines]


def _seller_party(invoice: Invoice) -> invoice_pdf.Party:
    lines = [invoice.seller_legal_name]
    if invoice.seller_name and invoice.seller_name != invoice.seller_legal_name:
        lines.append(_("trading as %(name)s") % {"name": invoice.seller_name})
    lines += [line for line in invoice.seller_address.splitlines() if line.strip()]
    if invoice.seller_tax_id:
        lines.append(_("Tax id: %(id)s") % {"id": invoice.seller_tax_id})
    return invoice_pdf.Party(_("Sold by"), lines)


def _tax_rows(lines: Iterable, currency: str) -> list[invoice_pdf.TaxLine]:
    return [invoice_pdf.TaxLine(rate=row.label, net=_money(row.net, currency), tax=_money(row.tax, currency),
                                gross=_money(row.gross, currency)) for row in tax_by_rate(lines)]


def _day(moment: datetime) -> str:
    return date_format(timezone.localtime(moment), "DATE_FORMAT")


def _note(invoice: Invoice) -> list[str]:
    notes = [_("Prices include tax.") if invoice.prices_include_tax else _("Tax is added to the prices shown.")]
    if invoice.seller_id != marketplace_selectors.house_seller_id():
        notes.append(_("Sold by %(seller)s, the merchant of record, through %(shop)s.")
                     % {"seller": invoice.seller_legal_name, "shop": settings.SHOP_NAME})
    return notes


def invoice_document(invoice: Invoice) -> invoice_pdf.PdfDocument:
    """What the invoice's PDF shows (the invoice with its lines prefetched)."""
    lines = list(invoice.lines.all())
    cur = invoice.currency
    return invoice_pdf.PdfDocument(
        title=_("Invoice"), number=invoice.number, shop_name=settings.SHOP_NAME,
        facts=[(_("Invoice number"), invoice.number), (_("Date"), _day(invoice.issued_at)),
               (_("Order"), invoice.order_number)],
        parties=[_seller_party(invoice), invoice_pdf.Party(_("Bill to"), [*_address_lines(invoice.billing_address),
                                                                           invoice.buyer_email]),
                 invoice_pdf.Party(_("Ship to"), _address_lines(invoice.shipping_address))],
        rows=_rows(lines, cur), tax_lines=_tax_rows(lines, cur),
        totals=[(_("Net"), _money(invoice.net, cur)), (_("Tax"), _money(invoice.tax, cur)),
                (_("Total"), _money(invoice.total, cur))],
        notes=_note(invoice))


def credit_note_document(note: CreditNote) -> invoice_pdf.PdfDocument:
    """What the credit note's PDF shows (with its lines and invoice)."""
    invoice = note.invoice
    lines = list(note.lines.all())
    cur = note.currency
    return invoice_pdf.PdfDocument(
        title=_("Credit note"), number=note.number, shop_name=settings.SHOP_NAME,
        facts=[(_("Credit note number"), note.number), (_("Date"), _day(note.issued_at)),
               (_("Credits invoice"), f"{invoice.number} ({_day(invoice.issued_at)})"),
               (_("Order"), note.order_number), (_("Reason"), note.reason)],
        parties=[_seller_party(invoice), invoice_pdf.Party(_("Credited to"), [
            *_address_lines(invoice.billing_address), invoice.buyer_email])],
        rows=_rows(lines, cur), tax_lines=_tax_rows(lines, cur),
        totals=[(_("Net credited"), _money(note.net, cur)), (_("Tax credited"), _money(note.tax, cur)),
                (_("Total credited"), _money(note.total, cur))],
        notes=_note(invoice))


def _store(model, document, data: bytes) -> bool:
    """Keep ``data`` as the document's PDF in private storage, once: a concurrent run that stored
    its copy first wins and ours is deleted."""
    field = document.pdf.field
    name = field.storage.save(field.generate_filename(document, f"{document.number}.pdf"), ContentFile(data))
    if model.objects.filter(pk=document.pk, pdf="").update(pdf=name):
        return True
    field.storage.delete(name)
    return False


def invoice_pdf_render(*, invoice_id: int) -> bool:
    """Draw and keep the invoice's PDF if it has none (idempotent: once kept, kept). True if drawn here."""
    invoice = Invoice.objects.prefetch_related(Prefetch("lines", InvoiceLine.objects.order_by("position"))).filter(
        pk=invoice_id).first()
    if invoice is None or invoice.pdf:
        return False
    return _store(Invoice, invoice, invoice_pdf.render(invoice_document(invoice)))


def credit_note_pdf_render(*, credit_note_id: int) -> bool:
    """Draw and keep the credit note's PDF if it has none (idempotent). True if drawn here."""
    note = (CreditNote.objects.select_related("invoice")
            .prefetch_related(Prefetch("lines", CreditNoteLine.objects.order_by("position")))
            .filter(pk=credit_note_id).first())
    if note is None or note.pdf:
        return False
    return _store(CreditNote, note, invoice_pdf.render(credit_note_document(note)))


def document_file(document):
    """The document's PDF, open for reading: drawn and kept on the first download, read from
    private storage after that. :class:`DocumentNotReady` (409) when storage cannot be written or
    read just now; :class:`NotFound` when a kept copy has gone missing."""
    label = _("Invoice") if isinstance(document, Invoice) else _("Credit note")
    if not document.pdf:
        try:
            if isinstance(document, Invoice):
                invoice_pdf_render(invoice_id=document.pk)
            else:
                credit_note_pdf_render(credit_note_id=document.pk)
        except OSError:
            logger.exception("finance: the PDF of %s %s could not be kept", label, document.number)
            raise DocumentNotReady(_("%(document)s %(number)s cannot be prepared just now: try again in a minute.")
                                   % {"document": label, "number": document.number}) from None
        document.refresh_from_db(fields=["pdf"])  # ours, or a concurrent download's that was kept first
    try:
        return document.pdf.open("rb")
    except FileNotFoundError:
        logger.error("finance: the PDF of %s %s is missing from private storage", label, document.number)
        raise NotFound(_("The PDF of %(number)s is not available; please contact us.") % {"number": document.number})


# --- reads: the shopper's documents ---------------------------------------------------------------------


@dataclass(frozen=True)
class DocumentView:
    """An invoice or credit note as the order page lists it (``orders.selectors.OrderDocument``)."""

    kind: str  # "invoice" or "credit_note"
    pk: int
    number: str
    title: str
    seller_name: str
    issued_at: datetime
    total: Decimal
    currency: str
    url: str


def order_documents(*, order_id: int) -> list[DocumentView]:
    """The order's invoices and credit notes, oldest first, with where the shopper downloads each
    (the page checks who asks). Two queries."""
    fields = ("pk", "number", "issued_at", "total", "currency")
    invoices = Invoice.objects.filter(order_id=order_id).only(*fields, "seller_name")
    notes = CreditNote.objects.filter(order_id=order_id).select_related("invoice").only(*fields, "invoice__seller_name")
    documents = [DocumentView("invoice", i.pk, i.number, _("Invoice %(number)s") % {"number": i.number},
                              i.seller_name, i.issued_at, i.total, i.currency,
                              reverse("finance:invoice_pdf", args=[i.pk])) for i in invoices]
    documents += [DocumentView("credit_note", n.pk, n.number, _("Credit note %(number)s") % {"number": n.number},
                               n.invoice.seller_name, n.issued_at, n.total, n.currency,
                               reverse("finance:credit_note_pdf", args=[n.pk])) for n in notes]
    return sorted(documents, key=lambda d: (d.issued_at, d.kind != "invoice", d.pk))


def shopper_order(*, user, session, number: str):
    """The order ``number`` when this shopper may see it: its signed-in owner, or a browser session
    that opened the order's guest link (``orders.selectors``); else None."""
    if not number:
        return None
    if getattr(user, "is_authenticated", False):
        order = orders_selectors.order_for_user(user=user, number=number)
        if order is not None:
            return order
    if session is None:
        return None
    link = orders_selectors.order_for_guest_session(session=session, number=number)
    return link.order if link.access == orders_selectors.GuestAccess.OK else None


def credit_notes_for_refund(*, refund_id: int, event_id: int | None = None) -> list[CreditNote]:
    """A partial refund (``orders.refunds``): a credit note per seller it touches, for its refunded
    units and its package's shipping, on that seller's invoice of the order (issued first if the
    events arrive out of order). Idempotent per refund (``source`` "refund:<id>")."""
    refund = orders_selectors.refund_detail(refund_id=refund_id)
    if refund is None:
        return []
    by_seller: dict[int, dict] = {}
    for row in refund.lines.all():
        by_seller.setdefault(row.line.seller_id, {"lines": {}, "shipping": ZERO})["lines"][row.line_id] = row.quantity
    for package in orders_selectors.packages_with_shipping_refunded(refund=refund):
        entry = by_seller.setdefault(package.seller_id, {"lines": {}, "shipping": ZERO})
        entry["shipping"] += package.shipping_price + package.shipping_tax
    invoices = {invoice.seller_id: invoice for invoice in invoices_issue(order_id=refund.order_id)}
    # What the refund kept back (a return label the shopper pays) goes on the note of the seller whose
    # refund holds the most lines (a return comes from one seller's package).
    charged = max(by_seller, key=lambda seller: (len(by_seller[seller]["lines"]), seller), default=None) \
        if refund.deduction else None
    notes = []
    for seller_id, part in sorted(by_seller.items()):
        invoice = invoices.get(seller_id)
        if invoice is None:
            continue
        deduction = refund.deduction if seller_id == charged else ZERO
        notes.append(credit_note_issue(invoice=invoice, lines=part["lines"], shipping=part["shipping"],
                                       reason=refund.reason, source=f"refund:{refund.pk}", event_id=event_id,
                                       deduction=deduction, deduction_label=refund.deduction_label))
    return notes


def order_invoices(*, order_id: int) -> list[Invoice]:
    """The order's invoices with their lines and credit notes (with theirs): four queries."""
    notes = CreditNote.objects.order_by("issued_at", "id").prefetch_related(
        Prefetch("lines", CreditNoteLine.objects.order_by("position")))
    return list(Invoice.objects.filter(order_id=order_id).order_by("issued_at", "id").prefetch_related(
        Prefetch("lines", InvoiceLine.objects.order_by("position")), Prefetch("credit_notes", notes)))


def invoice_for_shopper(*, user, session, pk: int) -> Invoice | None:
    """The invoice when the shopper asking may see its order, else None (a stranger learns nothing)."""
    invoice = Invoice.objects.filter(pk=pk).first()
    if invoice is None or shopper_order(user=user, session=session, number=invoice.order_number) is None:
        return None
    return invoice


def credit_note_for_shopper(*, user, session, pk: int) -> CreditNote | None:
    note = CreditNote.objects.filter(pk=pk).first()
    if note is None or shopper_order(user=user, session=session, number=note.order_number) is None:
        return None
    return note

