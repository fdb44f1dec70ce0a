"""Box labels of an inbound shipment as a PDF: one 4 x 6 inch label per box, with the shipment's
and the box's id as a Code 128 barcode (what receiving scans), the seller and the destination.
Drawn with ReportLab; nothing here touches the database."""

from __future__ import annotations

import io
from dataclasses import dataclass

from reportlab.graphics.barcode import code128
from reportlab.lib.units import inch
from reportlab.pdfgen import canvas

PAGE = (4 * inch, 6 * inch)


@dataclass(frozen=True)
class LabelData:
    shipment_code: str
    shipment_name: str
    seller_name: str
    destination_name: str
    destination_lines: tuple[str, ...]  # the centre's address below its name, as its country writes it
    box_count: int
    units: int


def box_id(shipment_code: str, box: int) -> str:
    return f"{shipment_code}-B{box:02d}"


def inbound_labels_pdf(data: LabelData) -> bytes:
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=PAGE, pageCompression=1)
    pdf.setTitle(f"{data.shipment_code} box labels")
    width, height = PAGE
    for box in range(1, data.box_count + 1):
        ident = box_id(data.shipment_code, box)
        pdf.setFont("Helvetica-Bold", 13)
        pdf.drawString(0.25 * inch, height - 0.5 * inch, "FULFILLED BY BAZAAR - INBOUND")
        pdf.setFont("Helvetica", 10)
        lines = [
            f"From: {data.seller_name}"[:60],
            f"To: {data.destination_name}"[:60],
            *(f"    {line}"[:60] for line in data.destination_lines),
            f"Shipment: {data.shipment_code} ({data.shipment_name})"[:60],
            f"{data.units} units in {data.box_count} box(es)",
        ]
        for n, text in enumerate(lines):
            pdf.drawString(0.25 * inch, height - (0.9 + 0.25 * n) * inch, text)
        barcode = code128.Code128(ident, barHeight=1.1 * inch, barWidth=0.018 * inch, humanReadable=True)
        barcode.drawOn(pdf, max(0.1 * inch, (width - barcode.width) / 2), 1.6 * inch)
        pdf.setFont("Helvetica-Bold", 28)
        pdf.drawCentredString(width / 2, 0.7 * inch, f"BOX {box} OF {data.box_count}")
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()
