"""Whole-page HTML caching for anonymous GET requests, with per-request holes.

Rendered pages are stored under versioned keys (see :mod:`core.cache`). Per-request values
(today the CSRF token of forms) are stored as a placeholder and filled in on every hit, so a
cached page is safe to serve to anyone.

The key is the path plus only the query parameters the page reads (each view names them), in a
fixed order. Anything else in the query string (``utm_source``, junk) is dropped from the request
before the view runs, so it can neither make a new key nor end up in a cached page (links built
from ``request.GET``). Only 200 responses are stored, with a time to live, so a made-up product
or category (a 404) writes nothing.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Collection, Iterable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, QueryDict

from core import cache as vcache
from core.csrf import get_token

CSRF_HOLE = "__bazaar_csrf_hole__"

Params = Collection[str] | Callable[..., Collection[str]]


def keep_only_params(request: HttpRequest, allowed: Collection[str] | Callable[[str], bool]) -> str:
    """Drop from ``request`` every query parameter not ``allowed`` (a set of names or a test on
    a name) and put the rest in name order, in ``request.GET`` and in the query string alike (so
    ``get_full_path()`` and ``build_absolute_uri()`` agree). Returns that query string."""
    keep = allowed if callable(allowed) else allowed.__contains__
    query = QueryDict(mutable=True, encoding=request.encoding)
    for name, values in sorted(request.GET.lists()):
        if keep(name):
            query.setlist(name, values)
    query._mutable = False
    normalized = query.urlencode()
    request.GET = query
    request.META["QUERY_STRING"] = normalized
    return normalized


def cache_page_versioned(namespaces: Callable[..., Iterable[str]], params: Params = ()) -> Callable:
    """Cache a view's 200 responses for anonymous users without a session.

    ``namespaces(request, *args, **kwargs)`` names what the page depends on. ``params`` names
    the query parameters the page reads (or ``params(request, *args, **kwargs)`` returns them);
    the others are dropped before the view runs. Templates render ``{% csrf_token %}`` as usual:
    :func:`core.context_processors.shop` hands them the token this wrapper replaces with a
    placeholder before storing the page.
    """

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            cacheable = (
                settings.PAGE_CACHE_ENABLED
                and request.method == "GET"
                and not request.user.is_authenticated
                and not request.COOKIES.get(settings.SESSION_COOKIE_NAME)
                and not request.COOKIES.get("messages")
            )
            if not cacheable:
                return view(request, *args, **kwargs)
            allowed = params(request, *args, **kwargs) if callable(params) else params
            query = keep_only_params(request, frozenset(allowed))
            key = "\n".join(["page", request.path, query, getattr(request, "LANGUAGE_CODE", "")])
            key = "page:" + hashlib.blake2b(key.encode(), digest_size=16).hexdigest()
            hit, seen = vcache.get_checked(key, namespaces(request, *args, **kwargs))
            if hit is not None:
                status, content_type, body, has_hole = hit
                if has_hole:
                    body = body.replace(CSRF_HOLE, get_token(request))
                response = HttpResponse(body, status=status, content_type=content_type)
                response["X-Page-Cache"] = "hit"
                return response
            token = get_token(request)
            request.page_cache_csrf_token = token
            response = view(request, *args, **kwargs)
            if response.status_code == 200 and not getattr(response, "streaming", False):
                if hasattr(response, "render") and callable(response.render):
                    response.render()
                body = response.content.decode(response.charset)
                has_hole = token in body
                stored = (response.status_code, response["Content-Type"], body.replace(token, CSRF_HOLE), has_hole)
                vcache.set_checked(key, stored, seen, settings.PAGE_CACHE_TIMEOUT)
                response["X-Page-Cache"] = "miss"
            return response

        return wrapper

    return decorator
