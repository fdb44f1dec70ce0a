"""An invoice or a credit note as a PDF (A4, flowing onto more pages when the lines do): the title and
number, the facts (date, order, the invoice credited and why), the parties, the lines, the tax per
rate and the totals. Drawn with ReportLab from a :class:`PdfDocument` of ready-made text: nothing here
touches the database or formats money. The standard PDF fonts cover Latin-1 (and the euro sign)."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

from django.utils.translation import gettext as _
from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

MARGIN = 18 * mm


@dataclass(frozen=True)
class Party:
    heading: str  # "Sold by", "Bill to", "Ship to"
    lines: list[str]


@dataclass(frozen=True)
class Row:
    description: str
    sku: str
    quantity: str
    unit_price: str
    discount: str
    tax_rate: str
    tax: str
    amount: str  # what the buyer pays for the line, tax included


@dataclass(frozen=True)
class TaxLine:
    rate: str
    net: str
    tax: str
    gross: str


@dataclass(frozen=True)
class PdfDocument:
    title: str  # "Invoice", "Credit note"
    number: str
    shop_name: str
    facts: list[tuple[str, str]]
    parties: list[Party]
    rows: list[Row]
    tax_lines: list[TaxLine]
    totals: list[tuple[str, str]]  # the last one is the total, in bold
    notes: list[str] = field(default_factory=list)


def _text(value: str) -> str:
    """Plain text for a Paragraph (which reads a little XML): names and titles are never markup."""
    return escape(str(value or ""))


def render(document: PdfDocument) -> bytes:
    styles = getSampleStyleSheet()
    body = ParagraphStyle("body", parent=styles["BodyText"], fontName="Helvetica", fontSize=9, leading=11)
    small = ParagraphStyle("small", parent=body, fontSize=8, leading=10, textColor=colors.HexColor("#444444"))
    right = ParagraphStyle("right", parent=body, alignment=TA_RIGHT)
    heading = ParagraphStyle("heading", parent=body, fontName="Helvetica-Bold")
    title = ParagraphStyle("title", parent=styles["Title"], fontName="Helvetica-Bold", fontSize=18, alignment=0,
                           spaceAfter=4 * mm)
    buffer = io.BytesIO()
    pdf = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=MARGIN,
                            bottomMargin=MARGIN, title=f"{document.title} {document.number}",
                            author=document.shop_name, invariant=1, pageCompression=1)
    width = A4[0] - 2 * MARGIN
    story: list = [Paragraph(_text(f"{document.title} {document.number}"), title)]

    facts = Table([[Paragraph(_text(label), heading), Paragraph(_text(value), body)]
                   for label, value in document.facts], colWidths=[40 * mm, width - 40 * mm], hAlign="LEFT")
    facts.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0),
                               ("BOTTOMPADDING", (0, 0), (-1, -1), 1), ("TOPPADDING", (0, 0), (-1, -1), 1)]))
    story += [facts, Spacer(1, 5 * mm)]

    cells = [[Paragraph(_text(party.heading), heading),
              *[Paragraph(_text(line), body) for line in party.lines]] for party in document.parties]
    parties = Table([cells], colWidths=[width / len(cells)] * len(cells), hAlign="LEFT")
    parties.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0)]))
    story += [parties, Spacer(1, 6 * mm)]

    header = [_("Description"), _("SKU"), _("Qty"), _("Unit price"), _("Discount"), _("Tax rate"), _("Tax"),
              _("Amount")]
    widths = [44 * mm, 28 * mm, 10 * mm, 20 * mm, 18 * mm, 14 * mm, 18 * mm]  # the amount takes the rest
    widths.append(width - sum(widths))
    data = [[Paragraph(_text(h), heading if i < 2 else ParagraphStyle("h", parent=heading, alignment=TA_RIGHT))
             for i, h in enumerate(header)]]
    for row in document.rows:
        data.append([Paragraph(_text(row.description), body), Paragraph(_text(row.sku), small),
                     *[Paragraph(_text(value), right) for value in (row.quantity, row.unit_price, row.discount,
                                                                    row.tax_rate, row.tax, row.amount)]])
    lines = Table(data, colWidths=widths, repeatRows=1, hAlign="LEFT")
    lines.setStyle(TableStyle([
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LINEBELOW", (0, 0), (-1, 0), 0.8, colors.black),
        ("LINEBELOW", (0, 1), (-1, -1), 0.25, colors.HexColor("#bbbbbb")),
        ("LEFTPADDING", (0, 0), (-1, -1), 2), ("RIGHTPADDING", (0, 0), (-1, -1), 2),
    ]))
    story += [lines, Spacer(1, 5 * mm)]

    tax_data = [[Paragraph(_text(h), heading if i == 0 else ParagraphStyle("t", parent=heading, alignment=TA_RIGHT))
                 for i, h in enumerate((_("Tax rate"), _("Net"), _("Tax"), _("Gross")))]]
    tax_data += [[Paragraph(_text(t.rate), body), *[Paragraph(_text(v), right) for v in (t.net, t.tax, t.gross)]]
                 for t in document.tax_lines]
    tax_table = Table(tax_data, colWidths=[25 * mm, 30 * mm, 30 * mm, 30 * mm], hAlign="RIGHT")
    tax_table.setStyle(TableStyle([("LINEBELOW", (0, 0), (-1, 0), 0.5, colors.black)]))
    totals = Table([[Paragraph(_text(label), heading if i == len(document.totals) - 1 else body),
                     Paragraph(f"<b>{_text(value)}</b>" if i == len(document.totals) - 1 else _text(value), right)]
                    for i, (label, value) in enumerate(document.totals)],
                   colWidths=[55 * mm, 30 * mm], hAlign="RIGHT")
    totals.setStyle(TableStyle([("LINEABOVE", (0, -1), (-1, -1), 0.8, colors.black)]))
    story.append(KeepTogether([tax_table, Spacer(1, 3 * mm), totals]))
    if document.notes:
        story.append(Spacer(1, 8 * mm))
        story += [Paragraph(_text(note), small) for note in document.notes]
    pdf.build(story)
    return buffer.getvalue()
