"""Whole-page HTML caching for GET requests, with per-request holes.

Rendered pages are stored under versioned keys (see :mod:`core.cache`). What differs from one
visitor to the next is never stored: the CSRF token of forms is stored as a placeholder, and the
personal parts of the layout (account links, cart count, messages: ``{% personal %}`` in
``base.html``) as markers; both are filled in on every hit, for that visitor. So one stored page
serves every visitor who sees the same page: guests, and, for views that say so (``shared=True``),
signed-in customers and guests with a cart too. A view whose page differs by kind of visitor (the
product page shows members their prices) names that kind (``variant``), which becomes part of the
key; a page that differs for a few named customers (the author of a review shown on it gets no
"Helpful" button) lists them on the response (:func:`personal_for`): they are served a page
rendered for them, which is not stored.

The key is the path plus only the query parameters the page reads (each view names them), in a
fixed order. Anything else in the query string (``utm_source``, junk) is dropped from the request
before the view runs, so it can neither make a new key nor end up in a cached page (links built
from ``request.GET``). Only 200 responses are stored, with a time to live, so a made-up product
or category (a 404) writes nothing.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable, Collection, Hashable, Iterable, Mapping
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, QueryDict
from django.template import engines
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.module_loading import import_string
from django.utils.safestring import SafeString, mark_safe

from core import cache as vcache
from core.csrf import get_token

CSRF_HOLE = "__bazaar_csrf_hole__"
# Where a personal part of the page goes: the template that renders it, for this visitor. Only
# templates under ``personal/`` (HTML-escaped text can never form the marker anyway).
PERSONAL_MARK = "<!--bazaar:personal:%s-->"
_PERSONAL_RE = re.compile(r"<!--bazaar:personal:(personal/[a-z_]+\.html)-->")

Params = Collection[str] | Callable[..., Collection[str]]


def keep_only_params(request: HttpRequest, allowed: Collection[str] | Callable[[str], bool]) -> str:
    """Drop from ``request`` every query parameter not ``allowed`` (a set of names or a test on
    a name) and put the rest in name order, in ``request.GET`` and in the query string alike (so
    ``get_full_path()`` and ``build_absolute_uri()`` agree). Returns that query string."""
    if not request.META.get("QUERY_STRING"):
        return ""  # nothing to drop or order (most page views)
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


def personal_for(response: HttpResponse, user_ids: Iterable[int | None]) -> HttpResponse:
    """Mark ``response`` as different for these customers (e.g. the authors of the reviews it
    shows): they are never served the stored page, and a page rendered for one of them is not
    stored."""
    response.page_cache_personal_for = frozenset(pk for pk in user_ids if pk is not None)
    return response


def rendering_shared_page(request: HttpRequest) -> bool:
    """Whether the page being rendered will be stored: personal parts become markers
    (``{% personal %}``, :mod:`core.templatetags.shop_tags`)."""
    return getattr(request, "page_cache_holes", False)


_BETWEEN = "<!--bazaar:between-personal-parts-->"


@functools.lru_cache(maxsize=64)
def _personal_parts(names: tuple[str, ...]):
    """One template rendering all of a page's personal parts, each followed by a separator."""
    return engines["django"].from_string("".join(f'{{% include "{name}" %}}{_BETWEEN}' for name in names))


@functools.cache
def _personal_context_function() -> Callable[[HttpRequest, Mapping[str, Any]], dict[str, Hashable]]:
    return import_string(settings.PERSONAL_PARTS_CONTEXT)


def personal_context(request: HttpRequest | None, csrf_token: str = "", known: Mapping[str, Any] | None = None,
                     ) -> dict[str, Any]:
    """The whole context of the personal parts (templates under ``personal/``): the values
    ``settings.PERSONAL_PARTS_CONTEXT(request, known)`` names (all hashable: they are the key of
    the rendered parts, see :func:`_render_parts`), the visitor's pending messages and the CSRF
    token. Nothing else about the visitor reaches those templates, so a part can never show
    something the key does not hold. ``known``: the context of the page being rendered, where it
    may already hold some of those values (the cart page knows its count)."""
    context: dict[str, Any] = (
        dict(_personal_context_function()(request, known or {})) if request is not None else {}
    )
    context["messages"] = _pending_messages(request)
    context["csrf_token"] = csrf_token
    return context


def _pending_messages(request: HttpRequest | None):
    """The request's message storage if it holds messages to show (they are shown, and so used,
    when the parts are rendered), else ``()``."""
    storage = getattr(request, "_messages", None)
    return storage if storage is not None and len(storage) else ()


# Rendered personal parts by everything they show (per process, bounded): the visitors in one
# state (signed out with no cart; a member of one plan with two items in their cart...) see the
# same parts, so each state is rendered once. Parts with messages are rendered every time.
_PARTS_MEMO: dict[tuple, list[str]] = {}
_PARTS_MEMO_SIZE = 1024


def _render_parts(request: HttpRequest, names: tuple[str, ...]) -> list[str]:
    context = personal_context(request, CSRF_HOLE)
    if context["messages"]:
        return _personal_parts(names).render(context).split(_BETWEEN)[:-1]
    state = tuple(sorted((k, v) for k, v in context.items() if k not in ("messages", "csrf_token")))
    memo = (names, translation.get_language() or "", state)
    parts = _PARTS_MEMO.get(memo)
    if parts is None:
        parts = _personal_parts(names).render(context).split(_BETWEEN)[:-1]
        if len(_PARTS_MEMO) >= _PARTS_MEMO_SIZE:
            _PARTS_MEMO.clear()
        _PARTS_MEMO[memo] = parts
    return parts


_HOLES_RE = re.compile(r"(<!--bazaar:personal:personal/[a-z_]+\.html-->|" + re.escape(CSRF_HOLE) + ")")
_TOKEN = 0  # in a stored page's pieces: where the CSRF token goes (the n-th personal part is n + 1)


def _pieces(body: str, charset: str) -> tuple[tuple[bytes | int, ...], tuple[str, ...]]:
    """A page to store, cut at its holes: its text, encoded once, and where each hole goes (the
    token, or the n-th personal part), so a hit only joins bytes; and the personal parts' names."""
    pieces: list[bytes | int] = []
    names: list[str] = []
    for n, piece in enumerate(_HOLES_RE.split(body)):
        if n % 2 == 0:
            if piece:
                pieces.append(piece.encode(charset))
        elif piece == CSRF_HOLE:
            pieces.append(_TOKEN)
        else:
            names.append(_PERSONAL_RE.fullmatch(piece).group(1))
            pieces.append(len(names))
    return tuple(pieces), tuple(names)


def _fill(request: HttpRequest, pieces: tuple[bytes | int, ...], names: tuple[str, ...], token: str,
          charset: str) -> bytes:
    """The stored page for this visitor: its personal parts (``names``, in page order) and CSRF token
    (also in those parts' forms) put in their holes."""
    holes = [token.encode(charset)]
    if names:
        holes += [part.replace(CSRF_HOLE, token).encode(charset) for part in _render_parts(request, names)]
    return b"".join(piece if isinstance(piece, bytes) else holes[piece] for piece in pieces)


def _visitor_has_personal_state(request: HttpRequest) -> bool:
    return bool(
        request.user.is_authenticated
        or request.COOKIES.get(settings.SESSION_COOKIE_NAME)
        or request.COOKIES.get("messages")
    )


def cache_page_versioned(
    namespaces: Callable[..., Iterable[str]], params: Params = (), *, shared: bool = False,
    variant: Callable[..., str] | None = None,
) -> Callable:
    """Cache a view's 200 responses (GET only), with the visitor's personal parts as holes.

    ``namespaces(request, *args, **kwargs)`` names what the page depends on. ``params`` names
    the query parameters the page reads (or ``params(request, *args, **kwargs)`` returns them);
    the others are dropped before the view runs. Templates render ``{% csrf_token %}`` as usual:
    :func:`core.context_processors.shop` hands them the token this wrapper replaces with a
    placeholder before storing the page.

    Without ``shared`` only guests without a session (and without pending messages) are served
    from the cache and only their pages stored. With ``shared`` every visitor is: the view's
    page must then depend on the visitor only through the layout's ``{% personal %}`` parts,
    ``variant(request, *args, **kwargs)`` (a short string naming the kind of visitor, part of
    the key) and :func:`personal_for`.
    """

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not settings.PAGE_CACHE_ENABLED or request.method != "GET":
                return view(request, *args, **kwargs)
            if not shared and _visitor_has_personal_state(request):
                return view(request, *args, **kwargs)
            allowed = params(request, *args, **kwargs) if callable(params) else params
            query = keep_only_params(request, frozenset(allowed))
            kind = variant(request, *args, **kwargs) if variant is not None else ""
            key = "\n".join(["page", request.path, query, getattr(request, "LANGUAGE_CODE", ""), kind])
            key = "page:" + hashlib.blake2b(key.encode(), digest_size=16).hexdigest()
            viewer = request.user.pk if request.user.is_authenticated else None
            hit, seen = vcache.get_checked(key, namespaces(request, *args, **kwargs), local=True)
            token = get_token(request)
            request.page_cache_csrf_token = token  # the personal parts' forms get the same token
            if isinstance(hit, tuple) and len(hit) == 6 and viewer not in hit[3]:
                status, content_type, pieces, _personal_for, names, charset = hit
                response = HttpResponse(_fill(request, pieces, names, token, charset), status=status,
                                        content_type=content_type)
                response["X-Page-Cache"] = "hit"
                return response
            request.page_cache_holes = True
            try:
                response = view(request, *args, **kwargs)
                if hasattr(response, "render") and callable(response.render):
                    response.render()
            finally:
                request.page_cache_holes = False  # error pages rendered after this are whole
            if getattr(response, "streaming", False):
                return response
            charset = response.charset
            pieces, names = _pieces(response.content.decode(charset).replace(token, CSRF_HOLE), charset)
            if response.status_code == 200:
                excluded = getattr(response, "page_cache_personal_for", frozenset())
                if viewer not in excluded:
                    stored = (response.status_code, response["Content-Type"], pieces, excluded, names, charset)
                    vcache.set_checked(key, stored, seen, settings.PAGE_CACHE_TIMEOUT, local=True)
                response["X-Page-Cache"] = "miss"
            response.content = _fill(request, pieces, names, token, charset)
            return response

        return wrapper

    return decorator


# --- fragments keyed by what they show ----------------------------------------------------------


def render_fragments(
    template_name: str, items: Iterable, *, name: str, inputs: Callable[[Any], tuple], timeout: int | None = None,
) -> list[SafeString]:
    """``template_name`` rendered once per item (as ``name`` in its context), each fragment cached
    under a digest of ``inputs(item)``: every value the template shows of the item. The key is the
    content, so a fragment can never be stale (changed data is a new key; old ones expire), and no
    namespace has to be bumped. One cache round trip for all hits, one for the misses' writes.
    The template must not read the request (it is rendered without one).
    """
    items = list(items)
    language = translation.get_language() or ""
    keys = [
        "fragment:" + hashlib.blake2b(repr((template_name, language, inputs(item))).encode(), digest_size=16)
        .hexdigest()
        for item in items
    ]
    found = vcache.safe_get_many(keys)
    fresh = {}
    result = []
    for key, item in zip(keys, items, strict=True):
        html = found.get(key)
        if not isinstance(html, str):
            html = fresh[key] = render_to_string(template_name, {name: item})
        result.append(mark_safe(html))  # noqa: S308 - rendered by our template, autoescaped
    if fresh:
        vcache.safe_set_many(fresh, timeout)
    return result
