"""Content-Security-Policy: one strict policy on every response (pages, cached pages, admin, API,
errors) that lets Stripe.js work and runs no inline script, and templates that need none."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from tests.factories import CategoryFactory, OfferFactory, ProductFactory, UserFactory, shipping_method, stock

BASE_DIR = Path(settings.BASE_DIR)
SKIPPED_DIRS = {".venv", "venv", "node_modules", "var", ".git", "__pycache__", ".pytest_cache"}


def policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    directives = {}
    for part in header.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


def assert_strict(response) -> None:
    assert "Content-Security-Policy" in response, response.request["PATH_INFO"]
    csp = policy(response)
    assert csp["default-src"] == ["'self'"]
    scripts = csp["script-src"]
    assert "'self'" in scripts
    assert not {"'unsafe-inline'", "'unsafe-eval'", "*", "data:", "https:"} & set(scripts)
    assert not any(value.startswith("'nonce-") for value in scripts)  # pages are cached whole
    assert csp["object-src"] == ["'none'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["base-uri"] == ["'self'"]
    assert "'self'" in csp["form-action"]


@pytest.fixture
def shop_data():
    shipping_method(channel="platform", price="0.00", code="free", min_days=3, max_days=5)
    category = CategoryFactory(name="Kettles")
    product = ProductFactory(title="Steel Kettle", category=category)
    offer = OfferFactory(product=product, price=Decimal("25.00"))
    stock(offer, 5)
    return {"category": category, "product": product, "offer": offer}


@pytest.mark.django_db
def test_every_kind_of_page_carries_the_policy(client, shop_data):
    pages = [
        "/",
        shop_data["product"].get_absolute_url(),
        "/c/kettles/",
        "/search/?q=kettle",
        "/deals/",
        "/cart/",
        reverse("accounts:login"),
        reverse("accounts:password_reset"),
        "/api/v1/products/",
        "/api/schema/",
        "/api/docs/",
        "/api/docs/?script=",
        "/api/redoc/",
        "/healthz",
    ]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        assert_strict(response)

    missing = client.get("/no-such-page/")
    assert missing.status_code == 404
    assert_strict(missing)

    # the checkout address page, with something in the cart
    assert client.post("/cart/add/", {"offer": shop_data["offer"].pk, "quantity": 1}).status_code == 302
    checkout = client.get("/checkout/")
    assert checkout.status_code == 200
    assert_strict(checkout)


@pytest.mark.django_db
def test_signed_in_account_pages_and_admin_carry_the_policy(client):
    client.force_login(UserFactory(email="ann@example.com"))
    for url in (reverse("storefront:account"), reverse("accounts:profile"), reverse("accounts:addresses"), "/orders/"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert_strict(response)

    admin = UserFactory(email="root@example.com", is_staff=True, is_superuser=True)
    client.force_login(admin)
    for url in ("/admin/", "/admin/catalog/product/", "/admin/catalog/product/add/"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert_strict(response)
    client.logout()
    assert_strict(client.get("/admin/login/"))


@pytest.mark.django_db
def test_a_page_served_from_the_page_cache_carries_the_policy(client, shop_data):
    url = shop_data["product"].get_absolute_url()
    assert client.get(url)["X-Page-Cache"] == "miss"
    hit = client.get(url)
    assert hit["X-Page-Cache"] == "hit"
    assert_strict(hit)


@pytest.mark.django_db
def test_the_policy_allows_stripe_js_its_frames_and_its_api(client):
    csp = policy(client.get("/healthz"))
    assert settings.STRIPE_JS_URL == "https://js.stripe.com/v3/"
    assert {"https://js.stripe.com", "https://*.js.stripe.com"} <= set(csp["script-src"])
    assert {"https://js.stripe.com", "https://*.js.stripe.com", "https://hooks.stripe.com"} <= set(csp["frame-src"])
    assert "https://api.stripe.com" in csp["connect-src"]
    assert {"'self'", "data:"} <= set(csp["img-src"])


def _settings_in_a_fresh_process(**env: str) -> dict:
    import json
    import os
    import subprocess
    import sys

    code = (
        "import json, django; django.setup(); from django.conf import settings; "
        "print(json.dumps(settings.CONTENT_SECURITY_POLICY['DIRECTIVES']))"
    )
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "shop.settings", "DATABASE_URL": "sqlite://:memory:",
                   **env}
    environment.pop("REDIS_URL", None)
    result = subprocess.run([sys.executable, "-c", code], cwd=BASE_DIR, env=environment, capture_output=True,
                            text=True, timeout=120, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_script_and_image_origins_follow_the_settings():
    directives = _settings_in_a_fresh_process(
        STRIPE_JS_URL="https://stripe-mirror.example.net/v3/",
        AWS_STORAGE_BUCKET_NAME="bazaar-media",
        AWS_S3_REGION_NAME="eu-west-1",
    )
    assert directives["script-src"] == ["'self'", "https://stripe-mirror.example.net"]
    assert "https://bazaar-media.s3.amazonaws.com" in directives["img-src"]
    assert "https://bazaar-media.s3.eu-west-1.amazonaws.com" in directives["img-src"]
    # A stand-in served by the site itself (tests): 'self' is enough, nothing else is added.
    same_origin = _settings_in_a_fresh_process(STRIPE_JS_URL="/static/js/stripe-stand-in.js")
    assert same_origin["script-src"] == ["'self'"]


# --- templates: nothing inline that the policy would block -------------------------------------

SCRIPT = re.compile(r"<script\b(?P<attrs>[^>]*)>(?P<body>.*?)</script\s*>", re.IGNORECASE | re.DOTALL)
DATA_TYPES = re.compile(r"""\btype\s*=\s*["']?application/(ld\+)?json""", re.IGNORECASE)
TAG = re.compile(r"<[a-zA-Z][^<>]*>", re.DOTALL)
EVENT_HANDLER = re.compile(r"""\son[a-z]+\s*=""", re.IGNORECASE)
HTMX_EVAL = re.compile(r"""\shx-on[:\-=]|\shx-vars\s*=|\shx-vals\s*=\s*["']\s*(js|javascript):""", re.IGNORECASE)
JS_URL = re.compile(r"""\b(href|src|action|formaction)\s*=\s*["']\s*javascript:""", re.IGNORECASE)


def inline_code_problems(html: str) -> list[str]:
    """What in this template would need 'unsafe-inline' or 'unsafe-eval' for scripts."""
    problems = []
    for match in SCRIPT.finditer(html):
        attrs, body = match.group("attrs"), match.group("body")
        if DATA_TYPES.search(attrs):
            continue
        if body.strip():
            problems.append(f"inline <script> with code: {body.strip()[:60]!r}")
        elif not re.search(r"\bsrc\s*=", attrs):
            problems.append("<script> without src")
    for tag in TAG.findall(html):
        if EVENT_HANDLER.search(tag):
            problems.append(f"inline event handler: {tag[:80]!r}")
        if HTMX_EVAL.search(tag):
            problems.append(f"htmx attribute that needs eval: {tag[:80]!r}")
        if JS_URL.search(tag):
            problems.append(f"javascript: URL: {tag[:80]!r}")
    return problems


def project_templates() -> list[Path]:
    found = []
    for path in BASE_DIR.rglob("*.html"):
        parts = set(path.relative_to(BASE_DIR).parts)
        if parts & SKIPPED_DIRS or "templates" not in parts:
            continue
        found.append(path)
    return sorted(found)


@pytest.mark.parametrize(
    "html",
    [
        "<script>alert(1)</script>",
        '<script type="text/javascript">\n  start();\n</script>',
        "<script></script>",
        '<button type="button" onclick="go()">Go</button>',
        '<form method="post"\n      onsubmit="return check()">',
        '<body onload="init()">',
        '<button hx-post="/x" hx-on:click="alert(1)">',
        '<button hx-on::after-request="x()">',
        """<div hx-vals='js:{a: b()}'>""",
        '<a href="javascript:void(0)">x</a>',
    ],
)
def test_the_template_check_catches_inline_code(html):
    assert inline_code_problems(html)


@pytest.mark.parametrize(
    "html",
    [
        '<script src="{% static \'js/shop.js\' %}" defer></script>',
        '<script type="application/json" id="data">{"a": 1}</script>',
        '<p class="online">Buy online=now</p>',
        '<button hx-post="/cart/add/" hx-target="#x" hx-swap="outerHTML">',
        '<input name="only" data-on="x">',
    ],
)
def test_the_template_check_allows_files_and_data(html):
    assert inline_code_problems(html) == []


def test_no_template_has_inline_script_or_event_handlers():
    templates = project_templates()
    assert len(templates) > 40  # the walk found the project's templates
    problems = {
        str(path.relative_to(BASE_DIR)): found
        for path in templates
        if (found := inline_code_problems(path.read_text(encoding="utf-8")))
    }
    assert problems == {}


def test_our_scripts_do_not_evaluate_strings():
    """The policy has no 'unsafe-eval': our JavaScript must not need it (htmx runs with allowEval off)."""
    evaluating = re.compile(r"\beval\s*\(|\bnew\s+Function\s*\(|\bset(Timeout|Interval)\s*\(\s*[\"'`]")
    scripts = [p for p in (BASE_DIR / "static" / "js").rglob("*.js") if not p.name.endswith(".min.js")]
    assert scripts
    assert [str(p) for p in scripts if evaluating.search(p.read_text(encoding="utf-8"))] == []
    base = (BASE_DIR / "templates" / "base.html").read_text(encoding="utf-8")
    assert """<meta name="htmx-config" content='{"allowEval": false}'>""" in base


@pytest.mark.django_db
def test_the_policy_built_once_is_the_one_django_csp_builds_and_follows_setting_changes(client, settings):
    from csp.utils import build_policy

    home = client.get("/")
    assert home["Content-Security-Policy"] == build_policy()
    assert "Content-Security-Policy-Report-Only" not in home
    changed = {**settings.CONTENT_SECURITY_POLICY}
    changed["DIRECTIVES"] = {**changed["DIRECTIVES"], "img-src": ["'self'", "https://images.example.com"]}
    settings.CONTENT_SECURITY_POLICY = changed  # a changed setting is seen on the next response
    settings.CONTENT_SECURITY_POLICY_REPORT_ONLY = {"DIRECTIVES": {"default-src": ["'none'"]}}
    again = client.get("/")
    assert "img-src 'self' https://images.example.com" in again["Content-Security-Policy"]
    assert again["Content-Security-Policy-Report-Only"] == "default-src 'none'"


@pytest.mark.django_db
def test_a_view_that_widens_the_policy_still_gets_its_own(client):
    docs = client.get("/api/redoc/")
    assert docs.status_code == 200
    assert "worker-src 'self' blob:" in docs["Content-Security-Policy"]
    assert "worker-src" not in client.get("/")["Content-Security-Policy"]
