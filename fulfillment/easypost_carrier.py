"""EasyPost, a carrier aggregator (USPS, UPS, FedEx, ... through one account), as carrier "easypost".

Through EasyPost's official library (``easypost`` 10.7). Settings: ``EASYPOST_API_KEY`` (the carrier
is registered in ``FULFILLMENT_CARRIERS`` only when it is set), ``EASYPOST_WEBHOOK_SECRET`` (the
secret given to EasyPost with the webhook URL ``/fulfillment/webhooks/carriers/easypost/``) and
``EASYPOST_TIMEOUT_SECONDS`` (the longest wait for any one answer).

- Rates: a shipment is created from the parcel (weight in ounces) and each rate EasyPost quotes in
  the shop's currency (``SHOP_CURRENCY``; others are left out) becomes a :class:`Rate` whose service
  is ``"<carrier>:<service>"`` (``"USPS:GroundAdvantage"``), cheapest first.
- Labels: ``service`` is one of those ids (any case), or ``"ground"`` / ``"cheapest"`` for the
  cheapest rate, or ``"express"`` / ``"fastest"`` for the fewest delivery days (the cheaper of
  equals). The shipment is created with the caller's reference and a PDF label, bought, and its PDF
  downloaded. Once bought, the postage is paid: if the PDF cannot be downloaded the label is still
  reported, with a stand-in PDF that says so and where to print the real one (and a warning logged),
  so that nothing is bought twice.
- Tracking: the tracker of the tracking number (read, never created) and signed ``tracker.updated``
  webhooks (``X-Hmac-Signature``, checked by the library; other events are ignored) give one event
  per tracking detail, with an id made of the tracker id, the detail's time and EasyPost's status,
  the same by polling and by webhook. EasyPost's statuses map to ours by :data:`STATUS_MAP`;
  a status not listed there is skipped rather than guessed.
- Every failure of the library, the network or EasyPost's answer is a :class:`CarrierError` with a
  short reason (a webhook's is :class:`InvalidWebhook`).

The library (10.7) takes no ``requests`` session of its own; it sends through its client's
``_requests_session``. A caller (the tests) may hand one in: the client then sends through it, and
so does the label download.
"""

from __future__ import annotations

import io
import logging
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import easypost
import requests
from django.conf import settings
from django.utils.dateparse import parse_datetime
from easypost.errors import (
    ApiError,
    EasyPostError,
    HttpError,
    JsonError,
    SignatureVerificationError,
)
from easypost.errors import TimeoutError as EasyPostTimeout
from easypost.util import validate_webhook
from reportlab.lib.units import inch
from reportlab.pdfgen import canvas

from fulfillment.carriers import CarrierError, CarrierEvent, InvalidWebhook, Label, Parcel, Rate

logger = logging.getLogger(__name__)

# EasyPost's tracker statuses (its Tracker object's documented values) -> ours (carriers.STATUSES).
STATUS_MAP = {
    "unknown": "pending",
    "pre_transit": "info_received",
    "in_transit": "in_transit",
    "out_for_delivery": "out_for_delivery",
    "delivered": "delivered",
    "available_for_pickup": "available_for_pickup",
    "return_to_sender": "exception",
    "failure": "exception",
    "error": "exception",
    "cancelled": "expired",  # the label was voided: nothing will move, tracking ends
}
CHEAPEST = ("ground", "cheapest")
FASTEST = ("express", "fastest")
DEFAULT_DAYS = 5  # a rate that gives no delivery days is taken as this slow
UNREADABLE = "EasyPost sent an answer Bazaar cannot read."


@contextmanager
def _as_carrier_error() -> Iterator[None]:
    """Whatever goes wrong talking to EasyPost becomes a CarrierError with a short reason."""
    try:
        yield
    except EasyPostTimeout as exc:
        raise CarrierError("EasyPost did not answer in time.") from exc
    except JsonError as exc:  # its message holds the whole body: not repeated here
        raise CarrierError(UNREADABLE) from exc
    except HttpError as exc:
        raise CarrierError("EasyPost could not be reached.") from exc
    except ApiError as exc:
        status = f" ({exc.http_status})" if exc.http_status else ""
        raise CarrierError(f"EasyPost refused the request{status}: {exc.message or type(exc).__name__}"[:200]) from exc
    except EasyPostError as exc:
        raise CarrierError(f"EasyPost: {exc.message or type(exc).__name__}"[:200]) from exc
    except requests.RequestException as exc:
        raise CarrierError("EasyPost could not be reached.") from exc
    except (AttributeError, KeyError, TypeError, ValueError, ArithmeticError) as exc:
        raise CarrierError(UNREADABLE) from exc


def _address(**fields: str) -> dict[str, str]:
    return {name: value for name, value in fields.items() if value}


def _location(place: dict[str, Any] | None) -> str:
    place = place or {}
    return ", ".join(str(place[key]) for key in ("city", "state", "country") if place.get(key))[:120]


def events_of_tracker(tracker: dict[str, Any]) -> list[CarrierEvent]:
    """One event per tracking detail of an EasyPost tracker (as JSON). Raises KeyError, TypeError
    or ValueError on a tracker that is not one."""
    tracking_number = str(tracker["tracking_code"])
    tracker_id = str(tracker.get("id") or tracking_number)
    events = []
    for detail in tracker.get("tracking_details") or []:
        status = STATUS_MAP.get(detail.get("status"))
        if status is None:
            continue
        when = parse_datetime(str(detail["datetime"]))
        if when is None:
            raise ValueError(f"not a time: {detail['datetime']!r}")
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        event_id = f"{tracker_id}:{when.astimezone(UTC):%Y%m%dT%H%M%SZ}:{detail['status']}"
        events.append(
            CarrierEvent(
                event_id[:100],
                tracking_number[:64],
                status,
                when,
                str(detail.get("message") or "")[:200],
                _location(detail.get("tracking_location")),
            )
        )
    return events


def _stand_in_pdf(*, tracking_number: str, reference: str, url: str) -> bytes:
    """A page that is plainly not a label, for postage bought whose label could not be downloaded."""
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=(4 * inch, 6 * inch))
    pdf.setTitle(f"easypost {tracking_number}: label not downloaded")
    pdf.setFont("Helvetica-Bold", 16)
    pdf.drawString(0.25 * inch, 5.5 * inch, "NOT A SHIPPING LABEL")
    pdf.setFont("Helvetica", 9)
    lines = [
        "The postage was bought from EasyPost, but its",
        "label could not be downloaded. Print it from:",
        *(textwrap.wrap(url, 48, break_on_hyphens=False) or ["(EasyPost gave no label address)"]),
        "",
        f"Tracking: {tracking_number}",
        f"Ref: {reference}",
    ]
    for n, text in enumerate(lines):
        pdf.drawString(0.25 * inch, (5.1 - 0.2 * n) * inch, text[:60])
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


class EasyPostCarrier:
    code = "easypost"

    def __init__(
        self,
        *,
        api_key: str | None = None,
        webhook_secret: str | None = None,
        timeout: float | None = None,
        session: requests.Session | None = None,
    ):
        self.webhook_secret = webhook_secret if webhook_secret is not None else settings.EASYPOST_WEBHOOK_SECRET
        self.timeout = float(timeout if timeout is not None else settings.EASYPOST_TIMEOUT_SECONDS)
        self.client = easypost.EasyPostClient(
            api_key if api_key is not None else settings.EASYPOST_API_KEY, timeout=self.timeout
        )
        if session is not None:
            self.client._requests_session = session
        self.session: requests.Session = self.client._requests_session

    # --- rates and labels ----------------------------------------------------------------------

    def _create_shipment(self, parcel: Parcel, **extra: Any):
        ounces = max(Decimal(parcel.weight_lb) * 16, Decimal("0.1")).quantize(Decimal("0.1"))
        return self.client.shipment.create(
            from_address=_address(
                name=parcel.from_name,
                street1=parcel.from_street,
                city=parcel.from_city,
                state=parcel.from_state,
                zip=parcel.from_postcode,
                country=parcel.from_country,
                phone=parcel.from_phone,
            ),
            to_address=_address(
                name=parcel.to_name,
                street1=parcel.to_street,
                street2=parcel.to_street2,
                city=parcel.to_city,
                state=parcel.to_state,
                zip=parcel.to_postcode,
                country=parcel.to_country,
                phone=parcel.to_phone,
            ),
            parcel={"weight": float(ounces)},  # JSON has no decimals; ounces to one place
            **extra,
        )

    @staticmethod
    def _offered(shipment) -> list[tuple[Rate, Any]]:
        """The shipment's rates in the shop's currency, cheapest first, with EasyPost's own rate."""
        offered = []
        for rate in shipment.get("rates") or []:
            if str(rate.get("currency") or "").upper() != settings.SHOP_CURRENCY.upper():
                continue
            days = rate.get("delivery_days") or rate.get("est_delivery_days") or DEFAULT_DAYS
            ours = Rate(
                f"{rate['carrier']}:{rate['service']}", Decimal(str(rate["rate"])).quantize(Decimal("0.01")), int(days)
            )
            offered.append((ours, rate))
        return sorted(offered, key=lambda pair: (pair[0].amount, pair[0].days, pair[0].service))

    def rates(self, parcel: Parcel) -> list[Rate]:
        with _as_carrier_error():
            return [ours for ours, _rate in self._offered(self._create_shipment(parcel))]

    @staticmethod
    def _choose(offered: list[tuple[Rate, Any]], service: str, shipment) -> tuple[Rate, Any]:
        if not offered:
            messages = [f"{m.get('carrier', '')}: {m.get('message', '')}" for m in shipment.get("messages") or []]
            raise CarrierError(f"EasyPost offered no rate in {settings.SHOP_CURRENCY}. {'; '.join(messages)}"[:200])
        wanted = service.strip().lower()
        if wanted in CHEAPEST:
            return offered[0]
        if wanted in FASTEST:
            return min(offered, key=lambda pair: (pair[0].days, pair[0].amount, pair[0].service))
        for pair in offered:
            if pair[0].service.lower() == wanted:
                return pair
        raise CarrierError(f"EasyPost offers no service {service!r} for this parcel.")

    def buy_label(self, *, reference: str, parcel: Parcel, service: str) -> Label:
        with _as_carrier_error():
            shipment = self._create_shipment(parcel, reference=reference, options={"label_format": "PDF"})
            chosen, rate = self._choose(self._offered(shipment), service, shipment)
            try:
                bought = self.client.shipment.buy(shipment.id, rate=rate)
                tracking_number = str(bought.get("tracking_code") or "")
                if not tracking_number:
                    raise ValueError("bought, but no tracking code")
            except Exception:
                # The outcome may be unknown (a time-out after EasyPost took the money): ask once
                # before giving up, so a retry does not buy a second label for the same parcel.
                bought = self._bought_after_all(shipment.id, reference=reference)
                if bought is None:
                    logger.warning(
                        "EasyPost shipment %s (%s): buying failed; if EasyPost shows it bought, refund it",
                        shipment.id,
                        reference,
                    )
                    raise
                tracking_number = str(bought.get("tracking_code"))
        # From here the postage is paid (the rate chosen): a label is reported whatever happens to its PDF.
        pdf = self._label_pdf(bought, reference=reference, tracking_number=tracking_number)
        return Label(tracking_number, chosen.service, chosen.amount, pdf)

    def _bought_after_all(self, shipment_id: str, *, reference: str):
        """The shipment as EasyPost has it, if it was bought after all (postage and a tracking code);
        None if it was not, or if EasyPost cannot say just now."""
        try:
            shipment = self.client.shipment.retrieve(shipment_id)
        except Exception:  # noqa: BLE001 - the purchase's own error is the one reported
            return None
        if not shipment.get("tracking_code") or not shipment.get("postage_label"):
            return None
        logger.warning("EasyPost shipment %s (%s): the purchase's answer was lost, but it was bought", shipment_id,
                       reference)
        return shipment

    def _label_pdf(self, bought, *, reference: str, tracking_number: str) -> bytes:
        url = ""
        try:
            label = bought.get("postage_label") or {}
            url = label.get("label_pdf_url") or ""
            if not url and label.get("label_file_type") == "application/pdf":
                url = label.get("label_url") or ""
            if not url:  # EasyPost made another format: ask for the PDF
                label = self.client.shipment.label(bought.id, file_format="PDF").get("postage_label") or {}
                url = label.get("label_pdf_url") or ""
            if url:
                response = self.session.get(url, timeout=self.timeout)
                if response.status_code == 200 and response.content.startswith(b"%PDF"):
                    return response.content
                reason = f"HTTP {response.status_code}, {response.headers.get('Content-Type', '?')}"
            else:
                reason = "no PDF address"
        except (EasyPostError, requests.RequestException, AttributeError, KeyError, TypeError, ValueError) as exc:
            reason = type(exc).__name__
        logger.warning(
            "EasyPost label of %s (shipment %s, tracking %s) not downloaded (%s): print it from %s",
            reference,
            bought.get("id"),
            tracking_number,
            reason,
            url or "EasyPost's dashboard",
        )
        return _stand_in_pdf(tracking_number=tracking_number, reference=reference, url=url)

    # --- tracking ------------------------------------------------------------------------------

    def track(self, *, tracking_number: str, label_bought_at: datetime, now: datetime) -> list[CarrierEvent]:
        with _as_carrier_error():
            found = self.client.tracker.all(tracking_code=tracking_number, page_size=5)
            for tracker in found["trackers"]:
                if tracker.get("tracking_code") == tracking_number:
                    return events_of_tracker(tracker.to_dict())
        return []

    def parse_webhook(self, *, body: bytes, headers) -> list[CarrierEvent]:
        if not self.webhook_secret:
            raise InvalidWebhook("EASYPOST_WEBHOOK_SECRET is not set")
        try:
            event = validate_webhook(event_body=body, headers=headers, webhook_secret=self.webhook_secret)
        except SignatureVerificationError as exc:
            raise InvalidWebhook("bad signature") from exc
        except ValueError as exc:  # signed, but not JSON
            raise InvalidWebhook("unreadable body") from exc
        try:
            if event.get("description") != "tracker.updated":
                return []
            return events_of_tracker(event["result"])
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise InvalidWebhook("unreadable body") from exc
