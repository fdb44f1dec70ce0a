"""Request body parsers of the REST API (``REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"]``)."""

from __future__ import annotations

from django.utils.translation import gettext
from rest_framework import exceptions, parsers

MAX_JSON_DEPTH = 32  # objects and arrays within each other in a request body: no input of ours needs more


def _too_deep(value, limit: int) -> bool:
    """Whether ``value`` nests objects and arrays more than ``limit`` deep (walked without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return False


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, refusing a body nested deeper than ``MAX_JSON_DEPTH`` (one nested past
    Python's recursion limit failed inside the parser) with the 400 of any malformed body."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            data = None
            too_deep = True
        else:
            too_deep = _too_deep(data, MAX_JSON_DEPTH)
        if too_deep:
            raise exceptions.ParseError(
                gettext("JSON parse error - objects and arrays may be nested at most %(depth)d deep.")
                % {"depth": MAX_JSON_DEPTH})
        return data
