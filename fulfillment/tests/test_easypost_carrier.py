"""The EasyPost carrier, offline: EasyPost's API (and its label file host) is a stub transport mounted
on a real ``requests`` session, answering with JSON shaped like EasyPost's own and recording every
request; webhooks are signed here as EasyPost signs them. Any other way out is refused and fails
the test."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import socket
from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.test import override_settings
from requests.adapters import BaseAdapter, HTTPAdapter
from requests.structures import CaseInsensitiveDict

from fulfillment import carriers
from fulfillment.easypost_carrier import EasyPostCarrier

API = "https://api.easypost.com/v2"
FILES = "https://easypost-files.s3.us-west-2.amazonaws.com"
LABEL_URL = f"{FILES}/files/postage_label/20260302/e8b4c1d2.pdf"
PDF = b"%PDF-1.4\n% EasyPost's label\n%%EOF\n"
PNG_LABEL = {
    "object": "PostageLabel",
    "label_file_type": "image/png",
    "label_url": f"{FILES}/x.png",
    "label_pdf_url": None,
}
SECRET = "whsec-easypost-test"
TRACKING = "9400100105442285876350"
SHIPMENT_ID = "shp_9af92e0bdd6a428f8aba267686ab9cae"
TRACKER_ID = "trk_1ddd9a69b5d0487ebfc3941639b11b18"
CARRIERS_ON = {"test": "fulfillment.carriers.TestCarrier", "easypost": "fulfillment.easypost_carrier.EasyPostCarrier"}

PARCEL = carriers.Parcel(
    Decimal("2.5"),
    "Reno",
    "US",
    "Springfield",
    "62701",
    "US",
    from_name="Bazaar FC1",
    from_street="1 Depot Rd",
    from_state="NV",
    from_postcode="89501",
    to_name="Ada Buyer",
    to_street="1 Main St",
    to_street2="Apt 2",
    to_state="IL",
    to_phone="5555550100",
)


def rate(rate_id, carrier, service, amount, days, currency="USD"):
    return {
        "id": rate_id,
        "object": "Rate",
        "mode": "test",
        "service": service,
        "carrier": carrier,
        "rate": amount,
        "currency": currency,
        "retail_rate": None,
        "list_rate": amount,
        "delivery_days": days,
        "est_delivery_days": days,
        "delivery_date_guaranteed": False,
        "shipment_id": SHIPMENT_ID,
        "carrier_account_id": "ca_b25657e9896e4d63ac8151ac346ac41e",
    }


RATES = [
    rate("rate_priority", "USPS", "Priority", "7.58", 2),
    rate("rate_ground", "USPS", "GroundAdvantage", "5.93", 3),
    rate("rate_nextday", "UPS", "NextDayAir", "31.20", 1),
    rate("rate_media", "USPS", "MediaMail", "6.40", None),
    rate("rate_cad", "CanadaPost", "Expedited", "3.00", 4, currency="CAD"),
]
SHIPMENT = {
    "id": SHIPMENT_ID,
    "object": "Shipment",
    "mode": "test",
    "reference": "package:12",
    "status": "unknown",
    "tracking_code": None,
    "options": {"label_format": "PDF", "currency": "USD"},
    "messages": [],
    "from_address": {"id": "adr_b695bd4d8e3a11eebc8e3cecef1b359e", "object": "Address", "city": "Reno"},
    "to_address": {"id": "adr_b691befe8e3a11ee92c2ac1f6bc539ae", "object": "Address", "city": "Springfield"},
    "parcel": {"id": "prcl_ae833112b5d74b3297d87aae96793a7e", "object": "Parcel", "weight": 40.0},
    "postage_label": None,
    "rates": RATES,
    "selected_rate": None,
    "tracker": None,
    "fees": [],
}
TRACKER = {
    "id": TRACKER_ID,
    "object": "Tracker",
    "mode": "test",
    "tracking_code": TRACKING,
    "status": "out_for_delivery",
    "status_detail": "out_for_delivery",
    "carrier": "USPS",
    "shipment_id": SHIPMENT_ID,
    "signed_by": None,
    "public_url": "https://track.easypost.com/djE6dHJrXzFkZGQ5",
    "fees": [],
    "carrier_detail": None,
    "tracking_details": [
        {
            "object": "TrackingDetail",
            "message": "Pre-Shipment Info Sent to USPS",
            "status": "pre_transit",
            "status_detail": "status_update",
            "datetime": "2026-03-02T15:00:00Z",
            "source": "USPS",
            "tracking_location": {
                "object": "TrackingLocation",
                "city": None,
                "state": None,
                "country": None,
                "zip": None,
            },
        },
        {
            "object": "TrackingDetail",
            "message": "Arrived at USPS Regional Origin Facility",
            "status": "in_transit",
            "status_detail": "arrived_at_facility",
            "datetime": "2026-03-03T01:10:00Z",
            "source": "USPS",
            "tracking_location": {
                "object": "TrackingLocation",
                "city": "RENO",
                "state": "NV",
                "country": "US",
                "zip": "89501",
            },
        },
        {
            "object": "TrackingDetail",
            "message": "Out for Delivery",
            "status": "out_for_delivery",
            "status_detail": "out_for_delivery",
            "datetime": "2026-03-04T07:05:00-06:00",
            "source": "USPS",
            "tracking_location": {
                "object": "TrackingLocation",
                "city": "SPRINGFIELD",
                "state": "IL",
                "country": "US",
                "zip": "62701",
            },
        },
    ],
}


def bought(postage_label=None):
    label = {
        "object": "PostageLabel",
        "id": "pl_6ba46db52970487f941269647927a63c",
        "label_file_type": "application/pdf",
        "label_size": "4x6",
        "label_url": LABEL_URL,
        "label_pdf_url": LABEL_URL,
        "label_zpl_url": None,
    }
    chosen = next(r for r in RATES if r["id"] == "rate_ground")
    return {
        **SHIPMENT,
        "status": "unknown",
        "tracking_code": TRACKING,
        "selected_rate": chosen,
        "postage_label": label if postage_label is None else postage_label,
        "tracker": {**TRACKER, "status": "unknown", "tracking_details": []},
    }


def webhook(description="tracker.updated", result=None):
    return {
        "id": "evt_0d4d6c2e1c6b11f1a1b2c3d4e5f60718",
        "object": "Event",
        "mode": "test",
        "description": description,
        "previous_attributes": {"status": "in_transit"},
        "result": TRACKER if result is None else result,
        "status": "pending",
        "pending_urls": [],
        "completed_urls": [],
        "created_at": "2026-03-04T13:05:02Z",
        "updated_at": "2026-03-04T13:05:02Z",
    }


def signed(body: bytes, secret: str = SECRET) -> dict[str, str]:
    """As EasyPost signs: HMAC-SHA256 of the raw body with the webhook's secret, hex, prefixed."""
    return {"X-Hmac-Signature": "hmac-sha256-hex=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()}


class FakeEasyPost(BaseAdapter):
    """EasyPost's API and label host: canned answers per (method, URL path), every request recorded."""

    HOSTS = {"api.easypost.com", "easypost-files.s3.us-west-2.amazonaws.com"}

    def __init__(self) -> None:
        super().__init__()
        self.routes: dict[tuple[str, str], tuple[int, bytes] | Exception] = {}
        self.requests: list[dict] = []

    def answer(self, method: str, url: str, status: int = 200, body=None, *, raw: bytes | None = None) -> None:
        self.routes[(method, urlsplit(url).path)] = (status, raw if raw is not None else json.dumps(body).encode())

    def fail(self, method: str, url: str, error: Exception) -> None:
        self.routes[(method, urlsplit(url).path)] = error

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        url = urlsplit(request.url)
        assert url.hostname in self.HOSTS, f"a request to {request.url} left the test"
        body = json.loads(request.body) if request.body else None
        self.requests.append(
            {
                "method": request.method,
                "path": url.path,
                "query": parse_qs(url.query),
                "json": body,
                "timeout": timeout,
                "authorization": request.headers.get("Authorization"),
            }
        )
        route = self.routes.get((request.method, url.path))
        if isinstance(route, Exception):
            raise route
        status, content = route or (404, b'{"error": {"code": "NOT_FOUND", "message": "Not stubbed"}}')
        response = requests.Response()
        response.status_code, response._content, response.url, response.request = status, content, request.url, request
        kind = "application/pdf" if content.startswith(b"%PDF") else "application/json; charset=utf-8"
        response.headers = CaseInsensitiveDict({"Content-Type": kind})
        response.encoding = "utf-8"
        return response

    def close(self) -> None:
        pass

    def paths(self) -> list[tuple[str, str]]:
        return [(r["method"], r["path"]) for r in self.requests]


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Nothing leaves the machine: requests' real transport and sockets to anywhere but this machine
    are refused and noted; a test that tried fails here even if the carrier hid the error."""
    tried: list[str] = []

    def refuse_http(adapter, request, *args, **kwargs):
        tried.append(request.url)
        raise AssertionError(f"real HTTP request to {request.url}")

    real_connect = socket.socket.connect

    def connect(sock, address):
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and host not in ("127.0.0.1", "::1", "localhost") and not host.startswith("/"):
            tried.append(str(address))
            raise AssertionError(f"network connection to {address}")
        return real_connect(sock, address)

    monkeypatch.setattr(HTTPAdapter, "send", refuse_http)
    monkeypatch.setattr(socket.socket, "connect", connect)
    yield tried
    assert tried == [], f"the test tried to reach the network: {tried}"


@pytest.fixture
def fake() -> FakeEasyPost:
    return FakeEasyPost()


@pytest.fixture
def carrier(fake) -> EasyPostCarrier:
    session = requests.Session()
    session.mount("https://", fake)
    session.mount("http://", fake)
    return EasyPostCarrier(api_key="EZTK_test_key", webhook_secret=SECRET, timeout=4.5, session=session)


# --- rates and labels ------------------------------------------------------------------------------


def test_rates_are_easyposts_quotes_in_the_shop_currency_cheapest_first(carrier, fake):
    fake.answer("POST", f"{API}/shipments", 201, SHIPMENT)

    rates = carrier.rates(PARCEL)

    assert [(r.service, r.amount, r.days) for r in rates] == [
        ("USPS:GroundAdvantage", Decimal("5.93"), 3),
        ("USPS:MediaMail", Decimal("6.40"), 5),  # no delivery days given: taken as 5
        ("USPS:Priority", Decimal("7.58"), 2),
        ("UPS:NextDayAir", Decimal("31.20"), 1),
    ]  # the CAD rate is left out
    [sent] = fake.requests
    assert (sent["method"], sent["path"], sent["timeout"]) == ("POST", "/v2/shipments", 4.5)
    assert sent["authorization"] == "Bearer EZTK_test_key"
    shipment = sent["json"]["shipment"]
    assert shipment["parcel"] == {"weight": 40.0}  # 2.5 lb in ounces
    assert shipment["from_address"] == {
        "name": "Bazaar FC1",
        "street1": "1 Depot Rd",
        "city": "Reno",
        "state": "NV",
        "zip": "89501",
        "country": "US",
    }
    assert shipment["to_address"] == {
        "name": "Ada Buyer",
        "street1": "1 Main St",
        "street2": "Apt 2",
        "city": "Springfield",
        "state": "IL",
        "zip": "62701",
        "country": "US",
        "phone": "5555550100",
    }
    assert "options" not in shipment  # a quote buys nothing
    assert "reference" not in shipment


def test_a_ground_label_buys_the_cheapest_rate_with_the_reference_and_returns_easyposts_pdf(carrier, fake):
    fake.answer("POST", f"{API}/shipments", 201, SHIPMENT)
    fake.answer("POST", f"{API}/shipments/{SHIPMENT_ID}/buy", 200, bought())
    fake.answer("GET", LABEL_URL, 200, raw=PDF)

    label = carrier.buy_label(reference="package:12", parcel=PARCEL, service="ground")

    assert label == carriers.Label(TRACKING, "USPS:GroundAdvantage", Decimal("5.93"), PDF)
    assert label.pdf.startswith(b"%PDF")
    assert fake.paths() == [
        ("POST", "/v2/shipments"),
        ("POST", f"/v2/shipments/{SHIPMENT_ID}/buy"),
        ("GET", urlsplit(LABEL_URL).path),
    ]
    create, buy, download = fake.requests
    assert create["json"]["shipment"]["reference"] == "package:12"
    assert create["json"]["shipment"]["options"] == {"label_format": "PDF"}
    assert buy["json"] == {"rate": {"id": "rate_ground"}}
    assert download["timeout"] == 4.5


@pytest.mark.parametrize(
    ("service", "rate_id", "expected"),
    [
        ("usps:priority", "rate_priority", "USPS:Priority"),  # an id from rates(), in any case
        ("express", "rate_nextday", "UPS:NextDayAir"),  # the fewest days
        ("cheapest", "rate_ground", "USPS:GroundAdvantage"),  # as "ground"
        ("USPS:MediaMail", "rate_media", "USPS:MediaMail"),
    ],
)
def test_the_service_names_the_rate_bought(carrier, fake, service, rate_id, expected):
    fake.answer("POST", f"{API}/shipments", 201, SHIPMENT)
    chosen = next(r for r in RATES if r["id"] == rate_id)
    fake.answer("POST", f"{API}/shipments/{SHIPMENT_ID}/buy", 200, {**bought(), "selected_rate": chosen})
    fake.answer("GET", LABEL_URL, 200, raw=PDF)

    label = carrier.buy_label(reference="package:12", parcel=PARCEL, service=service)

    assert (label.service, label.cost) == (expected, Decimal(chosen["rate"]).quantize(Decimal("0.01")))
    assert fake.requests[1]["json"] == {"rate": {"id": rate_id}}


def test_a_service_not_offered_or_no_rate_at_all_buys_nothing(carrier, fake):
    fake.answer("POST", f"{API}/shipments", 201, SHIPMENT)
    with pytest.raises(carriers.CarrierError, match="no service 'FedEx:Teleport'"):
        carrier.buy_label(reference="package:12", parcel=PARCEL, service="FedEx:Teleport")

    refused = {
        **SHIPMENT,
        "rates": [],
        "messages": [{"carrier": "USPS", "type": "rate_error", "message": "Unable to verify address."}],
    }
    fake.answer("POST", f"{API}/shipments", 201, refused)
    with pytest.raises(carriers.CarrierError, match="no rate in USD. USPS: Unable to verify address."):
        carrier.buy_label(reference="package:12", parcel=PARCEL, service="ground")
    assert [path for method, path in fake.paths() if path.endswith("/buy")] == []


def test_a_label_easypost_made_in_another_format_is_asked_for_as_pdf(carrier, fake):
    fake.answer("POST", f"{API}/shipments", 201, SHIPMENT)
    fake.answer("POST", f"{API}/shipments/{SHIPMENT_ID}/buy", 200, bought(postage_label=PNG_LABEL))
    fake.answer("GET", f"{API}/shipments/{SHIPMENT_ID}/label", 200, bought())
    fake.answer("GET", LABEL_URL, 200, raw=PDF)

    assert carrier.buy_label(reference="package:12", parcel=PARCEL, service="ground").pdf == PDF
    assert fake.requests[2]["query"] == {"file_format": ["PDF"]}


@pytest.mark.parametrize(
    ("postage_label", "download", "conversion", "logged"),
    [
        (
            None,
            (503, b"<html>Slow down</html>"),
            None,
            f"(HTTP 503, application/json; charset=utf-8): print it from {LABEL_URL}",
        ),
        (None, requests.exceptions.ConnectionError("reset"), None, f"(ConnectionError): print it from {LABEL_URL}"),
        (None, (200, b"<html>not a pdf</html>"), None, "(HTTP 200"),
        (PNG_LABEL, None, (500, b'{"error": {"code": "X", "message": "no"}}'), "(InternalServerError)"),
        (PNG_LABEL, None, (200, b'{"id": "shp_1", "postage_label": {"label_pdf_url": null}}'), "(no PDF address)"),
    ],
)
def test_postage_bought_whose_pdf_cannot_be_had_is_still_a_label_with_a_stand_in(
    carrier, fake, caplog, postage_label, download, conversion, logged
):
    fake.answer("POST", f"{API}/shipments", 201, SHIPMENT)
    fake.answer("POST", f"{API}/shipments/{SHIPMENT_ID}/buy", 200, bought(postage_label=postage_label))
    if isinstance(download, Exception):
        fake.fail("GET", LABEL_URL, download)
    elif download:
        fake.answer("GET", LABEL_URL, download[0], raw=download[1])
    if conversion:
        fake.answer("GET", f"{API}/shipments/{SHIPMENT_ID}/label", conversion[0], raw=conversion[1])

    label = carrier.buy_label(reference="package:12", parcel=PARCEL, service="ground")

    assert (label.tracking_number, label.service, label.cost) == (TRACKING, "USPS:GroundAdvantage", Decimal("5.93"))
    assert label.pdf.startswith(b"%PDF")
    assert label.pdf != PDF
    assert b"label not downloaded" in label.pdf  # the stand-in's title: not a label
    assert f"EasyPost label of package:12 (shipment {SHIPMENT_ID}, tracking {TRACKING}) not downloaded" in caplog.text
    assert logged in caplog.text


@pytest.mark.parametrize(
    ("buy", "reason"),
    [
        ({**bought(), "tracking_code": None}, "EasyPost sent an answer Bazaar cannot read."),
        (requests.exceptions.ReadTimeout("read timed out"), "EasyPost did not answer in time."),  # bought? unknown
    ],
)
def test_a_purchase_that_fails_or_gives_no_tracking_code_is_an_error_naming_the_shipment(
    carrier, fake, caplog, buy, reason
):
    fake.answer("POST", f"{API}/shipments", 201, SHIPMENT)
    if isinstance(buy, Exception):
        fake.fail("POST", f"{API}/shipments/{SHIPMENT_ID}/buy", buy)
    else:
        fake.answer("POST", f"{API}/shipments/{SHIPMENT_ID}/buy", 200, buy)

    with pytest.raises(carriers.CarrierError) as failed:
        carrier.buy_label(reference="package:12", parcel=PARCEL, service="ground")

    assert str(failed.value) == reason
    assert f"EasyPost shipment {SHIPMENT_ID} (package:12): buying failed" in caplog.text


def test_a_purchase_whose_answer_was_lost_but_went_through_is_the_label_and_buys_nothing_twice(
    carrier, fake, caplog
):
    fake.answer("POST", f"{API}/shipments", 201, SHIPMENT)
    fake.fail("POST", f"{API}/shipments/{SHIPMENT_ID}/buy", requests.exceptions.ReadTimeout("read timed out"))
    fake.answer("GET", f"{API}/shipments/{SHIPMENT_ID}", 200, bought())  # EasyPost did buy it
    fake.answer("GET", LABEL_URL, 200, raw=PDF)

    label = carrier.buy_label(reference="package:12", parcel=PARCEL, service="ground")

    assert label == carriers.Label(TRACKING, "USPS:GroundAdvantage", Decimal("5.93"), PDF)
    assert [path for method, path in fake.paths() if path.endswith("/buy")] == [f"/v2/shipments/{SHIPMENT_ID}/buy"]
    assert fake.paths()[2] == ("GET", f"/v2/shipments/{SHIPMENT_ID}")
    assert "the purchase's answer was lost, but it was bought" in caplog.text


def test_a_purchase_that_timed_out_and_was_not_made_is_still_the_timeout(carrier, fake, caplog):
    fake.answer("POST", f"{API}/shipments", 201, SHIPMENT)
    fake.fail("POST", f"{API}/shipments/{SHIPMENT_ID}/buy", requests.exceptions.ReadTimeout("read timed out"))
    fake.answer("GET", f"{API}/shipments/{SHIPMENT_ID}", 200, SHIPMENT)  # no postage: not bought

    with pytest.raises(carriers.CarrierError) as failed:
        carrier.buy_label(reference="package:12", parcel=PARCEL, service="ground")

    assert str(failed.value) == "EasyPost did not answer in time."
    assert f"EasyPost shipment {SHIPMENT_ID} (package:12): buying failed" in caplog.text


# --- tracking ----------------------------------------------------------------------------------------


def test_polling_reads_the_tracker_and_gives_the_same_events_each_time(carrier, fake):
    fake.answer("GET", f"{API}/trackers", 200, {"trackers": [TRACKER], "has_more": False})
    now = datetime(2026, 3, 5, tzinfo=UTC)

    first = carrier.track(tracking_number=TRACKING, label_bought_at=now, now=now)
    again = carrier.track(tracking_number=TRACKING, label_bought_at=now, now=now)

    assert first == again
    assert [(e.status, e.occurred_at, e.location) for e in first] == [
        ("info_received", datetime(2026, 3, 2, 15, 0, tzinfo=UTC), ""),
        ("in_transit", datetime(2026, 3, 3, 1, 10, tzinfo=UTC), "RENO, NV, US"),
        ("out_for_delivery", datetime(2026, 3, 4, 13, 5, tzinfo=UTC), "SPRINGFIELD, IL, US"),
    ]
    assert [e.event_id for e in first] == [
        f"{TRACKER_ID}:20260302T150000Z:pre_transit",
        f"{TRACKER_ID}:20260303T011000Z:in_transit",
        f"{TRACKER_ID}:20260304T130500Z:out_for_delivery",
    ]
    assert {(e.tracking_number, e.description) for e in first[1:2]} == {
        (TRACKING, "Arrived at USPS Regional Origin Facility")
    }
    assert fake.requests[0]["query"] == {"tracking_code": [TRACKING], "page_size": ["5"]}
    assert fake.paths() == [("GET", "/v2/trackers")] * 2  # read only: no tracker is created


def test_an_unknown_tracking_number_has_no_events(carrier, fake):
    fake.answer("GET", f"{API}/trackers", 200, {"trackers": [], "has_more": False})
    now = datetime(2026, 3, 5, tzinfo=UTC)
    assert carrier.track(tracking_number="NOPE", label_bought_at=now, now=now) == []


def test_every_easypost_status_maps_to_ours_and_an_undocumented_one_is_skipped(carrier, fake):
    theirs = [
        "unknown",
        "pre_transit",
        "in_transit",
        "out_for_delivery",
        "available_for_pickup",
        "delivered",
        "return_to_sender",
        "failure",
        "error",
        "cancelled",
        "teleported",
    ]
    details = [
        {"status": status, "message": status, "datetime": f"2026-03-{day + 1:02d}T10:00:00"}  # no zone: UTC
        for day, status in enumerate(theirs)
    ]
    fake.answer("GET", f"{API}/trackers", 200, {"trackers": [{**TRACKER, "tracking_details": details}]})
    now = datetime(2026, 3, 31, tzinfo=UTC)

    events = carrier.track(tracking_number=TRACKING, label_bought_at=now, now=now)

    assert [(e.description, e.status) for e in events] == [
        ("unknown", "pending"),
        ("pre_transit", "info_received"),
        ("in_transit", "in_transit"),
        ("out_for_delivery", "out_for_delivery"),
        ("available_for_pickup", "available_for_pickup"),
        ("delivered", "delivered"),
        ("return_to_sender", "exception"),
        ("failure", "exception"),
        ("error", "exception"),
        ("cancelled", "expired"),
    ]
    assert all(e.status in carriers.STATUSES for e in events)
    assert events[0].occurred_at == datetime(2026, 3, 1, 10, tzinfo=UTC)


# --- webhooks ----------------------------------------------------------------------------------------


def test_a_signed_tracker_webhook_gives_the_events_polling_gives(carrier, fake):
    body = json.dumps(webhook()).encode()
    fake.answer("GET", f"{API}/trackers", 200, {"trackers": [TRACKER]})
    now = datetime(2026, 3, 5, tzinfo=UTC)

    events = carrier.parse_webhook(body=body, headers=signed(body))

    assert [e.status for e in events] == ["info_received", "in_transit", "out_for_delivery"]
    assert events == carrier.track(tracking_number=TRACKING, label_bought_at=now, now=now)  # applied once


@pytest.mark.parametrize(
    "headers",
    [
        {},  # no signature
        {"X-Hmac-Signature": "hmac-sha256-hex=" + "0" * 64},
        signed(json.dumps(webhook()).encode(), secret="someone-elses-secret"),
        signed(json.dumps(webhook()).encode() + b" "),  # the body changed after signing
    ],
)
def test_a_webhook_not_signed_with_our_secret_is_refused(carrier, headers):
    with pytest.raises(carriers.InvalidWebhook):
        carrier.parse_webhook(body=json.dumps(webhook()).encode(), headers=headers)


def test_without_a_webhook_secret_every_webhook_is_refused():
    body = json.dumps(webhook()).encode()
    unconfigured = EasyPostCarrier(api_key="EZTK_test_key", webhook_secret="", session=requests.Session())
    with pytest.raises(carriers.InvalidWebhook, match="EASYPOST_WEBHOOK_SECRET"):
        unconfigured.parse_webhook(body=body, headers=signed(body, secret=""))


def test_other_events_are_ignored_and_a_signed_but_broken_body_is_refused(carrier):
    batch = json.dumps(webhook("batch.updated", {"id": "batch_1", "object": "Batch"})).encode()
    assert carrier.parse_webhook(body=batch, headers=signed(batch)) == []

    broken_tracker = copy.deepcopy(TRACKER)
    broken_tracker["tracking_details"][0]["datetime"] = "yesterday"
    for body in (
        b"not json",
        json.dumps(webhook(result={"id": TRACKER_ID})).encode(),
        json.dumps(webhook(result=broken_tracker)).encode(),
        b"[1, 2]",
    ):
        with pytest.raises(carriers.InvalidWebhook, match="unreadable body"):
            carrier.parse_webhook(body=body, headers=signed(body))


# --- failures ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (requests.exceptions.ReadTimeout("read timed out"), "EasyPost did not answer in time."),
        (requests.exceptions.ConnectionError("connection refused"), "EasyPost could not be reached."),
        (
            (401, b'{"error": {"code": "APIKEY.INACTIVE", "message": "This api key is no longer active."}}'),
            "EasyPost refused the request (401): This api key is no longer active.",
        ),
        (
            (500, b'{"error": {"code": "INTERNAL_SERVER_ERROR", "message": "Something went wrong."}}'),
            "EasyPost refused the request (500): Something went wrong.",
        ),
        ((502, b"<html>Bad gateway</html>"), "EasyPost sent an answer Bazaar cannot read."),
        ((200, b"{not json"), "EasyPost sent an answer Bazaar cannot read."),
        (
            (
                201,
                b'{"id": "shp_1", "object": "Shipment", "rates": [{"carrier": "USPS", "service": "Priority", '
                b'"currency": "USD", "rate": "cheap"}]}',
            ),
            "EasyPost sent an answer Bazaar cannot read.",
        ),
        ((201, b"[]"), "EasyPost sent an answer Bazaar cannot read."),
    ],
)
def test_every_failure_is_a_carrier_error_with_a_short_reason(carrier, fake, answer, reason):
    if isinstance(answer, Exception):
        fake.fail("POST", f"{API}/shipments", answer)
    else:
        fake.answer("POST", f"{API}/shipments", answer[0], raw=answer[1])

    with pytest.raises(carriers.CarrierError) as rates_failed:
        carrier.rates(PARCEL)
    with pytest.raises(carriers.CarrierError) as label_failed:
        carrier.buy_label(reference="package:12", parcel=PARCEL, service="ground")

    assert str(rates_failed.value) == str(label_failed.value) == reason
    assert [path for method, path in fake.paths() if path.endswith("/buy")] == []  # nothing bought


def test_tracking_failures_are_carrier_errors_too(carrier, fake):
    now = datetime(2026, 3, 5, tzinfo=UTC)
    fake.fail("GET", f"{API}/trackers", requests.exceptions.ConnectTimeout("connect timed out"))
    with pytest.raises(carriers.CarrierError, match="did not answer in time"):
        carrier.track(tracking_number=TRACKING, label_bought_at=now, now=now)
    fake.answer(
        "GET", f"{API}/trackers", 200, {"trackers": [{**TRACKER, "tracking_details": [{"status": "delivered"}]}]}
    )
    with pytest.raises(carriers.CarrierError, match="cannot read"):
        carrier.track(tracking_number=TRACKING, label_bought_at=now, now=now)


def test_the_guard_catches_a_carrier_left_with_the_real_transport(no_network):
    real = EasyPostCarrier(api_key="EZTK_test_key", webhook_secret=SECRET)  # the library's own session
    with pytest.raises(carriers.CarrierError, match="could not be reached"):
        real.rates(PARCEL)
    assert no_network == ["https://api.easypost.com/v2/shipments"]  # refused, never sent
    no_network.clear()


# --- configuration and the webhook endpoint --------------------------------------------------------


def test_the_carrier_is_found_by_its_code_when_configured():
    with override_settings(FULFILLMENT_CARRIERS=CARRIERS_ON, EASYPOST_API_KEY="EZTK_live", EASYPOST_TIMEOUT_SECONDS=7):
        found = carriers.get_carrier("easypost")
        assert isinstance(found, EasyPostCarrier)
        assert (found.code, found.client.api_key, found.timeout, found.client.timeout) == (
            "easypost",
            "EZTK_live",
            7.0,
            7.0,
        )
    with (
        override_settings(FULFILLMENT_CARRIERS={"test": "fulfillment.carriers.TestCarrier"}),
        pytest.raises(carriers.CarrierError, match="Unknown carrier: easypost"),
    ):
        carriers.get_carrier("easypost")


@pytest.mark.django_db
def test_a_signed_easypost_webhook_posted_to_the_endpoint_moves_the_parcel_once(client):
    from fulfillment.models import CarrierShipment, TrackingEvent

    shipment = CarrierShipment.objects.create(
        reference="package:900",
        carrier="easypost",
        service="USPS:GroundAdvantage",
        tracking_number=TRACKING,
        cost=Decimal("5.93"),
        weight_lb=Decimal("2.500"),
    )
    body = json.dumps(webhook()).encode()
    url = "/fulfillment/webhooks/carriers/easypost/"
    with override_settings(
        FULFILLMENT_CARRIERS=CARRIERS_ON, EASYPOST_API_KEY="EZTK_test_key", EASYPOST_WEBHOOK_SECRET=SECRET
    ):

        def post(headers):
            return client.post(url, body, content_type="application/json", headers=headers)

        assert post(signed(body)).json() == {"received": 3, "applied": 3}
        assert post(signed(body)).json() == {"received": 3, "applied": 0}  # EasyPost retried: nothing twice
        refused = post(signed(body, secret="wrong"))
        assert (refused.status_code, refused.json()["error"]["code"]) == (400, "invalid_webhook")

    shipment.refresh_from_db()
    assert (shipment.status, shipment.status_at) == ("out_for_delivery", datetime(2026, 3, 4, 13, 5, tzinfo=UTC))
    assert list(TrackingEvent.objects.filter(shipment=shipment).values_list("status", flat=True)) == [
        "info_received",
        "in_transit",
        "out_for_delivery",
    ]
