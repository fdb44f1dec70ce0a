"""Carriers: rates, labels and tracking behind one interface.

A carrier is named by its code in ``FULFILLMENT_CARRIERS`` (code -> dotted path of a
:class:`Carrier`). It quotes rates for a parcel, buys a label (a PDF and a tracking number),
reports a parcel's tracking events when asked (polling) and reads its signed webhooks. Every
carrier's own states are normalised to ``fulfillment.models.TrackingStatus`` values here.

:class:`TestCarrier` is the built-in one: deterministic, no network. Its tracking follows the time
since the label was bought (details received at once, in transit after 2 hours, out for delivery
after 24, delivered after 28), and its webhooks are signed with HMAC-SHA256 over the body with
``FULFILLMENT_TEST_CARRIER_SECRET`` in the ``X-Carrier-Signature: sha256=<hex>`` header.
:class:`fulfillment.easypost_carrier.EasyPostCarrier` is a real one (the EasyPost aggregator).
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Protocol

from django.conf import settings
from django.utils.dateparse import parse_datetime
from django.utils.module_loading import import_string
from reportlab.graphics.barcode import code128
from reportlab.lib.units import inch
from reportlab.pdfgen import canvas

STATUSES = ("pending", "info_received", "in_transit", "out_for_delivery", "failed_attempt", "delivered",
            "available_for_pickup", "exception", "expired")


class CarrierError(Exception):
    """The carrier refused or could not be reached; nothing was bought."""


class InvalidWebhook(Exception):
    """A webhook whose signature or body does not check out: nothing is applied."""


@dataclass(frozen=True)
class Parcel:
    weight_lb: Decimal
    from_city: str
    from_country: str
    to_city: str
    to_postcode: str
    to_country: str
    # The full addresses, which a real carrier needs to sell a label (the test carrier does without).
    from_name: str = ""
    from_street: str = ""
    from_state: str = ""
    from_postcode: str = ""
    from_phone: str = ""
    to_name: str = ""
    to_street: str = ""
    to_street2: str = ""
    to_state: str = ""
    to_phone: str = ""


@dataclass(frozen=True)
class Rate:
    service: str
    amount: Decimal
    days: int


@dataclass(frozen=True)
class Label:
    tracking_number: str
    service: str
    cost: Decimal
    pdf: bytes


@dataclass(frozen=True)
class CarrierEvent:
    event_id: str
    tracking_number: str
    status: str  # one of STATUSES
    occurred_at: datetime
    description: str = ""
    location: str = ""


class Carrier(Protocol):
    code: str

    def rates(self, parcel: Parcel) -> list[Rate]: ...

    def buy_label(self, *, reference: str, parcel: Parcel, service: str) -> Label: ...

    def track(self, *, tracking_number: str, label_bought_at: datetime, now: datetime) -> list[CarrierEvent]: ...

    def parse_webhook(self, *, body: bytes, headers) -> list[CarrierEvent]: ...


def get_carrier(code: str) -> Carrier:
    path = settings.FULFILLMENT_CARRIERS.get(code)
    if path is None:
        raise CarrierError(f"Unknown carrier: {code}")
    return import_string(path)()


def label_pdf(*, carrier: str, service: str, tracking_number: str, parcel: Parcel, reference: str) -> bytes:
    """A 4 x 6 inch shipping label with the tracking number as a Code 128 barcode."""
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=(4 * inch, 6 * inch))
    pdf.setTitle(f"{carrier} {tracking_number}")
    pdf.setFont("Helvetica-Bold", 16)
    pdf.drawString(0.25 * inch, 5.5 * inch, f"{carrier.upper()} {service.upper()}"[:30])
    pdf.setFont("Helvetica", 10)
    for n, text in enumerate((f"From: {parcel.from_city} {parcel.from_country}",
                              f"To: {parcel.to_postcode} {parcel.to_city} {parcel.to_country}",
                              f"Weight: {parcel.weight_lb} lb", f"Ref: {reference}")):
        pdf.drawString(0.25 * inch, (5.1 - 0.25 * n) * inch, text[:60])
    barcode = code128.Code128(tracking_number, barHeight=1.2 * inch, barWidth=0.02 * inch, humanReadable=True)
    barcode.drawOn(pdf, max(0.1 * inch, (4 * inch - barcode.width) / 2), 1.5 * inch)
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


class TestCarrier:
    """Deterministic, offline: what the tests, the demo and a development machine use."""

    code = "test"
    TIMELINE = ((timedelta(0), "info_received", "Shipment information received"),
                (timedelta(hours=2), "in_transit", "Departed the origin facility"),
                (timedelta(hours=24), "out_for_delivery", "Out for delivery"),
                (timedelta(hours=28), "delivered", "Delivered"))

    def rates(self, parcel: Parcel) -> list[Rate]:
        weight = max(parcel.weight_lb, Decimal("0.1"))
        return [Rate("ground", (Decimal("5.50") + Decimal("0.50") * weight).quantize(Decimal("0.01")), 3),
                Rate("express", (Decimal("12.00") + Decimal("1.00") * weight).quantize(Decimal("0.01")), 1)]

    def buy_label(self, *, reference: str, parcel: Parcel, service: str) -> Label:
        rate = next((r for r in self.rates(parcel) if r.service == service), None)
        if rate is None:
            raise CarrierError(f"The test carrier has no service {service!r}.")
        digits = int(hashlib.sha256(f"{reference}:{service}".encode()).hexdigest(), 16) % 10**10
        tracking = f"BZT{digits:010d}"
        return Label(tracking, service, rate.amount, label_pdf(carrier=self.code, service=service,
                                                               tracking_number=tracking, parcel=parcel,
                                                               reference=reference))

    def track(self, *, tracking_number: str, label_bought_at: datetime, now: datetime) -> list[CarrierEvent]:
        return [CarrierEvent(f"{tracking_number}-{status}", tracking_number, status, label_bought_at + after,
                             text, "Test hub")
                for after, status, text in self.TIMELINE if label_bought_at + after <= now]

    @staticmethod
    def sign(body: bytes) -> str:
        secret = settings.FULFILLMENT_TEST_CARRIER_SECRET.encode()
        return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()

    def parse_webhook(self, *, body: bytes, headers) -> list[CarrierEvent]:
        given = headers.get("X-Carrier-Signature", "")
        if not given or not hmac.compare_digest(given, self.sign(body)):
            raise InvalidWebhook("bad signature")
        try:
            events = json.loads(body)["events"]
            parsed = []
            for event in events:
                when = parse_datetime(str(event["occurred_at"]))
                if when is None or event["status"] not in STATUSES:
                    raise ValueError
                if when.tzinfo is None:
                    when = when.replace(tzinfo=UTC)
                parsed.append(CarrierEvent(str(event["id"])[:100], str(event["tracking_number"])[:64],
                                           event["status"], when, str(event.get("description", ""))[:200],
                                           str(event.get("location", ""))[:120]))
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidWebhook("unreadable body") from exc
        return parsed
