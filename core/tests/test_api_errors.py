"""The API's error shape stays one level deep whatever DRF nests: a row's field is
``lines[1].line``, a list as a whole is ``lines``, and no message shows Python's insides."""

from __future__ import annotations

from rest_framework.exceptions import ErrorDetail

from core.api import _flatten


def test_nested_errors_come_out_flat_with_plain_messages():
    detail = {
        "lines": {"non_field_errors": [ErrorDetail("Ensure this field has at least 1 elements.", code="min_length")]},
        "rows": {1: {"line": [ErrorDetail("A valid integer is required.", code="invalid")]}},
        "reason": [ErrorDetail("This field is required.", code="required")],
    }
    message, fields = _flatten(detail)
    assert message == "Some fields are not valid."
    assert fields == {
        "lines": ["Ensure this field has at least 1 elements."],
        "rows[1].line": ["A valid integer is required."],
        "reason": ["This field is required."],
    }
    assert not any("ErrorDetail" in m or "{" in m for messages in fields.values() for m in messages)


def test_an_error_about_the_whole_body_is_the_message():
    assert _flatten({"non_field_errors": [ErrorDetail("Choose a line.", code="x")]}) == ("Choose a line.", {})
    assert _flatten([ErrorDetail("Bad.", code="x")]) == ("Bad.", {})
    assert _flatten("Plain.") == ("Plain.", {})


def test_a_path_under_the_api_that_no_endpoint_has_is_a_json_404_with_or_without_a_slash(client):
    for path in ("/api/v1/no-such-thing/", "/api/v1/no-such-thing", "/api/v1/inbound-shipments/abc/labels.pdf"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "not_found"


def test_an_endpoint_asked_for_without_its_slash_is_redirected_for_reads_and_told_for_writes(client):
    read = client.get("/api/v1/products?page=2")
    assert read.status_code == 301
    assert read["Location"] == "/api/v1/products/?page=2"
    write = client.post("/api/v1/cart/lines", {"offer": 1, "quantity": 1}, content_type="application/json")
    assert write.status_code == 404  # a redirect would lose the body
    assert "/api/v1/cart/lines/" in write.json()["error"]["message"]
