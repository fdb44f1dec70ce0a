"""Schema-driven fuzzing of the REST API: no request, however wrong, gets a server error, and every
answer is the one the schema documents.

The API's own OpenAPI schema (drf-spectacular, as served at /api/schema/) is handed to schemathesis,
which generates requests for every operation: bodies, query strings, headers and path parameters
that fit the schema (positive) and that do not (negative: wrong types, missing fields, values out
of range). Each request goes through Django's test client in-process, inside the test's database
transaction, as four callers: a guest with a cart, a customer with a paid order, a delivered one
with a return, store credit, a gift card and a cart, platform staff holding every permission, and
a seller's owner with a draft inbound shipment (token auth). Path parameters are mostly the real
ones of that world ({number} is the customer's order, {id} of invoices/returns/inbound shipments
the real ones...) so the fuzzing reaches the code behind the 404,
and generated bodies often carry real ids and codes for the same reason.

The after-sales and shopping endpoints get the larger budget; every other operation a small one.
Generation is derandomized (the same requests every run) and each request runs in a savepoint
that is rolled back, so every request sees the same world: an order is still cancellable, the
gift card still unredeemed, whatever came before. A 5xx fails the test with every operation that
answered one, the request and the server's traceback. So does an answer the schema does not
describe, as schemathesis's own checks judge it (what ``st run`` checks by default): a status code
it does not list, another content type, a body or headers that break its response schema, or a
request that breaks the schema but was accepted.
"""

from __future__ import annotations

import itertools
import json
import traceback
import uuid
from dataclasses import dataclass, field
from decimal import Decimal

import pytest
import requests
import schemathesis
from django.contrib.auth.models import Permission
from django.db import transaction
from django.test import Client
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.failures import FailureGroup
from schemathesis.core.transport import Response as SchemaResponse
from schemathesis.transport.wsgi import WSGI_TRANSPORT
from werkzeug.test import EnvironBuilder

from accounts import services as account_services
from finance.models import CreditNote, Invoice
from fulfillment import inbound
from orders import refunds, returns
from orders import services as order_services
from orders.models import Order, OrderLine
from payments import services as payment_services
from payments.models import StoreCreditEntry
from promotions import services as promotion_services
from promotions.models import Voucher
from tests.buying import ADDRESS, DECLINED_CARD, GOOD_CARD, cart_with, place, ship
from tests.commit import committed
from tests.factories import OfferFactory, UserFactory, seller_member, shipping_method, stock

pytestmark = pytest.mark.django_db

# Examples per operation and generation mode (positive, negative). The after-sales and shopping
# endpoints are what the issue names; the rest of the schema gets a smaller budget.
CONFORMANCE = [status_code_conformance, content_type_conformance, response_schema_conformance,
               response_headers_conformance, negative_data_rejection]
FOCUS = ("/api/v1/orders/", "/api/v1/returns/", "/api/v1/invoices/", "/api/v1/credit-notes/",
         "/api/v1/gift-cards/", "/api/v1/store-credit/", "/api/v1/cart/", "/api/v1/checkout/")
FOCUS_BUDGET = (14, 10)
OTHER_BUDGET = (4, 3)


# The seller's owner is there for the seller endpoints (and platform things a seller must not do);
# the rest of the schema is fuzzed by the other callers already.
SELLER_PATHS = ("/api/v1/offers/", "/api/v1/product-proposals/", "/api/v1/inventory-uploads/",
                "/api/v1/inbound-shipments/", "/api/v1/removal-orders/", "/api/v1/purchase-orders/",
                "/api/v1/reorder-suggestions/", "/api/v1/sellers/")


def _budget(path: str) -> tuple[int, int]:
    return FOCUS_BUDGET if path.startswith(FOCUS) else OTHER_BUDGET


@pytest.fixture(scope="module")
def api_schema():
    """The schema /api/schema/ serves, as JSON, loaded by schemathesis."""
    document = SchemaGenerator().get_schema(request=None, public=True)
    return schemathesis.openapi.from_dict(json.loads(OpenApiJsonRenderer().render(document)))


# --- the world the callers act in --------------------------------------------------------------------


@dataclass
class World:
    """Real values for path parameters (by operation path, or "*", and parameter name: one or more to
    pick from), for fields of generated bodies (by field name), and a valid body per operation (by
    method and path) that generated bodies are laid over, so a case lacks nothing it did not break."""

    path_values: dict[tuple[str, str], list] = field(default_factory=dict)
    body_values: dict[str, list] = field(default_factory=dict)
    valid_bodies: dict[tuple[str, str], dict] = field(default_factory=dict)

    def path_choices(self, path: str, name: str) -> list:
        return self.path_values.get((path, name), self.path_values.get(("*", name), []))


def _delivered(order: Order) -> Order:
    with committed():
        for package in order.packages.all():
            ship(package)
            order_services.package_deliver(package=package)
    return Order.objects.get(pk=order.pk)


@pytest.fixture
def world() -> tuple[World, dict]:
    """A shop with two offers and a voucher; a customer who has a paid order, a delivered order with a
    return and a partial refund (so an invoice and a credit note), store credit, a gift card of their
    own, an address and an open cart; platform staff with every permission. Returns the world and
    each caller's token (None for the guest)."""
    shipping_method(channel="platform", price="0.00", code="free")
    shipping_method(channel="merchant", price="4.99", code="standard")
    kettle = OfferFactory(price=Decimal("20.00"), product__title="Blue Kettle")
    towel = OfferFactory(price=Decimal("5.00"), fulfillment_channel="merchant", product__title="Tea Towel")
    stock(kettle, 20)
    stock(towel, 20)
    promotion_services.voucher_save(voucher=Voucher(code="SAVE10", kind="percent", value=Decimal("10"), active=True))

    customer = UserFactory()
    paid = place(cart_with((kettle, 1), (towel, 1), user=customer), user=customer).order
    delivered = _delivered(place(cart_with((kettle, 2), (towel, 2), user=customer), user=customer).order)
    kettle_line = OrderLine.objects.get(order=delivered, offer=kettle)
    towel_line = OrderLine.objects.get(order=delivered, offer=towel)
    with committed():
        refunds.order_refund_partial(order=delivered, lines={kettle_line.pk: 1}, reason="Arrived damaged",
                                     idempotency_key=uuid.uuid4().hex)
        returned = returns.return_start(order=delivered, package_id=towel_line.package_id, lines={towel_line.pk: 1},
                                        reason="defective", user=customer, idempotency_key=uuid.uuid4().hex)
        payment_services.store_credit_grant(user=customer, amount="30.00", kind=StoreCreditEntry.Kind.REFUND,
                                            reference="fuzz:goodwill")
        gift_card = payment_services.gift_card_issue(amount="25.00", reference="fuzz:card")
        address = account_services.address_create(user=customer, full_name="Ada Buyer", line1="1 Main St",
                                                   city="Springfield", postal_code="12345", country="US")
    cart = cart_with((kettle, 1), (towel, 2), user=customer)
    cart_line = cart.lines.order_by("pk").first()

    owner = seller_member(kettle.seller, role="owner")
    shipment = inbound.inbound_create(seller=kettle.seller, actor=owner, name="Fuzz restock", items=[(kettle, 2)])

    staff = UserFactory()
    staff.is_staff = True
    staff.save(update_fields=["is_staff"])
    staff.user_permissions.set(Permission.objects.all())

    invoice = Invoice.objects.filter(order_id=delivered.pk).order_by("pk").first()
    credit_note = CreditNote.objects.filter(invoice__order_id=delivered.pk).order_by("pk").first()
    assert invoice is not None, "the setup should have invoiced the delivered order"
    assert credit_note is not None, "the setup should have credited the partial refund"
    product = kettle.product
    world = World(
        path_values={
            ("*", "number"): [paid.number, delivered.number],
            ("*", "line_id"): [cart_line.pk],
            ("*", "address_id"): [address.pk],
            ("/api/v1/invoices/{id}/pdf/", "id"): [invoice.pk],
            ("/api/v1/credit-notes/{id}/pdf/", "id"): [credit_note.pk],
            ("/api/v1/returns/{id}/", "id"): [returned.pk],
            ("/api/v1/offers/{id}/", "id"): [kettle.pk],
            ("/api/v1/products/{slug}/", "slug"): [product.slug],
            ("/api/v1/products/{slug}/reviews/", "slug"): [product.slug],
            ("/api/v1/categories/{slug}/", "slug"): [product.category.slug],
            ("/api/v1/sellers/{slug}/", "slug"): [kettle.seller.slug],
            **{(f"/api/v1/inbound-shipments/{{id}}/{tail}", "id"): [shipment.pk]
               for tail in ("", "items/", "ready/", "ship/", "void/", "labels.pdf")},
        },
        body_values={
            "code": [gift_card.code, "SAVE10"],
            "gift_card_code": [gift_card.code],
            "voucher_code": ["SAVE10"],
            "offer": [kettle.pk, towel.pk],
            "line": [kettle_line.pk, towel_line.pk],
            "package": [towel_line.package_id, kettle_line.package_id],
            "shipping": [[kettle_line.package_id]],
            "product": [product.pk],
            "country": ["US"],
            "payment_method": [GOOD_CARD, DECLINED_CARD],
            "quantity": [1, 2],
            "sku": [kettle.sku],
            "seller": [kettle.seller.slug],
        },
        valid_bodies={
            ("POST", "/api/v1/cart/lines/"): {"offer": kettle.pk, "quantity": 1},
            ("PATCH", "/api/v1/cart/lines/{line_id}/"): {"quantity": 2},
            ("POST", "/api/v1/cart/voucher/"): {"code": "SAVE10"},
            ("POST", "/api/v1/cart/gift-cards/"): {"amount": "25.00", "recipient_email": "bob@example.com"},
            ("POST", "/api/v1/checkout/quote/"): {"country": "US"},
            ("POST", "/api/v1/checkout/orders/"): {"email": "ada@example.com", "shipping_address": ADDRESS,
                                                   "payment_method": GOOD_CARD},
            ("POST", "/api/v1/gift-cards/balance/"): {"code": gift_card.code},
            ("POST", "/api/v1/gift-cards/redeem/"): {"code": gift_card.code},
            ("POST", "/api/v1/orders/{number}/refunds/"): {"lines": [{"line": towel_line.pk, "quantity": 1}],
                                                           "reason": "Arrived damaged"},
            ("POST", "/api/v1/orders/{number}/returns/"): {
                "package": kettle_line.package_id, "lines": [{"line": kettle_line.pk, "quantity": 1}],
                "reason": "defective"},
        },
    )
    tokens = {
        "guest": None,
        "customer": account_services.user_api_token_ensure(user=customer).key,
        "staff": account_services.user_api_token_ensure(user=staff).key,
        "seller": account_services.user_api_token_ensure(user=owner).key,
    }
    return world, tokens


# --- generating and sending ----------------------------------------------------------------------------


def _with_real_values(body, values: dict[str, list], draw):
    """``body`` with some fields a real world has (an offer id, a gift card code...) put in, one level
    down into objects and lists of objects too, so generated requests get past "not found"."""
    if isinstance(body, dict):
        changed = {}
        for name, value in body.items():
            if name in values and draw(st.booleans()):
                changed[name] = draw(st.sampled_from(values[name]))
            elif isinstance(value, list | dict):
                changed[name] = _with_real_values(value, values, draw)
            else:
                changed[name] = value
        return changed
    if isinstance(body, list):
        return [_with_real_values(item, values, draw) for item in body]
    return body


def _own(parameters) -> int:
    """How many of ``parameters`` are the operation's own, not the credentials of its security schemes
    (the caller's token or session is what is sent, whatever was generated for them)."""
    return sum(1 for parameter in parameters if parameter.name not in ("Authorization", "sessionid"))


def _cases(operation, mode: GenerationMode, world: World):
    """Cases for ``operation``: mostly with the world's real path parameters, else generated ones; their
    bodies often laid over the operation's valid body and carrying real values."""
    generated = operation.as_strategy(generation_mode=mode)
    choices = {parameter.name: world.path_choices(operation.path, parameter.name)
               for parameter in operation.path_parameters}
    choices = {name: values for name, values in choices.items() if values}
    # A negative case must break something: with the path fixed, something else has to be there.
    others = len(operation.query) + _own(operation.headers) + _own(operation.cookies) + len(operation.body)
    if choices and (mode is GenerationMode.POSITIVE or others):
        combinations = [dict(zip(choices, values, strict=True)) for values in itertools.product(*choices.values())]
        real = st.one_of([operation.as_strategy(generation_mode=mode, path_parameters=values)
                          for values in combinations])
    else:
        real = generated
    valid = world.valid_bodies.get((operation.method.upper(), operation.path))

    @st.composite
    def cases(draw):
        case = draw(st.one_of(real, real, real, generated))
        body = case.body
        if valid is not None and isinstance(body, dict) and draw(st.booleans()):
            body = {**valid, **body}
        if isinstance(body, dict | list) and draw(st.booleans()):
            body = _with_real_values(body, world.body_values, draw)
        if body is not case.body:
            case.body = body
        return case

    return cases()


@dataclass
class Problem:
    """A server error, or an answer the schema does not describe."""

    operation: str
    request: str
    status: int
    detail: str


def _schema_problems(case, response) -> list[str]:
    """What schemathesis's conformance checks find wrong with ``response`` to ``case`` (nothing: [])."""
    content = b"".join(response.streaming_content) if getattr(response, "streaming", False) else response.content
    sent = requests.Request(method=case.method, url=f"http://testserver{case.formatted_path}").prepare()
    answer = SchemaResponse(status_code=response.status_code, headers={k.lower(): [v] for k, v in response.items()},
                            content=content, request=sent, elapsed=0.0, verify=True)
    try:
        case.validate_response(answer, checks=CONFORMANCE)
    except FailureGroup as group:
        return [f"{failure.title}: {failure.message}"[:1500] for failure in group.exceptions]
    return []


def _send(client: Client, case, token: str | None):
    """``case`` sent through Django's test client (in-process, in the test's transaction), in a
    savepoint rolled back afterwards so that no request changes what the next one finds."""
    request = WSGI_TRANSPORT.serialize_case(case)
    request["headers"].pop("Authorization", None)
    if token:
        request["headers"]["Authorization"] = f"Token {token}"
    environ = EnvironBuilder(**request).get_environ()
    environ.pop("HTTP_COOKIE", None)  # the client's own cookies (the guest's cart) are sent
    with transaction.atomic():
        response = client.request(**environ)
        transaction.set_rollback(True)
    return request, response


def _fuzz_operation(operation, mode: GenerationMode, examples: int, world: World, caller: str, token: str | None,
                    client: Client) -> tuple[list[Problem], int]:
    """Send up to ``examples`` cases of ``operation``; the first problem (if any) and how many were sent."""
    label = f"{operation.method.upper()} {operation.path} ({mode.value}, {caller})"
    found: list[Problem] = []
    sent = 0

    @settings(max_examples=examples, derandomize=True, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(case=_cases(operation, mode, world))
    def run(case):
        nonlocal sent
        request, response = _send(client, case, token)
        sent += 1
        if found:
            return
        shown = {key: value for key, value in request.items() if key != "headers"}
        shown["headers"] = {k: v for k, v in request["headers"].items() if k != "Authorization"}
        if response.status_code >= 500:
            exc_info = getattr(response, "exc_info", None)
            detail = "".join(traceback.format_exception(*exc_info)) if exc_info else repr(response.content[:2000])
            found.append(Problem(label, repr(shown), response.status_code, detail))
        elif problems := _schema_problems(case, response):
            found.append(Problem(label, repr(shown), response.status_code, "\n".join(problems)))

    try:
        run()
    except Unsatisfiable as error:
        if mode is GenerationMode.NEGATIVE:
            return [], sent  # its parameters take any string: no request can break the schema
        error.add_note(f"while fuzzing {label}")
        raise
    return found, sent


def _fuzz(api_schema, world: World, caller: str, token: str | None, client: Client) -> tuple[list[Problem], int]:
    errors: list[Problem] = []
    sent = 0
    for result in api_schema.get_all_operations():
        operation = result.ok()
        if caller == "seller" and not operation.path.startswith(SELLER_PATHS):
            continue
        negatable = len(operation.path_parameters) + len(operation.query) + _own(operation.headers) + _own(
            operation.cookies) + len(operation.body)
        for mode, examples in zip((GenerationMode.POSITIVE, GenerationMode.NEGATIVE), _budget(operation.path),
                                  strict=True):
            if mode is GenerationMode.NEGATIVE and not negatable:
                continue  # nothing in the request to get wrong
            found, count = _fuzz_operation(operation, mode, examples, world, caller, token, client)
            errors.extend(found)
            sent += count
    return errors, sent


@pytest.mark.parametrize("caller", ["guest", "customer", "staff", "seller"])
def test_no_generated_request_gets_a_server_error_or_an_undocumented_answer(api_schema, world, caller, settings):
    world, tokens = world
    # Hundreds of requests in a few seconds: the rate limits (tested on their own) would answer most
    # of them with a 429 before the code under test saw them.
    settings.RATE_LIMITS = dict.fromkeys(settings.RATE_LIMITS, "off")
    client = Client(raise_request_exception=False)
    if caller == "guest":  # a guest's cart lives in their session
        answer = client.post("/api/v1/cart/lines/", {"offer": world.body_values["offer"][0], "quantity": 1},
                             content_type="application/json")
        assert answer.status_code == 201, answer.content
    errors, sent = _fuzz(api_schema, world, caller, tokens[caller], client)
    assert sent > 100
    assert not errors, "\n\n".join(
        f"{error.operation} answered {error.status}\n  request: {error.request}\n{error.detail}" for error in errors)


def _fuzz_gift_card_balance(api_schema, world, monkeypatch, settings, balance) -> list[Problem]:
    """Ten positive cases of the gift card balance operation, its selector replaced by ``balance``."""
    from payments.api import views as payment_views

    monkeypatch.setattr(payment_views.selectors, "gift_card_balance", balance)
    settings.RATE_LIMITS = dict.fromkeys(settings.RATE_LIMITS, "off")
    world, _tokens = world
    operation = api_schema["/api/v1/gift-cards/balance/"]["POST"]
    errors, sent = _fuzz_operation(operation, GenerationMode.POSITIVE, 10, world, "guest", None,
                                   Client(raise_request_exception=False))
    assert sent == 10
    return errors


def test_the_fuzzing_reports_a_server_error_with_its_traceback(api_schema, world, monkeypatch, settings):
    """The checks above are only worth something if a 500 reaches them: a view that raises is reported,
    with the operation, the request and the exception."""

    def broken(*, code):
        raise RuntimeError("the gift card table is on fire")

    [error] = _fuzz_gift_card_balance(api_schema, world, monkeypatch, settings, broken)
    assert error.status == 500
    assert error.operation == "POST /api/v1/gift-cards/balance/ (positive, guest)"
    assert "RuntimeError: the gift card table is on fire" in error.detail


def test_the_fuzzing_reports_an_answer_the_schema_does_not_describe(api_schema, world, monkeypatch, settings):
    """And an answer the schema does not list is reported too, with what is wrong with it."""
    from core.exceptions import ApplicationError

    class Teapot(ApplicationError):
        status_code = 418
        code = "teapot"

    def refusing(*, code):
        raise Teapot("I am a teapot.")

    [error] = _fuzz_gift_card_balance(api_schema, world, monkeypatch, settings, refusing)
    assert error.status == 418
    assert "Undocumented status code" in error.detail
