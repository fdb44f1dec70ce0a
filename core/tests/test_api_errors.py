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
