"""The plumbing every app's API input and admin build on (``core.api``, ``core.admin``): a strict
input serializer that refuses fields it does not know, its fields, the admin mixin that turns a
refusing service into a message, and the money column."""

from decimal import Decimal

import pytest
from django.contrib.messages import ERROR
from django.core.exceptions import ValidationError
from django.test import RequestFactory
from drf_spectacular.generators import SchemaGenerator
from rest_framework import serializers

from core.admin import ServiceErrorsAdminMixin, money_column
from core.api import (
    AmountInputField,
    JsonBooleanField,
    PriceBoundInputField,
    RepeatedParamField,
    StrictInputSerializer,
)
from core.exceptions import ApplicationError
from core.money import AMOUNT_COLUMN_MAX


class _NoteInput(StrictInputSerializer):
    text = serializers.CharField()
    pinned = JsonBooleanField(required=False)
    amount = AmountInputField(required=False, allow_null=True)


def _errors(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    assert not serializer.is_valid()
    return serializer.errors


def test_a_strict_serializer_names_every_field_it_does_not_know():
    errors = _errors(_NoteInput, {"text": "hi", "buy_box": True, "currency": "EUR"})
    assert set(errors) == {"buy_box", "currency"}
    assert errors["buy_box"] == ["Unknown field; it cannot be set."]
    serializer = _NoteInput(data={"text": "hi", "pinned": True, "amount": "12.50"})
    assert serializer.is_valid(), serializer.errors
    assert serializer.validated_data == {"text": "hi", "pinned": True, "amount": Decimal("12.50")}


@pytest.mark.parametrize("value", [1, 0, "true", "yes", None])
def test_a_json_boolean_is_true_or_false_only(value):
    assert "pinned" in _errors(_NoteInput, {"text": "hi", "pinned": value})


@pytest.mark.parametrize("value", ["", "  ", "12.345", "abc", "1e20", str(AMOUNT_COLUMN_MAX + 1)])
def test_an_amount_is_two_decimals_within_what_a_column_holds(value):
    assert "amount" in _errors(_NoteInput, {"text": "hi", "amount": value})


def test_an_amount_may_be_null_where_allowed_and_reach_the_column_maximum():
    for value, expected in ((None, None), (str(AMOUNT_COLUMN_MAX), AMOUNT_COLUMN_MAX)):
        serializer = _NoteInput(data={"text": "hi", "amount": value})
        assert serializer.is_valid(), serializer.errors
        assert serializer.validated_data["amount"] == expected


class _FilterInput(serializers.Serializer):
    tag = RepeatedParamField(child=serializers.CharField(max_length=3), required=False, max_length=2)
    max_price = PriceBoundInputField(min_value=Decimal(0), required=False)


def test_a_repeated_parameter_reports_one_flat_list_of_messages():
    errors = _errors(_FilterInput, {"tag": ["long one", "ok", "another long"]})
    assert isinstance(errors["tag"], list)
    assert all(isinstance(message, str) for message in errors["tag"])
    errors = _errors(_FilterInput, {"tag": ["abcd", "efghi"]})
    assert errors["tag"] == ["Ensure this field has no more than 3 characters."]


def test_a_price_bound_is_an_amount():
    assert "max_price" in _errors(_FilterInput, {"max_price": "1.999"})
    serializer = _FilterInput(data={"max_price": "25"})
    assert serializer.is_valid(), serializer.errors
    assert serializer.validated_data["max_price"] == Decimal("25")


def test_the_schema_says_strict_inputs_take_no_other_fields():
    components = SchemaGenerator().get_schema(request=None, public=True)["components"]["schemas"]
    # Strict serializers of two apps (marketplace offers, checkout cart lines); a plain one beside them.
    for name in ("OfferCreateInputRequest", "PatchedOfferUpdateInputRequest", "CartLineAddInputRequest",
                 "PatchedCartLineUpdateInputRequest"):
        assert components[name]["additionalProperties"] is False, name
    assert "additionalProperties" not in components["SellerOutput"]


class _RefusingChangeForm:
    def __init__(self, exc):
        self.exc = exc
        self.messages: list[tuple[str, int]] = []

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        raise self.exc

    def message_user(self, request, message, level):
        self.messages.append((message, level))


class _Admin(ServiceErrorsAdminMixin, _RefusingChangeForm):
    pass


@pytest.mark.parametrize(
    ("exc", "message"),
    [
        (ApplicationError("Only 2 left."), "Only 2 left."),
        (ValidationError({"price": ["Too high."], "sku": ["Taken."]}), "Too high. Taken."),
    ],
)
def test_a_refusing_service_shows_its_message_on_the_form_page_again(exc, message):
    admin = _Admin(exc)
    request = RequestFactory().post("/admin/marketplace/offer/7/change/?_changelist_filters=x")
    response = admin.changeform_view(request, "7")
    assert response.status_code == 302
    assert response["Location"] == "/admin/marketplace/offer/7/change/?_changelist_filters=x"
    assert admin.messages == [(message, ERROR)]


def test_a_bug_is_not_turned_into_a_message():
    admin = _Admin(KeyError("bug"))
    with pytest.raises(KeyError):
        admin.changeform_view(RequestFactory().get("/admin/"), None)
    assert admin.messages == []


def test_the_money_column_formats_an_amount_and_shows_a_dash_for_none():
    assert money_column(None) == "-"
    assert money_column(None, "EUR") == "-"
    assert money_column(Decimal("1234.5"), "USD") == money_column(Decimal("1234.50"), "USD")
    assert "1,234.50" in money_column(Decimal("1234.5"), "USD")


def test_an_address_is_written_as_its_country_writes_it():
    from core.addresses import address_lines

    base = {"full_name": "Ada Buyer", "line1": "1 Main St", "line2": "", "city": "Springfield"}
    assert address_lines({**base, "region": "IL", "postal_code": "62701", "country": "US"}) == [
        "Ada Buyer", "1 Main St", "Springfield, IL 62701", "United States"]
    assert address_lines({**base, "city": "London", "region": "", "postal_code": "SW1A 1AA", "country": "GB"}) == [
        "Ada Buyer", "1 Main St", "London", "SW1A 1AA", "United Kingdom"]
    assert address_lines({**base, "city": "Berlin", "postal_code": "10115", "country": "DE"}) == [
        "Ada Buyer", "1 Main St", "10115 Berlin", "Germany"]
    assert address_lines({**base, "postal_code": "1", "country": "XQ"})[-1] == "XQ"  # a code we cannot name
    company = {**base, "company": "Acme Ltd", "postal_code": "75001", "city": "Paris", "country": "FR"}
    assert address_lines(company) == ["Ada Buyer", "Acme Ltd", "1 Main St", "75001 Paris", "France"]
    assert address_lines({}) == []
