"""The test server's URLs with the Stripe.js stand-in: the shop's own URLs, plus

* ``/__stripe__/v3.js``: the stand-in for Stripe.js (``STRIPE_JS_URL`` points here: same origin, so
  the shop's Content-Security-Policy lets it run with no exception);
* ``/__stripe__/v1/...``: what the stand-in calls to confirm, authenticate and look up intents in
  the :class:`~tests.stripe_standin.fake.FakeStripe` of the test (the part of Stripe's API that only
  Stripe.js uses, with the publishable key).

:func:`urlconf` binds them to one fake; the ``fake_stripe`` fixture makes it the ``ROOT_URLCONF``.
"""

from __future__ import annotations

import json
from pathlib import Path

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import URLPattern, path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from tests.stripe_standin.fake import FakeStripe

SCRIPT = Path(__file__).with_name("stripe.js")
PREFIX = "__stripe__/"
JS_URL = f"/{PREFIX}v3.js"


class URLConf:
    """A URLconf made at run time (Django accepts any object with ``urlpatterns``)."""

    def __init__(self, urlpatterns: list) -> None:
        self.urlpatterns = urlpatterns


@require_GET
def script(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(SCRIPT.read_bytes(), content_type="text/javascript; charset=utf-8")
    response["Cache-Control"] = "no-store"
    return response


def _body(request: HttpRequest) -> dict:
    try:
        data = json.loads(request.body or b"{}")
    except ValueError:
        data = {}
    return data if isinstance(data, dict) else {}


def _answer(result: dict) -> JsonResponse:
    return JsonResponse(result, status=200 if "intent" in result else 402)


def standin_patterns(fake: FakeStripe) -> list[URLPattern]:
    # Stripe's API is another site: no session, no CSRF token; the publishable key and the client
    # secret are what let the browser act on one intent.
    @csrf_exempt
    @require_POST
    def confirm(request: HttpRequest) -> JsonResponse:
        data = _body(request)
        card = data.get("card") if isinstance(data.get("card"), dict) else {}
        return _answer(fake.confirm(str(data.get("client_secret") or ""), str(card.get("number") or ""),
                                    publishable_key=str(data.get("key") or ""), exp=str(card.get("exp") or ""),
                                    elements=data.get("elements") if isinstance(data.get("elements"), dict) else {}))

    @csrf_exempt
    @require_POST
    def authenticate(request: HttpRequest) -> JsonResponse:
        data = _body(request)
        return _answer(fake.authenticate(str(data.get("client_secret") or ""),
                                         complete=data.get("outcome") == "complete",
                                         publishable_key=str(data.get("key") or "")))

    @csrf_exempt
    @require_POST
    def retrieve(request: HttpRequest) -> JsonResponse:
        data = _body(request)
        return _answer(fake.retrieve(str(data.get("client_secret") or ""), publishable_key=str(data.get("key") or "")))

    return [
        path(f"{PREFIX}v3.js", script, name="stripe_standin_js"),
        path(f"{PREFIX}v1/confirm", confirm, name="stripe_standin_confirm"),
        path(f"{PREFIX}v1/authenticate", authenticate, name="stripe_standin_authenticate"),
        path(f"{PREFIX}v1/retrieve", retrieve, name="stripe_standin_retrieve"),
    ]


def urlconf(fake: FakeStripe) -> URLConf:
    from shop import urls as shop_urls

    return URLConf([*standin_patterns(fake), *shop_urls.urlpatterns])
