"""REST API plumbing shared by every app: one error shape, strict pagination, and the input
serializer and fields every app's input serializers build on.

Errors always look like ``{"error": {"code": ..., "message": ..., "fields": {...}}}``. Input
serializers that take a JSON body subclass :class:`StrictInputSerializer`, which refuses fields it
does not know (and says so in the schema).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.paginator import InvalidPage
from django.http import Http404, HttpResponse, HttpResponsePermanentRedirect, JsonResponse
from django.urls import Resolver404, resolve
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.utils import OpenApiResponse, extend_schema_field
from rest_framework import exceptions, serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

from core.exceptions import ApplicationError
from core.money import AMOUNT_COLUMN_MAX

logger = logging.getLogger(__name__)


def flat_errors(detail, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error detail as one level the API's error shape can carry: ``items[1].quantity``
    for a row's field, ``items[1]`` for a row as a whole, ``items`` for the list itself."""
    out: dict[str, list[str]] = {}
    if isinstance(detail, Mapping):
        for key, value in detail.items():
            if key == api_settings.NON_FIELD_ERRORS_KEY:
                name = prefix or key
            elif isinstance(key, int):  # a row of a list (ListField reports {index: errors})
                name = f"{prefix}[{key}]"
            else:
                name = f"{prefix}.{key}" if prefix else str(key)
            for field, messages in flat_errors(value, name).items():
                out.setdefault(field, []).extend(messages)
    elif isinstance(detail, list | tuple) and any(isinstance(v, Mapping | list | tuple) for v in detail):
        for index, value in enumerate(detail):
            for field, messages in flat_errors(value, f"{prefix}[{index}]").items():
                out.setdefault(field, []).extend(messages)
    elif detail:
        messages = detail if isinstance(detail, list | tuple) else [detail]
        out.setdefault(prefix or api_settings.NON_FIELD_ERRORS_KEY, []).extend(str(m) for m in messages)
    return out



def _flatten(detail) -> tuple[str, dict]:
    """DRF error detail -> (message, fields), the fields one level deep (:func:`flat_errors`)."""
    if isinstance(detail, dict):
        fields = flat_errors(detail)
        if list(fields) == [api_settings.NON_FIELD_ERRORS_KEY]:
            return fields[api_settings.NON_FIELD_ERRORS_KEY][0], {}
        return "Some fields are not valid.", fields
    if isinstance(detail, list | tuple):
        return (str(detail[0]) if detail else "Invalid input."), {}
    return str(detail), {}


def error_body(code: str, message: str, fields: dict | None = None) -> dict:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def exception_handler(exc, context):
    if isinstance(exc, RequestDataTooBig | TooManyFieldsSent | TooManyFilesSent):
        # Django's limits on a request body (DATA_UPLOAD_MAX_*): the API's error shape, not an HTML page.
        too_big = isinstance(exc, RequestDataTooBig)
        return Response(error_body("request_too_large" if too_big else "too_many_fields", str(exc)),
                        status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE if too_big else status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, ApplicationError):
        body = error_body(exc.code, exc.message, exc.fields)
        body["error"].update(getattr(exc, "extra", None) or {})  # e.g. a client secret to finish a payment
        return Response(body, status=exc.status_code)
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a real bug: let Django log it and answer 500
    if isinstance(exc, exceptions.APIException):
        code = exc.get_codes()
        code = code if isinstance(code, str) else (
            "invalid" if isinstance(exc, exceptions.ValidationError) else exc.default_code
        )
        message, fields = _flatten(exc.detail)
        response.data = error_body(code, message, fields)
    return response


class StrictPageNumberPagination(PageNumberPagination):
    """Page-number pagination where a bad page number is the client's error (400), not a 404."""

    page_size_query_param = "page_size"
    max_page_size = 100

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        try:
            size = int(raw)
        except ValueError:
            raise exceptions.ValidationError({"page_size": ["A whole number is required."]}) from None
        if not 1 <= size <= self.max_page_size:
            raise exceptions.ValidationError(
                {"page_size": [f"Must be between 1 and {self.max_page_size}."]}
            )
        return size

    def paginate_queryset(self, queryset, request, view=None):
        raw = request.query_params.get(self.page_query_param, "1")
        try:
            number = int(raw)
        except ValueError:
            raise exceptions.ValidationError({"page": ["A whole number is required."]}) from None
        if number < 1:
            raise exceptions.ValidationError({"page": ["Pages start at 1."]})
        try:
            return super().paginate_queryset(queryset, request, view)
        except exceptions.NotFound:
            raise exceptions.ValidationError({"page": ["That page is past the last page."]}) from None
        except InvalidPage:  # pragma: no cover - covered by NotFound above
            raise exceptions.ValidationError({"page": ["Invalid page."]}) from None

    def get_paginated_response_schema(self, schema):
        result = super().get_paginated_response_schema(schema)
        return result

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:  # document the bounds enforced above
            if parameter["name"] == self.page_query_param:
                parameter["schema"]["minimum"] = 1
            elif parameter["name"] == self.page_size_query_param:
                parameter["schema"].update(minimum=1, maximum=self.max_page_size)
        return parameters


@csrf_exempt
def api_not_found(request, *args, **kwargs) -> HttpResponse:
    """Any URL under the API that matches no endpoint: a 404 in the error shape, not an HTML page.
    An endpoint asked for without its trailing slash is redirected to it (GET and HEAD; a write
    would lose its body on the way, so it is told instead); nothing else is redirected."""
    path = request.path_info
    if not path.endswith("/"):
        try:
            endpoint = resolve(f"{path}/").func
        except Resolver404:
            endpoint = api_not_found
        if endpoint is not api_not_found:
            if request.method in ("GET", "HEAD"):
                return HttpResponsePermanentRedirect(request.get_full_path(force_append_slash=True))
            message = _("This endpoint's URL ends with a slash: %(path)s") % {"path": f"{path}/"}
            return JsonResponse(error_body("not_found", str(message)), status=404)
    return JsonResponse(error_body("not_found", str(_("No such endpoint or object."))), status=404)


# --- input: the strict serializer and its fields ------------------------------------------


class RepeatedParamField(serializers.ListField):
    """A repeatable query parameter (``?brand=a&brand=b``) whose errors stay a flat list."""

    def to_internal_value(self, data):
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if isinstance(exc.detail, Mapping):  # per-item errors: {0: [...], 3: [...]}
                messages = sorted({str(m) for msgs in exc.detail.values() for m in msgs})
                raise serializers.ValidationError(messages) from None
            raise


@extend_schema_field(
    {"type": "string", "format": "decimal", "pattern": r"^\d{1,10}(?:\.\d{1,2})?$", "example": "19.99"}
)
class AmountInputField(serializers.DecimalField):
    """A money amount or price bound as input: digits with up to two decimals, never more than an
    amount column holds (services check the configured ``MAX_PRICE`` on top)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_digits", 12)
        kwargs.setdefault("decimal_places", 2)
        kwargs.setdefault("max_value", AMOUNT_COLUMN_MAX)
        super().__init__(**kwargs)

    def validate_empty_values(self, data):
        if isinstance(data, str) and not data.strip():  # "" is not "no price": send null for that
            self.fail("invalid")
        return super().validate_empty_values(data)


@extend_schema_field(
    {"type": "string", "format": "decimal", "pattern": r"^(?:\d{1,10}(?:\.\d{1,2})?)?$", "example": "25"}
)
class PriceBoundInputField(AmountInputField):
    """A price filter bound in a query string; empty means no bound."""


class JsonBooleanField(serializers.BooleanField):
    """A boolean in a JSON body: ``true`` or ``false`` only, not 0, 1 or strings."""

    def to_internal_value(self, data):
        if isinstance(data, bool):
            return data
        self.fail("invalid", input=data)


_idle = threading.local()


def represent(serializer_class: type[serializers.Serializer], instance: Any, *, context: dict | None = None) -> dict:
    """What ``serializer_class(instance, context=context).data`` holds, from a serializer built once
    per thread and class.

    DRF builds a serializer's fields again for every serializer it makes (a deep copy of each
    declared field, nested serializers' too, then binding each one); for an order's answer that costs
    more than turning the order into JSON. Turning an object into data keeps nothing on the
    serializer but its context, so one idle serializer per class is enough: taken for the call (a
    nested call for the same class builds its own), given its context, put back afterwards."""
    idle = _idle.__dict__.setdefault("serializers", {})
    serializer = idle.pop(serializer_class, None) or serializer_class()
    serializer._context = context or {}
    try:
        return serializer.to_representation(instance)
    finally:
        serializer._context = {}
        idle[serializer_class] = serializer


class StrictInputSerializer(serializers.Serializer):
    """An input serializer that refuses body fields it does not know, so a client cannot believe it
    set a computed value (the buy box, stock, currency) that the server would ignore."""

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {name: [gettext("Unknown field; it cannot be set.")] for name in unknown}
                )
        return super().to_internal_value(data)


class StrictInputSchema(OpenApiSerializerExtension):
    """Tell API clients that a strict serializer takes no other fields (``additionalProperties``).
    Defined beside the serializer, so it is registered whenever the serializer can be used."""

    target_class = StrictInputSerializer
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_basic_serializer(self.target, direction)
        schema["additionalProperties"] = False
        return schema


# --- schema of the error shape (for drf-spectacular) -------------------------------------


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Machine-readable error code, e.g. `invalid`, `not_found`, `throttled`.")
    message = serializers.CharField(help_text="A sentence fit to show a person.")
    # The metaclass moves declared fields out of the class body, so this does not shadow
    # ``Serializer.fields``.
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Messages per input field (query parameter or body field); empty when none applies.",
    )
    client_secret = serializers.CharField(required=False, help_text=(
        "Only with `requires_action`: the payment intent's client secret for the provider's SDK."))
    provider = serializers.CharField(required=False, help_text="Only with `requires_action`: the payment provider.")


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


_ERROR_DESCRIPTIONS = {
    400: "The input is not valid; `error.fields` says which parameter and why.",
    401: "Authentication is required.",
    402: "The payment was declined; `error.message` says why (nothing was ordered). `requires_action`: the "
         "customer must confirm with their bank; `error.client_secret` lets the provider's SDK do it, then send "
         "the same request again.",
    403: "You may not do this.",
    404: "No such object.",
    409: "The request conflicts with the current state.",
    415: "The body must be JSON (`Content-Type: application/json`).",
    422: "`idempotency_key_reused`: this key was already used with a different request; use a new key.",
    429: "Too many requests; retry after the number of seconds in the `Retry-After` header.",
    503: "A service we depend on (e.g. the payment provider) is unreachable; retry with the same key.",
}


def error_responses(*codes: int) -> dict[int, OpenApiResponse]:
    """``extend_schema(responses=...)`` entries for these error statuses, in the one error shape."""
    return {code: OpenApiResponse(ErrorSerializer, description=_ERROR_DESCRIPTIONS[code]) for code in codes}


__all__ = [
    "AmountInputField",
    "ErrorSerializer",
    "JsonBooleanField",
    "PriceBoundInputField",
    "RepeatedParamField",
    "StrictInputSerializer",
    "StrictPageNumberPagination",
    "api_not_found",
    "error_body",
    "error_responses",
    "exception_handler",
    "status",
]
