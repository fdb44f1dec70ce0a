"""Health endpoints: /healthz says the process is alive, /readyz whether it can serve.

Only the database decides readiness: without it nothing works, while a Redis or broker outage
degrades the shop (cache misses read the database, sessions live in the database, tasks wait in
the outbox) without stopping it. So /readyz answers 503 only when the database does not answer;
cache and broker health are reported beside it ("degraded") so monitoring sees them, and a load
balancer does not take every node out at once because Redis blinked.
"""

from __future__ import annotations

import logging
import time
import uuid

from celery import current_app
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect, JsonResponse
from django.templatetags.static import static
from django.views.decorators.cache import never_cache

from core import outbox

logger = logging.getLogger(__name__)


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _check_database() -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"ok": True, "vendor": connection.vendor}


def _check_cache() -> dict:
    # django-redis is configured to swallow errors, so verify with a round trip.
    key = f"readyz:{uuid.uuid4().hex}"
    cache.set(key, "1", 10)
    ok = cache.get(key) == "1"
    cache.delete(key)
    return {"ok": ok, "backend": settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]}


def _check_broker() -> dict:
    if current_app.conf.task_always_eager:
        return {"ok": True, "mode": "eager"}
    with current_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
    return {"ok": True, "mode": "broker"}


def _check_outbox() -> dict:
    """Tasks waiting to be published (the broker was down, or the sweeper is not running)."""
    return {"ok": True, "pending": outbox.pending_count()}


# name, check, whether the node is unready without it
CHECKS = (
    ("database", _check_database, True),
    ("cache", _check_cache, False),
    ("broker", _check_broker, False),
)


@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    checks: dict[str, dict] = {}
    for name, check, critical in CHECKS:
        started = time.perf_counter()
        try:
            checks[name] = check()
        except Exception as exc:  # noqa: BLE001 - a readiness probe reports, it does not raise
            logger.warning("readyz: %s failed: %s", name, exc)
            checks[name] = {"ok": False, "error": exc.__class__.__name__}
        checks[name]["critical"] = critical
        checks[name]["ms"] = round((time.perf_counter() - started) * 1000, 1)
    if checks["database"]["ok"]:
        try:
            checks["outbox"] = {**_check_outbox(), "critical": False}
        except Exception as exc:  # noqa: BLE001 - reported only
            checks["outbox"] = {"ok": False, "error": exc.__class__.__name__, "critical": False}
    ready = all(c["ok"] for c in checks.values() if c["critical"])
    degraded = sorted(name for name, c in checks.items() if not c["ok"] and not c["critical"])
    status = "unavailable" if not ready else "degraded" if degraded else "ok"
    return JsonResponse(
        {"status": status, "ready": ready, "degraded": degraded, "checks": checks}, status=200 if ready else 503
    )


def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico on pages that name no icon (the admin's): the shop's own."""
    response = HttpResponsePermanentRedirect(static("img/favicon.svg"))
    response["Cache-Control"] = "public, max-age=86400"
    return response


def hello(request: HttpRequest) -> HttpResponse:
    """A constant page: the ceiling the benchmark compares real pages against."""
    return HttpResponse(b"hello", content_type="text/plain")
