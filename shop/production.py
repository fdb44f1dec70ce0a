"""What production refuses to start with. ``shop.settings`` calls :func:`refuse_unsafe_production`
at the end of its import when ``DJANGO_ENV=production``, so a web process, a worker or a
management command with an unsafe configuration stops at once with a message naming the variable,
instead of serving with a guessable key, a debug page or the built-in test payment provider.

Plain values in, no Django import beyond the exception: it runs while the settings are loading.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

# The SECRET_KEY development falls back to: public, so never good enough for production.
DEV_SECRET_KEY = "dev-insecure-0b6f7d1c2e9a4f58a3c1b2d4e6f80913-not-for-production"  # noqa: S105 - public on purpose
DEV_TEST_CARRIER_SECRET = "test-carrier-secret"  # noqa: S105 - the development default, public on purpose
SECRET_KEY_MIN_LENGTH = 50
SECRET_KEY_MIN_DISTINCT = 5


def secret_key_weakness(key: str) -> str | None:
    """Why ``key`` is too weak to sign sessions, reset links and webhooks; ``None`` when it is not.

    The same bar as Django's ``security.W009`` deploy check, plus the development default."""
    if key == DEV_SECRET_KEY:
        return "it is the development default"
    if key.startswith("django-insecure"):
        return "it starts with 'django-insecure' (a key made by startproject for development)"
    if len(key) < SECRET_KEY_MIN_LENGTH:
        return f"it is shorter than {SECRET_KEY_MIN_LENGTH} characters"
    if len(set(key)) < SECRET_KEY_MIN_DISTINCT:
        return f"it has fewer than {SECRET_KEY_MIN_DISTINCT} distinct characters"
    return None


def parse_trusted_proxies(values: Iterable[str]) -> tuple[str, ...]:
    """``TRUSTED_PROXIES`` entries (IP addresses or CIDR networks), normalised; a typo stops the start."""
    networks = []
    for raw in values:
        value = raw.strip()
        if not value:
            continue
        try:
            networks.append(str(ipaddress.ip_network(value, strict=False)))
        except ValueError as exc:
            raise ImproperlyConfigured(
                f"TRUSTED_PROXIES: {value!r} is not an IP address or network (e.g. 10.0.0.5 or 10.0.0.0/24)."
            ) from exc
    return tuple(networks)


def refuse_unsafe_production(
    *,
    secret_key: str,
    debug: bool,
    allowed_hosts: list[str],
    site_url: str,
    payment_provider: str,
    stripe_secret_key: str,
    stripe_publishable_key: str,
    stripe_webhook_secret: str,
    test_carrier_secret: str = "",
    easypost_api_key: str = "",
    easypost_webhook_secret: str = "",
) -> None:
    """Raise ``ImproperlyConfigured`` naming the first variable that makes production unsafe."""
    weakness = secret_key_weakness(secret_key)
    if weakness:
        raise ImproperlyConfigured(
            f"SECRET_KEY is too weak for production: {weakness}. Set SECRET_KEY to a long random value, "
            "e.g. the output of: python -c 'import secrets; print(secrets.token_urlsafe(64))'"
        )
    if debug:
        raise ImproperlyConfigured(
            "DEBUG is on in production: it shows settings and source code to anyone who triggers an error. "
            "Unset DEBUG (or set DEBUG=false)."
        )
    hosts = [host.strip() for host in allowed_hosts if host.strip()]
    if not hosts or "*" in hosts:
        raise ImproperlyConfigured(
            "ALLOWED_HOSTS must list the site's host names in production (comma-separated, no '*'): "
            "the Host header is not trusted otherwise."
        )
    parts = urlsplit(site_url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
        raise ImproperlyConfigured(
            "SITE_URL must be the site's absolute address in production (e.g. https://shop.example.com): "
            "links in e-mails are built from it, never from the request's Host header."
        )
    provider = (payment_provider or "").strip().lower()
    if provider in ("", "test"):
        raise ImproperlyConfigured(
            "PAYMENT_PROVIDER is 'test' in production: the built-in test provider accepts made-up cards "
            "and takes no money. Set PAYMENT_PROVIDER=stripe and the STRIPE_* keys."
        )
    if provider == "stripe":
        for name, value in (
            ("STRIPE_SECRET_KEY", stripe_secret_key),
            ("STRIPE_PUBLISHABLE_KEY", stripe_publishable_key),
            ("STRIPE_WEBHOOK_SECRET", stripe_webhook_secret),
        ):
            if not (value or "").strip():
                raise ImproperlyConfigured(f"{name} is required in production with PAYMENT_PROVIDER=stripe.")
    if (test_carrier_secret or "") in ("", DEV_TEST_CARRIER_SECRET) or len(test_carrier_secret) < 32:
        raise ImproperlyConfigured(
            "FULFILLMENT_TEST_CARRIER_SECRET must be a long random value in production (at least 32 characters): "
            "whoever knows it can post the test carrier's tracking events, which mark packages delivered."
        )
    if (easypost_api_key or "").strip() and not (easypost_webhook_secret or "").strip():
        raise ImproperlyConfigured(
            "EASYPOST_WEBHOOK_SECRET is required in production with EASYPOST_API_KEY: without it EasyPost's "
            "tracking webhooks are refused (set the same secret on the webhook in EasyPost's dashboard)."
        )
